"""The lean JSON codec (core/codec.py: orjson + numpy) against its reference, protobuf's
json_format: on every conformance vector's JSON body and on random valid and invalid requests
(hypothesis), both paths give identical answers (the same JSON document, numbers read as the
float32 the contract carries) and identical errors (the same code and message)."""

import json
import math

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from python_service import answers
from python_service.server.core import codec
from python_service.server.core.errors import PredictError
from python_service.server.core.predictor import Batch, Predictor
from python_service.server.core.repository import load_repository
from tests.vectors import vectorspec

MODELS = {"iris-logreg": 4, "breast-cancer-rf": 30, "digits-mlp": 64, "diabetes-gbr": 10}
F32_MAX = float(np.finfo(np.float32).max)


@pytest.fixture(scope="module")
def predictor(models_dir):
    return Predictor(load_repository(models_dir), max_batch=1024)


def outcome(predictor, body, lean):
    """What one JSON body gets: ("ok", the answer's JSON document) or ("error", code, message)."""
    try:
        if lean:
            request = codec.decode_json(body, predictor.value_bound)
            return "ok", json.loads(codec.encode_answer_json(predictor.infer(request)))
        codec.check_cost(body, predictor.value_bound)
        request = codec.decode_json_reference(body)
        return "ok", json.loads(codec.encode_json(predictor.predict(request)))
    except PredictError as e:
        return "error", e.code.name, e.message


def same(predictor, body):
    lean, reference = outcome(predictor, body, True), outcome(predictor, body, False)
    if lean[0] == reference[0] == "ok":
        # numbers as the float32 the contract carries; every other field exactly
        got, want = (
            dict(doc, predictions=answers.as_float32(answers.from_json(doc))) for doc in (lean[1], reference[1])
        )
        assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True), body[:300]  # NaN == NaN
    else:
        assert lean == reference, body[:300]
    return lean


JSON_VECTORS = [
    v
    for v in vectorspec.load()
    if vectorspec.http_request(v)[1] == "/v1/predict"
    and vectorspec.http_request(v)[2].get("Content-Type") == "application/json"
]


@pytest.mark.parametrize("vector", JSON_VECTORS, ids=[v["name"] for v in JSON_VECTORS])
def test_every_vector_answers_alike_through_both_paths(predictor, vector):
    same(predictor, vectorspec.http_request(vector)[3])


def test_an_ordinary_request_takes_the_lean_path():
    body = b'{"model":"iris-logreg","instances":[{"features":[5.1,3.5,1.4,0.2]},{"features":[6,2.9,4.5,1.5]}]}'
    batch = codec.decode_json(body)
    assert isinstance(batch, Batch) and batch.tensor.dtype == np.float32 and batch.tensor.shape == (2, 4)


@pytest.mark.parametrize(
    "body",
    [
        b'{"model":"iris-logreg","model":"x","instances":[{"features":[1,2,3,4]}]}',  # duplicate key
        b'{"model":"iris-logreg","instances":[{"features":[1,2,3,4],"features":[5,6,7,8]}]}',
        b'{"model":"iris-logreg","instances":[{"featur\\u0065s":[1,2,3,4]}]}',  # an escaped key
        b'{"model":"iris-logreg","instances":[{"features":["5.1",3,4,"NaN"]}]}',  # strings for numbers
        b'{"model":"iris-logreg","instances":[{"features":[true,2,3,4]}]}',
        b'{"model":"iris-logreg","instances":[{"features":[1e39,2,3,4]}]}',  # beyond float32
        b'{"model":"iris-logreg","instances":[{"features":[1,2,3,4]},{"features":[1,2]}]}',  # ragged
        b'{"model":"iris-logreg","instances":[{"features":{}}]}',
        b'{"model":"iris-logreg","instances":[null]}',
        b'{"model":"iris-logreg","instances":[]}',
        b'{"model":null,"instances":null}',
    ],
)
def test_what_the_lean_path_is_not_sure_of_goes_to_the_reference(predictor, body):
    assert codec._lean(body) is None
    same(predictor, body)


def test_an_integer_beyond_64_bits_reads_as_the_reference_reads_it(predictor):
    same(predictor, b'{"model":"iris-logreg","instances":[{"features":[123456789012345678901234567890,1,1,1]}]}')


# --- random requests ------------------------------------------------------------------------------
finite = st.floats(allow_nan=False, allow_infinity=False, width=64) | st.integers(-(2**63), 2**63 - 1)
number = st.one_of(
    st.floats(-10, 10),
    st.floats(-F32_MAX, F32_MAX),
    finite,
    st.sampled_from([0, -0.0, 1e-45, 1e-50, F32_MAX, 3.4028235e38, 1e39, 2**64]),
)
odd_value = st.one_of(
    st.none(), st.booleans(), st.text(max_size=5), st.sampled_from(["NaN", "Infinity", "-1.5e3", " 5", "5_1", ".5"])
)


@st.composite
def valid_request(draw):
    model = draw(st.sampled_from(sorted(MODELS)))
    width = MODELS[model] if draw(st.booleans()) else draw(st.integers(0, 8))
    rows = draw(st.integers(1, 6))
    instances = [{"features": draw(st.lists(number, min_size=width, max_size=width))} for _ in range(rows)]
    return {"model": model, "instances": instances}


@st.composite
def mutated_request(draw):
    """A valid request with one thing made wrong (or odd but valid, as the mapping allows)."""
    req = draw(valid_request())
    kind = draw(st.integers(0, 7))
    instances = req["instances"]
    if kind == 0 and instances[0]["features"]:
        instances[0]["features"][0] = draw(odd_value)
    elif kind == 1:
        instances.append({"features": draw(st.lists(number, max_size=5))})
    elif kind == 2:
        req[draw(st.sampled_from(["extra", "Model", "instance"]))] = 1
    elif kind == 3:
        req["model"] = draw(st.one_of(st.text(max_size=8), st.none(), st.integers()))
    elif kind == 4:
        instances[draw(st.integers(0, len(instances) - 1))] = draw(odd_value | st.just({}))
    elif kind == 5:
        req["instances"] = draw(st.one_of(st.just([]), st.just({}), st.none(), st.text(max_size=3)))
    elif kind == 6:
        instances[0]["features"] = draw(odd_value | st.just({}))
    return req


def _body(doc, spacing):
    return json.dumps(doc, separators=spacing, allow_nan=False).encode()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=valid_request(), spacing=st.sampled_from([(",", ":"), (", ", ": ")]))
def test_random_valid_requests_answer_alike(predictor, doc, spacing):
    same(predictor, _body(doc, spacing))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=mutated_request())
def test_random_invalid_requests_answer_alike(predictor, doc):
    same(predictor, _body(doc, (",", ":")))


@settings(max_examples=200, deadline=None)
@given(text=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_random_bytes_answer_alike(predictor, text):
    same(predictor, text)


def test_a_lean_answer_is_the_reference_answer_for_every_model(predictor):
    for model, width in MODELS.items():
        rows = np.random.default_rng(7).normal(0, 3, size=(64, width)).round(3).tolist()
        body = orjson.dumps({"model": model, "instances": [{"features": r} for r in rows]})
        kind, doc = same(predictor, body)
        assert (
            kind == "ok"
            and len(doc["predictions"]) == 64
            and not any(
                isinstance(x, float) and math.isnan(x) for p in doc["predictions"] for x in p.get("probabilities", [])
            )
        )


@pytest.mark.parametrize("instance", ["", "features", 0, []], ids=repr)
def test_an_instance_that_is_not_an_object_is_invalid(predictor, instance):
    """json_format reads "" where an Instance belongs as an empty Instance; the mapping (and Go's
    protojson) take only an object: INVALID_ARGUMENT from both paths, never a crash."""
    body = json.dumps({"model": "iris-logreg", "instances": [instance]}).encode()
    kind, code, message = same(predictor, body)
    assert (kind, code) == ("error", "INVALID_ARGUMENT") and "instance" in message, message
