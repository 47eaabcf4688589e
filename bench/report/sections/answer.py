"""The answer, before any table: for the models measured, which server and protocol is cheaper and
by how much (paired, with the interval), capacity per core at the SLO, what dominates each server's
cost, and this run's caveats."""

from __future__ import annotations

from bench.analysis import floors
from bench.report.format import ci_text, num, ratio_text, section
from bench.results import Results

PARTS = ("floor_us", "decode", "tensor", "inference", "encode", "rest_us")
PART_NAMES = {"floor_us": "the framework's floor", "rest_us": "the rest (adapter, admission, metrics, framework)"}


def render(results: Results, conc: int | None) -> list[str]:
    lines = [*_cheapest(results, conc), *_capacity(results), *_dominates(results, conc), *_caveats(results)]
    return section("The answer", lines or ["(nothing measured)"])


def _cheapest(results: Results, conc: int | None) -> list[str]:
    """Per model and batch at the reference concurrency: the endpoints by server CPU per request,
    and the paired ratios that say by how much."""
    out = []
    rows = [r for r in results.scenarios if r.kind in ("serve", "variant") and r.concurrency == conc]
    for model, batch in dict.fromkeys((r.model, r.batch) for r in rows if r.kind == "serve"):
        cell = sorted(
            (r for r in rows if (r.model, r.batch) == (model, batch) and r.server_cpu_us_per_req.median),
            key=lambda r: r.server_cpu_us_per_req.median,
        )
        if not cell:
            continue
        best, worst = cell[0], cell[-1]
        text = (
            f"- **{model}, batch {batch}** (concurrency {conc}, server CPU per request): cheapest **{best.server} "
            f"{best.protocol}**, {ci_text(best.server_cpu_us_per_req.median, best.server_cpu_us_per_req.median_ci95)}"
            f" µs; dearest {worst.server} {worst.protocol}, {num(worst.server_cpu_us_per_req.median)} µs."
        )
        ratios = [
            r
            for r in results.ratios
            if (r.get("model"), r.get("batch"), r.get("concurrency")) == (model, batch, conc)
            and r["ratio"] in ("Go ÷ Python", "Go ÷ Python (lean adapter)", "gRPC ÷ HTTP JSON")
        ]
        said = [
            f"{r['ratio']} {r.get('protocol') or r.get('server')}: "
            f"{ratio_text(r['cpu_per_req_ratio'], r['cpu_per_req_ratio_ci95'])}"
            for r in ratios
        ]
        out.append(text + (" Paired ratios of CPU per request: " + "; ".join(said) + "." if said else ""))
    return out


def _capacity(results: Results) -> list[str]:
    items = [c for c in results.capacity if c.protocol != "null-http"]
    if not items:
        return []
    parts = []
    for c in items:
        norm = (
            f", {num(c.capacity_rps_per_core_normalised, 0)} normalised" if c.capacity_rps_per_core_normalised else ""
        )
        parts.append(
            f"{c.server} {c.protocol} {num(c.capacity_rps_per_core, 0)}{norm} (bound by {c.bound_by})"
            if c.capacity_rps_per_core
            else f"{c.server} {c.protocol} n/a (bound by {c.bound_by})"
        )
    first = items[0]
    slo = f"p{first.percentile:g} ≤ {first.slo_p99_ms:g} ms"
    return [f"- **Capacity per core at the SLO** ({slo}, req/s): " + "; ".join(parts) + "."]


def _dominates(results: Results, conc: int | None) -> list[str]:
    rows = [
        r
        for r in floors.decomposition(results.runs, results.scenarios, results.settings["floors"]["of"])
        if r["concurrency"] == conc and r["cpu_us"] and r["server"] in results.settings["servers"]
    ]
    parts = []
    for r in rows:
        known = {p: r.get(p) for p in PARTS if r.get(p) is not None}
        if not known:
            continue
        top = max(known, key=lambda p: known[p])
        parts.append(
            f"{r['server']} {r['protocol']} {r['model']} b{r['batch']}: {PART_NAMES.get(top, top)} "
            f"({num(known[top])} of {num(r['cpu_us'])} µs, {known[top] / r['cpu_us']:.0%})"
        )
    return ["- **What dominates each server's cost**: " + "; ".join(parts) + "."] if parts else []


def _caveats(results: Results) -> list[str]:
    out = []
    drift = results.drift or {}
    if drift.get("drift") is not None:
        state = "**over**" if drift.get("flagged") else "within"
        out.append(
            f"the machine's speed moved {drift['drift']:.0%} during the run (drift sentinel, {len(drift['readings'])} "
            f"readings; {state} the {drift['threshold']:.0%} threshold)"
        )
    cb = [r for r in results.scenarios if r.client_bound and r.kind in ("serve", "variant", "floor")]
    if cb:
        out.append(
            f"{len(cb)} scenarios were client-bound (their req/s measure the load generator; CPU per request holds)"
        )
    noisy = sum(r.noisy for r in results.runs)
    if noisy:
        out.append(f"{noisy} of {len(results.runs)} timed runs were noisy (other processes on the server CPUs)")
    errors = [r for r in results.scenarios if r.errors and r.kind in ("serve", "variant")]
    if errors:
        names = ", ".join(f"{r.server} {r.protocol} c{r.concurrency}" for r in errors[:4])
        out.append(f"{len(errors)} scenarios had errors (refusals count in CPU per request): {names}")
    inconclusive = [g.key for g in results.goals if g.verdict == "inconclusive"]
    if inconclusive:
        out.append(
            f"{len(inconclusive)} goals inconclusive (their interval straddles the limit): {', '.join(inconclusive)}"
        )
    not_server = [f"{c.server} {c.protocol}" for c in results.capacity if c.bound_by not in ("server",)]
    if not_server:
        out.append(f"capacity not bound by the server's CPU for {', '.join(not_server)} (see Capacity)")
    return ["- **Caveats of this run**: " + "; ".join(out) + "."] if out else ["- **Caveats of this run**: none found."]
