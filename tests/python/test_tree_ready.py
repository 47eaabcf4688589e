"""Readiness is the process tree's: a worker says "ready" only once every worker of the tree
(--workers per protocol served) has loaded the models, so a client that waited for "ready" is never
sent to a sibling still loading (python_service/server/process/worker.py)."""

import os
import subprocess
import sys

import pytest

from python_service.server.process import worker
from python_service.server.process.cli import ServeConfig


def _config(**kw):
    return ServeConfig(**dict({"models_dir": "models", "grpc_addr": ":0", "http_addr": ":0", "workers": 2}, **kw))


@pytest.fixture
def ready_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(worker.READY_DIR_ENV, str(tmp_path))
    return tmp_path


def _say_loaded(ready_dir, protocol, pid):
    (ready_dir / ("%s-%d" % (protocol, pid))).touch()


def test_outside_a_tree_a_loaded_worker_is_ready(monkeypatch):
    monkeypatch.delenv(worker.READY_DIR_ENV, raising=False)
    assert worker.tree_loaded(_config())


def test_every_worker_of_every_protocol_must_have_loaded(ready_dir):
    config = _config()
    _say_loaded(ready_dir, "http", os.getpid())
    _say_loaded(ready_dir, "grpc", os.getpid())
    assert not worker.tree_loaded(config)
    sibling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _say_loaded(ready_dir, "http", sibling.pid)
        assert not worker.tree_loaded(config)  # one gRPC worker still loading
        _say_loaded(ready_dir, "grpc", sibling.pid)
        assert worker.tree_loaded(config)
    finally:
        sibling.kill()
        sibling.wait()
    assert not worker.tree_loaded(config)  # a dead worker's word does not count


def test_only_the_protocols_served_count(ready_dir):
    _say_loaded(ready_dir, "http", os.getpid())
    assert worker.tree_loaded(_config(workers=1, grpc_addr=""))
    assert not worker.tree_loaded(_config(workers=1, http_addr=""))
