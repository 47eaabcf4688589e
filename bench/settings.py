"""The bench's settings, typed and frozen: every key of scenarios.yaml declared once, here, with the
rule its value must follow (bench.checks) in the field's metadata.

bench.config validates the file against SPEC, which is derived from these declarations (a section
is a nested dataclass, any other field a key), and merges profiles and overrides as mappings;
`Settings.from_json` then makes the typed value the run reads (`settings.capacity.slo_p99_ms`), and
`Settings.to_json()` gives back the very mapping results.json records. Lists become tuples and
mappings read-only, so nothing the run is handed can change under it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bench import checks

# The ways into a server the bench measures: JSON over HTTP/1.1 (hey), protobuf over HTTP/1.1
# (hey), protobuf over HTTP/2 unary (ghz) and bidirectional stream (ghz); and the Open Inference
# Protocol (V2: bench.run.v2load), REST JSON (hey) and gRPC ModelInfer (ghz).
PREDICT_PROTOCOLS = ("http-json", "http-protobuf", "grpc", "grpc-stream")  # predict.v1's
PROTOCOLS = (*PREDICT_PROTOCOLS, "v2-http", "v2-grpc")
STAGES = ("matrix", "variants", "seed", "capacity", "network")
SERVER_BASES = ("python", "go")  # what a variant BASE[NAME] is a variant of
TOYS = ("toy-flask", "toy-go")  # the seed post's servers
# The null servers (bench/null, bench/toy/go): each stack's floor. toy-go is the seed's Go toy, whose
# handler is Go net/http's floor and whose -grpc-addr server is grpc-go's.
NULLS = ("null-grpcio", "null-grpcio-aio", "null-granian", "toy-go")
TRANSPORTS = ("http", "grpc")
# server_cpu_above_floor_us_per_req: the subject's server CPU per request less its floor's (floors.of),
# measured in the same window; serving_phases_us: decode + tensor + encode per request, from the
# server's own metrics (its work around the inference).
GOAL_METRICS = (
    "server_cpu_us_per_req",
    "server_cpu_above_floor_us_per_req",
    "serving_phases_us",
    "rps",
    "p50_ms",
    "p99_ms",
)
GOAL_OPS = ("<=", "<", ">=", ">")
# The network stage's ways into a server (bench.run.netload.WAYS): HTTP/1.1 or HTTP/2 (by ALPN, over
# TLS only) × JSON or protobuf, and gRPC unary or stream, each in plaintext or over TLS.
NETWORK_WAYS = (
    *("h1-json", "h1-protobuf", "grpc", "grpc-stream"),
    *("h1-json-tls", "h2-json-tls", "h1-protobuf-tls", "h2-protobuf-tls", "grpc-tls", "grpc-stream-tls"),
)
# what selects a scenario (a goal's subject: at reference_concurrency unless it names one)
WHERE_KEYS = {"kind": str, "server": str, "protocol": str, "model": str, "batch": int, "concurrency": int}
_BATCH = checks.items(checks.integer(1, 1024))


def knob(check: checks.Check) -> Any:
    """A key of scenarios.yaml and the rule its value follows."""
    return field(metadata={"check": check})


def spec_of(cls: type) -> dict[str, Any]:
    """key → its checker, or → the spec of its section (a field whose type is a dataclass)."""
    hints = typing.get_type_hints(cls)
    return {
        f.name: spec_of(hints[f.name]) if dataclasses.is_dataclass(hints[f.name]) else f.metadata["check"]
        for f in dataclasses.fields(cls)
    }


@dataclass(frozen=True)
class Goal:
    """`metric` of the subject scenario ÷ that of the baseline, met when `op` `limit` holds."""

    key: str = knob(checks.text)
    text: str = knob(checks.text)
    metric: str = knob(checks.one_of(*GOAL_METRICS))
    subject: Mapping[str, Any] = knob(checks.where(WHERE_KEYS))
    baseline: Mapping[str, Any] = knob(checks.baseline(checks.where(WHERE_KEYS)))
    op: str = knob(checks.one_of(*GOAL_OPS))
    limit: float = knob(checks.number(0.0))


@dataclass(frozen=True)
class ParitySettings:
    rows: int = knob(checks.integer(1, 1024))
    tolerance: float = knob(checks.number(0.0))


@dataclass(frozen=True)
class VariantSettings:
    enabled: bool = knob(checks.boolean)
    servers: tuple[str, ...] = knob(checks.items(checks.text))
    models: tuple[str, ...] = knob(checks.items(checks.text))
    batch: tuple[int, ...] = knob(_BATCH)
    matrix: Mapping[str, tuple[int, ...]] = knob(checks.matrix(PROTOCOLS))
    protocols_of: Mapping[str, tuple[str, ...]] = knob(checks.protocols_of(PROTOCOLS))


@dataclass(frozen=True)
class CapacitySettings:
    servers: tuple[str, ...] = knob(checks.items(checks.text))
    protocols: tuple[str, ...] = knob(
        checks.items(checks.text, ("http-json", "http-protobuf", "grpc", "v2-http", "v2-grpc"))
    )
    toys: tuple[str, ...] = knob(checks.subset(TOYS))
    models: tuple[str, ...] = knob(checks.items(checks.text))
    batch: tuple[int, ...] = knob(_BATCH)
    slo_p99_ms: float = knob(checks.number(0.0))
    percentile: float = knob(checks.number(0.0, 100.0))
    cpu_quota: float | None = knob(checks.optional(checks.number(0.0, 64.0)))
    cfs_period_us: int = knob(checks.integer(1000, 1000000))
    cfs_burst_periods: float = knob(checks.number(0.0, 1.0, strict=False))  # the kernel: burst ≤ quota
    probe_rps: float = knob(checks.number(0.0))
    step: float = knob(checks.number(1.0))
    precision: float = knob(checks.number(0.0, 1.0))
    max_points: int = knob(checks.integer(3, 100))
    point_warmup_s: float = knob(checks.number(0.0, strict=False))
    point_duration_s: float = knob(checks.number(0.0))
    point_min_requests: int = knob(checks.integer(1))
    point_max_duration_s: float = knob(checks.number(0.0))
    floor: bool = knob(checks.boolean)
    floor_margin: float = knob(checks.number(0.0))
    calibrate_cap: bool = knob(checks.boolean)
    calibration_rps: float = knob(checks.number(0.0))
    server_util_floor: float = knob(checks.number(0.0, 1.0))
    cross_check_tolerance: float = knob(checks.number(0.0))
    vegeta_workers: int = knob(checks.integer(1))
    vegeta_max_workers: int = knob(checks.integer(1))
    grpc_generator: str = knob(checks.one_of("openloop", "ghz"))
    openloop_conns: int = knob(checks.integer(1))
    ghz_async: bool = knob(checks.boolean)
    ghz_concurrency: int = knob(checks.integer(1))
    ghz_connections: int = knob(checks.integer(1))


@dataclass(frozen=True)
class AdaptiveSettings:
    """Extra repeats of a goal's pair while its ratio's interval is wider than ±target_half_width."""

    target_half_width: float = knob(checks.number(0.0, 1.0))
    max_repeats: int = knob(checks.integer(3, 100))
    budget_s: float = knob(checks.number(0.0, strict=False))


@dataclass(frozen=True)
class FloorSettings:
    """Each server's floor: the null server of its stack (`of`: server → transport → null server),
    measured in the same windows as the servers, at `concurrency`, on `protocols`."""

    enabled: bool = knob(checks.boolean)
    protocols: tuple[str, ...] = knob(checks.items(checks.text, PROTOCOLS))
    concurrency: tuple[int, ...] = knob(checks.items(checks.integer(1, 10000)))
    of: Mapping[str, Mapping[str, str]] = knob(checks.floors_of(TRANSPORTS, NULLS))


@dataclass(frozen=True)
class InprocSettings:
    enabled: bool = knob(checks.boolean)
    go_benchtime: str = knob(checks.go_duration)
    python_min_time_s: float = knob(checks.number(0.0))


@dataclass(frozen=True)
class SentinelSettings:
    """The drift sentinel (bench.run.sentinel): a fixed reference workload at the start, middle and end."""

    enabled: bool = knob(checks.boolean)
    model: str = knob(checks.text)
    batch: int = knob(checks.integer(1, 1024))
    inproc_min_time_s: float = knob(checks.number(0.0))
    toy_duration_s: float = knob(checks.number(0.0))
    drift_threshold: float = knob(checks.number(0.0))
    reference_toy_us: float = knob(checks.number(0.0))


@dataclass(frozen=True)
class SeedClaim:
    go_rps: float = knob(checks.number(0.0))
    python_rps: float = knob(checks.number(0.0))
    text: str = knob(checks.text)


@dataclass(frozen=True)
class SeedSettings:
    enabled: bool = knob(checks.boolean)
    requests: int = knob(checks.integer(1))
    concurrency: int = knob(checks.integer(1))
    duration_s: float = knob(checks.number(0.0))
    repeats: int = knob(checks.integer(3))
    claim: SeedClaim


@dataclass(frozen=True)
class NetworkProfile:
    """A network between the load generator and the server: its round trip and bandwidth."""

    name: str = knob(checks.text)
    rtt_ms: float = knob(checks.number(0.0, strict=False))
    bandwidth_mbit: float = knob(checks.number(0.0, strict=False))  # each way; 0: unlimited


@dataclass(frozen=True)
class NetworkCase:
    """A model and batch the network stage measures, and its open-loop rate (below capacity)."""

    model: str = knob(checks.text)
    batch: int = knob(checks.integer(1, 1024))
    open_rps: float = knob(checks.number(0.0))


@dataclass(frozen=True)
class NetworkSettings:
    profiles: tuple[NetworkProfile, ...] = knob(checks.records(spec_of(NetworkProfile), "name", "profile"))
    servers: tuple[str, ...] = knob(checks.items(checks.one_of(*SERVER_BASES)))
    cases: tuple[NetworkCase, ...] = knob(checks.records(spec_of(NetworkCase), "model", "case"))
    ways: tuple[str, ...] = knob(checks.items(checks.text, NETWORK_WAYS))
    concurrency: tuple[int, ...] = knob(checks.items(checks.integer(1, 1000)))
    open_loop: bool = knob(checks.boolean)
    handshake: bool = knob(checks.boolean)
    warmup_s: float = knob(checks.number(0.0, strict=False))
    duration_s: float = knob(checks.number(0.0))
    min_requests: int = knob(checks.integer(1))
    max_duration_s: float = knob(checks.number(0.0))
    calibration_s: float = knob(checks.number(0.0))
    calibration_tries: int = knob(checks.integer(1, 10))
    rtt_tolerance: float = knob(checks.number(0.0, 1.0))
    rtt_tolerance_ms: float = knob(checks.number(0.0, strict=False))

    def closed_duration_s(self, concurrency: int, rtt_ms: float) -> float:
        """A timed closed-loop run: duration_s; at concurrency 1 long enough for min_requests answers
        at this round trip (a request taking 1.1 round trips + 3 ms), but at most max_duration_s."""
        if concurrency != 1:
            return self.duration_s
        return min(self.max_duration_s, max(self.duration_s, self.min_requests * (1.1 * rtt_ms + 3) / 1e3))


@dataclass(frozen=True)
class Settings:
    stages: tuple[str, ...] = knob(checks.items(checks.text, STAGES))
    servers: tuple[str, ...] = knob(checks.items(checks.text))
    models: tuple[str, ...] = knob(checks.items(checks.text))
    batch: tuple[int, ...] = knob(_BATCH)
    matrix: Mapping[str, tuple[int, ...]] = knob(checks.matrix(PROTOCOLS))
    warmup_s: float = knob(checks.number(0.0, strict=False))
    duration_s: float = knob(checks.number(0.0))
    repeats: int = knob(checks.integer(3))
    adaptive: AdaptiveSettings
    run_overhead_s: float = knob(checks.number(0.0, strict=False))
    budget_s: float = knob(checks.number(0.0))
    request_timeout_s: int = knob(checks.integer(1))
    ghz_connections: int = knob(checks.integer(1))
    stream_messages: int = knob(checks.integer(1))
    startup_timeout_s: float = knob(checks.number(0.0))
    stop_timeout_s: float = knob(checks.number(0.0))
    rss_sample_interval_s: float = knob(checks.number(0.0))
    client_bound_threshold: float = knob(checks.number(0.0, 1.0))
    noise_threshold: float = knob(checks.number(0.0, 1.0))
    reference_concurrency: int = knob(checks.integer(1))
    goals: tuple[Goal, ...] = knob(checks.records(spec_of(Goal), "key", "goal"))
    floors: FloorSettings
    parity: ParitySettings
    variants: VariantSettings
    server_variants: Mapping[str, tuple[str, ...]] = knob(checks.server_variants(SERVER_BASES))
    capacity: CapacitySettings
    inproc: InprocSettings
    sentinel: SentinelSettings
    seed: SeedSettings
    network: NetworkSettings

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Settings:
        """The typed settings of a validated mapping (bench.config's output, or results.json's record)."""
        return _build(cls, doc)

    def to_json(self) -> dict[str, Any]:
        """The mapping results.json records: the same keys and values as the validated file."""
        return _thaw(self)


SPEC = spec_of(Settings)  # what bench.config validates scenarios.yaml against


def _build(tp: Any, value: Any) -> Any:
    """`value` (a validated mapping's part) as the type hint `tp`: dataclasses field by field,
    tuples item by item, anything else frozen."""
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: _build(hints[f.name], value[f.name]) for f in dataclasses.fields(tp)})
    if typing.get_origin(tp) is tuple:
        item = typing.get_args(tp)[0]
        return tuple(_build(item, v) for v in value)
    return _freeze(value)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return types.MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _thaw(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value
