"""The HTTP adapter: a real server process (gunicorn) for the contract and every error a client
can cause; Flask's test client over a predictor in a given state for the rest of the table."""

import http.client
import json

import grpc
import pytest

from python_service import contract
from python_service.server.core.predictor import PredictError, Predictor
from python_service.server.core.repository import load_repository
from python_service.server.httpapi.app import create_app
from tests.python.pyservice_harness import SETOSA, http_call, post_predict

C = grpc.StatusCode
MAX_BODY = 4194304


def ok_body(**extra):
    return dict({"model": "iris-logreg", "instances": [{"features": SETOSA}]}, **extra)


def assert_error(status, headers, body, want_status, want_code):
    assert status == want_status, body
    assert headers["Content-Type"] == "application/json"
    answer = json.loads(body)
    assert set(answer) == {"code", "message"}
    assert answer["code"] == want_code.value[0]
    assert isinstance(answer["message"], str) and "Traceback" not in answer["message"]
    return answer["message"]


def test_seed_example_is_setosa(server):
    status, headers, body = post_predict(server.http, ok_body())
    assert (status, headers["Content-Type"]) == (200, "application/json")
    answer = json.loads(body)
    assert (answer["model"], answer["model_version"]) == ("iris-logreg", "1")
    (prediction,) = answer["predictions"]
    assert (prediction["label"], prediction["class_index"]) == ("setosa", 0)  # 0 still written
    assert set(prediction) == {"label", "class_index", "probabilities"}


def test_regressor_writes_value_only(server):
    status, _, body = post_predict(server.http, {"model": "diabetes-gbr", "instances": [{"features": [0.0] * 10}]})
    assert status == 200
    assert set(json.loads(body)["predictions"][0]) == {"value"}


@pytest.mark.parametrize(
    "body",
    [
        ok_body(instances=[{"features": [str(v) for v in SETOSA]}]),  # numbers as strings
        ok_body(instances=[{"features": ["5.1e0", "3.5E+0", "14e-1", "-0"]}]),
        ok_body(instances=[{"features": [5, 3.5, "1.4", 0.2]}]),
        '  \n{"model": "iris-logreg", "instances": [{"features": [5.1, 3.5, 1.4, 0.2]}]}',
    ],
    ids=["numbers as strings", "exponents as strings", "mixed", "leading whitespace"],
)
def test_accepted_json_mapping_edges(server, body):
    status, _, answer = post_predict(server.http, body)
    assert status == 200 and json.loads(answer)["predictions"][0]["label"] == "setosa"


def test_content_length_and_chunked_bodies_answer_alike(server):
    """A body with a Content-Length and the same body sent chunked get the same answer."""
    payload = json.dumps({"model": "digits-mlp", "instances": [{"features": [1.0] * 64}] * 3})
    sized = http_call(server.http, "POST", "/v1/predict", payload, {"Content-Type": "application/json"})
    conn = http.client.HTTPConnection(server.http, timeout=30)
    conn.request(
        "POST", "/v1/predict", iter([payload.encode()]), {"Content-Type": "application/json"}, encode_chunked=True
    )
    response = conn.getresponse()
    chunked = response.status, response.headers, response.read()
    conn.close()
    assert sized[0] == chunked[0] == 200
    assert sized[1]["Content-Type"] == chunked[1]["Content-Type"] == "application/json"
    assert json.loads(sized[2]) == json.loads(chunked[2])


def test_content_type_parameters_allowed(server):
    status, _, _ = post_predict(server.http, ok_body(), "application/json; charset=utf-8")
    assert status == 200


# (id, body, HTTP status, gRPC code, words in the message)
BAD_BODIES = [
    ("invalid UTF-8", b'{"model": "\xff\xfe"}', 400, C.INVALID_ARGUMENT, "utf-8"),
    ("empty body", b"", 400, C.INVALID_ARGUMENT, ""),
    ("malformed JSON", b'{"model": ', 400, C.INVALID_ARGUMENT, ""),
    ("top-level array", b"[]", 400, C.INVALID_ARGUMENT, "object"),
    ("top-level string", b'"x"', 400, C.INVALID_ARGUMENT, "object"),
    ("top-level null", b"null", 400, C.INVALID_ARGUMENT, "object"),
    (
        "feature not a number",
        {"model": "iris-logreg", "instances": [{"features": ["abc"]}]},
        400,
        C.INVALID_ARGUMENT,
        "abc",
    ),
    (
        "null in a list",
        b'{"model": "iris-logreg", "instances": [{"features": [1, null]}]}',
        400,
        C.INVALID_ARGUMENT,
        "null",
    ),
    ("null instance", b'{"model": "iris-logreg", "instances": [null]}', 400, C.INVALID_ARGUMENT, "null"),
    ("unknown field", ok_body(extra=1), 400, C.INVALID_ARGUMENT, "extra"),
    ("model not a string", ok_body(model=5), 400, C.INVALID_ARGUMENT, "model"),
    ("instances not a list", ok_body(instances={}), 400, C.INVALID_ARGUMENT, "instances"),
    ("duplicate key", b'{"model": "a", "model": "b"}', 400, C.INVALID_ARGUMENT, "duplicate"),
    (
        "boolean feature",
        ok_body(instances=[{"features": [True, 1, 1, 1]}]),
        400,
        C.INVALID_ARGUMENT,
        "instance 0 feature 0",
    ),
    (
        "model not valid unicode",
        b'{"model": "\\ud800", "instances": [{"features": [1, 1, 1, 1]}]}',
        400,
        C.INVALID_ARGUMENT,
        "",
    ),
    (
        "bare NaN literal",
        b'{"model": "iris-logreg", "instances": [{"features": [NaN, 1, 1, 1]}]}',
        400,
        C.INVALID_ARGUMENT,
        "",
    ),
    (
        "float overflow 1e39",
        b'{"model": "iris-logreg", "instances": [{"features": [1e39, 1, 1, 1]}]}',
        400,
        C.INVALID_ARGUMENT,
        "",
    ),
    ("deep nesting", b"{" + b'"model": ' + b"[" * 100000, 400, C.INVALID_ARGUMENT, ""),
    # validated by the core once the JSON mapping has accepted the body
    (
        "NaN string",
        ok_body(instances=[{"features": ["NaN", 1, 1, 1]}]),
        400,
        C.INVALID_ARGUMENT,
        "instance 0 feature 0",
    ),
    (
        "Infinity string",
        ok_body(instances=[{"features": [1, "Infinity", 1, 1]}]),
        400,
        C.INVALID_ARGUMENT,
        "instance 0 feature 1",
    ),
    (
        "-Infinity string",
        ok_body(instances=[{"features": [1, 1, "-Infinity", 1]}]),
        400,
        C.INVALID_ARGUMENT,
        "instance 0 feature 2",
    ),
    ("empty object", b"{}", 400, C.INVALID_ARGUMENT, "model name"),
    ("unknown model", ok_body(model="nope"), 404, C.NOT_FOUND, "nope"),
    ("no instances", ok_body(instances=[]), 400, C.INVALID_ARGUMENT, "no instances"),
    ("batch over max", ok_body(instances=[{"features": SETOSA}] * 1025), 400, C.INVALID_ARGUMENT, "1024"),
    ("wrong feature count", ok_body(instances=[{"features": [1, 2, 3]}]), 400, C.INVALID_ARGUMENT, "instance 0"),
    (
        "ragged rows",
        ok_body(instances=[{"features": SETOSA}, {"features": [1]}]),
        400,
        C.INVALID_ARGUMENT,
        "instance 1",
    ),
    ("body over 4 MiB", b"{" + b" " * MAX_BODY + b"}", 413, C.RESOURCE_EXHAUSTED, "4194304"),
]


for _text in ("5_1", " 5.1", "5.1 ", "+5.1", ".5", "5.", "05", "0x1", "inf", "infinity", "nan", "1e", "", "five"):
    BAD_BODIES.append(
        (
            "feature string %r" % _text,
            ok_body(instances=[{"features": [1, 1, 1, _text]}]),
            400,
            C.INVALID_ARGUMENT,
            "feature",
        )
    )


@pytest.mark.parametrize("body, status, code, words", [c[1:] for c in BAD_BODIES], ids=[c[0] for c in BAD_BODIES])
def test_bad_bodies(server, body, status, code, words):
    message = assert_error(*post_predict(server.http, body), status, code)
    assert words.lower() in message.lower()


@pytest.mark.parametrize("megabytes, status", [(5, 413), (3, 400)])
def test_chunked_body_limit(server, megabytes, status):
    """No Content-Length: the limit still holds, and a body under it is read whole (a body of
    spaces is not a JSON object: 400, not 413)."""
    conn = http.client.HTTPConnection(server.http, timeout=30)
    conn.request(
        "POST",
        "/v1/predict",
        (b" " * (1 << 20) for _ in range(megabytes)),
        {"Content-Type": "application/json"},
        encode_chunked=True,
    )
    response = conn.getresponse()
    code = C.RESOURCE_EXHAUSTED if status == 413 else C.INVALID_ARGUMENT
    assert_error(response.status, response.headers, response.read(), status, code)
    conn.close()


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx"])
def test_unsupported_media_type(server, content_type):
    assert_error(*post_predict(server.http, ok_body(), content_type), 415, C.UNIMPLEMENTED)


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("GET", "/v1/predict", "POST"),
        ("PUT", "/v1/predict", "POST"),
        ("POST", "/v1/models", "GET, HEAD"),
        ("DELETE", "/v1/models/iris-logreg", "GET, HEAD"),
        ("POST", "/readyz", "GET, HEAD"),
        ("OPTIONS", "/healthz", "GET, HEAD"),
    ],
)
def test_wrong_method(server, method, path, allow):
    status, headers, body = http_call(server.http, method, path)
    assert_error(status, headers, body, 405, C.UNIMPLEMENTED)
    assert headers["Allow"] == allow


@pytest.mark.parametrize("path", ["/", "/nope", "/v1/predict/extra", "/v1/models/", "/v1"])
def test_unknown_route(server, path):
    assert_error(*http_call(server.http, "GET", path), 404, C.NOT_FOUND)


def test_models_routes(server):
    status, _, body = http_call(server.http, "GET", "/v1/models")
    assert status == 200
    models = json.loads(body)["models"]
    assert [m["name"] for m in models] == ["breast-cancer-rf", "diabetes-gbr", "digits-mlp", "iris-logreg"]
    status, _, body = http_call(server.http, "GET", "/v1/models/iris-logreg")
    info = json.loads(body)
    assert status == 200
    assert (info["n_features"], info["class_labels"]) == (4, ["setosa", "versicolor", "virginica"])
    assert {"version", "sha256", "input_name", "output_names", "task", "opset"} <= set(info)
    assert_error(*http_call(server.http, "GET", "/v1/models/nope"), 404, C.NOT_FOUND)


def test_health_and_readiness(server):
    assert (http_call(server.http, "GET", "/healthz")[0], json.loads(http_call(server.http, "GET", "/healthz")[2])) == (
        200,
        {"status": "ok"},
    )
    status, _, body = http_call(server.http, "GET", "/readyz")
    assert (status, json.loads(body)) == (200, {"status": "ready"})


def test_keep_alive_connection_serves_many_requests(server):
    conn = http.client.HTTPConnection(server.http, timeout=10)
    for _ in range(20):
        conn.request("POST", "/v1/predict", json.dumps(ok_body()), {"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["predictions"]
    conn.close()


# ---- Flask test client: predictor states a live server cannot be put in on demand -----------


@pytest.fixture
def predictor(models_dir):
    return Predictor(load_repository(models_dir))


def test_not_ready_is_503(predictor):
    client = create_app(predictor, max_body=MAX_BODY).test_client()
    predictor.drain()
    response = client.get("/readyz")
    assert (response.status_code, response.json["code"]) == (503, C.UNAVAILABLE.value[0])
    response = client.post("/v1/predict", json=ok_body())
    assert (response.status_code, response.json["code"]) == (503, C.UNAVAILABLE.value[0])
    assert client.get("/healthz").status_code == 200  # alive, though not ready


@pytest.mark.parametrize(
    "method, path",
    [("POST", "/v1/predict"), ("GET", "/v1/models"), ("GET", "/v1/models/iris-logreg"), ("GET", "/readyz")],
)
def test_every_route_is_503_while_loading(method, path):
    client = create_app(Predictor(), max_body=MAX_BODY).test_client()  # no models loaded yet
    response = client.open(path, method=method, json=ok_body())
    assert (response.status_code, response.json["code"]) == (503, C.UNAVAILABLE.value[0])


class _BrokenSession:
    def run(self, *args, **kwargs):
        raise RuntimeError("secret detail")


def test_inference_failure_is_a_generic_500(predictor):
    predictor._models["iris-logreg"].session = _BrokenSession()
    response = create_app(predictor, max_body=MAX_BODY).test_client().post("/v1/predict", json=ok_body())
    assert response.status_code == 500
    assert response.json == {"code": C.INTERNAL.value[0], "message": "internal error"}


class _Refusing:
    """A core that refuses every request with one code."""

    ready = True
    value_bound = None

    def __init__(self, code):
        self.code = code

    def infer(self, request, timing=None):
        raise PredictError(self.code, "refused")


def test_unexpected_bug_is_a_generic_500():
    class Buggy(_Refusing):
        def infer(self, request, timing=None):
            raise KeyError("bug")

    response = create_app(Buggy(None), max_body=MAX_BODY).test_client().post("/v1/predict", json=ok_body())
    assert response.status_code == 500
    assert response.json == {"code": C.INTERNAL.value[0], "message": "internal error"}


def test_value_bound(predictor):
    """The largest valid request (a full batch of the widest model) is answered; a JSON body with
    more commas than any valid request holds is refused before decoding, naming the bound."""
    widest = max(predictor.list_models().models, key=lambda m: m.n_features)
    assert predictor.value_bound == predictor.max_batch * (widest.n_features + 1)
    client = create_app(predictor, max_body=MAX_BODY).test_client()
    full = {"model": widest.name, "instances": [{"features": [0.5] * widest.n_features}] * predictor.max_batch}
    assert client.post("/v1/predict", json=full).status_code == 200
    bound = predictor.value_bound
    for body in (
        ok_body(instances=[{"features": [1] * 1_000_000}]),
        ok_body(instances=[{"features": [1] * (bound + 1)}]),
        '{"model": "%s"}' % ("," * bound),
    ):
        response = client.post(
            "/v1/predict", data=body if isinstance(body, str) else json.dumps(body), content_type="application/json"
        )
        assert (response.status_code, response.json["code"]) == (400, C.INVALID_ARGUMENT.value[0])
        assert "at most %d" % bound in response.json["message"]


def test_value_bound_is_none_before_load():
    assert Predictor().value_bound is None


@pytest.mark.parametrize(
    "name, status, code, words",
    [
        ("m" * 1_000_000, 404, C.NOT_FOUND, "(1000000 characters)"),
        ("m" * 5000 + "\\ud800", 400, C.INVALID_ARGUMENT, "surrogate"),
        ("\\ud800" + "m" * 5000, 400, C.INVALID_ARGUMENT, "surrogate"),
    ],
    ids=["1 MB", "lone surrogate at the end", "lone surrogate first"],
)
def test_long_model_names(predictor, name, status, code, words):
    """A long model name (set through the field, not json_format) gets the same answers as a short
    one: unknown, or invalid when it holds a lone surrogate."""
    body = '{"model": "%s", "instances": [{"features": [5.1, 3.5, 1.4, 0.2]}]}' % name
    response = (
        create_app(predictor, max_body=MAX_BODY)
        .test_client()
        .post("/v1/predict", data=body, content_type="application/json")
    )
    assert (response.status_code, response.json["code"]) == (status, code.value[0])
    assert words in response.json["message"] and len(response.json["message"]) <= 256


def test_number_digit_limit(predictor):
    """A number of json_number_max_digits digits is read (0.000…1 is 0 as a float32); one digit
    more is refused before decoding, as is a string of that many digits."""
    limit = contract.load("errors.json")["json_number_max_digits"]
    client = create_app(predictor, max_body=MAX_BODY).test_client()

    def post(feature):
        body = '{"model": "iris-logreg", "instances": [{"features": [%s, 3.5, 1.4, 0.2]}]}' % feature
        return client.post("/v1/predict", data=body, content_type="application/json")

    assert post("0." + "0" * (limit - 1) + "1").status_code == 200
    for feature in ("0." + "0" * limit + "1", '"%s"' % ("7" * (limit + 1)), "1" * 4_000_000):
        response = post(feature)
        assert (response.status_code, response.json["code"]) == (400, C.INVALID_ARGUMENT.value[0])
        assert response.json["message"] == "request body holds a number of more than %d digits" % limit
