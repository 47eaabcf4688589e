"""Session fixtures of the conformance suite: the real Python and Go servers, started once as
subprocesses from the built artifacts on free ports (port 0; the addresses come from their
`(grpc|http) listening on HOST:PORT` stderr lines), each serving both protocols on the repository's
models/, and the four endpoints over them.

Needs `make models`, `make build` (go_service/bin/go_service) and, for test_grpcurl.py,
`make tools`; `make test-conformance` does all three. A missing artifact fails the suite with what
to run, unless SERVEBENCH_ALLOW_SKIP=1 turns it into a skip. SERVEBENCH_GO_BIN runs another Go
binary (e.g. an experimental build) instead of go_service/bin/go_service.
"""
import glob
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.conformance.endpoints import ENDPOINTS, GrpcEndpoint, HttpEndpoint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "models")
GO_BIN = os.environ.get("SERVEBENCH_GO_BIN") or os.path.join(ROOT, "go_service", "bin",
                                                             "go_service")
GRPCURL = os.path.join(ROOT, ".tools", "bin", "grpcurl")
LISTENING = re.compile(r"(grpc|http) listening on (\S+:\d+)")
START_TIMEOUT_S = 120


def require(path, what, make_target):
    if os.path.exists(path):
        return path
    message = "%s not found at %s: run `make %s` first" % (what, path, make_target)
    if os.environ.get("SERVEBENCH_ALLOW_SKIP") == "1":
        pytest.skip(message)
    pytest.fail(message + " (or set SERVEBENCH_ALLOW_SKIP=1 to skip)", pytrace=False)


def ort_library():
    """The libonnxruntime the Python service loads (the .venv wheel's), for the Go server."""
    if os.environ.get("ONNXRUNTIME_LIB"):
        return os.environ["ONNXRUNTIME_LIB"]
    import onnxruntime
    found = sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi",
                                          "libonnxruntime.so.*.*")))
    return require(found[-1] if found else "onnxruntime/capi/libonnxruntime.so.*",
                   "libonnxruntime", "setup")


class ServerProcess:
    """One server process; its stdout and stderr go to a log file read for the addresses."""

    def __init__(self, name, argv, log_path):
        self.name, self.log_path = name, log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.addresses = {}

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            self.addresses = dict(LISTENING.findall(self.log()))
            if {"grpc", "http"} <= set(self.addresses) and self._ready():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        pytest.fail("%s server did not become ready (exit %s); its log:\n%s"
                    % (self.name, self.proc.returncode, self.log()), pytrace=False)

    def _ready(self):
        try:
            status, _, _ = HttpEndpoint(self.name, self.addresses["http"]).call(
                "GET", "/readyz", timeout=5)
            return status == 200
        except OSError:
            return False

    def stop(self):
        """SIGTERM, then SIGKILL to the process group this fixture started if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def _serve(name, argv, tmp_path_factory):
    log_path = str(tmp_path_factory.mktemp(name) / "server.log")
    server = ServerProcess(name, argv, log_path).wait_ready()
    yield server
    code = server.stop()
    assert code == 0, "%s server exited %s after SIGTERM; its log:\n%s" % (name, code,
                                                                         server.log())


@pytest.fixture(scope="session")
def python_server(tmp_path_factory):
    require(MODELS, "the model repository", "models")
    yield from _serve("python", [
        sys.executable, "-m", "python_service", "serve", "--models", MODELS,
        "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"], tmp_path_factory)


@pytest.fixture(scope="session")
def go_server(tmp_path_factory):
    require(MODELS, "the model repository", "models")
    require(GO_BIN, "the Go server binary", "build")
    yield from _serve("go", [
        GO_BIN, "--models", MODELS, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
        "--ort-lib", ort_library()], tmp_path_factory)


@pytest.fixture(scope="session")
def servers(python_server, go_server):
    return {"python": python_server, "go": go_server}


@pytest.fixture(scope="session")
def endpoints(servers):
    """name → endpoint, for the four endpoints of ENDPOINTS."""
    made = {}
    for lang, server in servers.items():
        made["%s-grpc" % lang] = GrpcEndpoint("%s-grpc" % lang, server.addresses["grpc"])
        made["%s-http" % lang] = HttpEndpoint("%s-http" % lang, server.addresses["http"])
    assert sorted(made) == sorted(ENDPOINTS)
    yield made
    for endpoint in made.values():
        if isinstance(endpoint, GrpcEndpoint):
            endpoint.close()


@pytest.fixture
def grpcurl():
    return require(GRPCURL, "grpcurl", "tools")
