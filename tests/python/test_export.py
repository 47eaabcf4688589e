"""`python -m python_service export`: default models, idempotence, bring-your-own-model, failures."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import joblib
import numpy as np
import onnxruntime as ort
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_iris
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from python_service.__main__ import main
from python_service.export import defaults as export_defaults
from python_service.export import model as export_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_NAMES = [r.name for r in export_defaults.DEFAULT_RECIPES]
METADATA_KEYS = {
    "name",
    "version",
    "task",
    "input_name",
    "n_features",
    "output_names",
    "probabilities_output",
    "value_output",
    "class_labels",
    "sha256",
    "opset",
    "estimator",
    "dataset",
    "library_versions",
    "parity",
    "created_at",
    "recipe",
}


def run_export(capsys, *args):
    rc = main(["export", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def load(folder):
    with open(folder / "metadata.json", encoding="utf-8") as f:
        meta = json.load(f)
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    return meta, session


@pytest.fixture(scope="module")
def repo(models_dir, tmp_path_factory):
    """A copy of the default models that `make models` exported (the test run exports them once)."""
    out = tmp_path_factory.mktemp("models")
    for name in DEFAULT_NAMES:
        shutil.copytree(os.path.join(models_dir, name), out / name)
    return out


@pytest.mark.parametrize("name", DEFAULT_NAMES)
def test_default_model_metadata_and_parity(repo, name):
    folder = repo / name / "1"
    meta, session = load(folder)
    assert set(meta) == METADATA_KEYS
    assert (meta["name"], meta["version"], meta["opset"]) == (name, "1", export_model.TARGET_OPSET)
    assert meta["sha256"] == sha256(folder / "model.onnx")
    assert set(meta["library_versions"]) == {"scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy"}
    parity = meta["parity"]
    assert parity["rows"] > 0 and parity["labels_equal"] is True and parity["tolerance"] == 1e-4
    assert 0 <= parity["max_abs_diff"] <= 1e-4

    [inp] = session.get_inputs()
    assert inp.name == meta["input_name"] and inp.type == "tensor(float)"
    assert inp.shape[1] == meta["n_features"] and not isinstance(inp.shape[0], int)  # dynamic batch
    assert [o.name for o in session.get_outputs()] == meta["output_names"]

    # Independent parity check: retrain the recipe, compare on its held-out split.
    recipe = export_defaults.RECIPES_BY_NAME[name]
    X, y, names = recipe.load()
    X_train, X_test, y_train, _ = train_test_split(
        X, y, test_size=export_defaults.TEST_SIZE, random_state=export_defaults.SPLIT_SEED
    )
    est = recipe.build().fit(X_train, y_train)
    X_test = X_test.astype(np.float32)
    if meta["task"] == "classification":
        assert meta["value_output"] is None
        probs = session.run([meta["probabilities_output"]], {inp.name: X_test})[0]
        assert probs.dtype == np.float32 and probs.shape == (len(X_test), len(meta["class_labels"]))
        assert np.abs(probs - est.predict_proba(X_test)).max() <= 1e-4
        assert meta["class_labels"] == [names[c] for c in est.classes_]
        got = [meta["class_labels"][i] for i in probs.argmax(axis=1)]
        assert got == [names[c] for c in est.predict(X_test)]
    else:
        assert meta["probabilities_output"] is None and meta["class_labels"] == []
        values = session.run([meta["value_output"]], {inp.name: X_test})[0]
        assert values.dtype == np.float32 and values.shape == (len(X_test), 1)
        assert np.abs(values[:, 0] - est.predict(X_test)).max() <= 1e-4


def test_default_set_details(repo):
    metas = {n: load(repo / n / "1")[0] for n in DEFAULT_NAMES}
    assert metas["iris-logreg"]["class_labels"] == ["setosa", "versicolor", "virginica"]
    assert metas["digits-mlp"]["class_labels"] == [str(d) for d in range(10)]
    assert metas["digits-mlp"]["estimator"] == "Pipeline(StandardScaler,MLPClassifier)"
    assert metas["diabetes-gbr"]["task"] == "regression"
    assert export_defaults.RECIPES_BY_NAME["breast-cancer-rf"].build().n_estimators >= 200


def test_seed_example_predicts_setosa(repo):
    meta, session = load(repo / "iris-logreg" / "1")
    probs = session.run(
        [meta["probabilities_output"]], {meta["input_name"]: np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)}
    )[0]
    assert meta["class_labels"][int(np.argmax(probs[0]))] == "setosa"


def test_second_run_skips_and_force_is_byte_identical(repo, capsys):
    before = {n: sha256(repo / n / "1" / "model.onnx") for n in DEFAULT_NAMES}
    created = load(repo / "iris-logreg" / "1")[0]["created_at"]
    rc, out, err = run_export(capsys, "--out", repo)
    assert rc == 0 and err == ""
    assert [line.endswith(": up to date") for line in out.splitlines()] == [True] * 4
    assert load(repo / "iris-logreg" / "1")[0]["created_at"] == created
    rc, out, _ = run_export(capsys, "--out", repo, "--force", "--only", "iris-logreg", "--only", "diabetes-gbr")
    assert rc == 0 and "up to date" not in out
    for name in DEFAULT_NAMES:  # a fresh export gives the same bytes
        assert sha256(repo / name / "1" / "model.onnx") == before[name]


def test_tampered_model_is_reexported(tmp_path, capsys):
    assert run_export(capsys, "--out", tmp_path, "--only", "iris-logreg")[0] == 0
    model = tmp_path / "iris-logreg" / "1" / "model.onnx"
    good = model.read_bytes()
    model.write_bytes(good + b"x")
    rc, out, _ = run_export(capsys, "--out", tmp_path, "--only", "iris-logreg")
    assert rc == 0 and "wrote" in out and model.read_bytes() == good


def test_failed_write_keeps_previous_export(tmp_path, capsys, monkeypatch):
    assert run_export(capsys, "--out", tmp_path, "--only", "iris-logreg")[0] == 0
    before = sorted(p.name for p in (tmp_path / "iris-logreg" / "1").iterdir())

    def broken(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_model, "_write_synced", broken)
    rc, _, err = run_export(capsys, "--out", tmp_path, "--only", "iris-logreg", "--force")
    assert rc != 0 and err.startswith("export: error: cannot write") and err.count("\n") == 1
    assert sorted(p.name for p in (tmp_path / "iris-logreg" / "1").iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iris-logreg"]  # no temp folder left


# ---- bring your own model -------------------------------------------------------------------


class Constant(ClassifierMixin, BaseEstimator):
    """A fitted classifier skl2onnx has no converter for."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


@pytest.fixture(scope="module")
def iris_pipeline_file(tmp_path_factory):
    X, y = load_iris(return_X_y=True)
    path = tmp_path_factory.mktemp("pickles") / "pipe.joblib"
    joblib.dump(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), path)
    return path


@pytest.mark.parametrize("with_csv", [False, True])
def test_from_pickle_happy_path(tmp_path, capsys, iris_pipeline_file, with_csv):
    X, _ = load_iris(return_X_y=True)
    args = ["--from-pickle", iris_pipeline_file, "--name", "my-iris", "--version", "3", "--out", tmp_path / "models"]
    if with_csv:
        csv = tmp_path / "rows.csv"
        np.savetxt(csv, X[::3], delimiter=",", header="a,b,c,d", comments="")
        args += ["--sample-csv", csv]
    rc, _out, err = run_export(capsys, *args)
    assert rc == 0, err
    meta, session = load(tmp_path / "models" / "my-iris" / "3")
    assert set(meta) == METADATA_KEYS
    assert meta["estimator"] == "Pipeline(StandardScaler,LogisticRegression)"
    assert meta["class_labels"] == ["0", "1", "2"] and meta["dataset"] is None
    assert meta["parity"]["rows"] == (len(X[::3]) if with_csv else 200)
    assert meta["sha256"] == sha256(tmp_path / "models" / "my-iris" / "3" / "model.onnx")
    est = joblib.load(iris_pipeline_file)
    probs = session.run([meta["probabilities_output"]], {"input": X.astype(np.float32)})[0]
    assert (probs.argmax(axis=1) == est.predict(X)).all()
    assert run_export(capsys, *args)[1].endswith(": up to date\n")


def test_from_pickle_class_labels(tmp_path, capsys, iris_pipeline_file):
    rc, _, err = run_export(
        capsys,
        "--from-pickle",
        iris_pipeline_file,
        "--name",
        "named",
        "--out",
        tmp_path,
        "--class-labels",
        "setosa",
        "versicolor",
        "virginica",
    )
    assert rc == 0, err
    assert load(tmp_path / "named" / "1")[0]["class_labels"] == ["setosa", "versicolor", "virginica"]


def _write_failure_case(case, folder, pipeline_file):
    """Build the input for one failure case; return extra CLI args."""
    X, y = load_iris(return_X_y=True)
    target = folder / "model.joblib"
    if case == "missing file":
        return ["--from-pickle", folder / "nope.joblib"]
    if case == "garbage file":
        target.write_bytes(b"\x00\x01 this is not a pickle" * 20)
    elif case == "not a model":
        joblib.dump({"weights": [1, 2, 3]}, target)
    elif case == "unfitted":
        joblib.dump(LogisticRegression(), target)
    elif case == "unconvertible HistGradientBoosting":
        joblib.dump(HistGradientBoostingClassifier(max_iter=3).fit(X, y), target)
    elif case == "unconvertible custom class":
        joblib.dump(Constant().fit(X, y), target)
    elif case in ("wrong-width csv", "non-numeric csv"):
        csv = folder / "rows.csv"
        csv.write_text("1,2,3\n4,5,6\n" if case == "wrong-width csv" else "1,2,3,4\n1,2,x,4\n")
        return ["--from-pickle", pipeline_file, "--sample-csv", csv]
    elif case == "wrong class label count":
        return ["--from-pickle", pipeline_file, "--class-labels", "a", "b"]
    return ["--from-pickle", target]


FAILURES = [
    "missing file",
    "garbage file",
    "not a model",
    "unfitted",
    "unconvertible HistGradientBoosting",
    "unconvertible custom class",
    "wrong-width csv",
    "non-numeric csv",
    "wrong class label count",
]


@pytest.mark.parametrize("case", FAILURES)
def test_from_pickle_failure_is_one_line(tmp_path, capsys, iris_pipeline_file, case):
    extra = _write_failure_case(case, tmp_path, iris_pipeline_file)
    out_dir = tmp_path / "models"
    rc, _out, err = run_export(capsys, *extra, "--name", "bad", "--out", out_dir)
    assert rc != 0
    assert err.startswith("export: error: ") and err.count("\n") == 1, err
    assert not out_dir.exists()


def test_parity_failure_writes_nothing(tmp_path, capsys, iris_pipeline_file, monkeypatch):
    monkeypatch.setattr(export_model, "TOLERANCE", 0.0)
    rc, _, err = run_export(
        capsys, "--from-pickle", iris_pipeline_file, "--name", "strict", "--out", tmp_path / "models"
    )
    assert rc != 0 and err.startswith("export: error: parity failed") and err.count("\n") == 1
    assert not (tmp_path / "models").exists()


def test_label_mismatch_fails_parity(iris_pipeline_file):
    est = joblib.load(iris_pipeline_file)
    est.predict = lambda X: np.zeros(len(X), dtype=int)  # disagrees with predict_proba's argmax
    X = load_iris().data.astype(np.float32)
    with pytest.raises(export_model.ExportError, match="different label"):
        export_model.build(est, name="x", version="1", X_check=X, class_labels=None, dataset=None, recipe="r")


@pytest.mark.process
def test_cli_process_reports_unconvertible_without_traceback(tmp_path):
    X, y = load_iris(return_X_y=True)
    joblib.dump(HistGradientBoostingClassifier(max_iter=3).fit(X, y), tmp_path / "hgb.joblib")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "python_service",
            "export",
            "--from-pickle",
            str(tmp_path / "hgb.joblib"),
            "--name",
            "hgb",
            "--out",
            str(tmp_path / "models"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("export: error: skl2onnx cannot convert HistGradientBoostingClassifier")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "models").exists()


@pytest.mark.process
def test_help_warns_about_pickles():
    proc = subprocess.run(
        [sys.executable, "-m", "python_service", "export", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "runs code" in proc.stdout
