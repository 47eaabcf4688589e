"""The plan of a run: the typed settings, where everything is (binaries, models, the run's
directory), the CPUs, the servers given by address, and which stages run; with its size and the
time estimate printed before anything starts.

Built by `bench.__main__` (or `bench.soak`) from the configuration, handed to bench.run as a value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bench.run import windows
from bench.run.loadgen import Tools
from bench.run.peers import speaks
from bench.run.targets import TargetServer
from bench.settings import Settings

SEED_TOYS = ("toy-flask", "toy-go")  # the seed stage's servers, in the order they are measured
SEED_MODES = ("exact", "timed")  # the post's fixed-count run and a longer timed one, per toy and repeat
SEED_EXACT_S = 0.5  # budget guess for the post's fixed-count run (hey -n 1000 -c 10; ~0.8 s Flask, ~0.1 s Go)
# fixed costs: starting the servers of a sweep, one server of the windows, the seed's toys, the parity
# gate, building the Go benchmark (cached: a cold build takes ~15 s more), the report and plots
FIXED_S = {"servers": 8.0, "server": 1.5, "toys": 2.0, "parity": 3.0, "go_build": 5.0, "report": 5.0}
GO_BENCH_COUNT = 3  # the Go benchmark's -test.count: best of 3, as the Python timing takes the best of 3 repeats
INPROC_WORKS = 3  # works timed per model and batch and language (bench.run.inproc)
INPROC_MEMBER_S = 1.0  # one in-process timing inside a window (a Go binary's start, or a Python child's call)
CAPACITY_POINTS_GUESS = 10  # points a sweep usually takes (the search's own count varies)
CAPACITY_POINT_OVERHEAD_S = 0.15  # a point's generator starts and CPU readings
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Plan:
    settings: Settings
    profile: str
    repo: str
    run_dir: str
    models_dir: str
    server_cpus: list[int]
    client_cpus: list[int]
    tools: Tools | None
    go_bin: str
    toy_go_bin: str
    run_id: str = ""
    targets: dict[str, TargetServer] = field(default_factory=dict)  # servers given by address (--target)
    server_pids: dict[str, int] = field(default_factory=dict)
    only: str | None = None  # "serve", "seed" or None for both
    cpu_quota: float | None = None  # the capacity sweeps' server CPU cap (None: no cap)
    peers_dir: str = ""  # the peers' virtualenvs (make peers: .tools/peers), for servers of bench.run.peers

    def stage(self, name: str) -> bool:
        """Whether this run does a stage of settings.stages (narrowed by --only)."""
        if name not in self.settings.stages:
            return False
        if self.only == "serve":
            return name in ("matrix", "variants")
        if self.only == "seed":
            return name == "seed"
        return name != "variants" or self.settings.variants.enabled

    def seed_stage(self) -> bool:
        """Whether the seed toys are measured (the stage, and the seed section enabled)."""
        return self.stage("seed") and self.settings.seed.enabled


def window_stages(plan: Plan) -> set[str]:
    """The stages whose members the windows measure (bench.run.windows)."""
    return {st for st in ("matrix", "variants") if plan.stage(st)}


def measured(plan: Plan):
    """Whether the plan measures `protocol` at server `name`: a peer speaks V2 only, a target the
    protocols it was given for."""

    def check(name: str, protocol: str) -> bool:
        target = plan.targets.get(name)
        return speaks(name, protocol) and (target is None or protocol in target.protocols)

    return check


def plan_windows(plan: Plan) -> list[windows.Window]:
    """The windows this plan measures (bench.run.windows), its servers' protocols as `measured` says."""
    return windows.windows(plan.settings, window_stages(plan), measured(plan))


def window_counts(plan: Plan) -> tuple[int, int]:
    """(timed runs, in-process timings) of the windows."""
    wins = plan_windows(plan)
    members = sum(len(w.members) for w in wins)
    inproc = sum(1 for w in wins for m in w.members if m.kind == "inproc")
    return (members - inproc) * plan.settings.repeats, inproc * plan.settings.repeats


def seed_runs(plan: Plan) -> int:
    """Timed runs of the seed stage: each toy, each mode, each repeat."""
    return len(SEED_TOYS) * plan.settings.seed.repeats * len(SEED_MODES) if plan.seed_stage() else 0


def progress_total(plan: Plan) -> int:
    """The closed-loop runs the progress bar counts (the windows, the seed)."""
    return seed_runs(plan) + window_counts(plan)[0]


def go_seconds(go_duration: str) -> float:
    """Seconds of a Go duration ("500ms", "1m30s"); an iteration count ("100x") is guessed at 0.5 s."""
    if go_duration.endswith("x"):
        return 0.5
    return sum(float(n) * _GO_UNITS[u] for n, u in _GO_DURATION_PART.findall(go_duration))


def estimate_s(plan: Plan) -> dict[str, float]:
    """Up-front time estimate from the matrix size and the durations (printed before the run starts)."""
    s = plan.settings
    per_run = s.warmup_s + s.duration_s + 2 * s.run_overhead_s
    out: dict[str, float] = {"runs": 0}
    n_runs, n_inproc = window_counts(plan)
    if n_runs:
        out["runs"] += n_runs
        out["windows_s"] = n_runs * per_run + n_inproc * INPROC_MEMBER_S
        out["setup_s"] = FIXED_S["server"] * len(windows.transports_of(plan_windows(plan)))
        out["setup_s"] += FIXED_S["parity"]
    if plan.stage("matrix") and s.inproc.enabled:
        go = INPROC_WORKS * GO_BENCH_COUNT * go_seconds(s.inproc.go_benchtime)
        python = INPROC_WORKS * 4 * s.inproc.python_min_time_s
        out["inproc_s"] = len(s.models) * len(s.batch) * (go + python) + FIXED_S["go_build"] + 2 * FIXED_S["toys"]
    if plan.seed_stage():
        per_toy = 2 * (s.warmup_s + s.run_overhead_s) + SEED_EXACT_S + s.seed.duration_s
        out["seed_s"] = len(SEED_TOYS) * s.seed.repeats * per_toy + FIXED_S["toys"]
    if plan.stage("capacity"):
        out["capacity_s"] = _capacity_s(s)
    if plan.stage("network"):
        out["network_s"] = _network_s(s)
    if s.sentinel.enabled:  # start, middle and end: the toy started and loaded, one session.run timing
        reading = FIXED_S["toys"] + s.sentinel.toy_duration_s + 0.3 + 4 * s.sentinel.inproc_min_time_s
        out["sentinel_s"] = 3 * reading + FIXED_S["toys"]
    out["report_s"] = FIXED_S["report"]
    out["total_s"] = sum(v for k, v in out.items() if k.endswith("_s"))
    return out


def _capacity_s(s: Settings) -> float:
    c = s.capacity
    # a point lasts point_duration_s, longer at low rates (point_min_requests): a third of the way
    timed = c.point_duration_s + max(0.0, c.point_max_duration_s - c.point_duration_s) / 3
    per_point = c.point_warmup_s + timed + CAPACITY_POINT_OVERHEAD_S
    sweeps = len(c.servers) * len(c.protocols) * len(c.models) * len(c.batch) + len(c.toys)
    points = min(c.max_points, CAPACITY_POINTS_GUESS) + 1
    extra = (len(c.protocols) * len(c.servers) if c.floor else 0) + (2 if c.calibrate_cap else 0)
    return sweeps * (points * per_point + FIXED_S["servers"] / 2) + extra * (per_point + 3)


def _network_s(s: Settings) -> float:
    """The network stage: its servers, each profile's calibration and runs (bench.run.network)."""
    n, run = s.network, 2 * s.run_overhead_s  # a run: the generator's start, the CSV encoding, the counters
    tls_modes = len({w.endswith("-tls") for w in n.ways} | ({True, False} if n.handshake else set()))
    total = FIXED_S["servers"] / 2 * len(n.servers) * tls_modes + 1.0  # … and the null server
    calibration_tries = min(n.calibration_tries, 2)  # usually on target after one correction
    for p in n.profiles:
        c1 = n.closed_duration_s(1, p.rtt_ms)
        closed = sum(n.closed_duration_s(c, p.rtt_ms) + run for c in n.concurrency)
        per_cell = (n.warmup_s + run if n.warmup_s else 0) + closed + (n.duration_s + run if n.open_loop else 0)
        total += len(n.cases) * len(n.ways) * len(n.servers) * per_cell
        total += (calibration_tries if p.rtt_ms else 1) * (max(n.calibration_s, 0.02 * p.rtt_ms) + run)
        total += len(n.servers) * 2 * (c1 + run) if n.handshake else 0
    return total
