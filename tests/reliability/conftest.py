"""Fixtures of the reliability suite: the process set-up (client CPU, file limit), the servers under
attack (one per kind per module, pinned to CPU 0, started with the suite's short deadlines), the
normal client, and the session report written to results/reliability-latest/.

`make test-reliability` runs this suite (`pytest -m reliability tests/reliability`); plain `pytest`,
and so `make test`, does not collect it: pyproject.toml's addopts has `--ignore=tests/reliability`,
which a folder named on the command line overrides.
"""

from __future__ import annotations

import os
import resource

import pytest

from bench.run.procs import Supervisor
from tests.reliability import harness
from tests.reliability.normal import NormalClient
from tests.reliability.report import Report, Row, Verdict

FILE_LIMIT = 65536
NORMAL_P99_MS = 50.0
NORMAL_MIN_PCT = 99.0

# Rules that fail today on the 2-CPU machines this runs on, declared here so that the suite still
# gates everything else in CI. Each entry names the rules (substrings of their failure reasons) that
# are known to fail for that (server, attack), and why: a row whose failed rules are all listed is
# reported FAIL (known) with its figures and counted as xfail; any other failed rule fails the test
# (so removing a deadline or the admission bound still fails the suite). The work on hostile clients
# is not done while this is not empty; remove an entry when its fix lands.
KNOWN_FAILURES: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("python", "2 slow gRPC messages (100 × 1 B/s)"): (
        "grpcio gives a call its place in the bound (maximum_concurrent_rpcs) and a handler thread when its "
        "headers arrive, before its message: two calls whose message never completes hold the whole bound",
        ("normal client:",),
    ),
    **{
        (server, "4 overload 3× (%s)" % protocol): (
            "under 3× overload on one shared CPU the admitted requests' latencies spread around the standing queue "
            "(the work competes with reading and refusing the arrivals): their p99 is over the budget + the "
            "unloaded p99 in some runs (three runs with the target at half the budget: Go HTTP and gRPC and Python "
            "HTTP 1 in 3, by 0.1-2 ms; Python gRPC 3 in 3, by 5-10 ms, grpcio's poller and handlers sharing the "
            "GIL); proto/predict/v1/README.md, tests/reliability/README.md",
            ("admitted p99",),
        )
        for server in ("python", "python[rsgi]", "go")
        for protocol in ("http", "grpc")
    },
    ("python", "7 gRPC abuse"): (
        "1,000 concurrent calls on one connection fill grpcio's bound (maximum_concurrent_rpcs, which knows "
        "no connections), so the normal client's calls are refused or wait meanwhile",
        ("normal client:",),
    ),
}


@pytest.fixture(scope="session", autouse=True)
def client_process():
    """Pin the test process (the attackers) to the client CPU and raise its file limit before any
    server starts (the servers inherit it): the idle flood holds 2,000 connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, FILE_LIMIT), max(hard, FILE_LIMIT)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    affinity = os.sched_getaffinity(0)
    missing = set(harness.SERVER_CPUS + harness.CLIENT_CPUS) - affinity
    if missing:
        pytest.fail(
            "the suite needs CPUs %s (server) and %s (client); CPUs %s are not available"
            % (harness.SERVER_CPUS, harness.CLIENT_CPUS, sorted(missing)),
            pytrace=False,
        )
    os.sched_setaffinity(0, harness.CLIENT_CPUS)
    yield
    os.sched_setaffinity(0, affinity)


@pytest.fixture(scope="session")
def prerequisites():
    needed = [
        (harness.MODELS, "the model repository", "models"),
        (harness.GO_BIN, "the Go server binary", "build"),
        (os.path.join(os.path.dirname(harness.GO_BIN), "openloop"), "the open-loop gRPC generator", "build"),
        *[(os.path.join(harness.TOOLS, t), t, "tools") for t in ("hey", "ghz", "vegeta")],
    ]
    for path, what, target in needed:
        if not os.path.exists(path):
            pytest.fail("%s not found at %s: run `make %s` first" % (what, path, target), pytrace=False)


@pytest.fixture(scope="session")
def report():
    rep = Report(harness.ROOT)
    rep.config = {
        "server CPUs": harness.SERVER_CPUS,
        "client CPUs": harness.CLIENT_CPUS,
        "suite server flags (both servers)": " ".join(harness.SUITE_FLAGS),
        "extra python flags": os.environ.get("RELIABILITY_PYTHON_ARGS", ""),
        "extra go flags": os.environ.get("RELIABILITY_GO_ARGS", ""),
        "python stack": "granian HTTP + sync grpcio, 1 worker per protocol",
        "go": "GOMAXPROCS=%s" % (harness.gomaxprocs() or "the server's default: the server CPUs + 1"),
    }
    yield rep
    out = rep.write()
    if out:
        print("\nreliability results: %s (results/reliability-latest)" % out)


@pytest.fixture(scope="module", params=list(harness.KINDS))
def target(request, prerequisites, report, tmp_path_factory):
    """The server under attack, one per kind for the whole module, started with the suite's flags
    and the module's own for that kind (its SERVER_FLAGS: {kind: (flag, ...)}, when a rule needs
    a setting other than the default; each is named, with why, in README.md)."""
    kind = request.param
    module = request.module.__name__.rsplit(".", 1)[-1]
    own = tuple(getattr(request.module, "SERVER_FLAGS", {}).get(kind, ()))
    if own:
        report.config["%s flags (%s)" % (module, kind)] = " ".join(own)
    log_path = str(tmp_path_factory.mktemp("%s-%s" % (kind, module)) / "server.log")
    report.keep_log("%s-%s.log" % (kind, module), log_path)
    with Supervisor(stop_timeout_s=30) as sup:
        try:
            server = harness.start(sup, kind, log_path, harness.MODELS, *own)
        except harness.harness.ServerError as e:
            pytest.fail("%s server did not start: %s" % (kind, e), pytrace=False)
        yield server
        server.server.stop(sup)


@pytest.fixture
def normal(tmp_path):
    """`normal(protocol, address)` starts the normal client (waiting for its first answer)."""
    with Supervisor(stop_timeout_s=15) as sup:
        started = []

        def start(protocol: str, address: str) -> NormalClient:
            out = str(tmp_path / ("normal-%d.json" % len(started)))
            client = NormalClient(sup, protocol, address, out, harness.CLIENT_CPUS)
            started.append(client)
            return client.wait_started()

        yield start


def judge_normal(verdict: Verdict, summary, counted_shed: bool = False) -> None:
    """The normal client's rule: ≥ 99 % answered correctly (or, under overload, correctly refused),
    p99 ≤ 50 ms."""
    pct = summary.answered_or_shed_pct if counted_shed else summary.answered_pct
    verdict.check(
        summary.sent > 0 and pct >= NORMAL_MIN_PCT,
        "normal client: %.1f %% of %d %s (< %g %%; errors %s)"
        % (pct, summary.sent, "answered or refused" if counted_shed else "answered", NORMAL_MIN_PCT, summary.errors),
    )
    verdict.check(
        summary.p99_ms is not None and summary.p99_ms <= NORMAL_P99_MS,
        "normal client: p99 %s ms > %g ms" % (summary.p99_ms, NORMAL_P99_MS),
    )


def finish(report: Report, server: str, attack: str, verdict: Verdict, summary: str, figures: dict, normal=None):
    """Record the row, then fail the test with its reasons if a rule failed (xfail for a declared
    known failure)."""
    why, rules = KNOWN_FAILURES.get((server, attack), (None, ()))
    known = why if verdict.reasons and all(any(r in reason for r in rules) for reason in verdict.reasons) else None
    row = report.add(
        Row(
            server=server,
            attack=attack,
            normal=normal.as_dict() if normal is not None else None,
            figures=figures,
            summary=summary,
            passed=verdict.passed,
            reasons=verdict.reasons,
            notes=verdict.notes,
            known=known,
        )
    )
    if not row.passed and known:
        pytest.xfail("%s / %s (known failure: %s): %s" % (server, attack, known, "; ".join(row.reasons)))
    if not row.passed:
        pytest.fail("%s / %s: %s\n  figures: %s" % (server, attack, "; ".join(row.reasons), summary), pytrace=False)
