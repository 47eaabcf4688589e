"""A server process's life: started from a spec, where it listens, when it is ready, how it is
stopped (bench.run.servers says which servers, with which flags; the tests use both).

A server is started on port 0; its bound addresses are read from the `(grpc|http) listening on
HOST:PORT` lines it writes to stderr (LISTENING, the contract of both servers), then the harness
waits for GET /readyz 200 and gRPC health SERVING (for "" and the PredictionService), over TLS
verified against the spec's CA when it has one. A server given by address (--target) is not
started: it only has endpoints, and a pid when given.
"""

from __future__ import annotations

import re
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.run.procs import Supervisor

READY_IN_A_ROW = 5  # consecutive ready answers on new connections before a server counts as ready
LISTENING = re.compile(r"(grpc|http|metrics) listening on (\S+:\d+)")
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
    ca: str | None = None  # over TLS: the CA certificate (PEM) its clients verify it with
    endpoints: dict[str, str] | None = None  # addresses known up front (a peer given its ports): no log to read
    serves: frozenset[str] | None = None  # the protocols the bench drives at it; None: every one it listens for


@dataclass
class Server:
    name: str
    endpoints: dict[str, str]  # protocol → host:port
    pid: int | None = None  # None: CPU and RSS are not measured
    managed: bool = False  # started (and stopped) by the harness
    log_path: str | None = None
    argv: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = field(default=None, repr=False)
    exit_code: int | None = None  # after it was stopped (0: drained and exited cleanly)
    spec: ServerSpec | None = field(default=None, repr=False)
    ca: str | None = None  # over TLS: the CA certificate (PEM) to verify it with; None: plaintext
    protocols: frozenset[str] | None = None  # a target's protocols (--target); None: every one it listens for
    # what counts its CPU (bench.run.cgroup.CpuAccount, or its CPU cap's group); removed with `stop`
    # when the server owns it
    account: object | None = field(default=None, repr=False)
    owns_account: bool = False

    def serves(self, protocol: str) -> bool:
        """Whether the bench drives this protocol at this server (its listener aside)."""
        return self.protocols is None or protocol in self.protocols

    def log(self) -> str:
        if not self.log_path:
            return ""
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def alive(self) -> bool:
        return self.proc is None or self.proc.poll() is None

    def wait_listening(self, timeout_s: float) -> Server:
        """Read the addresses of every protocol of the spec from the log."""
        if self.spec.endpoints is not None:
            self.endpoints = dict(self.spec.endpoints)
            return self
        deadline = time.monotonic() + timeout_s
        wanted = set(self.spec.protocols)
        while True:
            for proto, address in self.spec.listening.findall(self.log()):
                self.endpoints.setdefault(proto, address)
            if wanted <= set(self.endpoints):
                self.endpoints = {p: self.endpoints[p] for p in self.spec.protocols}
                return self
            if not self.alive():
                raise ServerError(
                    f"{self.name} exited with status {self.proc.returncode} before listening:\n{tail(self.log_path)}"
                )
            if time.monotonic() > deadline:
                raise ServerError(
                    f"{self.name}: no 'listening on' line for {sorted(wanted)} within {timeout_s:.0f}s:\n"
                    f"{tail(self.log_path)}"
                )
            time.sleep(0.05)

    def wait_ready(self, timeout_s: float, in_a_row: int = READY_IN_A_ROW) -> Server:
        """Poll HTTP readiness and gRPC health, each on a new connection, until both answer ready
        `in_a_row` times running (a server of several worker processes is ready once every worker
        the kernel hands connections to is), the deadline passes or the server dies."""
        spec = self.spec or ServerSpec(self.name, [], tuple(self.endpoints))
        deadline = time.monotonic() + timeout_s
        streak = dict.fromkeys(set(self.endpoints) & {"http", "grpc"}, 0)
        while any(n < in_a_row for n in streak.values()):
            if not self.alive():
                raise ServerError(f"{self.name} exited while starting:\n{tail(self.log_path)}")
            if "http" in streak:
                ready = http_ready(self.endpoints["http"], spec.ready_path, self.ca)
                streak["http"] = streak["http"] + 1 if ready else 0
            if "grpc" in streak:
                serving = not spec.grpc_health or grpc_serving(self.endpoints["grpc"], self.ca)
                streak["grpc"] = streak["grpc"] + 1 if serving else 0
            pending = {p for p, n in streak.items() if n < in_a_row}
            if pending and time.monotonic() > deadline:
                raise ServerError(
                    f"{self.name}: not ready on {sorted(pending)} in time "
                    f"(HTTP {spec.ready_path} 200 / gRPC health SERVING)"
                )
            if pending:
                time.sleep(0.05)
        return self

    def stop(self, sup: Supervisor, sig: int = signal.SIGTERM) -> int | None:
        """Signal it (SIGTERM: drain and exit), wait, SIGKILL what is left; the exit status."""
        if self.proc is not None:
            self.exit_code = sup.stop(self.proc, sig)
        if self.owns_account and self.account is not None:
            self.account.close()
            self.account = None
        return self.exit_code


def launch(sup: Supervisor, spec: ServerSpec, cpus: list[int] | None, log_path: str, preexec=None) -> Server:
    """Start a server (pinned to `cpus` when given; `preexec` runs in the child before it starts,
    e.g. joining a CPU-capped cgroup), its stdout and stderr into log_path."""
    with open(log_path, "wb") as log:
        try:
            proc = sup.spawn(spec.argv, cpus, env=spec.env, stdout=log, stderr=log, preexec=preexec)
        except OSError as exc:
            raise ServerError(f"{spec.name}: cannot start {spec.argv[0]}: {exc.strerror}") from None
    return Server(
        spec.name, {}, proc.pid, True, log_path, spec.argv, proc, spec=spec, ca=spec.ca, protocols=spec.serves
    )


def start(
    sup: Supervisor, spec: ServerSpec, cpus: list[int] | None, log_path: str, timeout_s: float, preexec=None
) -> Server:
    """Start a server, learn its addresses from its log, wait until it is ready."""
    started = time.monotonic()
    server = launch(sup, spec, cpus, log_path, preexec).wait_listening(timeout_s)
    return server.wait_ready(max(1.0, timeout_s - (time.monotonic() - started)))


def http_url(address: str, path: str, ca: str | None = None) -> str:
    return f"{'https' if ca else 'http'}://{address}{path}"


def ssl_context(ca: str | None) -> ssl.SSLContext | None:
    """A client context that verifies a server against the CA file `ca` (None: plaintext)."""
    return ssl.create_default_context(cafile=ca) if ca else None


def http_ready(address: str, path: str, ca: str | None = None) -> bool:
    try:
        with urllib.request.urlopen(http_url(address, path, ca), timeout=2, context=ssl_context(ca)) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def grpc_channel(address: str, ca: str | None = None, options=()) -> grpc.Channel:
    """A gRPC channel to `address`: over TLS verified against the CA file `ca`, else plaintext."""
    if ca is None:
        return grpc.insecure_channel(address, options=list(options))
    with open(ca, "rb") as fh:
        credentials = grpc.ssl_channel_credentials(root_certificates=fh.read())
    return grpc.secure_channel(address, credentials, options=list(options))


def grpc_serving(address: str, ca: str | None = None) -> bool:
    # a connection of its own (grpcio shares subchannels across channels by default)
    with grpc_channel(address, ca, [("grpc.use_local_subchannel_pool", 1)]) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            return all(
                stub.Check(health_pb2.HealthCheckRequest(service=s), timeout=2).status
                == health_pb2.HealthCheckResponse.SERVING
                for s in HEALTH_SERVICES
            )
        except grpc.RpcError:
            return False


def tail(path: str | None, lines: int = 15) -> str:
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:]).rstrip()
    except OSError:
        return ""
