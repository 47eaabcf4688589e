"""python -m bench compare A B: did anything change between two runs? (benchstat's question.)

    python -m bench compare results/RUN_A results/RUN_B [--json FILE] [--fail-on-slowdown PCT]
                                                        [--threshold PCT] [--normalise]

Per scenario (req/s and server CPU per request), per paired ratio (Go ÷ Python, gRPC ÷ HTTP, each
÷ its floor, as the report pairs them) and per capacity: B against A, the change with its 95%
interval (bootstrap over each run's repeats; for a ratio, over its per-repeat ratios) and a
two-sided p-value, then a verdict: faster, slower, or "~" (no significant change: p ≥ 0.05, or a
change under --threshold, default 5%). What differs between the runs — commit, machine, settings,
versions of what ran — is said first, and so is a run marked noisy or drifted. An absolute figure
(req/s, CPU per request, capacity) is called changed only beyond the machine's own drift during the
runs (their drift sentinels' max ÷ min − 1): it can move that much with no change of code. Ratios
need no such allowance (both sides of a pair moved together). --normalise also sets B's absolute
figures to A's machine speed by the sentinels (the toy's CPU per request, B's ÷ A's, over each
run's readings): off by default, because on a machine whose speed moves from minute to minute three
readings a run sample it coarsely, and the correction can add error as well as take it out.

Markdown to stdout; --json FILE writes {"a", "b", "differences", "notes", "rows"} (design.md
"Compare"). Exit status 1 with --fail-on-slowdown PCT when any row is slower by more than PCT
percent (a CI regression gate), 2 when a run cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from bench.analysis.comparison import ALPHA, compare
from bench.results import Results


def load(path: str) -> Results:
    if os.path.isdir(path):
        path = os.path.join(path, "results.json")
    with open(path, encoding="utf-8") as fh:
        return Results.from_json(json.load(fh))


def markdown(doc: dict) -> str:
    a, b = doc["a"], doc["b"]
    lines = [f"# servebench compare — A {a['run_id']} vs B {b['run_id']}", ""]
    if doc["differences"]:
        lines += ["The runs differ in:", "", *[f"- {d}" for d in doc["differences"]], ""]
    else:
        lines += ["Same commit, machine, settings and versions.", ""]
    lines += [*[f"- **{n}**" for n in doc["notes"]], *([""] if doc["notes"] else [])]
    if doc.get("speed_factor"):
        lines += [
            f"Machine speed: B's sentinel read {doc['speed_factor']:.2f}× A's; B's absolute figures are set to A's "
            "speed (--normalise).",
            "",
        ]
    agree = doc.get("agreement") or {}
    if agree.get("ratio_intervals") or agree.get("capacities_normalised"):
        lines += [
            f"Agreement: {agree['ratio_intervals_overlapping']} of {agree['ratio_intervals']} ratios (and goals) have "
            f"overlapping 95% intervals; {agree['capacities_normalised_within_15pct']} of "
            f"{agree['capacities_normalised']} capacities per core, normalised by the sentinels, agree within 15%.",
            "",
        ]
    counts = {v: sum(r["verdict"] == v for r in doc["rows"]) for v in ("faster", "slower", "same")}
    lines += [
        f"{len(doc['rows'])} rows: {counts['slower']} slower, {counts['faster']} faster, {counts['same']} with no "
        f"significant change (~: p ≥ {ALPHA}, or under {doc['threshold_pct']:g}% for a paired ratio and under "
        f"{doc['absolute_threshold_pct']:.0f}% for an absolute figure — the larger of that and the machine's own drift "
        "during the runs, by their sentinels).",
        "",
        "| scenario | metric | A [95% CI] | B [95% CI] | change [95% CI] | p | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        p = "n/a" if r["p_value"] is None else f"{r['p_value']:.3f}"
        verdict = "~" if r["verdict"] == "same" else f"**{r['verdict']}**"
        lines.append(
            f"| {r['scenario']} | {r['metric']} | {_ci(r['a'])} | {_ci(r['b'])} | {r['change_pct']:+.1f}% "
            f"[{r['ci95_pct'][0]:+.1f}, {r['ci95_pct'][1]:+.1f}] | {p} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def _ci(side: dict) -> str:
    m, ci = side["median"], side["ci95"]
    if m is None:
        return "n/a"
    digits = 2 if abs(m) < 10 else 1 if abs(m) < 1000 else 0
    return f"{m:,.{digits}f}" + (f" [{ci[0]:,.{digits}f}–{ci[1]:,.{digits}f}]" if ci else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench compare", description=__doc__.splitlines()[0])
    p.add_argument("a", help="run A: a results directory or its results.json (the baseline)")
    p.add_argument("b", help="run B: the same, the run compared with A")
    p.add_argument("--json", metavar="FILE", help="also write the comparison as JSON")
    p.add_argument("--fail-on-slowdown", type=float, metavar="PCT", help="exit 1 when a row is slower by > PCT%%")
    p.add_argument("--threshold", type=float, default=5.0, metavar="PCT", help="smallest change called one (5)")
    p.add_argument(
        "--normalise", action="store_true", help="set B's absolute figures to A's machine speed (the sentinels)"
    )
    args = p.parse_args(argv)
    try:
        a, b = load(args.a), load(args.b)
    except (OSError, ValueError, TypeError) as exc:
        print(f"bench compare: {exc}", file=sys.stderr)
        return 2
    doc = compare(a, b, args.threshold, args.normalise)
    sys.stdout.write(markdown(doc))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
    if args.fail_on_slowdown is not None:
        slower = [r for r in doc["rows"] if r["verdict"] == "slower" and abs(r["change_pct"]) > args.fail_on_slowdown]
        if slower:
            print(
                f"bench compare: {len(slower)} row(s) slower by more than {args.fail_on_slowdown:g}%", file=sys.stderr
            )
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
