"""The bench reads the model repository with the servers' own reader: it benchmarks, gates and
times in process the very version the servers serve (versions.json's rule), never another."""

import json
import shutil

import pytest

from bench.run import payloads


@pytest.fixture
def repo(models_dir, tmp_path):
    """iris-logreg as versions 1, 2 and dev (same model file, metadata naming its version)."""
    for version in ("1", "2", "dev"):
        shutil.copytree("%s/iris-logreg/1" % models_dir, tmp_path / "iris-logreg" / version)
        path = tmp_path / "iris-logreg" / version / "metadata.json"
        path.write_text(json.dumps(dict(json.loads(path.read_text()), version=version)))
    return str(tmp_path)


def test_bench_uses_the_version_the_servers_serve(repo):
    entry = payloads.load_models(repo, ["iris-logreg"])["iris-logreg"]
    assert entry.version == "2"
    assert entry.directory.endswith("/iris-logreg/2")


def test_a_model_the_repository_lacks_is_named(repo):
    with pytest.raises(payloads.ModelError, match="'nope' not found"):
        payloads.load_models(repo, ["iris-logreg", "nope"])
