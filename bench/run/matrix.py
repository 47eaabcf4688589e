"""The closed-loop windows: the scenario matrix, the variants, the floors, and the toys and
in-process timings the goals compare with (bench.run.windows plans them). Every server a window
measures is up at once; each repeat measures every member in turn (the order reversed on every
other repeat), each time a discarded warm-up then a timed run (bench.run.measure), hey for HTTP and
ghz for gRPC.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from bench.analysis import goals, intervals, stats
from bench.plan import Plan
from bench.results import Inproc, InprocTiming, Run
from bench.run import loadgen, servers, v2load
from bench.run.measure import measure_run
from bench.run.procs import Supervisor
from bench.run.windows import TOY_PROTOCOL, Member, Window, goal_members

TOY_PATH = "/predict"  # the seed's toys answer here (the Go toy to any method, the Flask toy to GET)


def closed_loop(
    plan: Plan, protocol: str, address: str, conc: int, bodies: dict, model: str, batch: int, path: str = "/v1/predict"
) -> tuple[str, int, Callable[[float], list[str]]]:
    """(tool, messages per tool request, duration → argv) for one endpoint and scenario; protocol
    "http" is the seed's plain GET."""
    if protocol in v2load.PROTOCOLS:
        return v2load.closed_loop(plan, protocol, address, conc, bodies, model, batch)
    s, tools, n_client = plan.settings, plan.tools, len(plan.client_cpus)
    if protocol.startswith("http"):
        protobuf = protocol == "http-protobuf"
        body = None if protocol == TOY_PROTOCOL else bodies[(model, batch, "protobuf" if protobuf else "json")]
        return (
            "hey",
            1,
            lambda d: loadgen.hey_argv(
                tools.hey,
                f"http://{address}{path}",
                concurrency=conc,
                n_cpus=n_client,
                timeout_s=s.request_timeout_s,
                duration_s=d,
                body=body,
                protobuf=protobuf,
            ),
        )
    stream = s.stream_messages if protocol == "grpc-stream" else None
    connections = max(s.ghz_connections, len(plan.server_cpus))  # ≥ 1 per worker: SO_REUSEPORT spreads them
    return (
        "ghz",
        stream or 1,
        lambda d: loadgen.ghz_argv(
            tools,
            address,
            concurrency=conc,
            n_cpus=n_client,
            timeout_s=s.request_timeout_s,
            duration_s=d,
            body=bodies[(model, batch, "json")],
            connections=min(connections, conc),
            stream_messages=stream,
        ),
    )


def measure_windows(
    sup: Supervisor, plan: Plan, running: dict[str, servers.Server], wins: list[Window], bodies: dict, ui, timer
) -> tuple[list[Run], list[InprocTiming], list[str]]:
    """Every window, every repeat, every member, then extra repeats of the goals' pairs still unsure
    (`adaptive`): (runs, in-window in-process timings, problems)."""
    s = plan.settings
    runs, timings, problems = [], [], []
    spent = 0.0  # on extra repeats, against adaptive.budget_s

    def round_of(window, members, repeat):
        for member in members:
            if member.kind == "inproc":
                timing, problem = _inproc(timer, member, window, repeat)
                timings.extend([timing] if timing else [])
                problems.extend([problem] if problem else [])
                continue
            record = _measure(sup, plan, running, window, member, repeat, bodies)
            if record is not None:
                runs.append(record)
                ui.advance(record)

    for window in wins:
        for repeat in range(1, s.repeats + 1):
            round_of(window, window.order(repeat), repeat)
        for repeat in range(s.repeats + 1, s.adaptive.max_repeats + 1):
            unsure = _unsure(plan, window, runs, timings)
            if not unsure or spent >= s.adaptive.budget_s:
                break
            ui.info(
                f"window {window.model} b{window.batch} c{window.concurrency}: repeat {repeat} for {', '.join(unsure)}"
            )
            wanted = {m for key in unsure for m in goal_members(s, window)[key]}
            started = time.monotonic()
            round_of(window, [m for m in window.order(repeat) if m in wanted], repeat)
            spent += time.monotonic() - started
    return runs, timings, problems


def _unsure(plan: Plan, window: Window, runs: list[Run], timings: list[InprocTiming]) -> list[str]:
    """The goals of this window whose ratio's 95% interval is wider than ±target_half_width."""
    s = plan.settings
    keys = goal_members(s, window)
    if not keys or s.adaptive.budget_s <= 0:
        return []
    mine = [g for g in s.goals if g.key in keys]
    floors_of = {k: dict(v) for k, v in s.floors.of.items()}
    results = goals.evaluate(
        mine, runs, stats.aggregate(runs), Inproc(list(timings)), s.reference_concurrency, floors_of
    )
    return [
        g.key
        for g in results
        if g.measured_ratio is not None
        and (intervals.half_width(g.measured_ratio, g.ci95) or 0) > s.adaptive.target_half_width
    ]


def _inproc(timer, member: Member, window: Window, repeat: int) -> tuple[InprocTiming | None, str | None]:
    if timer is None:
        return None, None
    us, problem = timer.time(member.server, window.model, window.batch, member.protocol)
    if us is None:
        return None, f"in-process {member.server} {member.protocol} in window {window.model} b{window.batch}: {problem}"
    timing = InprocTiming(member.server, window.model, window.batch, us, member.protocol, repeat, window.concurrency)
    return timing, None


def _measure(sup, plan: Plan, running, window: Window, member: Member, repeat: int, bodies: dict) -> Run | None:
    s = plan.settings
    server = running[member.server]
    address = server.endpoints.get(servers.transport(member.protocol))
    if address is None or not server.serves(member.protocol):  # a target given other protocols
        return None
    toy = member.server in ("toy-go", "toy-flask")
    tool, messages, argv = closed_loop(
        plan,
        member.protocol,
        address,
        window.concurrency,
        bodies,
        window.model,
        window.batch,
        path=TOY_PATH if toy else "/v1/predict",
    )
    labels = {
        "kind": member.kind,
        "server": member.server,
        "protocol": member.protocol,
        "model": window.model,
        "batch": window.batch,
        "concurrency": window.concurrency,
        "repeat": repeat,
        "mode": None,
        "duration_s": s.duration_s,
    }
    raw = os.path.join(
        plan.run_dir,
        "raw",
        f"{servers.file_name(member.server)}-{member.protocol}-{window.model}-b{window.batch}-c{window.concurrency}-"
        f"r{repeat}." + ("csv" if tool == "hey" else "json"),
    )
    others = [o for o in running.values() if o is not server]
    warm = argv(s.warmup_s) if s.warmup_s > 0 else None
    cpus = (plan.server_cpus, plan.client_cpus)
    return measure_run(sup, server, others, tool, warm, argv(s.duration_s), raw, cpus, s, labels, messages)
