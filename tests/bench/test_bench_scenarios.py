"""Scenario file validation: typos and wrong values get a clear error naming the key."""

import copy
import os

import pytest
import yaml

from bench import config, plan
from bench.settings import PREDICT_PROTOCOLS, Settings

SCENARIOS = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "scenarios.yaml")


@pytest.fixture()
def doc():
    with open(SCENARIOS, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_shipped_profiles_are_valid(profile):
    settings = config.load(SCENARIOS, profile)
    assert settings["repeats"] >= 3
    assert set(settings["matrix"]) <= set(config.PROTOCOLS)


def test_full_profile_covers_the_issue_matrix():
    s = config.load(SCENARIOS, "full")
    assert {"python", "go"} <= set(s["servers"]) and set(PREDICT_PROTOCOLS) == set(s["matrix"])
    assert {"iris-logreg", "breast-cancer-rf"} <= set(s["models"]) and {1, 32} <= set(s["batch"])
    assert all({1, s["reference_concurrency"]} <= set(c) for c in s["matrix"].values())  # breakdown and ladder
    # concurrency 50 was trimmed to keep the full run within 15 minutes (scenarios.yaml says so)
    assert {1, 10} <= set(s["matrix"]["http-json"]) and {1, 10} <= set(s["matrix"]["grpc"])
    variants = s["variants"]
    assert variants["enabled"] and {"python", "python[gunicorn]", "python[no-metrics]", "go[no-metrics]"} <= set(
        variants["servers"]
    )


def test_typo_in_defaults_names_the_key_and_the_allowed_ones(doc):
    doc["defaults"]["matrixx"] = doc["defaults"].pop("matrix")
    with pytest.raises(config.ScenarioError) as err:
        config.resolve(doc, "full", {})
    text = str(err.value)
    assert "'matrixx'" in text and "did you mean 'matrix'" in text
    assert "defaults" in text and "allowed keys:" in text and "warmup_s" in text


def test_typo_in_another_profile_is_caught_too(doc):
    doc["profiles"]["quick"]["duraton_s"] = 1.0
    with pytest.raises(config.ScenarioError, match=r"profiles\.quick: unknown key 'duraton_s'.*'duration_s'"):
        config.resolve(doc, "full", {})


def test_typo_in_a_nested_section(doc):
    doc["defaults"]["parity"]["tolerence"] = 1e-6
    with pytest.raises(config.ScenarioError, match=r"defaults\.parity: unknown key 'tolerence'"):
        config.resolve(doc, "full", {})


def test_unknown_top_level_key(doc):
    doc["profile"] = {}
    with pytest.raises(config.ScenarioError, match=r"unknown key 'profile'.*did you mean 'profiles'"):
        config.resolve(doc, "full", {})


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("repeats", 2, r"defaults\.repeats: expected an integer >= 3"),
        ("repeats", "3", r"defaults\.repeats: expected an integer"),
        ("repeats", True, r"defaults\.repeats: expected an integer"),
        ("duration_s", 0, r"defaults\.duration_s: expected a number > 0"),
        ("matrix", {"http-json": [1], "grpcc": [1]}, r"defaults\.matrix: 'grpcc' is not one of http-json"),
        ("matrix", {"grpc": [1, 0]}, r"defaults\.matrix: grpc: item 0: expected an integer >= 1"),
        ("matrix", {"grpc": []}, r"expected a non-empty list"),
        ("matrix", {}, r"expected a mapping of protocol"),
        ("server_variants", {"python": ["--x"]}, r"expected BASE\[NAME\]"),
        ("batch", [1, 1], r"expected no duplicates"),
        ("client_bound_threshold", 1.5, r"expected a number <= 1"),
    ],
)
def test_wrong_values(doc, key, value, message):
    doc["defaults"][key] = value
    with pytest.raises(config.ScenarioError, match=message):
        config.resolve(doc, "full", {})


def test_missing_default(doc):
    del doc["defaults"]["warmup_s"]
    with pytest.raises(config.ScenarioError, match=r"defaults: missing keys: warmup_s"):
        config.resolve(doc, "full", {})


def test_unknown_profile(doc):
    profiles = "capacity, capacity-iris, full, metrics-cost, network, network-brief, peers, quick"
    with pytest.raises(config.ScenarioError, match=r"no profile 'fast'; profiles: " + profiles):
        config.resolve(doc, "fast", {})


def test_overrides_are_validated_and_merged(doc):
    s = config.resolve(copy.deepcopy(doc), "quick", {"matrix": {"grpc": [5]}, "seed": {"enabled": False}})
    assert s["matrix"] == {"grpc": [5]}  # a matrix is replaced whole
    assert s["seed"]["enabled"] is False and s["seed"]["requests"] == 1000  # a section is merged key by key
    with pytest.raises(config.ScenarioError, match=r"command line: unknown key 'concurency'"):
        config.resolve(doc, "quick", {"concurency": [5]})


def test_an_undeclared_variant_is_refused(doc):
    doc["defaults"]["variants"]["servers"].append("python[nope]")
    with pytest.raises(config.ScenarioError, match=r"'python\[nope\]' is not declared in server_variants"):
        config.resolve(doc, "full", {})


@pytest.mark.parametrize(
    "profile,limit_s", [("quick", 120), ("full", 900), ("capacity-iris", 300), ("metrics-cost", 420)]
)
def test_profile_estimate_fits_the_issue_time_budget(profile, limit_s):
    s = config.load(SCENARIOS, profile)
    p = plan.Plan(
        settings=Settings.from_json(s),
        profile=profile,
        repo="",
        run_dir="",
        models_dir="",
        server_cpus=[0],
        client_cpus=[1],
        tools=None,
        go_bin="",
        toy_go_bin="",
    )
    assert plan.estimate_s(p)["total_s"] <= min(limit_s, s["budget_s"])


def test_capacity_profiles():
    """`capacity` sweeps the whole model × batch matrix; `capacity-iris` (make bench-capacity) only
    iris-logreg batch 1, on the four endpoints; the full run includes that sweep and the toys."""
    whole, iris, full = (config.load(SCENARIOS, p) for p in ("capacity", "capacity-iris", "full"))
    assert whole["stages"] == iris["stages"] == ["capacity"]
    assert {"iris-logreg", "breast-cancer-rf"} <= set(whole["capacity"]["models"]) and {1, 32} <= set(
        whole["capacity"]["batch"]
    )
    assert iris["capacity"]["models"] == ["iris-logreg"] and iris["capacity"]["batch"] == [1]
    for s in (whole, iris, full):
        assert {"python", "go"} <= set(s["capacity"]["servers"])
        assert {"http-json", "grpc"} <= set(s["capacity"]["protocols"])
    assert "capacity" in full["stages"] and {"toy-flask", "toy-go"} <= set(full["capacity"]["toys"])
