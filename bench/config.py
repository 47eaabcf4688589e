"""Reading and validating bench/scenarios.yaml: defaults ← profile ← command-line overrides.

Every key is declared once in SPEC (type and allowed values). A key that is not declared — a typo —
is an error naming the key, where it was found, the closest allowed key and the allowed keys.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any

import yaml

# The ways into a server the bench measures: JSON over HTTP/1.1 (hey), protobuf over HTTP/1.1
# (hey), protobuf over HTTP/2 unary (ghz) and bidirectional stream (ghz).
PROTOCOLS = ("http-json", "http-protobuf", "grpc", "grpc-stream")
# Mappings replaced whole by a profile or the command line, not merged key by key.
REPLACED_WHOLE = ("matrix", "server_variants")
_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^\d+x$")


class ScenarioError(ValueError):
    """The scenario file, a profile or a command-line override is invalid."""


# --- value checkers: each returns an error text, or None when the value is fine --------------
def _int(minimum=None, maximum=None) -> Callable[[Any], str | None]:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int):
            return "expected an integer"
        if minimum is not None and v < minimum:
            return f"expected an integer >= {minimum}"
        if maximum is not None and v > maximum:
            return f"expected an integer <= {maximum}"
        return None

    return check


def _number(minimum=0.0, maximum=None, strict=True) -> Callable[[Any], str | None]:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return "expected a number"
        if v < minimum or (strict and v == minimum):
            return f"expected a number {'>' if strict else '>='} {minimum}"
        if maximum is not None and v > maximum:
            return f"expected a number <= {maximum}"
        return None

    return check


def _list(item: Callable[[Any], str | None], allowed: tuple | None = None) -> Callable[[Any], str | None]:
    def check(v):
        if not isinstance(v, list) or not v:
            return "expected a non-empty list"
        for x in v:
            if allowed is not None and x not in allowed:
                return f"{x!r} is not one of {', '.join(allowed)}"
            problem = item(x)
            if problem:
                return f"item {x!r}: {problem}"
        if len(set(map(str, v))) != len(v):
            return "expected no duplicates"
        return None

    return check


def _str(v):
    return None if isinstance(v, str) and v else "expected a non-empty string"


def _one_of(*allowed: str) -> Callable[[Any], str | None]:
    return lambda v: None if v in allowed else f"expected one of {', '.join(allowed)}"


def _bool(v):
    return None if isinstance(v, bool) else "expected true or false"


_GOAL_METRICS = ("server_cpu_us_per_req", "rps", "p50_ms", "p99_ms")
_WHERE_KEYS = {"kind": str, "server": str, "protocol": str, "model": str, "batch": int}


def _where(v, what):
    if not isinstance(v, dict) or not v or set(v) - set(_WHERE_KEYS):
        return f"{what}: expected a mapping of {', '.join(_WHERE_KEYS)}"
    for key, value in v.items():
        if not isinstance(value, _WHERE_KEYS[key]) or isinstance(value, bool):
            return f"{what}.{key}: expected {_WHERE_KEYS[key].__name__}"
    return None


def _goal(v):
    """One goal: {key, text, metric, subject, baseline: {seed|inproc|serve}, op, limit}."""
    keys = {"key", "text", "metric", "subject", "baseline", "op", "limit"}
    if not isinstance(v, dict) or set(v) != keys:
        return f"expected a mapping with exactly the keys {', '.join(sorted(keys))}"
    if _str(v["key"]) or _str(v["text"]):
        return "key and text must be non-empty strings"
    if v["metric"] not in _GOAL_METRICS:
        return f"metric {v['metric']!r} is not one of {', '.join(_GOAL_METRICS)}"
    if v["op"] not in ("<=", "<", ">=", ">"):
        return f"op {v['op']!r} is not one of <=, <, >=, >"
    problem = _where(v["subject"], "subject") or _number(0.0)(v["limit"])
    if problem:
        return problem
    base = v["baseline"]
    if not isinstance(base, dict) or len(base) != 1 or next(iter(base)) not in ("seed", "inproc", "serve"):
        return "baseline: expected one of {seed: TOY}, {inproc: python|go}, {serve: {...}}"
    if "serve" in base:
        return _where(base["serve"], "baseline.serve")
    return _str(next(iter(base.values())))


def _goals(v):
    if not isinstance(v, list):
        return "expected a list of goals"
    for i, goal in enumerate(v):
        problem = _goal(goal)
        if problem:
            return f"goal {i} ({goal.get('key') if isinstance(goal, dict) else goal!r}): {problem}"
    if len({g["key"] for g in v}) != len(v):
        return "goal keys must be unique"
    return None


def _matrix(v):
    """protocol → the concurrencies it is measured at."""
    if not isinstance(v, dict) or not v:
        return "expected a mapping of protocol → list of concurrencies"
    for protocol, concurrencies in v.items():
        if protocol not in PROTOCOLS:
            return f"{protocol!r} is not one of {', '.join(PROTOCOLS)}"
        problem = _list(_int(1, 10000))(concurrencies)
        if problem:
            return f"{protocol}: {problem}"
    return None


_VARIANT = re.compile(r"^(python|go)(\[[a-z0-9+-]+\])?$")


def _server_variants(v):
    """name → extra server flags, e.g. python[gunicorn]: [--http-server, gunicorn]."""
    if not isinstance(v, dict):
        return "expected a mapping of variant name → list of flags"
    for name, flags in v.items():
        if not isinstance(name, str) or not _VARIANT.match(name) or "[" not in name:
            return f"variant {name!r}: expected BASE[NAME] with BASE python or go"
        if not isinstance(flags, list) or not all(isinstance(f, str) and f for f in flags):
            return f"variant {name!r}: expected a list of flags"
    return None


def _protocols_of(v):
    """variant name → the protocols it is measured on (a variant of one protocol's stack)."""
    if not isinstance(v, dict):
        return "expected a mapping of server name → list of protocols"
    for name, protocols in v.items():
        problem = _list(_str, PROTOCOLS)(protocols)
        if problem:
            return f"{name}: {problem}"
    return None


def _go_duration(v):
    return None if isinstance(v, str) and _GO_DURATION.match(v) else "expected a Go duration such as 500ms, 1s or 100x"


STAGES = ("matrix", "variants", "seed", "capacity")

SPEC: dict[str, Any] = {
    "stages": _list(_str, STAGES),
    "servers": _list(_str),
    "models": _list(_str),
    "batch": _list(_int(1, 1024)),
    "matrix": _matrix,
    "warmup_s": _number(0.0, strict=False),
    "duration_s": _number(0.0),
    "repeats": _int(3),
    "run_overhead_s": _number(0.0, strict=False),
    "budget_s": _number(0.0),
    "request_timeout_s": _int(1),
    "ghz_connections": _int(1),
    "stream_messages": _int(1),
    "server_max_inflight": _int(1),
    "startup_timeout_s": _number(0.0),
    "stop_timeout_s": _number(0.0),
    "rss_sample_interval_s": _number(0.0),
    "client_bound_threshold": _number(0.0, 1.0),
    "noise_threshold": _number(0.0, 1.0),
    "reference_concurrency": _int(1),
    "goals": _goals,
    "parity": {"rows": _int(1, 1024), "tolerance": _number(0.0)},
    "variants": {
        "enabled": _bool,
        "servers": _list(_str),
        "models": _list(_str),
        "batch": _list(_int(1, 1024)),
        "matrix": _matrix,
        "protocols_of": _protocols_of,
    },
    "server_variants": _server_variants,
    "capacity": {
        "servers": _list(_str),
        "protocols": _list(_str, ("http-json", "http-protobuf", "grpc")),
        "toys": lambda v: (
            None
            if isinstance(v, list) and set(v) <= {"toy-flask", "toy-go"}
            else "expected a list of toy-flask, toy-go"
        ),
        "models": _list(_str),
        "batch": _list(_int(1, 1024)),
        "slo_p99_ms": _number(0.0),
        "percentile": _number(0.0, 100.0),
        "cpu_quota": lambda v: None if v is None else _number(0.0, 64.0)(v),
        "cfs_period_us": _int(1000, 1000000),
        "probe_rps": _number(0.0),
        "step": _number(1.0),
        "precision": _number(0.0, 1.0),
        "max_points": _int(3, 100),
        "point_warmup_s": _number(0.0, strict=False),
        "point_duration_s": _number(0.0),
        "point_min_requests": _int(1),
        "point_max_duration_s": _number(0.0),
        "floor": _bool,
        "floor_margin": _number(0.0),
        "calibrate_cap": _bool,
        "calibration_rps": _number(0.0),
        "server_util_floor": _number(0.0, 1.0),
        "cross_check_tolerance": _number(0.0),
        "vegeta_workers": _int(1),
        "vegeta_max_workers": _int(1),
        "grpc_generator": _one_of("openloop", "ghz"),
        "openloop_conns": _int(1),
        "ghz_async": _bool,
        "ghz_concurrency": _int(1),
        "ghz_connections": _int(1),
    },
    "inproc": {"enabled": _bool, "go_benchtime": _go_duration, "python_min_time_s": _number(0.0)},
    "seed": {
        "enabled": _bool,
        "requests": _int(1),
        "concurrency": _int(1),
        "duration_s": _number(0.0),
        "repeats": _int(3),
        "claim": {"go_rps": _number(0.0), "python_rps": _number(0.0), "text": _str},
    },
}


def _unknown(key: str, where: str, allowed) -> ScenarioError:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ScenarioError(f"{where}: unknown key {key!r}{hint}; allowed keys: {', '.join(sorted(allowed))}")


def validate(values: Any, spec: dict, where: str, complete: bool) -> None:
    """Check a (possibly partial, when complete is False) mapping against spec; raise ScenarioError."""
    if not isinstance(values, dict):
        raise ScenarioError(f"{where}: expected a mapping of keys, got {type(values).__name__}")
    for key, value in values.items():
        if key not in spec:
            raise _unknown(str(key), where, spec)
        rule = spec[key]
        if isinstance(rule, dict):
            validate(value, rule, f"{where}.{key}", complete)
        else:
            problem = rule(value)
            if problem:
                raise ScenarioError(f"{where}.{key}: {problem}, got {value!r}")
    if complete:
        missing = sorted(set(spec) - set(values))
        if missing:
            raise ScenarioError(f"{where}: missing keys: {', '.join(missing)}")


def merge(base: dict, override: dict) -> dict:
    """Deep merge: sections merge key by key, everything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in REPLACED_WHOLE:
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load(path: str, profile: str, overrides: dict | None = None) -> dict:
    """The settings of `profile` in the scenario file at `path`, with validated overrides applied."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    return resolve(doc, profile, overrides or {}, path)


def resolve(doc: Any, profile: str, overrides: dict, path: str = "scenarios.yaml") -> dict:
    if not isinstance(doc, dict):
        raise ScenarioError(f"{path}: expected a mapping with 'defaults' and 'profiles'")
    for key in doc:
        if key not in ("defaults", "profiles"):
            raise _unknown(str(key), path, ("defaults", "profiles"))
    validate(doc.get("defaults"), SPEC, f"{path}: defaults", complete=True)
    profiles = doc.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise ScenarioError(f"{path}: profiles: expected a mapping of profile names")
    for name, body in profiles.items():  # every profile, so that a typo is caught whichever one runs
        validate(body or {}, SPEC, f"{path}: profiles.{name}", complete=False)
    if profile not in profiles:
        raise ScenarioError(f"{path}: no profile {profile!r}; profiles: {', '.join(sorted(profiles))}")
    validate(overrides, SPEC, "command line", complete=False)
    settings = merge(merge(doc["defaults"], profiles[profile] or {}), overrides)
    _check_servers(settings, path)
    return settings


def load_override(settings: dict, overrides: dict) -> dict:
    """Settings with command-line overrides applied after loading (validated like the file's)."""
    validate(overrides, SPEC, "command line", complete=False)
    return merge(settings, overrides)


def _check_servers(settings: dict, path: str) -> None:
    """Every variant named (BASE[NAME], in the matrix or the variants) is declared in server_variants."""
    for where, names in (("servers", settings["servers"]), ("variants.servers", settings["variants"]["servers"])):
        undeclared = [n for n in names if "[" in n and n not in settings["server_variants"]]
        if undeclared:
            raise ScenarioError(
                f"{path}: {where}: {', '.join(map(repr, undeclared))} is not declared in server_variants "
                f"({', '.join(settings['server_variants'])})"
            )
