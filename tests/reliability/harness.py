"""How the suite starts the servers under attack (through the repository's one server-start harness,
bench.run.servers), the deadlines it starts them with, and small helpers every attack shares.

Both servers are pinned to SERVER_CPUS and started with shorter deadlines than their defaults, so
that every attack sees its deadline pass in a few seconds (SUITE_FLAGS). An attack module may name flags of
its own per server kind (its SERVER_FLAGS, e.g. the overload attack's queueing budget: see
conftest.target). RELIABILITY_PYTHON_ARGS /
RELIABILITY_GO_ARGS append flags (the last of a repeated flag wins on both servers): the rules keep
the suite's deadlines, so `RELIABILITY_GO_ARGS="--http-read-header-timeout 1h"` must fail the slow
header rule, and `--max-queue-delay 0 --max-inflight 100000` (no admission) the overload rule.
"""

from __future__ import annotations

import glob
import os
import shlex
import time
from dataclasses import dataclass

import psutil
import pytest

from bench.run import servers as harness
from bench.run.procs import Supervisor
from python_service import contract

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.environ.get("SERVEBENCH_MODELS") or os.path.join(ROOT, "models")
GO_BIN = os.environ.get("SERVEBENCH_GO_BIN") or harness.GO_BIN
TOOLS = os.path.join(ROOT, ".tools", "bin")
SERVER_CPUS = [0]
KINDS = ("python", "python[rsgi]", "go")  # the servers under attack: conftest.target
CLIENT_CPUS = [1]
START_TIMEOUT_S = 60

# The deadlines the suite starts both servers with (their defaults: 5 s, 30 s, 30 s, 60 s).
READ_HEADER_TIMEOUT_S = 2.0
IDLE_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0
WRITE_TIMEOUT_S = 5.0
SUITE_FLAGS = (
    "--http-read-header-timeout",
    "%gs" % READ_HEADER_TIMEOUT_S,
    "--http-idle-timeout",
    "%gs" % IDLE_TIMEOUT_S,
    "--http-read-timeout",
    "%gs" % READ_TIMEOUT_S,
    "--http-write-timeout",
    "%gs" % WRITE_TIMEOUT_S,
)
MAX_BODY = 4 * 1024 * 1024
MAX_BATCH = 1024
# The servers' default queueing budget (errors.json max_queue_delay_ms), for the report.
DEFAULT_QUEUE_DELAY_MS = contract.load("errors.json")["max_queue_delay_ms"]


@dataclass(frozen=True)
class Deadlines:
    """What each server is expected to do with the suite's flags (None: it has no such deadline)."""

    read_header_s: float
    idle_s: float
    body_read_s: float | None
    idle_note: str
    body_note: str


DEADLINES = {
    # granian: the keep-alive idle timeout is the read-header timeout; the body deadline is the
    # RSGI front's (--http-read-timeout: 408 and closed).
    "python": Deadlines(
        READ_HEADER_TIMEOUT_S,
        READ_HEADER_TIMEOUT_S,
        READ_TIMEOUT_S,
        "granian's keep-alive idle timeout is --http-read-header-timeout (%gs)" % READ_HEADER_TIMEOUT_S,
        "--http-read-timeout %gs, the RSGI front's" % READ_TIMEOUT_S,
    ),
    # the lean HTTP adapter (--http-server rsgi) on the same granian host: the same deadlines, its own
    # body reader
    "python[rsgi]": Deadlines(
        READ_HEADER_TIMEOUT_S,
        READ_HEADER_TIMEOUT_S,
        READ_TIMEOUT_S,
        "granian's keep-alive idle timeout is --http-read-header-timeout (%gs)" % READ_HEADER_TIMEOUT_S,
        "--http-read-timeout %gs, the lean adapter's" % READ_TIMEOUT_S,
    ),
    "go": Deadlines(
        READ_HEADER_TIMEOUT_S,
        IDLE_TIMEOUT_S,
        READ_TIMEOUT_S,
        "--http-idle-timeout %gs" % IDLE_TIMEOUT_S,
        "--http-read-timeout %gs" % READ_TIMEOUT_S,
    ),
}


def ort_library() -> str:
    """The libonnxruntime of the .venv wheel (the one the Python service loads), for Go."""
    if os.environ.get("ONNXRUNTIME_LIB"):
        return os.environ["ONNXRUNTIME_LIB"]
    import onnxruntime

    found = sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so.*.*")))
    if not found:
        raise FileNotFoundError("libonnxruntime not found in the onnxruntime wheel: run `make setup`")
    return found[-1]


def extra_args(kind: str) -> list[str]:
    """RELIABILITY_PYTHON_ARGS (both Python kinds) / RELIABILITY_GO_ARGS."""
    return shlex.split(os.environ.get("RELIABILITY_%s_ARGS" % kind.split("[")[0].upper(), ""))


def grpc_attack(target: Target) -> None:
    """At the start of an attack on gRPC alone: python[rsgi] differs from python only in its HTTP
    adapter, its gRPC server is the same grpcio server, attacked under "python" — not twice."""
    if target.kind == "python[rsgi]":
        pytest.skip("python[rsgi]'s gRPC server is python's, attacked there; only its HTTP adapter differs")


def gomaxprocs() -> int | None:
    """The Go server's GOMAXPROCS environment variable: none, so that the server runs as deployed
    (its predict work on the server CPUs, and one P more for the network, go_service/README.md);
    RELIABILITY_GOMAXPROCS sets it for a diagnosis (the bench sets it to the server CPUs)."""
    value = os.environ.get("RELIABILITY_GOMAXPROCS")
    return int(value) if value else None


def spec_for(kind: str, models: str = MODELS, *more: str, name: str | None = None) -> harness.ServerSpec:
    """The suite's server of `kind` ("python": the default stack, granian + sync gRPC, one worker
    per protocol; "python[rsgi]": the same with the lean HTTP adapter, --http-server rsgi; "go":
    GOMAXPROCS = the server CPUs), both protocols on port 0."""
    flags = [*SUITE_FLAGS, *more, *extra_args(kind)]
    if kind == "python":
        return harness.python_spec(("grpc", "http"), models, *flags, name=name or kind)
    if kind == "python[rsgi]":
        rsgi = ("--http-server", "rsgi")
        return harness.python_spec(("grpc", "http"), models, *rsgi, *flags, name=name or "python-rsgi")
    if kind == "go":
        flags = ["--ort-lib", ort_library(), *flags]
        return harness.go_spec(
            ("grpc", "http"), models, *flags, gomaxprocs=gomaxprocs(), go_bin=GO_BIN, name=name or kind
        )
    raise ValueError(kind)


class Target:
    """A started server: its kind, endpoints, process tree, log."""

    def __init__(self, kind: str, sup: Supervisor, server: harness.Server):
        self.kind, self.sup, self.server = kind, sup, server
        self.deadlines = DEADLINES[kind]

    @property
    def http(self) -> str:
        return self.server.endpoints["http"]

    @property
    def grpc(self) -> str:
        return self.server.endpoints["grpc"]

    @property
    def pid(self) -> int:
        return self.server.pid

    def alive(self) -> bool:
        return self.server.alive()

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def rss_bytes(self) -> int:
        total = 0
        for proc in self.tree():
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        return total

    def threads(self) -> int:
        total = 0
        for proc in self.tree():
            try:
                total += proc.num_threads()
            except psutil.Error:
                pass
        return total

    def log(self) -> str:
        return self.server.log()


def start(sup: Supervisor, kind: str, log_path: str, models: str = MODELS, *more: str) -> Target:
    spec = spec_for(kind, models, *more)
    server = harness.start(sup, spec, SERVER_CPUS, log_path, START_TIMEOUT_S)
    return Target(kind, sup, server)


def python_children(target: Target, module: str) -> list[psutil.Process]:
    """The supervisor's children running `python -m <module>` (not their forked workers)."""
    found = []
    try:
        children = psutil.Process(target.pid).children()
    except psutil.Error:
        return []
    for proc in children:
        try:
            cmd = proc.cmdline()
        except psutil.Error:
            continue
        if module in cmd:
            found.append(proc)
    return found


def wait_for(predicate, timeout_s: float, interval_s: float = 0.02):
    """Poll `predicate` until it returns a true value (returned) or the timeout passes (None)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval_s)
