"""Reading and validating bench/scenarios.yaml: defaults ← profile ← command-line overrides.

Every key is declared once, in bench.settings (its type and the rule of its value); SPEC is derived
from those declarations. A key that is not declared — a typo — is an error naming the key, where it
was found, the closest allowed key and the allowed keys. What this module returns is the validated
mapping (what results.json records); `bench.settings.Settings.from_json` makes it typed.
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from bench.settings import PROTOCOLS, SPEC, STAGES

# Mappings replaced whole by a profile or the command line, not merged key by key.
REPLACED_WHOLE = ("matrix", "server_variants")
__all__ = ["PROTOCOLS", "SPEC", "STAGES", "ScenarioError", "load", "load_override", "merge", "resolve", "validate"]


class ScenarioError(ValueError):
    """The scenario file, a profile or a command-line override is invalid."""


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
