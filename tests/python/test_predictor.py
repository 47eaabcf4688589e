"""The core Predictor and the model repository, in process: every row of the error table, the
validation order, prediction shapes, and the repository's refusals (sha256 mismatch first)."""

import json
import math
import shutil

import grpc
import numpy as np
import onnxruntime as ort
import pytest

from python_service.gen.predict.v1 import predict_pb2
from python_service.server.core.predictor import PredictError, Predictor, session_options
from python_service.server.core.repository import RepositoryError, load_repository
from tests.python.pyservice_harness import SETOSA, predict_request

C = grpc.StatusCode
NAN, INF = math.nan, math.inf


@pytest.fixture(scope="module")
def predictor(models_dir):
    return Predictor(load_repository(models_dir), max_batch=1024)


def iris(*rows):
    return predict_request("iris-logreg", rows)


# (id, request, grpc code, words the message must contain) — validation steps 2 to 6.
ERROR_TABLE = [
    ("empty model name", predict_request("", [SETOSA]), C.INVALID_ARGUMENT, "model name"),
    ("unknown model", predict_request("nope", [SETOSA]), C.NOT_FOUND, "nope"),
    ("no instances", iris(), C.INVALID_ARGUMENT, "no instances"),
    ("batch over max", iris(*[SETOSA] * 1025), C.INVALID_ARGUMENT, "1024"),
    ("too few features", iris([1.0, 2.0, 3.0]), C.INVALID_ARGUMENT, "instance 0"),
    ("too many features", iris([1.0] * 5), C.INVALID_ARGUMENT, "instance 0"),
    ("empty row", iris([]), C.INVALID_ARGUMENT, "instance 0"),
    ("ragged rows", iris(SETOSA, SETOSA, [1.0, 2.0]), C.INVALID_ARGUMENT, "instance 2"),
    ("ragged wide batch", iris(*[SETOSA] * 40, [1.0] * 5), C.INVALID_ARGUMENT, "instance 40"),
    ("NaN", iris(SETOSA, [1.0, 2.0, NAN, 4.0]), C.INVALID_ARGUMENT, "instance 1 feature 2"),
    ("+Inf", iris([INF, 1.0, 1.0, 1.0]), C.INVALID_ARGUMENT, "instance 0 feature 0"),
    ("-Inf", iris([1.0, 1.0, 1.0, -INF]), C.INVALID_ARGUMENT, "instance 0 feature 3"),
    ("NaN in a wide batch", iris(*[SETOSA] * 30, [1.0, NAN, 1.0, 1.0]), C.INVALID_ARGUMENT, "instance 30 feature 1"),
    ("float32 overflow", iris([1e39, 1.0, 1.0, 1.0]), C.INVALID_ARGUMENT, "instance 0 feature 0"),
]


@pytest.mark.parametrize("request_, code, words", [c[1:] for c in ERROR_TABLE], ids=[c[0] for c in ERROR_TABLE])
def test_error_table(predictor, request_, code, words):
    with pytest.raises(PredictError) as err:
        predictor.predict(request_)
    assert err.value.code == code
    assert words in err.value.message


def test_not_ready_while_loading(models_dir):
    """A predictor made without entries answers UNAVAILABLE until load(); a drain during the
    load keeps it not ready."""
    loading = Predictor()
    assert not loading.ready
    for call in (lambda: loading.predict(iris(SETOSA)), loading.list_models, lambda: loading.get_model("iris-logreg")):
        with pytest.raises(PredictError) as err:
            call()
        assert err.value.code == C.UNAVAILABLE and "loading" in err.value.message
    loading.load(load_repository(models_dir))
    assert loading.ready and loading.predict(iris(SETOSA)).predictions[0].label == "setosa"
    drained_early = Predictor()
    drained_early.drain()
    drained_early.load(load_repository(models_dir))
    assert not drained_early.ready


def test_not_ready_comes_first(models_dir):
    drained = Predictor(load_repository(models_dir))
    assert drained.ready
    drained.drain()
    assert not drained.ready
    for request in (iris(SETOSA), predict_request("nope", []), iris([NAN])):
        with pytest.raises(PredictError) as err:
            drained.predict(request)
        assert err.value.code == C.UNAVAILABLE


@pytest.mark.parametrize(
    "request_, code, words",
    [
        (predict_request("nope", []), C.NOT_FOUND, "nope"),  # model before rows
        (iris(*[[1.0]] * 1025), C.INVALID_ARGUMENT, "1024"),  # size before widths
        (iris([NAN, 1.0, 1.0, 1.0], [1.0]), C.INVALID_ARGUMENT, "instance 1"),  # widths before NaN
    ],
    ids=["model before instances", "batch size before widths", "widths before values"],
)
def test_validation_order(predictor, request_, code, words):
    with pytest.raises(PredictError) as err:
        predictor.predict(request_, time_remaining=lambda: -1.0)
    assert (err.value.code, words in err.value.message) == (code, True)


def test_deadline_checked_after_input(predictor):
    with pytest.raises(PredictError) as err:
        predictor.predict(iris(SETOSA), time_remaining=lambda: 0.0)
    assert err.value.code == C.DEADLINE_EXCEEDED
    with pytest.raises(PredictError) as err:
        predictor.predict(iris([NAN] * 4), time_remaining=lambda: 0.0)
    assert err.value.code == C.INVALID_ARGUMENT
    assert predictor.predict(iris(SETOSA), time_remaining=lambda: None).predictions
    assert predictor.predict(iris(SETOSA), time_remaining=lambda: 5.0).predictions


def test_max_batch_flag(models_dir):
    small = Predictor(load_repository(models_dir), max_batch=2)
    assert len(small.predict(iris(SETOSA, SETOSA)).predictions) == 2
    with pytest.raises(PredictError) as err:
        small.predict(iris(SETOSA, SETOSA, SETOSA))
    assert err.value.code == C.INVALID_ARGUMENT


class _BrokenSession:
    def run(self, *args, **kwargs):
        raise RuntimeError("secret detail: /opt/model.onnx exploded")


def test_inference_failure_is_internal_and_generic(models_dir, caplog):
    broken = Predictor(load_repository(models_dir))
    broken._models["iris-logreg"].session = _BrokenSession()
    with pytest.raises(PredictError) as err:
        broken.predict(iris(SETOSA))
    assert (err.value.code, err.value.message) == (C.INTERNAL, "internal error")
    assert "secret detail" in caplog.text  # the details go to the log, not to the client


def test_seed_example_is_setosa(predictor):
    response = predictor.predict(iris(SETOSA))
    assert (response.model, response.model_version) == ("iris-logreg", "1")
    (prediction,) = response.predictions
    assert (prediction.label, prediction.class_index) == ("setosa", 0)
    assert prediction.HasField("class_index") and not prediction.HasField("value")
    assert len(prediction.probabilities) == 3
    assert math.isclose(sum(prediction.probabilities), 1.0, rel_tol=1e-5)
    assert prediction.probabilities[0] == max(prediction.probabilities)


@pytest.mark.parametrize("name", ["iris-logreg", "breast-cancer-rf", "digits-mlp", "diabetes-gbr"])
@pytest.mark.parametrize("rows", [1, 3, 64])
def test_matches_onnxruntime_directly(predictor, models_dir, name, rows):
    """Same numbers as a plain ORT session on the same file and options (a tree ensemble's sums
    depend on the thread count), through both tensor paths."""
    with open("%s/%s/1/metadata.json" % (models_dir, name)) as f:
        meta = json.load(f)
    session = ort.InferenceSession(
        "%s/%s/1/model.onnx" % (models_dir, name),
        sess_options=session_options(1, 1),
        providers=["CPUExecutionProvider"],
    )
    x = np.random.default_rng(rows).normal(size=(rows, meta["n_features"])).astype(np.float32)
    x[0, 0] = -0.0
    response = predictor.predict(predict_request(name, x.tolist()))
    assert len(response.predictions) == rows
    if meta["task"] == "classification":
        expected = session.run([meta["probabilities_output"]], {meta["input_name"]: x})[0]
        for prediction, row in zip(response.predictions, expected):
            assert list(prediction.probabilities) == row.tolist()
            assert prediction.class_index == int(np.argmax(row))
            assert prediction.label == meta["class_labels"][prediction.class_index]
    else:
        expected = session.run([meta["value_output"]], {meta["input_name"]: x})[0]
        for prediction, row in zip(response.predictions, expected):
            assert prediction.HasField("value") and not prediction.label
            assert prediction.value == row[0]


def test_unknown_binary_fields_in_an_instance_are_ignored(predictor):
    request = iris(*[SETOSA] * 20)
    request.instances[3].features[:] = [6.7, 3.0, 5.2, 2.3]
    extra = predict_pb2.Instance(features=[1.0]).SerializeToString()
    request.instances[5].MergeFromString(b"\x12" + bytes([len(extra)]) + extra)  # field 2: unknown
    plain = iris(*[SETOSA] * 20)
    plain.instances[3].features[:] = [6.7, 3.0, 5.2, 2.3]
    assert predictor.predict(request) == predictor.predict(plain)
    assert predictor.predict(plain).predictions[3].label == "virginica"


def test_list_and_get_model(predictor):
    listed = predictor.list_models()
    names = [m.name for m in listed.models]
    assert names == ["breast-cancer-rf", "diabetes-gbr", "digits-mlp", "iris-logreg"]
    info = predictor.get_model("iris-logreg")
    assert (info.version, info.task, info.n_features) == ("1", "classification", 4)
    assert list(info.class_labels) == ["setosa", "versicolor", "virginica"]
    assert len(info.sha256) == 64 and info.opset > 0 and info.input_name
    assert predictor.get_model("diabetes-gbr").task == "regression"
    for name, code in (("", C.INVALID_ARGUMENT), ("nope", C.NOT_FOUND)):
        with pytest.raises(PredictError) as err:
            predictor.get_model(name)
        assert err.value.code == code


# ---- repository -------------------------------------------------------------------------


@pytest.fixture
def iris_repo(models_dir, tmp_path):
    shutil.copytree("%s/iris-logreg" % models_dir, tmp_path / "iris-logreg")
    return tmp_path


def test_sha256_mismatch_is_refused(iris_repo):
    with open(iris_repo / "iris-logreg/1/model.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(RepositoryError, match="sha256 mismatch") as err:
        load_repository(str(iris_repo))
    assert "\n" not in str(err.value)


# The version rule and schema validation are checked against the contract in test_contract.py.
@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda m: m.update(name="other"), "lies in"),
        (lambda m: m.update(probabilities_output="nope"), "output_names"),
    ],
)
def test_bad_metadata_is_refused(iris_repo, edit, words):
    meta_path = iris_repo / "iris-logreg/1/metadata.json"
    meta = json.loads(meta_path.read_text())
    edit(meta)
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(RepositoryError, match=words):
        load_repository(str(iris_repo))


def test_empty_or_missing_repository(tmp_path):
    with pytest.raises(RepositoryError, match="no models"):
        load_repository(str(tmp_path))
    with pytest.raises(RepositoryError, match="does not exist"):
        load_repository(str(tmp_path / "missing"))
