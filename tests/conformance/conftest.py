"""Session fixtures of the conformance suite: the real Python and Go servers, started once as
subprocesses from the built artifacts on free ports (port 0; the addresses come from their
`(grpc|http) listening on HOST:PORT` stderr lines), each serving both protocols on the repository's
models/, and the four endpoints over them.

Needs `make models`, `make build` (go_service/bin/go_service) and, for test_grpcurl.py and
test_v2_routes.py, `make tools`; `make test-conformance` does all three. The Open Inference
Protocol (V2) tests run on the servers of v2_endpoints.V2_HTTP_SERVERS (fixtures `v2_servers`,
`v2_clients`; gRPC on V2_SERVERS). The servers are started by the bench's server harness (bench.run.servers). A
missing artifact fails the suite with what to run, unless SERVEBENCH_ALLOW_SKIP=1 turns it into a
skip. SERVEBENCH_GO_BIN runs another Go binary (e.g. an experimental build) instead of
go_service/bin/go_service.

SERVEBENCH_TLS=1 runs the whole suite over TLS (`make test-conformance` runs it both ways): a
throwaway CA and server certificate (bench.run.certs) for the session, every server started with
--tls-cert/--tls-key, and every client verifying it with that CA (gRPC and HTTP/1.1 over TLS,
grpcurl -cacert, tritonclient with ssl). Each server's `ca` is None in a plaintext run.
"""

import glob
import os

import pytest

from bench.run import certs
from bench.run import servers as harness
from bench.run.procs import Supervisor
from tests.conformance.endpoints import ENDPOINTS, SERVER_WAYS, GrpcEndpoint, make
from tests.conformance.v2_endpoints import V2_HTTP_SERVERS, V2_SERVERS, V2Grpc, V2Http

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "models")
GO_BIN = os.environ.get("SERVEBENCH_GO_BIN") or os.path.join(ROOT, "go_service", "bin", "go_service")
GRPCURL = os.path.join(ROOT, ".tools", "bin", "grpcurl")
START_TIMEOUT_S = 120
TLS = os.environ.get("SERVEBENCH_TLS") == "1"


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

    found = sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so.*.*")))
    return require(found[-1] if found else "onnxruntime/capi/libonnxruntime.so.*", "libonnxruntime", "setup")


def _serve(spec, tmp_path_factory):
    log_path = str(tmp_path_factory.mktemp(spec.name) / "server.log")
    with Supervisor(stop_timeout_s=60) as sup:
        try:
            server = harness.start(sup, spec, None, log_path, START_TIMEOUT_S)
        except harness.ServerError as e:
            pytest.fail("%s server did not become ready: %s" % (spec.name, e), pytrace=False)
        yield server
        code = server.stop(sup)
        assert code == 0, "%s server exited %s after SIGTERM; its log:\n%s" % (spec.name, code, server.log())


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory):
    """The session's throwaway CA and server certificate when the suite runs over TLS, else None."""
    return certs.make(str(tmp_path_factory.mktemp("tls"))) if TLS else None


@pytest.fixture(scope="session")
def python_server(tmp_path_factory, tls_certs):
    require(MODELS, "the model repository", "models")
    yield from _serve(harness.python_spec(("grpc", "http"), MODELS, tls=tls_certs), tmp_path_factory)


@pytest.fixture(scope="session")
def go_server(tmp_path_factory, tls_certs):
    require(MODELS, "the model repository", "models")
    require(GO_BIN, "the Go server binary", "build")
    spec = harness.go_spec(("grpc", "http"), MODELS, "--ort-lib", ort_library(), go_bin=GO_BIN, tls=tls_certs)
    yield from _serve(spec, tmp_path_factory)


@pytest.fixture(scope="session")
def python_rsgi_server(tmp_path_factory, tls_certs):
    """The Python server with the lean HTTP adapter (--http-server rsgi), HTTP only."""
    require(MODELS, "the model repository", "models")
    spec = harness.python_spec(("http",), MODELS, "--http-server", "rsgi", name="python-rsgi", tls=tls_certs)
    yield from _serve(spec, tmp_path_factory)


@pytest.fixture(scope="session")
def servers(python_server, go_server, python_rsgi_server):
    return {"python": python_server, "go": go_server, "python[rsgi]": python_rsgi_server}


@pytest.fixture(scope="session")
def endpoints(servers):
    """name → endpoint, for every endpoint of ENDPOINTS."""
    made = {}
    for name, server in servers.items():
        for way in SERVER_WAYS[name]:
            made["%s-%s" % (name, way)] = make(name, way, server.endpoints[way.split("-")[0]], server.ca)
    assert sorted(made) == sorted(ENDPOINTS)
    yield made
    for endpoint in made.values():
        if isinstance(endpoint, GrpcEndpoint):
            endpoint.close()


@pytest.fixture
def grpcurl():
    return require(GRPCURL, "grpcurl", "tools")


def grpcurl_transport(server):
    """grpcurl's transport flags for a server: -plaintext, or -cacert with the CA over TLS."""
    return ["-cacert", server.ca] if server.ca else ["-plaintext"]


@pytest.fixture(scope="session")
def v2_servers(request):
    """name → server, for the servers that speak the Open Inference Protocol (V2_HTTP_SERVERS),
    each started once by its `<name>_server` fixture."""
    return {name: request.getfixturevalue("%s_server" % name) for name in V2_HTTP_SERVERS}


@pytest.fixture(scope="session")
def v2_clients(v2_servers):
    """name → {"http": V2Http, "grpc": V2Grpc (V2_SERVERS only)} for each V2 server."""
    made = {name: {"http": V2Http(server.endpoints["http"], server.ca)} for name, server in v2_servers.items()}
    for name in V2_SERVERS:
        made[name]["grpc"] = V2Grpc(v2_servers[name].endpoints["grpc"], v2_servers[name].ca)
    yield made
    for name in V2_SERVERS:
        made[name]["grpc"].close()
