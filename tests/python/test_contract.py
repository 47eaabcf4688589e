"""The Python server against the contract's data files (proto/predict/v1): the error table's
code → HTTP status rules for every gRPC code, the HTTP routes, the version rule, and metadata
validation with the JSON Schema as the oracle for every mutation of a valid document."""

import copy
import json

import grpc
import jsonschema
import pytest

from python_service import contract
from python_service.server.core import metrics
from python_service.server.core.errors import PredictError, http_answer
from python_service.server.core.predictor import Predictor
from python_service.server.core.repository import RepositoryError, load_repository, metadata_problem
from python_service.server.httpapi.app import create_app

TABLE = contract.load("errors.json")
CODES = [c for c in grpc.StatusCode if c is not grpc.StatusCode.OK]


@pytest.mark.parametrize("retryable", [False, True])
@pytest.mark.parametrize("code", CODES, ids=[c.name for c in CODES])
def test_error_mapping_follows_the_error_table(code, retryable):
    status = (TABLE["http_status_for_code_when_retryable"] if retryable else {}).get(code.name)
    status = status or TABLE["http_status_for_code"].get(code.name)
    want = (status, code.name, "the core's message")
    if status is None or code.name == "INTERNAL":
        unmapped = TABLE["unmapped"]
        want = (status or unmapped["http_status"], (status and code.name) or unmapped["grpc_code"], unmapped["message"])
    got_status, got_code, got_message = http_answer(code, "the core's message", retryable)
    assert (got_status, got_code.name, got_message) == want


@pytest.mark.parametrize(
    "condition",
    [c for c in TABLE["conditions"] if c["source"] in ("core", "admission")],
    ids=lambda c: c["condition"],
)
def test_core_conditions_answer_their_http_status(condition):
    code = grpc.StatusCode[condition["grpc_code"]]
    error = PredictError(code, condition["condition"], retry_after_s=1 if condition.get("retryable") else None)

    class Refusing:
        ready = True
        value_bound = None

        def infer(self, request, timing=None):  # the HTTP adapter's call into the core
            raise error

    response = (
        create_app(Refusing(), max_body=1 << 20)
        .test_client()
        .post("/v1/predict", json={"model": "m", "instances": [{"features": [1.0]}]})
    )
    assert response.status_code == condition["http_status"]
    assert response.json["code"] == code.value[0]
    for header in condition.get("http_headers", []):
        assert header in response.headers


def test_routes_follow_the_contract(models_dir):
    recorder = metrics.for_protocol("http")
    client = create_app(Predictor(load_repository(models_dir)), max_body=1 << 20, recorder=recorder).test_client()
    methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
    for route in contract.load("routes.json")["routes"]:
        for method in methods:
            response = client.open(route["example_path"], method=method, json={})
            if method in route["allow"]:
                assert response.status_code not in (404, 405), (method, route["example_path"])
            else:
                assert response.status_code == 405, (method, route["example_path"])
                assert response.headers["Allow"] == ", ".join(route["allow"]), (method, route["example_path"])
    assert client.get("/v1/no-such-route").status_code == 404


# ---- model repository ---------------------------------------------------------------------


@pytest.fixture
def write_model(tmp_path):
    """write(name, version, meta): a model directory with a fake model.onnx whose sha256 meta has."""

    def write(name, version, meta):
        directory = tmp_path / name / version
        directory.mkdir(parents=True)
        (directory / "model.onnx").write_bytes(fake_onnx(name, version))
        (directory / "metadata.json").write_text(json.dumps(meta))
        return tmp_path

    return write


def fake_onnx(name, version):
    return b"fake onnx " + (name + version).encode()


def classifier(name="m", version="1"):
    import hashlib

    return {
        "name": name,
        "version": version,
        "task": "classification",
        "input_name": "input",
        "n_features": 4,
        "output_names": ["label", "probabilities"],
        "probabilities_output": "probabilities",
        "value_output": None,
        "class_labels": ["a", "b"],
        "sha256": hashlib.sha256(fake_onnx(name, version)).hexdigest(),
        "opset": 17,
        "estimator": "LogisticRegression",
        "dataset": "load_iris",
        "library_versions": {"onnx": "1.23.2"},
        "parity": {"rows": 3},
        "created_at": "2026-01-01T00:00:00Z",
        "recipe": "r",
    }


def regressor(name="m", version="1"):
    meta = classifier(name, version)
    meta.update(
        task="regression",
        probabilities_output=None,
        value_output="variable",
        output_names=["variable"],
        class_labels=[],
    )
    return meta


@pytest.mark.parametrize("case", contract.load("versions.json")["cases"], ids=lambda c: ",".join(c["versions"]))
def test_version_rule_of_the_contract(write_model, case):
    for version in case["versions"]:
        root = write_model("m", version, classifier("m", version))
    (entry,) = load_repository(str(root))
    assert entry.version == case["serves"]


# Mutations of one property: every JSON type and values at the edges of the schema's rules (no
# other non-empty string: "output not in output_names" is the one rule outside the schema).
MUTATIONS = [None, True, False, 0, -1, 1, 4.0, 2.5, 1e9, "", {}, [], [1], [None], [""]]
SCHEMA = contract.load("metadata.schema.json")


def variants():
    for base in (classifier, regressor):
        for prop in SCHEMA["properties"]:
            meta = base()
            del meta[prop]
            yield meta
            for value in MUTATIONS:
                meta = base()
                meta[prop] = copy.deepcopy(value)
                yield meta
        yield dict(base(), not_in_the_schema=[1])


def test_metadata_validation_agrees_with_the_schema():
    oracle = jsonschema.Draft202012Validator(SCHEMA)
    checked = refused = 0
    for meta in variants():
        want = oracle.is_valid(meta)
        assert (metadata_problem(copy.deepcopy(meta)) is None) == want, (meta, metadata_problem(meta))
        checked += 1
        refused += not want
    assert 0 < refused < checked


def test_every_mutation_is_refused_or_served_by_load_repository(write_model, tmp_path):
    """The loader applies that validation: a refused document stops it with one line."""
    oracle = jsonschema.Draft202012Validator(SCHEMA)
    for i, meta in enumerate(variants()):
        root = tmp_path / str(i)
        directory = root / "m" / "1"
        directory.mkdir(parents=True)
        (directory / "model.onnx").write_bytes(fake_onnx("m", "1"))
        (directory / "metadata.json").write_text(json.dumps(meta))
        if oracle.is_valid(meta):
            assert load_repository(str(root))[0].name == "m"
        else:
            with pytest.raises(RepositoryError) as err:
                load_repository(str(root))
            assert "\n" not in str(err.value)
