"""Fixtures every suite shares, and the `process` marker.

`models_dir` is the repository's models/ (made once by `make models`, which every make target
that runs tests depends on), or $SERVEBENCH_MODELS. Tests that start server processes (or other
subprocesses) carry the `process` marker, set here for every test using a server fixture, so that
`make test-unit` (`pytest -m "not process"`) runs the rest in seconds.
"""

import os
import tempfile

import pytest

# In-process apps record metrics the way workers do: prometheus_client's multiprocess mode, chosen
# when prometheus_client is first imported.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="servebench-test-metrics-"))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROCESS_FIXTURES = {
    "server",
    "start_server",
    "servers",
    "python_server",
    "go_server",
    "python_rsgi_server",
    "endpoints",
    "grpcurl",
    "v2_servers",
    "v2_clients",
    "tritonclient_results",
}


@pytest.fixture(scope="session")
def models_dir():
    path = os.environ.get("SERVEBENCH_MODELS") or os.path.join(ROOT, "models")
    if not os.path.isdir(path):
        pytest.fail("model repository %s not found: run `make models` first" % path, pytrace=False)
    return path


def pytest_collection_modifyitems(items):
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.process)
