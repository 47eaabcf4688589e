"""The Python core (`python_service.server.core.predictor.Predictor`) against the shared test vectors
(tests/vectors): every vector marked "core" — the predictions and the core's own validation
(error table rows 2–7: model, instances, batch size, widths, finite values, deadline). Requests
are the exact wire bytes the gRPC endpoints get, decoded as a gRPC server would."""

import grpc
import pytest

from python_service.gen.predict.v1 import predict_pb2
from python_service.server.core.predictor import PredictError, Predictor
from python_service.server.core.repository import load_repository
from tests.vectors import vectorspec

VECTORS = [v for v in vectorspec.load() if v["core"]]


@pytest.fixture(scope="module")
def predictors(models_dir):
    """One Predictor per server-settings block of the vector files (all agree today), on the
    default models exported by conftest's `models_dir` (the same deterministic recipes the
    vectors were generated from)."""
    entries = load_repository(models_dir)
    made = {}
    for vector in VECTORS:
        max_batch = vector["_server"]["max_batch"]
        if max_batch not in made:
            made[max_batch] = Predictor(entries, max_batch=max_batch)
    return made


def answer(predictor, vector):
    request = predict_pb2.PredictRequest.FromString(vectorspec.grpc_request_bytes(vector))
    deadline = vectorspec.deadline_seconds(vector)
    remaining = None if deadline is None else (lambda: deadline)
    try:
        response = predictor.predict(request, remaining)
    except PredictError as e:
        assert isinstance(e.code, grpc.StatusCode)
        return {"ok": False, "grpc_code": e.code.name, "message": e.message}
    return vectorspec.normalize_response(response)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_core_vector(vector, predictors):
    got = answer(predictors[vector["_server"]["max_batch"]], vector)
    diffs = vectorspec.check(vector, got, "core")
    if diffs:
        pytest.fail(vectorspec.failure(vector, "python-core", diffs), pytrace=False)
