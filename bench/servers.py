"""The servers under test: how each is started, where it listens, when it is ready.

A server is started pinned to the server CPUs on port 0; its bound addresses are read from the
`(grpc|http) listening on HOST:PORT` lines it writes to stderr (design.md), then the bench waits
for GET /readyz 200 and gRPC health SERVING (for "" and the PredictionService).
A server given by address (--target) is not started: it only has endpoints, and a pid when given.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.procs import Supervisor

LISTENING = re.compile(r"(grpc|http) listening on (\S+:\d+)")
FLASK_DEV_LISTENING = re.compile(r"Running on (http)://(\S+:\d+)")
HEALTH_SERVICES = ("", "predict.v1.PredictionService")


class ServerError(RuntimeError):
    """A server did not start, did not become ready, or is not reachable."""


@dataclass
class ServerSpec:
    name: str
    argv: list[str]
    protocols: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    listening: re.Pattern = LISTENING
    ready_path: str = "/readyz"  # HTTP readiness route; toys have only /predict
    grpc_health: bool = True


@dataclass
class Server:
    name: str
    endpoints: dict[str, str]  # protocol → host:port
    pid: int | None = None  # None: CPU and RSS are not measured
    managed: bool = False  # started (and stopped) by the bench
    log_path: str | None = None
    argv: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = field(default=None, repr=False)
    exit_code: int | None = None  # after the bench stopped it (0: drained and exited cleanly)


def service_spec(name: str, protocols: tuple[str, ...], models_dir: str, n_cpus: int, go_bin: str) -> ServerSpec:
    """python_service / go_service, as design.md fixes their command lines; unused protocols disabled."""
    addr = {p: ("127.0.0.1:0" if p in protocols else "") for p in ("grpc", "http")}
    common = ["--models", models_dir, "--grpc-addr", addr["grpc"], "--http-addr", addr["http"],
              "--intra-op-threads", "1", "--inter-op-threads", "1"]
    if name == "python":
        return ServerSpec(name, [sys.executable, "-m", "python_service", "serve", *common,
                                 "--workers", str(n_cpus)], protocols)
    if name == "go":
        return ServerSpec(name, [go_bin, *common], protocols, env={"GOMAXPROCS": str(n_cpus)})
    raise ServerError(f"no built-in way to start server {name!r}; give its address with --target")


def toy_spec(name: str, toy_go_bin: str) -> ServerSpec:
    """The seed post's toy servers: constant text on GET /predict, no model."""
    if name == "toy-flask":
        return ServerSpec(name, [sys.executable, "-m", "bench.toy.flask_app", "--port", "0"], ("http",),
                          listening=FLASK_DEV_LISTENING, ready_path="/predict", grpc_health=False)
    if name == "toy-go":
        return ServerSpec(name, [toy_go_bin, "-addr", "127.0.0.1:0"], ("http",),
                          ready_path="/predict", grpc_health=False)
    raise ServerError(f"unknown toy server {name!r}")


def start(sup: Supervisor, spec: ServerSpec, cpus: list[int], log_path: str, timeout_s: float) -> Server:
    """Start a pinned server, learn its addresses from its log, wait until it is ready."""
    log = open(log_path, "wb")
    try:
        proc = sup.spawn(spec.argv, cpus, env=spec.env, stdout=log, stderr=log)
    except OSError as exc:
        raise ServerError(f"{spec.name}: cannot start {spec.argv[0]}: {exc.strerror}") from None
    finally:
        log.close()
    deadline = time.monotonic() + timeout_s
    endpoints: dict[str, str] = {}
    while set(endpoints) < set(spec.protocols):
        if proc.poll() is not None:
            raise ServerError(f"{spec.name} exited with status {proc.returncode} before listening:\n"
                              f"{_tail(log_path)}")
        if time.monotonic() > deadline:
            raise ServerError(f"{spec.name}: no 'listening on' line for {spec.protocols} "
                              f"within {timeout_s:.0f}s:\n{_tail(log_path)}")
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            for proto, address in spec.listening.findall(fh.read()):
                endpoints.setdefault(proto, address)
        time.sleep(0.05)
    server = Server(spec.name, {p: endpoints[p] for p in spec.protocols}, proc.pid, True, log_path, spec.argv, proc)
    wait_ready(server, spec, deadline, alive=lambda: proc.poll() is None)
    return server


def wait_ready(server: Server, spec: ServerSpec, deadline: float, alive=lambda: True) -> None:
    """Poll HTTP readiness and gRPC health until both answer, the deadline passes or the server dies."""
    pending = set(server.endpoints)
    while pending:
        if not alive():
            raise ServerError(f"{server.name} exited while starting:\n{_tail(server.log_path)}")
        if "http" in pending and http_ready(server.endpoints["http"], spec.ready_path):
            pending.discard("http")
        if "grpc" in pending and (not spec.grpc_health or grpc_serving(server.endpoints["grpc"])):
            pending.discard("grpc")
        if pending and time.monotonic() > deadline:
            raise ServerError(f"{server.name}: not ready on {sorted(pending)} in time "
                              f"(HTTP {spec.ready_path} 200 / gRPC health SERVING)")
        if pending:
            time.sleep(0.1)


def http_ready(address: str, path: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def grpc_serving(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            return all(stub.Check(health_pb2.HealthCheckRequest(service=s), timeout=2).status
                       == health_pb2.HealthCheckResponse.SERVING for s in HEALTH_SERVICES)
        except grpc.RpcError:
            return False


def _tail(path: str | None, lines: int = 15) -> str:
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:]).rstrip()
    except OSError:
        return ""
