"""The rules a value of scenarios.yaml must follow: each checker returns an error text, or None
when the value is fine. bench.settings attaches one to every key it declares; bench.config runs
them over the file, its profiles and the command line's overrides.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], "str | None"]
_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^\d+x$")


def integer(minimum=None, maximum=None) -> Check:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int):
            return "expected an integer"
        if minimum is not None and v < minimum:
            return f"expected an integer >= {minimum}"
        if maximum is not None and v > maximum:
            return f"expected an integer <= {maximum}"
        return None

    return check


def number(minimum=0.0, maximum=None, strict=True) -> Check:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return "expected a number"
        if v < minimum or (strict and v == minimum):
            return f"expected a number {'>' if strict else '>='} {minimum}"
        if maximum is not None and v > maximum:
            return f"expected a number <= {maximum}"
        return None

    return check


def optional(check: Check) -> Check:
    """None, or a value `check` accepts."""
    return lambda v: None if v is None else check(v)


def items(item: Check, allowed: tuple | None = None) -> Check:
    """A non-empty list without duplicates, each item accepted by `item` (and in `allowed`)."""

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


def subset(allowed: tuple) -> Check:
    """A list (empty too) of some of `allowed`."""
    return lambda v: (
        None if isinstance(v, list) and set(v) <= set(allowed) else f"expected a list of {', '.join(allowed)}"
    )


def text(v):
    return None if isinstance(v, str) and v else "expected a non-empty string"


def one_of(*allowed: str) -> Check:
    return lambda v: None if v in allowed else f"expected one of {', '.join(allowed)}"


def boolean(v):
    return None if isinstance(v, bool) else "expected true or false"


def go_duration(v):
    return None if isinstance(v, str) and _GO_DURATION.match(v) else "expected a Go duration such as 500ms, 1s or 100x"


def matrix(protocols: tuple[str, ...]) -> Check:
    """protocol → the concurrencies it is measured at."""

    def check(v):
        if not isinstance(v, dict) or not v:
            return "expected a mapping of protocol → list of concurrencies"
        for protocol, concurrencies in v.items():
            if protocol not in protocols:
                return f"{protocol!r} is not one of {', '.join(protocols)}"
            problem = items(integer(1, 10000))(concurrencies)
            if problem:
                return f"{protocol}: {problem}"
        return None

    return check


def server_variants(bases: tuple[str, ...]) -> Check:
    """name → extra server flags, e.g. python[gunicorn]: [--http-server, gunicorn]."""
    name_rule = re.compile(rf"^({'|'.join(bases)})(\[[a-z0-9+-]+\])?$")

    def check(v):
        if not isinstance(v, dict):
            return "expected a mapping of variant name → list of flags"
        for name, flags in v.items():
            if not isinstance(name, str) or not name_rule.match(name) or "[" not in name:
                return f"variant {name!r}: expected BASE[NAME] with BASE {' or '.join(bases)}"
            if not isinstance(flags, list) or not all(isinstance(f, str) and f for f in flags):
                return f"variant {name!r}: expected a list of flags"
        return None

    return check


def protocols_of(protocols: tuple[str, ...]) -> Check:
    """variant name → the protocols it is measured on (a variant of one protocol's stack)."""

    def check(v):
        if not isinstance(v, dict):
            return "expected a mapping of server name → list of protocols"
        for name, listed in v.items():
            problem = items(text, protocols)(listed)
            if problem:
                return f"{name}: {problem}"
        return None

    return check


def where(keys: Mapping[str, type]) -> Check:
    """A mapping that selects scenarios: some of `keys`, each of its type."""

    def check(v):
        if not isinstance(v, dict) or not v or set(v) - set(keys):
            return f"expected a mapping of {', '.join(keys)}"
        for key, value in v.items():
            if not isinstance(value, keys[key]) or isinstance(value, bool):
                return f"{key}: expected {keys[key].__name__}"
        return None

    return check


def baseline(where_check: Check) -> Check:
    """What a goal compares with, measured in the subject's window: {seed: TOY} (the seed's toy
    answering its own GET), {floor: true} (the subject's null server), {inproc: python|go} (the
    in-process time of the subject's work), {serve: {...}} (another server of the window) or
    {absolute: true} (none: the metric itself against the limit)."""

    def check(v):
        kinds = ("seed", "floor", "inproc", "serve", "absolute")
        if not isinstance(v, dict) or len(v) != 1 or next(iter(v)) not in kinds:
            return "expected one of {seed: TOY}, {floor: true}, {inproc: python|go}, {serve: {...}}, {absolute: true}"
        if "serve" in v:
            problem = where_check(v["serve"])
            return f"serve: {problem}" if problem else None
        for flag in ("floor", "absolute"):
            if flag in v:
                return None if v[flag] is True else f"{flag}: expected true"
        return text(next(iter(v.values())))

    return check


def floors_of(transports: tuple[str, ...], nulls: tuple[str, ...]) -> Check:
    """server name → transport → the null server that is its floor there."""

    def check(v):
        if not isinstance(v, dict):
            return "expected a mapping of server name → {transport: null server}"
        for name, by_transport in v.items():
            if not isinstance(name, str) or not isinstance(by_transport, dict) or not by_transport:
                return f"{name!r}: expected a mapping of transport → null server"
            for transport, null in by_transport.items():
                if transport not in transports:
                    return f"{name}: {transport!r} is not one of {', '.join(transports)}"
                if null not in nulls:
                    return f"{name}: {transport}: {null!r} is not one of {', '.join(nulls)}"
        return None

    return check


def records(spec: Mapping[str, Check], unique: str, what: str) -> Check:
    """A list of mappings, each with exactly the keys of `spec` (each value accepted by its
    checker), `unique` different in each."""

    def check(v):
        if not isinstance(v, list):
            return f"expected a list of {what}s"
        for i, record in enumerate(v):
            name = record.get(unique) if isinstance(record, dict) else record
            if not isinstance(record, dict) or set(record) != set(spec):
                return f"{what} {i} ({name!r}): expected a mapping with exactly the keys {', '.join(sorted(spec))}"
            for key, rule in spec.items():
                problem = rule(record[key])
                if problem:
                    return f"{what} {i} ({name!r}): {key}: {problem}"
        if len({r[unique] for r in v}) != len(v):
            return f"{what} {unique}s must be unique"
        return None

    return check
