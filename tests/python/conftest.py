"""Fixtures for the Python service tests: real servers started on free ports over the repository's
models (see pyservice_harness.py; `models_dir` comes from tests/conftest.py)."""

import pytest

from tests.python.pyservice_harness import Server


@pytest.fixture
def start_server(models_dir, tmp_path):
    """Start a server: `start_server(*extra_flags, grpc_addr=..., http_addr=..., ca=...)` (`ca`: it
    serves TLS, its readiness checked with that CA)."""
    started = []

    def start(*extra, models=None, wait=True, ca=None, **addresses):
        log_path = str(tmp_path / ("server%d.log" % len(started)))
        server = Server(models or models_dir, *extra, log_path=log_path, ca=ca, **addresses)
        started.append(server)
        if wait:
            protocols = [p for p in ("grpc", "http") if addresses.get(p + "_addr", "x")]
            server.wait_listening(protocols).wait_ready()
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture(scope="module")
def server(models_dir, tmp_path_factory):
    """One shared server for tests that only send requests."""
    log_path = str(tmp_path_factory.mktemp("server") / "server.log")
    srv = Server(models_dir, log_path=log_path).wait_listening(["grpc", "http"]).wait_ready()
    yield srv
    assert srv.stop() == 0, srv.log()
