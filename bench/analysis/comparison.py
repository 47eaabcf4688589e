"""Two runs compared (bench compare's figures, pure): what differs between them, per scenario,
paired ratio and capacity the change of B against A with its 95% interval, a p-value and a verdict,
and how far the two agree. bench.compare prints it.
"""

from __future__ import annotations

from bench.analysis import intervals, pairs, stats
from bench.results import Results
from bench.run.sentinel import toy_us_during

METRICS = {"rps": "higher", "server_cpu_us_per_req": "lower"}  # which way is faster
ALPHA = 0.05
MACHINE = ("cpu_model", "cpu_count", "memory_gib", "os", "kernel", "machine", "cpu_governor")


def differences(a: Results, b: Results) -> list[str]:
    """What differs between the runs beyond the code's figures: commit, machine, settings, versions."""
    out = []
    ga, gb = a.environment.get("git", {}), b.environment.get("git", {})
    if (ga.get("commit"), ga.get("dirty")) != (gb.get("commit"), gb.get("dirty")):
        out.append(f"commit: {_commit(ga)} → {_commit(gb)}")
    for key in MACHINE:
        if a.environment.get(key) != b.environment.get(key):
            out.append(f"machine {key}: {a.environment.get(key)} → {b.environment.get(key)}")
    if a.environment.get("pinning") != b.environment.get("pinning"):
        out.append(f"pinning: {a.environment.get('pinning')} → {b.environment.get('pinning')}")
    if a.profile != b.profile:
        out.append(f"profile: {a.profile} → {b.profile}")
    for key, (va, vb) in sorted(_flat_diff(a.settings, b.settings).items()):
        out.append(f"setting {key}: {va!r} → {vb!r}")
    va, vb = a.environment.get("versions", {}), b.environment.get("versions", {})
    for key in sorted(set(va) | set(vb)):
        if va.get(key) != vb.get(key):
            out.append(f"version of {key}: {va.get(key)} → {vb.get(key)}")
    ba, bb = a.environment.get("binaries") or {}, b.environment.get("binaries") or {}
    for name in sorted(set(ba) | set(bb)):
        for key, (x, y) in sorted(_flat_diff(ba.get(name) or {}, bb.get(name) or {}).items()):
            out.append(f"{name} binary {key}: {x} → {y}")
    return out


def _commit(git: dict) -> str:
    return f"{(git.get('commit') or 'unknown')[:12]}{' (dirty)' if git.get('dirty') else ''}"


def _flat_diff(a, b, prefix="") -> dict:
    if isinstance(a, dict) and isinstance(b, dict):
        out = {}
        for key in set(a) | set(b):
            out.update(_flat_diff(a.get(key), b.get(key), f"{prefix}{key}."))
        return out
    return {} if a == b else {prefix.rstrip("."): (a, b)}


def notes(a: Results, b: Results) -> list[str]:
    """What makes a run's figures less trustworthy: noisy repeats, drift."""
    out = []
    for label, r in (("A", a), ("B", b)):
        noisy, total = sum(run.noisy for run in r.runs), len(r.runs)
        if noisy:
            out.append(
                f"run {label} is noisy: {noisy} of {total} timed runs shared the server CPUs with other processes"
            )
        drift = r.drift or {}
        if drift.get("flagged"):
            out.append(f"run {label} drifted: the machine's speed moved {drift['drift']:.0%} during it (sentinel)")
    return out


def speed_factor(a: Results, b: Results) -> float | None:
    """B's machine speed against A's: the sentinel toy's CPU per request, B's ÷ A's (over every reading)."""
    stages = ("start", "middle", "end")
    ta, tb = toy_us_during(a.drift or {}, stages), toy_us_during(b.drift or {}, stages)
    return tb / ta if ta and tb else None


def _row(scenario: str, metric: str, va: list, vb: list, better: str, threshold: float, note: str = "") -> dict | None:
    got = intervals.change(va, vb)
    if got is None:
        return None
    change, ci, p = got["change"], got["ci95"], got["p_value"]
    significant = p < ALPHA and abs(change) >= threshold and (ci[0] > 0 or ci[1] < 0)
    faster = change > 0 if better == "higher" else change < 0
    verdict = ("faster" if faster else "slower") if significant else "same"
    sa, sb = stats.spread(va), stats.spread(vb)
    return {
        "scenario": scenario,
        "metric": metric,
        "a": {"median": sa.median, "ci95": sa.median_ci95},
        "b": {"median": sb.median, "ci95": sb.median_ci95},
        "change_pct": 100 * change,
        "ci95_pct": [100 * ci[0], 100 * ci[1]],
        "p_value": p,
        "verdict": verdict,
        **({"note": note} if note else {}),
    }


def _cell(run) -> tuple:
    return (run.kind, run.server, run.protocol, run.model, run.batch, run.concurrency, run.mode)


def _name(key: tuple) -> str:
    kind, server, protocol, model, batch, conc, mode = key
    where = f"{server} {protocol}" + (f" {model} b{batch}" if model else "") + f" c{conc}"
    return where + (f" ({mode})" if mode else "") + ("" if kind in ("serve", "variant") else f" [{kind}]")


def machine_noise(a: Results, b: Results) -> float:
    """How far the machine itself moved during the two runs: the larger drift of their sentinels
    (max ÷ min − 1 of its readings, bench.run.sentinel). An absolute figure can move that much
    with no change of code; a paired ratio cannot."""
    return max((r.drift or {}).get("drift") or 0.0 for r in (a, b))


def rows(a: Results, b: Results, threshold: float, factor: float | None) -> list[dict]:
    """Absolute figures (req/s, CPU per request, capacity) are called changed only beyond the
    threshold and the machine's own drift during the runs; paired ratios beyond the threshold."""
    absolute = max(threshold, machine_noise(a, b))
    out = []
    cells_a, cells_b = _by_cell(a.runs), _by_cell(b.runs)
    for key in [k for k in cells_a if k in cells_b]:
        for metric, better in METRICS.items():
            va = [stats.metric(r, metric) for r in cells_a[key]]
            vb = [stats.metric(r, metric) for r in cells_b[key]]
            if factor:  # B at A's machine speed: a slower machine costs more CPU and answers fewer req/s
                vb = [None if v is None else (v / factor if better == "lower" else v * factor) for v in vb]
            row = _row(_name(key), metric, va, vb, better, absolute)
            out += [row] if row else []
    out += _ratio_rows(a, b, threshold)
    out += _capacity_rows(a, b, absolute, factor)
    return out


def _by_cell(runs) -> dict:
    out: dict = {}
    for run in runs:
        out.setdefault(_cell(run), []).append(run)
    return out


def _ratio_rows(a: Results, b: Results, threshold: float) -> list[dict]:
    """Each paired ratio of both runs (bench.analysis.pairs), compared by its per-repeat ratios."""
    out = []
    for name, axis, num, den in pairs.PAIRS:
        for ra in [r for r in a.ratios if r["ratio"] == name]:
            where = {k: ra[k] for k in stats.CELL if k in ra}
            if not any(r["ratio"] == name and all(r.get(k) == v for k, v in where.items()) for r in b.ratios):
                continue
            values = []
            for results in (a, b):
                mine, other = {**where, axis: num}, {**where, axis: den}
                per = intervals.paired_ratios(
                    stats.by_repeat(results.runs, "server_cpu_us_per_req", **mine),
                    stats.by_repeat(results.runs, "server_cpu_us_per_req", **other),
                )
                values.append(per)
            label = f"{name}: " + " ".join(str(v) for k, v in where.items() if k != axis)
            row = _row(label, "cpu_per_req_ratio", values[0], values[1], "lower", threshold, "paired ratio")
            out += [row] if row else []
    return out


def _capacity_rows(a: Results, b: Results, threshold: float, factor: float | None) -> list[dict]:
    """Capacity per core (normalised by each run's sentinel when both have one, else raw × the
    speed factor): one figure a run, its [pass, fail] bracket as its interval."""
    out = []
    for ca in a.capacity:
        cb = next(
            (
                c
                for c in b.capacity
                if (c.server, c.protocol, c.model, c.batch) == (ca.server, ca.protocol, ca.model, ca.batch)
            ),
            None,
        )
        if cb is None or not ca.capacity_rps_per_core or not cb.capacity_rps_per_core:
            continue
        both_normalised = ca.capacity_rps_per_core_normalised and cb.capacity_rps_per_core_normalised
        va = ca.capacity_rps_per_core_normalised if both_normalised else ca.capacity_rps_per_core
        vb = cb.capacity_rps_per_core_normalised if both_normalised else cb.capacity_rps_per_core * (factor or 1.0)
        change = vb / va - 1
        lo_a, hi_a = _bracket_per_core(ca, va)
        lo_b, hi_b = _bracket_per_core(cb, vb)
        ci = [lo_b / hi_a - 1, hi_b / lo_a - 1]
        significant = abs(change) >= threshold and (ci[0] > 0 or ci[1] < 0)
        out.append(
            {
                "scenario": f"capacity {ca.server} {ca.protocol}" + (f" {ca.model} b{ca.batch}" if ca.model else ""),
                "metric": "capacity_rps_per_core" + ("_normalised" if both_normalised else ""),
                "a": {"median": va, "ci95": [lo_a, hi_a]},
                "b": {"median": vb, "ci95": [lo_b, hi_b]},
                "change_pct": 100 * change,
                "ci95_pct": [100 * ci[0], 100 * ci[1]],
                "p_value": None,
                "verdict": ("faster" if change > 0 else "slower") if significant else "same",
                "note": "one search per run: the interval is its [pass, fail] bracket",
            }
        )
    return out


def _bracket_per_core(c, value: float) -> tuple[float, float]:
    if not c.capacity_rps_bracket or not c.capacity_rps:
        return value, value
    lo, hi = c.capacity_rps_bracket
    return value * lo / c.capacity_rps, value * hi / c.capacity_rps


def agreement(a: Results, b: Results) -> dict:
    """How far two runs agree, as issue 20's check reads it: how many ratios (results.json
    `ratios`, and the goals) have overlapping 95% intervals in both, and how many capacities per
    core normalised by the sentinels agree within 15%."""
    overlap, total = 0, 0
    for ra in a.ratios:
        key = (ra["ratio"], *(ra.get(k) for k in stats.CELL))
        rb = next((r for r in b.ratios if (r["ratio"], *(r.get(k) for k in stats.CELL)) == key), None)
        for field in ("cpu_per_req_ratio_ci95", "rps_ratio_ci95"):
            if rb is not None and ra.get(field) and rb.get(field):
                total += 1
                overlap += ra[field][0] <= rb[field][1] and rb[field][0] <= ra[field][1]
    goals_b = {g.key: g for g in b.goals}
    for ga in a.goals:
        gb = goals_b.get(ga.key)
        if gb is not None and ga.ci95 and gb.ci95:
            total += 1
            overlap += ga.ci95[0] <= gb.ci95[1] and gb.ci95[0] <= ga.ci95[1]
    within, capacities = 0, 0
    for ca in a.capacity:
        cb = next(
            (
                c
                for c in b.capacity
                if (c.server, c.protocol, c.model, c.batch) == (ca.server, ca.protocol, ca.model, ca.batch)
            ),
            None,
        )
        if cb is not None and ca.capacity_rps_per_core_normalised and cb.capacity_rps_per_core_normalised:
            capacities += 1
            within += abs(cb.capacity_rps_per_core_normalised / ca.capacity_rps_per_core_normalised - 1) <= 0.15
    return {
        "ratio_intervals_overlapping": overlap,
        "ratio_intervals": total,
        "capacities_normalised_within_15pct": within,
        "capacities_normalised": capacities,
    }


def compare(a: Results, b: Results, threshold_pct: float = 5.0, normalise: bool = False) -> dict:
    factor = speed_factor(a, b) if normalise else None
    return {
        "a": {"run_id": a.run_id, "profile": a.profile, "commit": a.environment.get("git", {}).get("commit")},
        "b": {"run_id": b.run_id, "profile": b.profile, "commit": b.environment.get("git", {}).get("commit")},
        "differences": differences(a, b),
        "notes": notes(a, b),
        "speed_factor": factor,
        "threshold_pct": threshold_pct,
        "absolute_threshold_pct": 100 * max(threshold_pct / 100, machine_noise(a, b)),
        "rows": rows(a, b, threshold_pct / 100, factor),
        "agreement": agreement(a, b),
    }
