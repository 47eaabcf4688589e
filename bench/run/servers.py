"""The servers the bench starts and how it addresses them, in one place (the bench, soak and the
tests use it): python_service, go_service, their variants (BASE[NAME]: BASE plus the variant's flags
from settings.server_variants), the null servers (bench/null: each stack's floor) and the seed
post's toys, each on port 0 with only the listeners it is measured on; started on the plan's
server CPUs (bench.run.lifecycle does the starting, waiting and stopping); and what results.json
records of each.

A server given by address (--target) is not started: it only has endpoints, and a pid when given.
"""

from __future__ import annotations

import os
import re
import sys

from bench.plan import Plan
from bench.results import ServerInfo
from bench.run import peers, scrape, v2load
from bench.run.certs import Certs
from bench.run.cgroup import CpuAccount
from bench.run.lifecycle import Server, ServerError, ServerSpec, http_ready, launch, start
from bench.run.procs import Supervisor
from bench.settings import NULLS, TOYS

__all__ = [
    "Server",
    "ServerError",
    "ServerSpec",
    "describe",
    "file_name",
    "go_spec",
    "http_ready",
    "launch",
    "null_spec",
    "python_spec",
    "service_spec",
    "speaks",
    "spec_for",
    "start",
    "start_planned",
    "start_servers",
    "start_window_servers",
    "toy_spec",
    "transport",
]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLASK_DEV_LISTENING = re.compile(r"Running on (http)://(\S+:\d+)")
GO_BIN = os.path.join(REPO, "go_service", "bin", "go_service")
TOY_GO_BIN = os.path.join(REPO, "bench", "toy", "go", "bin", "toy")


def transport(protocol: str) -> str:
    """The listener a protocol uses: "http" (http-json, http-protobuf, v2-http) or "grpc" (grpc,
    grpc-stream, v2-grpc)."""
    return protocol.removeprefix("v2-").split("-")[0]


speaks = peers.speaks  # whether the bench drives a protocol at a server (a peer: V2 only)


def file_name(name: str) -> str:
    """A server's name as part of a file name (python[aio-grpc] → python-aio-grpc)."""
    return name.replace("[", "-").replace("]", "")


def _listeners(protocols, extra) -> tuple[str, ...]:
    """The listeners to wait for: the protocols, and metrics when --metrics-addr is given (and on)."""
    wanted = tuple(p for p in ("grpc", "http") if p in protocols)
    if "--metrics-addr" in extra and "--metrics=false" not in extra:
        wanted += ("metrics",)
    return wanted


def _tls(tls: Certs | None) -> tuple[list[str], str | None]:
    """The TLS flags of a server and the CA its clients verify it with (none: plaintext)."""
    return (tls.server_flags(), tls.ca) if tls else ([], None)


def python_spec(
    protocols,
    models_dir: str,
    *extra: str,
    workers: int = 1,
    name: str = "python",
    tls: Certs | None = None,
    host: str = "127.0.0.1",
) -> ServerSpec:
    """python_service on port 0 of `host` for each protocol wanted (the others disabled); over TLS
    with `tls`'s certificate."""
    addr = {p: (f"{host}:0" if p in protocols else "") for p in ("grpc", "http")}
    flags, ca = _tls(tls)
    argv = [
        sys.executable,
        "-m",
        "python_service",
        "serve",
        "--models",
        models_dir,
        "--grpc-addr",
        addr["grpc"],
        "--http-addr",
        addr["http"],
        "--workers",
        str(workers),
        *flags,
        *extra,
    ]
    return ServerSpec(name, argv, _listeners(protocols, extra), ca=ca)


def go_spec(
    protocols,
    models_dir: str,
    *extra: str,
    gomaxprocs: int | None = None,
    go_bin: str = GO_BIN,
    name: str = "go",
    tls: Certs | None = None,
    host: str = "127.0.0.1",
) -> ServerSpec:
    """go_service on port 0 of `host` for each protocol wanted (the others disabled); over TLS with
    `tls`'s certificate."""
    addr = {p: (f"{host}:0" if p in protocols else "") for p in ("grpc", "http")}
    flags, ca = _tls(tls)
    argv = [go_bin, "--models", models_dir, "--grpc-addr", addr["grpc"], "--http-addr", addr["http"], *flags, *extra]
    env = {"GOMAXPROCS": str(gomaxprocs)} if gomaxprocs else {}
    return ServerSpec(name, argv, _listeners(protocols, extra), env=env, ca=ca)


def toy_spec(name: str, toy_go_bin: str = TOY_GO_BIN, grpc: bool = False, host: str = "127.0.0.1") -> ServerSpec:
    """The seed post's toy servers: constant text on GET /predict, no model (`grpc`: the Go toy's
    null gRPC server too, every call answered at once with an empty message), on `host` (Go's)."""
    if name == "toy-flask":
        return ServerSpec(
            name,
            [sys.executable, "-m", "bench.toy.flask_app", "--port", "0"],
            ("http",),
            listening=FLASK_DEV_LISTENING,
            ready_path="/predict",
            grpc_health=False,
        )
    if name == "toy-go":
        argv = [toy_go_bin, "-addr", f"{host}:0", *(["-grpc-addr", f"{host}:0"] if grpc else [])]
        protocols = ("http", "grpc") if grpc else ("http",)
        return ServerSpec(name, argv, protocols, ready_path="/predict", grpc_health=False)
    raise ServerError(f"unknown toy server {name!r}")


def null_spec(name: str, workers: int = 1, toy_go_bin: str = TOY_GO_BIN) -> ServerSpec:
    """A null server (bench/null; toy-go: the seed's Go toy with its null gRPC server), with as many
    worker processes as the Python server gets."""
    if name == "toy-go":
        return toy_spec(name, toy_go_bin, grpc=True)
    module = {"null-grpcio": "grpcio_server", "null-grpcio-aio": "grpcio_server", "null-granian": "granian_server"}
    if name not in module:
        raise ServerError(f"unknown null server {name!r}")
    argv = [sys.executable, "-m", f"bench.null.{module[name]}", "--addr", "127.0.0.1:0", "--workers", str(workers)]
    if name == "null-grpcio-aio":
        argv.append("--aio")
    grpc = module[name].startswith("grpc")
    return ServerSpec(name, argv, ("grpc",) if grpc else ("http",), ready_path="/", grpc_health=False)


def service_spec(
    plan: Plan, name: str, transports: tuple[str, ...], tls: Certs | None = None, host: str = "127.0.0.1"
) -> ServerSpec:
    """How the bench starts a server or a variant of one (BASE[NAME]: BASE plus the variant's flags):
    as shipped, with no admission flags (their defaults never refuse an ordinary closed-loop client),
    one intra-op and one inter-op thread, metrics on a port of their own; on `host`, over TLS with
    `tls`'s certificate when given."""
    if peers.is_peer(name):  # another V2 server (make bench PROFILE=peers): its ports picked for it
        return peers.spec(plan, name)
    s, n = plan.settings, len(plan.server_cpus)
    base = name.split("[")[0]
    variant = s.server_variants.get(name, ())
    metrics = [] if "--metrics=false" in variant else ["--metrics-addr", "127.0.0.1:0"]
    flags = ["--intra-op-threads", "1", "--inter-op-threads", "1", *metrics, *variant]
    if base == "python":
        return python_spec(transports, plan.models_dir, *flags, workers=n, name=name, tls=tls, host=host)
    if base == "go":
        return go_spec(
            transports, plan.models_dir, *flags, gomaxprocs=n, go_bin=plan.go_bin, name=name, tls=tls, host=host
        )
    raise ServerError(f"no built-in way to start server {name!r}; give its address with --target")


def spec_for(plan: Plan, name: str, protocol: str) -> ServerSpec:
    """One endpoint's server alone: a seed toy (its HTTP), or a server or variant listening only on
    the protocol's transport."""
    if name in TOYS:
        return toy_spec(name, plan.toy_go_bin)
    return service_spec(plan, name, (transport(protocol),))


def member_spec(plan: Plan, name: str, transports: tuple[str, ...]) -> ServerSpec:
    """How a window's server is started: a seed toy, a null server, or a server or variant."""
    if name in NULLS:
        return null_spec(name, len(plan.server_cpus), plan.toy_go_bin)
    if name in TOYS:
        return toy_spec(name, plan.toy_go_bin, grpc="grpc" in transports)
    return service_spec(plan, name, transports)


def start_planned(sup: Supervisor, plan: Plan, spec: ServerSpec, log_name: str, cap=None) -> Server:
    """Start a server on the plan's server CPUs, its output into logs/<log_name>.log of the run, in
    a cgroup that counts its CPU (its CPU cap's, `cap`, where that one counts; else a CpuAccount of
    its own, where one can be made), and wait until it is ready."""
    log = os.path.join(plan.run_dir, "logs", f"{file_name(log_name)}.log")
    own = None if cap is not None and cap.usage_s() is not None else CpuAccount.create(file_name(log_name))
    hooks = [h for h in (cap.preexec if cap else None, own.preexec if own else None) if h]
    try:
        server = start(
            sup,
            spec,
            plan.server_cpus,
            log,
            plan.settings.startup_timeout_s,
            preexec=(lambda: [hook() for hook in hooks]) if hooks else None,
        )
    except BaseException:
        if own is not None:
            own.close()
        raise
    server.account, server.owns_account = own or cap, own is not None
    return server


def start_servers(sup: Supervisor, plan: Plan, ui, names, matrix, protocols_of=None) -> dict[str, Server]:
    """Each server up on the transports of the matrix (or of protocols_of[name], where given); a
    server of plan.targets is used where it runs."""
    started = {}
    for name in names:
        protocols = [p for p in matrix if p in (protocols_of or {}).get(name, matrix)]
        transports = tuple(sorted({transport(p) for p in protocols}))
        if name in plan.targets:
            started[name] = _running(plan, ui, name, transports)
            continue
        spec = service_spec(plan, name, transports)
        ui.info(f"starting {name} on CPUs {plan.server_cpus}: {' '.join(spec.argv)}")
        started[name] = start_planned(sup, plan, spec, name)
        ui.info(f"{name} ready: {started[name].endpoints}")
    return started


def _running(plan: Plan, ui, name: str, transports: tuple[str, ...]) -> Server:
    """A server of plan.targets (not started here), once it answers ready: its CPU and memory from
    its process tree (--server-pid) or its own /metrics, else client-side figures only."""
    target = plan.targets[name]
    eps = {t: a for t, a in target.endpoints.items() if t in (*transports, "metrics")}
    pid = plan.server_pids.get(name)
    v2_only = target.protocols <= set(v2load.PROTOCOLS)  # any V2 server: V2's readiness route, no grpc.health
    ready = ServerSpec(name, [], tuple(eps), ready_path=peers.READY_PATH, grpc_health=False) if v2_only else None
    server = Server(name, eps, pid, managed=False, protocols=frozenset(target.protocols), spec=ready)
    server.wait_ready(plan.settings.startup_timeout_s)
    measured = "its process tree (--server-pid)" if pid else f"its /metrics at {eps.get('metrics')}"
    if cpu_from(server) is None:
        ui.warn(f"{name}: no process_cpu_seconds_total at {eps.get('metrics')}: client-side figures only")
    else:
        ui.info(f"{name}: using the running server at {eps}; CPU and memory from {measured}")
    return server


def start_window_servers(sup: Supervisor, plan: Plan, ui, transports: dict[str, tuple[str, ...]]) -> dict[str, Server]:
    """Every server of the windows up, each on the transports it is measured on (bench.run.windows);
    a server of plan.targets is used where it runs. Stops those already started if one fails."""
    started: dict[str, Server] = {}
    try:
        for name, wanted in transports.items():
            if name in plan.targets:
                started[name] = _running(plan, ui, name, wanted)
                continue
            spec = member_spec(plan, name, wanted)
            ui.info(f"starting {name} on CPUs {plan.server_cpus}: {' '.join(spec.argv)}")
            started[name] = start_planned(sup, plan, spec, name)
            ui.info(f"{name} ready: {started[name].endpoints}")
    except BaseException:
        for server in started.values():
            server.stop(sup)
        raise
    return started


def describe(started: dict[str, Server], run_dir: str) -> dict[str, ServerInfo]:
    """Endpoints, pid, command line, log and exit status (after the bench stopped it) of each server,
    and where its CPU was read."""
    return {
        n: ServerInfo(
            endpoints=r.endpoints,
            managed=r.managed,
            pid=r.pid,
            argv=r.argv,
            log=r.log_path and os.path.relpath(r.log_path, run_dir),
            exit_code=r.exit_code,
            cpu_from=cpu_from(r),
        )
        for n, r in started.items()
    }


def cpu_from(server: Server) -> str | None:
    """Where the bench reads a server's CPU: its process tree, its /metrics (a target exporting
    process_cpu_seconds_total), or nowhere (client-side figures only)."""
    if server.pid is not None:
        return "process tree"
    scraped = scrape.scrape(server.endpoints.get("metrics"), ca=server.ca)
    return "/metrics" if scraped and scrape.CPU_KEY in scraped else None
