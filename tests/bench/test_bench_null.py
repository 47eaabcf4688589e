"""The null servers (bench/null, and the Go toy's null gRPC server): real servers of their stacks,
answering every predict call with an empty PredictResponse without parsing it, set up like the
service built on the same stack."""

import os
import urllib.request

import grpc
import pytest

from bench.null import ANSWER_JSON, ANSWER_PROTOBUF, grpcio_server
from bench.run import servers
from bench.run.procs import Supervisor
from python_service.gen.predict.v1 import predict_pb2

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CPU = [sorted(os.sched_getaffinity(0))[0]]
PREDICT = "/predict.v1.PredictionService/Predict"
STREAM = "/predict.v1.PredictionService/PredictStream"
REQUEST = predict_pb2.PredictRequest(model="iris-logreg", instances=[{"features": [1, 2, 3, 4]}]).SerializeToString()


def test_the_answer_is_a_valid_empty_predict_response():
    assert predict_pb2.PredictResponse.FromString(ANSWER_PROTOBUF) == predict_pb2.PredictResponse()
    assert ANSWER_JSON == b"{}"


def test_the_null_grpcio_server_is_set_up_as_the_service():
    from python_service.server.grpcapi.server import GRPC_THREADS
    from python_service.server.process.worker import GIL_SWITCH_INTERVAL_S

    assert grpcio_server.GRPC_THREADS == GRPC_THREADS
    assert grpcio_server.GIL_SWITCH_INTERVAL_S == GIL_SWITCH_INTERVAL_S


NULLS = ["null-grpcio", "null-grpcio-aio", "null-granian", "toy-go"]


@pytest.mark.process
@pytest.mark.parametrize("name", NULLS)
def test_each_null_server_answers_every_call_without_parsing(name, tmp_path):
    toy_bin = os.path.join(REPO, "bench", "toy", "go", "bin", "toy")
    if name == "toy-go" and not os.access(toy_bin, os.X_OK):
        pytest.skip("bench/toy/go/bin/toy not built (make bench-toys)")
    spec = servers.null_spec(name, workers=1, toy_go_bin=toy_bin)
    with Supervisor(10) as sup:
        server = servers.start(sup, spec, CPU, str(tmp_path / "null.log"), 30)
        try:
            if "grpc" in server.endpoints:
                with grpc.insecure_channel(server.endpoints["grpc"]) as channel:
                    assert channel.unary_unary(PREDICT)(REQUEST, timeout=5) == ANSWER_PROTOBUF
                    assert channel.unary_unary(PREDICT)(b"not a message", timeout=5) == ANSWER_PROTOBUF  # not parsed
                    answers = list(channel.stream_stream(STREAM)(iter([REQUEST] * 3), timeout=5))
                    assert answers == [ANSWER_PROTOBUF] * 3  # one answer per message of a stream
            if "http" in server.endpoints:
                path = "/predict" if name == "toy-go" else "/v1/predict"
                url = f"http://{server.endpoints['http']}{path}"
                req = urllib.request.Request(url, data=b"{not json", method="POST")
                with urllib.request.urlopen(req, timeout=5) as resp:
                    assert resp.status == 200
                    if name != "toy-go":  # the seed's toy answers its constant text
                        assert resp.read() == ANSWER_JSON
        finally:
            assert server.stop(sup) is not None
