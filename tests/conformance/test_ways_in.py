"""What the vectors cannot say about the two ways in that separate encoding from transport, on
both servers: PredictStream answers in order and a bad message ends the stream with its status;
protobuf over HTTP negotiates the answer's encoding with Accept and keeps errors JSON."""

import json

import pytest

from python_service import answers
from python_service.gen.predict.v1 import predict_pb2

SERVERS = ("python", "go")
SETOSA = [5.1, 3.5, 1.4, 0.2]


def request(model, *rows):
    return predict_pb2.PredictRequest(model=model, instances=[predict_pb2.Instance(features=r) for r in rows])


@pytest.mark.parametrize("server", SERVERS)
def test_stream_answers_each_request_in_order(endpoints, server):
    unary, stream = endpoints["%s-grpc" % server], endpoints["%s-grpc-stream" % server]
    requests = [request("iris-logreg", [5.1, 3.5, 1.4, 0.2 + i / 10]) for i in range(8)]
    requests += [request("diabetes-gbr", [0.01 * i] * 10) for i in range(4)]
    got, error = stream.stream(requests)
    assert error is None and len(got) == len(requests)
    for i, (req, answer) in enumerate(zip(requests, got)):
        want = unary.predict(req.model, [list(inst.features) for inst in req.instances])
        assert answer.model == req.model, i
        assert answers.differences(answers.from_message(answer), want["predictions"], 0.0)[0] == [], i


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize(
    "bad, code", [(request("iris-logreg", [1.0]), "INVALID_ARGUMENT"), (request("no-such-model", SETOSA), "NOT_FOUND")]
)
def test_a_refused_message_ends_the_stream_with_its_status(endpoints, server, bad, code):
    good = request("iris-logreg", SETOSA)
    got, error = endpoints["%s-grpc-stream" % server].stream([good, good, bad, good])
    assert (len(got), error) == (2, code)


def post(endpoint, body, content_type, accept=None):
    headers = {"Content-Type": content_type}
    if accept is not None:
        headers["Accept"] = accept
    return endpoint.call("POST", "/v1/predict", body, headers)


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize(
    "accept, answer",
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        ("application/x-protobuf", "application/x-protobuf"),
        ("application/json;q=0.5, application/x-protobuf", "application/x-protobuf"),
        ("application/x-protobuf;q=0.1, application/json", "application/json"),
        ("application/x-protobuf;q=0", "application/json"),
    ],
)
@pytest.mark.parametrize("content_type", ["application/json", "application/x-protobuf"])
def test_accept_picks_the_answer_encoding(endpoints, server, accept, answer, content_type):
    message = request("iris-logreg", SETOSA)
    body = (
        message.SerializeToString()
        if content_type == "application/x-protobuf"
        else json.dumps({"model": "iris-logreg", "instances": [{"features": SETOSA}]}).encode()
    )
    status, headers, data = post(endpoints["%s-http" % server], body, content_type, accept)
    assert status == 200 and headers["content-type"].split(";")[0] == answer
    if answer == "application/x-protobuf":
        decoded = predict_pb2.PredictResponse.FromString(data)
    else:
        decoded = predict_pb2.PredictResponse()
        from google.protobuf import json_format

        json_format.Parse(data, decoded)
    assert decoded.predictions[0].label == "setosa"


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize(
    "body, status, code",
    [
        (b"\xff\xff\xff", 400, 3),  # not a PredictRequest
        (request("no-such-model", SETOSA).SerializeToString(), 404, 5),
        (request("iris-logreg", [1.0]).SerializeToString(), 400, 3),
    ],
)
def test_protobuf_errors_are_json(endpoints, server, body, status, code):
    got_status, headers, data = post(
        endpoints["%s-http" % server], body, "application/x-protobuf", "application/x-protobuf"
    )
    assert got_status == status and headers["content-type"].split(";")[0] == "application/json"
    assert json.loads(data)["code"] == code
