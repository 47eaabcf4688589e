"""The results model: the one thing the run hands to the printers, and results.json's schema.

`bench.run` fills a `Results`; `bench.analysis` derives figures from it; `bench.report` prints it.
`Results.to_json()` is results.json; `Results.from_json()` reads one back (the report can be
re-rendered from a results directory: `python -m bench.report DIR`). Settings and environment
stay plain mappings: they are recorded, not computed with.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 3


@dataclass
class Latency:
    """Latency percentiles of one timed run, in ms (nearest rank over successful answers)."""

    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    p999: float | None = None
    max: float | None = None
    mean: float | None = None


@dataclass
class Spread:
    """Median, min and max of one metric over the repeats of a scenario, and the median's 95%
    interval (bootstrap over the repeats: bench.analysis.intervals)."""

    median: float | None = None
    min: float | None = None
    max: float | None = None
    n: int = 0
    median_ci95: list[float] | None = None


@dataclass
class Run:
    """One timed run of a load generator against one endpoint (closed loop: hey / ghz)."""

    # "serve" (a server of the matrix), "variant" (a stack of the variants), "floor" (a null server:
    # bench/null), "seed" (the seed post's toy servers)
    kind: str
    server: str
    protocol: str
    model: str | None
    batch: int | None
    concurrency: int
    repeat: int
    mode: str | None  # seed runs: "exact" (hey -n) or "timed" (hey -z)
    duration_s: float | None
    tool: str
    requests: int
    ok: int
    errors: int
    error_kinds: dict[str, int]
    elapsed_s: float
    rps: float | None
    rows_per_s: float | None
    latency_ms: Latency
    server_cpu_s: float | None
    server_cpu_us_per_req: float | None
    server_rss_mb: float | None
    worker_cpu_s: list[float] | None  # CPU seconds of each server worker process, in pid order
    background_cpu_s: float | None
    client_cpu_s: float
    client_wall_s: float
    client_cpu_util: float | None
    client_bound: bool
    foreign_cpu_share: float | None
    noisy: bool
    no_answers: bool
    raw: str
    command: list[str]
    messages_per_request: int = 1  # grpc-stream: messages per stream (rps and CPU per request count messages)
    server_answered: int | None = None  # predict requests the server's own metrics counted as answered OK
    phases_us: dict[str, float | None] | None = None  # µs per request of each phase, from the server's metrics


@dataclass
class Scenario:
    """The repeats of one scenario aggregated (kind, server, protocol, model, batch, concurrency, mode)."""

    kind: str
    server: str
    protocol: str
    model: str | None
    batch: int | None
    concurrency: int
    mode: str | None
    tool: str
    repeats: int
    requests: int
    errors: int
    client_bound: bool
    client_bound_repeats: int
    noisy_repeats: int
    no_answer_repeats: int
    rps: Spread
    p50_ms: Spread
    p90_ms: Spread
    p99_ms: Spread
    server_cpu_us_per_req: Spread
    server_rss_mb: Spread
    client_cpu_util: Spread
    foreign_cpu_share: Spread
    worker_cpu_share: list[float] | None = None  # each worker's share of the server CPU (medians)
    phases_us: dict[str, Spread] | None = None  # decode, tensor, inference, encode µs per request


@dataclass
class Parity:
    ran: bool = False
    passed: bool = False
    answers_checked: int = 0
    tolerance: float | None = None
    max_abs_diff: float | None = None
    endpoints: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    reference: str | None = None
    failures: list[str] = field(default_factory=list)
    # servers answering from the original scikit-learn estimator (a peer): their own largest difference
    # from ONNX Runtime, checked against the export's parity tolerance (metadata.json), not `tolerance`
    estimator_servers: list[str] = field(default_factory=list)
    estimator_max_abs_diff: float | None = None


@dataclass
class InprocTiming:
    impl: str  # "python" or "go"
    model: str
    batch: int
    us_per_run: float
    # what was timed (bench.run.inproc): "protobuf" / "json" (the request's bytes decoded, predicted,
    # the answer encoded), "inference" (Python: session.run alone), "core" (Go: Predict alone)
    work: str = "inference"
    repeat: int | None = None  # timed inside a window (bench.run.windows): its repeat and concurrency
    concurrency: int | None = None


@dataclass
class Inproc:
    timings: list[InprocTiming] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class ServerInfo:
    endpoints: dict[str, str]
    managed: bool
    pid: int | None
    argv: list[str]
    log: str | None
    exit_code: int | None
    # where its CPU and memory were read: "process tree" (started by the bench, or --server-pid),
    # "/metrics" (a target's process_cpu_seconds_total), None (neither: client-side figures only)
    cpu_from: str | None = None


@dataclass
class GoalResult:
    """One goal of scenarios.yaml, read from this run: a measured ratio (the median of the
    per-repeat ratios of the subject and its baseline, measured in one window) with its 95%
    interval, against its limit: "met", "not met", "inconclusive" (the interval straddles the
    limit) or "not measured"."""

    key: str
    text: str
    measured_ratio: float | None
    limit: float
    op: str
    met: bool | None  # True / False only when the verdict is met / not met
    client_bound: bool
    detail: str
    ci95: list[float] | None = None
    verdict: str = "not measured"
    paired: str = ""  # how the ratio was paired (the window, the repeats)
    n: int = 0  # pairs
    subject_value: float | None = None  # the subject's and the baseline's medians, in the metric's unit
    baseline_value: float | None = None
    absolute: bool = False  # the metric itself against the limit (µs), not a ratio


@dataclass
class CapacityPoint:
    """One offered rate of a capacity search: open-loop load on schedule, latency from when each
    request was due."""

    offered_rps: float
    achieved_rps: float | None
    requests: int
    errors: int
    latency_ms: Latency
    server_cpu_util: float | None  # server CPU ÷ (wall × quota)
    client_cpu_util: float | None  # generator CPU ÷ (wall × its CPUs)
    server_cpu_us_per_req: float | None
    schedule_lag_p99_ms: float | None  # how late the generator sent (p99)
    flags: list[str]  # "slo", "errors", "behind", "generator-bound", "confirm", "noisy"
    passed: bool
    raw: str | None = None
    command: list[str] = field(default_factory=list)
    # the server's cgroup over the timed period (cpu.stat): CFS periods, periods throttled, seconds throttled
    foreign_cpu_share: float | None = None  # other processes' share of the server CPUs (≥ noise_threshold: "noisy")
    nr_periods: int | None = None
    nr_throttled: int | None = None
    throttled_time: float | None = None


@dataclass
class Capacity:
    """The highest offered rate an endpoint serves within the SLO, found by search."""

    server: str
    protocol: str
    model: str | None
    batch: int | None
    slo_p99_ms: float
    percentile: float
    cpu_quota: float | None
    capacity_rps: float | None
    capacity_rps_per_core: float | None
    # "server" (its CPU: ≥ server_util_floor of the quota used at capacity), "latency", "throttling",
    # "admission" (what stopped it with CPU to spare: bench.analysis.capacity.bound_by), "generator",
    # "unfinished" (no failing rate found: a lower bound) or "none" (no rate passed)
    bound_by: str
    points: list[CapacityPoint]
    server_util_at_capacity: float | None = None
    cpu_us_per_req: float | None = None  # at the capacity point
    per_core_from_cpu: float | None = None  # 1 ÷ CPU per request: the cross-check of capacity per core
    cross_check_ratio: float | None = None  # capacity per core ÷ per_core_from_cpu
    floor_p99_ms: float | None = None  # the null server's p99 at the capacity rate (the instrument's floor)
    notes: list[str] = field(default_factory=list)
    capacity_rps_bracket: list[float] | None = None  # [highest pass, lowest failure]: where the capacity lies
    # per core × the drift sentinel's toy µs per request ÷ its reference (bench.run.sentinel)
    capacity_rps_per_core_normalised: float | None = None
    cpu_limit: str = ""  # how the server's CPU was limited: "quota 0.5 CPU, period 10 ms, burst …" or "cpuset"


@dataclass
class NetworkProfileResult:
    """One emulated network, as set and as measured: the null server's p50 at concurrency 1 through
    it minus through loopback is its measured added round trip."""

    name: str
    rtt_ms: float
    bandwidth_mbit: float  # each way; 0: unlimited
    measured_added_rtt_ms: float | None
    emulation: str  # "none" (loopback), "netem", "netproxy" (+ "tbf" with a bandwidth)
    null_p50_ms: float | None = None
    one_way_delay_us: float | None = None  # netproxy: the delay it was calibrated to
    on_target: bool | None = None  # within the settings' tolerance of rtt_ms
    calibration: list[dict[str, float]] = field(default_factory=list)  # per try: delay_us, added_rtt_ms


@dataclass
class NetworkRun:
    """One timed run of the network stage: a way into a server through a profile."""

    profile: str
    server: str
    protocol: str  # http-json, http-protobuf, grpc, grpc-stream
    http: str  # "1.1" or "2"
    tls: bool
    way: str  # bench.run.netload.WAYS
    model: str
    batch: int
    load: str  # "closed" (concurrency in flight) or "open" (offered_rps)
    concurrency: int | None
    offered_rps: float | None
    connections: int | None  # connections the load generator opened (counted by the proxy)
    handshake: bool  # a new connection (and TLS handshake) per request
    tool: str
    requests: int
    ok: int
    errors: int
    error_kinds: dict[str, int]
    elapsed_s: float
    rps: float | None
    latency_ms: Latency
    server_cpu_s: float | None
    server_cpu_us_per_req: float | None
    bytes_per_request: dict[str, float | None]  # up/down: TCP payload (HTTP, TLS) counted by the proxy
    wire_bytes_per_request: dict[str, float | None] | None  # up/down: frames on the link (headers, ACKs)
    payload_bytes: dict[str, float | None]  # up/down: the encoded request and answer (bodies, messages)
    client_cpu_s: float
    client_cpu_util: float | None
    proxy_cpu_s: float | None
    proxy_late_mean_us: float | None
    raw: str | None
    command: list[str]


@dataclass
class Network:
    """The network stage: how it emulated the networks, each profile, each run."""

    mode: str | None = None  # "netem" or "proxy"; None: skipped
    skipped: str | None = None  # why the stage did not run here
    profiles: list[NetworkProfileResult] = field(default_factory=list)
    runs: list[NetworkRun] = field(default_factory=list)
    swept: list[str] = field(default_factory=list)  # what dead runs had left, removed first
    notes: list[str] = field(default_factory=list)


@dataclass
class Results:
    run_id: str
    profile: str
    command: list[str]
    started_at: str
    finished_at: str
    estimate: dict[str, Any]
    environment: dict[str, Any]
    settings: dict[str, Any]
    wall_s: float = 0.0
    parity: Parity = field(default_factory=Parity)
    inproc: Inproc = field(default_factory=Inproc)
    servers: dict[str, ServerInfo] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    scenarios: list[Scenario] = field(default_factory=list)
    goals: list[GoalResult] = field(default_factory=list)
    capacity: list[Capacity] = field(default_factory=list)
    calibration: dict[str, Any] = field(default_factory=dict)  # the cap's own effect, the null servers' floors
    network: Network | None = None  # the network stage (bench.run.network)
    peers: dict[str, Any] | None = None  # other V2 servers measured beside servebench's (bench.run.peers.describe)
    floors: list[dict[str, Any]] = field(default_factory=list)  # bench.analysis.floors: each stack's null server
    ratios: list[dict[str, Any]] = field(default_factory=list)  # bench.analysis.pairs: every ratio, paired
    drift: dict[str, Any] = field(default_factory=dict)  # the sentinel's readings (bench.run.sentinel)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, doc: dict) -> Results:
        if doc.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(
                f"results.json schema_version {doc.get('schema_version')!r}; this bench reads {SCHEMA_VERSION}"
            )
        return _build(cls, doc)


def _build(tp, value):
    """`value` (parsed JSON) as an instance of the type hint `tp`."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(options[0], value) if len(options) == 1 else value
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        known = {f.name for f in dataclasses.fields(tp)}
        return tp(**{k: _build(hints[k], v) for k, v in value.items() if k in known})
    if origin is list:
        (item,) = typing.get_args(tp)
        return [_build(item, v) for v in value]
    if origin is dict:
        _, item = typing.get_args(tp)
        return {k: _build(item, v) for k, v in value.items()}
    return value
