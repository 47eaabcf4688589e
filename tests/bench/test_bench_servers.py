"""The servers the bench starts: the servers as shipped, with no admission flags in their argv
(their defaults never refuse an ordinary closed-loop client), whatever the profile or variant."""

import os

import pytest
import yaml

from bench import config
from bench.plan import Plan
from bench.run import servers
from bench.settings import NULLS, TOYS, Settings

SCENARIOS = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "scenarios.yaml")
ADMISSION_FLAGS = ("--max-inflight", "--max-queue-delay")
with open(SCENARIOS, encoding="utf-8") as _fh:
    PROFILES = sorted(yaml.safe_load(_fh)["profiles"])


def every_spec(profile: str) -> list[servers.ServerSpec]:
    s = Settings.from_json(config.load(SCENARIOS, profile))
    plan = Plan(
        settings=s,
        profile=profile,
        repo="",
        run_dir="",
        models_dir="models",
        server_cpus=[0, 1],
        client_cpus=[2],
        tools=None,
        go_bin="go_service",
        toy_go_bin="toy",
    )
    names = {"python", "go", *s.servers, *s.variants.servers, *s.capacity.servers, *s.server_variants}
    transports = (("grpc",), ("http",), ("grpc", "http"))
    specs = [servers.service_spec(plan, n, t) for n in sorted(names) for t in transports]
    specs += [
        servers.spec_for(plan, n, p) for n in [*s.capacity.servers, *s.capacity.toys] for p in s.capacity.protocols
    ]
    specs += [servers.null_spec(n, 2, "toy") for n in NULLS]
    return specs + [servers.toy_spec(t, "toy") for t in TOYS] + [servers.toy_spec("toy-go", "toy", grpc=True)]


@pytest.mark.parametrize("profile", PROFILES)
def test_no_admission_flags_in_what_the_bench_starts(profile):
    specs = every_spec(profile)
    declared = Settings.from_json(config.load(SCENARIOS, profile)).server_variants
    assert set(declared) <= {spec.name for spec in specs}  # every declared variant is among them
    for spec in specs:
        flags = [a.split("=")[0] for a in spec.argv]
        assert not set(flags) & set(ADMISSION_FLAGS), f"{spec.name}: {' '.join(spec.argv)}"
