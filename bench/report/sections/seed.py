"""The seed post's claim beside its toys measured here, and beside real inference."""

from __future__ import annotations

from bench.analysis import goals, stats
from bench.report.format import flags, num, ratio_text, section, spread_text, table
from bench.results import Results, Scenario


def render(results: Results, conc: int | None) -> list[str]:
    return section("Seed replication", seed_section(results.scenarios, results.settings, conc))


def seed_section(rows: list[Scenario], settings: dict, conc: int | None) -> list[str]:
    claim = settings["seed"]["claim"]
    claim_ratio = claim["go_rps"] / claim["python_rps"]
    lines = [
        f"The seed post claimed: {claim['text']}, i.e. Go÷Python = {claim_ratio:.2f}×. Its servers answer a "
        "constant string (no model). Measured here with the same pinning as everything else:",
        "",
    ]
    body = []
    for toy, label, claimed in (
        ("toy-flask", "Flask development server (toy)", claim["python_rps"]),
        ("toy-go", "Go net/http (toy)", claim["go_rps"]),
    ):
        exact, timed = goals.seed_row(rows, toy, "exact"), goals.seed_row(rows, toy, "timed")
        body.append(
            [
                label,
                num(claimed, 0),
                spread_text(exact.rps) if exact else "n/a",
                spread_text(timed.rps) if timed else "n/a",
                num(stats.median_of(timed, "server_cpu_us_per_req")),
                num(stats.median_of(timed, "p99_ms"), 2),
                flags(timed) if timed else "",
            ]
        )
    ratios = []
    for mode in ("exact", "timed"):
        go, py = goals.seed_row(rows, "toy-go", mode), goals.seed_row(rows, "toy-flask", mode)
        ratios.append(ratio_text(stats.ratio(stats.median_of(go, "rps"), stats.median_of(py, "rps"))))
    body.append(["Go ÷ Python", f"{claim_ratio:.2f}×", *ratios, "", "", ""])
    seed = settings["seed"]
    lines += table(
        [
            "server",
            "post's claim req/s",
            f"hey -n {seed['requests']} -c {seed['concurrency']} req/s",
            f"hey -z {seed['duration_s']:g}s -c {seed['concurrency']} req/s",
            "CPU µs/req (timed)",
            "p99 ms (timed)",
            "flags",
        ],
        body,
    )
    lines += ["", f"Beside real inference (iris-logreg, batch 1, concurrency {conc}):", ""]
    real = []
    for server in ("python", "go"):
        for protocol in ("http-json", "grpc"):
            r = stats.find(
                rows, kind="serve", server=server, protocol=protocol, model="iris-logreg", batch=1, concurrency=conc
            )
            if r:
                real.append(
                    [
                        f"{server} {protocol}",
                        spread_text(r.rps),
                        num(stats.median_of(r, "server_cpu_us_per_req")),
                        num(stats.median_of(r, "p99_ms"), 2),
                        flags(r),
                    ]
                )
    lines += table(["server", "req/s", "CPU µs/req", "p99 ms", "flags"], real) if real else ["(not measured)"]
    return lines
