"""The typed settings: declared once (the validation is derived from the declarations), frozen, and
recorded in results.json as exactly the mapping the scenario file gives."""

import dataclasses
import json
import os
import typing

import pytest

from bench import config, settings
from bench.settings import Settings

SCENARIOS = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "scenarios.yaml")
PROFILES = ("quick", "full", "capacity", "capacity-iris", "metrics-cost")


@pytest.mark.parametrize("profile", PROFILES)
def test_the_record_is_the_validated_mapping(profile):
    doc = config.load(SCENARIOS, profile)
    typed = Settings.from_json(doc)
    assert typed.to_json() == doc
    assert json.loads(json.dumps(typed.to_json())) == doc  # what results.json holds, read back
    assert Settings.from_json(typed.to_json()) == typed


def test_sections_and_values_are_typed():
    s = Settings.from_json(config.load(SCENARIOS, "full"))
    assert isinstance(s.capacity, settings.CapacitySettings) and s.capacity.slo_p99_ms == 10
    assert isinstance(s.seed.claim, settings.SeedClaim) and s.seed.claim.go_rps == 34172
    assert all(isinstance(g, settings.Goal) for g in s.goals) and s.goals[0].key == "python-http-vs-toy-flask"
    assert s.batch == (1, 32) and s.matrix["grpc"] == (1, 10)


def test_nothing_can_change_under_the_run():
    s = Settings.from_json(config.load(SCENARIOS, "full"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.capacity.slo_p99_ms = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.matrix["grpc"] = (1,)  # type: ignore[index]
    with pytest.raises(TypeError):
        s.goals[0].subject["server"] = "python"  # type: ignore[index]
    assert isinstance(s.servers, tuple) and isinstance(s.variants.protocols_of["python[gunicorn]"], tuple)


def test_every_key_is_declared_once_and_validated_from_its_declaration():
    """What bench.config validates against is the declarations themselves: a field per key with
    its checker in the metadata, a nested dataclass per section."""

    def declared(cls, prefix=""):
        hints, out = typing.get_type_hints(cls), {}
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[f.name]):
                out.update(declared(hints[f.name], f"{prefix}{f.name}."))
            else:
                out[prefix + f.name] = f.metadata["check"]
        return out

    def flat(spec, prefix=""):
        out = {}
        for k, v in spec.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
        return out

    assert flat(config.SPEC) == declared(Settings)  # the same keys, the very same checkers
    assert "capacity.slo_p99_ms" in flat(config.SPEC) and "seed.claim.text" in flat(config.SPEC)
