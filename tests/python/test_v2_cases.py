"""The shared Open Inference Protocol cases (tests/vectors/v2/cases.json) over the Python V2 adapters
in process, on the real core and models, no server process (as go_service's v2http and v2grpc
cases_test.go do): the REST ways ("json", "binary", "http") through the RSGI front (body limit,
admission, lanes) over both HTTP adapters, the Flask app and the lean one, and the gRPC ways
("grpc", "grpc-raw") through ModelInfer's handler (admission, work slot, decode, core, encode)."""

import pytest

from python_service.gen.inference import open_inference_grpc_pb2 as pb
from python_service.server.core import metrics
from python_service.server.core.admission import Admission
from python_service.server.core.errors import PredictError
from python_service.server.core.predictor import Predictor
from python_service.server.core.repository import load_repository
from python_service.server.grpcapi.service import Calls
from python_service.server.httpapi.app import create_app
from python_service.server.httpapi.lean import LeanApp
from python_service.server.v2.rpc import InferenceCalls
from tests.conformance.v2_endpoints import V2Grpc, V2Http, check, conditions, grpc_request, http_request, load_cases
from tests.python.rsgi_fakes import MAX_BODY, Front

CASES = load_cases()
CONDITIONS = conditions()
REST_WAYS, GRPC_WAYS = ("json", "binary", "http"), ("grpc", "grpc-raw")


@pytest.fixture(scope="module")
def predictor(models_dir):
    return Predictor(load_repository(models_dir), max_batch=1024)


def front_for(adapter, predictor, admission):
    if adapter == "flask":
        return Front(create_app(predictor, max_body=MAX_BODY), admission)
    return Front(LeanApp(predictor), admission)


@pytest.fixture(scope="module", params=["flask", "lean"])
def front(request, predictor):
    made = front_for(request.param, predictor, Admission(64, metrics.NO_METRICS))
    yield made
    made.close()


@pytest.fixture(scope="module")
def model_infer(predictor):
    """ModelInfer's handler: request message → the normalized answer."""
    handle = InferenceCalls(Calls(predictor, metrics.NO_METRICS)).table()["ModelInfer"][1]

    def call(message):
        try:
            data = handle(message.SerializeToString(), None)
        except PredictError as e:
            return {"ok": False, "grpc_code": e.code.name, "message": e.message, "problems": []}
        return V2Grpc.normalize(pb.ModelInferResponse.FromString(data))

    return call


def _fail_on(case, way, got):
    diffs = check(case, way, got, CONDITIONS)
    if diffs:
        pytest.fail("case %r over %s:\n  %s" % (case["name"], way, "\n  ".join(diffs)), pytrace=False)


REST = [(c, w) for c in CASES for w in c["ways"] if w in REST_WAYS]
GRPC = [(c, w) for c in CASES for w in c["ways"] if w in GRPC_WAYS]


@pytest.mark.parametrize("case,way", REST, ids=["%s@%s" % (c["name"], w) for c, w in REST])
def test_rest_case(case, way, front):
    path, body, headers = http_request(case, way)
    _fail_on(case, way, V2Http.normalize(*front.call("POST", path, body, headers)))


@pytest.mark.parametrize("case,way", GRPC, ids=["%s@%s" % (c["name"], w) for c, w in GRPC])
def test_grpc_case(case, way, model_infer):
    _fail_on(case, way, model_infer(grpc_request(case, way)))


def test_every_case_runs():
    assert {w for c in CASES for w in c["ways"]} == set(REST_WAYS + GRPC_WAYS)
