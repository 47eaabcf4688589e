"""The peers table: each server over the Open Inference Protocol (V2) — servebench's own two and
the peers (bench.run.peers), or any --target speaking V2 — beside servebench's own over predict.v1,
per model and batch: CPU per request, latency at concurrency 1 and 10, throughput, memory and
capacity at the SLO; and where servebench's servers stand against the best peer.

Read from the aggregated scenarios and the capacity sweeps, so the report, the console and
results.json agree.
"""

from __future__ import annotations

from bench.analysis import stats
from bench.results import Results, Scenario

V2 = ("v2-http", "v2-grpc")
PREDICT = ("http-json", "grpc")  # predict.v1's ways the table shows beside V2
OWN = ("python", "go")  # servebench's servers
LOW, HIGH = 1, 10  # the concurrencies the table reads (the nearest measured when absent)


def _peer_names(results: Results) -> set[str]:
    return set(((results.peers or {}).get("peers") or {}).keys())


def included(results: Results) -> bool:
    """Whether the run has anything for the table: a peer, or a V2 scenario."""
    return bool(_peer_names(results)) or any(r.kind == "serve" and r.protocol in V2 for r in results.scenarios)


def _nearest(measured: list[int], wanted: int) -> int | None:
    return min(measured, key=lambda c: (abs(c - wanted), c)) if measured else None


def rows(results: Results) -> list[dict]:
    """One row per server × protocol × model × batch: V2 for every server, predict.v1 for
    servebench's; figures at concurrency 1 and 10 (medians of the repeats)."""
    serve = [r for r in results.scenarios if r.kind == "serve" and (r.protocol in V2 or r.server in OWN)]
    serve = [r for r in serve if r.protocol in (*V2, *PREDICT)]
    by_key: dict[tuple, dict[int, Scenario]] = {}
    for r in serve:
        by_key.setdefault((r.server, r.protocol, r.model, r.batch), {})[r.concurrency] = r
    capacity = {(c.server, c.protocol, c.model, c.batch): c for c in results.capacity}
    for key in capacity:  # a capacity-only run's rows
        if key[1] in V2:
            by_key.setdefault(key, {})
    peers, out = _peer_names(results), []
    order = {s: i for i, s in enumerate(dict.fromkeys([*(r.server for r in serve), *(k[0] for k in by_key)]))}
    protocols = (*V2, *PREDICT)
    keys = sorted(by_key, key=lambda k: (k[2] or "", k[3] or 0, protocols.index(k[1]), order[k[0]]))
    for server, protocol, model, batch in keys:
        at = by_key[(server, protocol, model, batch)]
        low, high = at.get(_nearest(sorted(at), LOW)), at.get(_nearest(sorted(at), HIGH))
        cap = capacity.get((server, protocol, model, batch))
        info = results.servers.get(server)
        out.append(
            {
                "server": server,
                "kind": "peer" if server in peers else ("servebench" if server in OWN else "target"),
                "protocol": protocol,
                "model": model,
                "batch": batch,
                "cpu_us_per_req": stats.median_of(high, "server_cpu_us_per_req") if high else None,
                "cpu_us_per_req_c1": stats.median_of(low, "server_cpu_us_per_req") if low else None,
                "c1": low.concurrency if low else None,
                "c1_p50_ms": low.p50_ms.median if low else None,
                "c1_p99_ms": low.p99_ms.median if low else None,
                "c10": high.concurrency if high else None,
                "c10_rps": high.rps.median if high else None,
                "c10_p50_ms": high.p50_ms.median if high else None,
                "c10_p99_ms": high.p99_ms.median if high else None,
                "rss_mb": high.server_rss_mb.median if high else None,
                "capacity_rps": cap.capacity_rps if cap else None,
                "capacity_bound_by": cap.bound_by if cap else None,
                "capacity_per_core": cap.capacity_rps_per_core if cap else None,
                "client_side_only": info is not None and not info.managed and info.cpu_from is None,
                "flags": sorted({f for s in (low, high) if s for f in (["CB"] if s.client_bound else []) + _noisy(s)}),
            }
        )
    return out


def _noisy(s: Scenario) -> list[str]:
    return ["noisy"] if s.noisy_repeats else []


def standing(table: list[dict]) -> list[dict]:
    """For each servebench server, V2 protocol, model and batch: its figures ÷ the best peer's on the
    same protocol (CPU per request and p99 at concurrency 10: < 1 is better; capacity: > 1 is better)."""
    out = []
    for own in (r for r in table if r["kind"] == "servebench" and r["protocol"] in V2):
        same = [r for r in table if r["kind"] != "servebench" and _same_case(r, own)]
        if not same:
            continue
        out.append(
            {
                "server": own["server"],
                "protocol": own["protocol"],
                "model": own["model"],
                "batch": own["batch"],
                **_best_ratio("cpu", own, same, "cpu_us_per_req", min),
                **_best_ratio("p99", own, same, "c10_p99_ms", min),
                **_best_ratio("capacity", own, same, "capacity_rps", max),
            }
        )
        top = out[-1]["capacity_best_peer"]
        pair = [r for r in (own, *same) if r["server"] in (own["server"], top)]
        out[-1]["capacity_is_bound"] = any(r["capacity_bound_by"] == "unfinished" for r in pair)
    return out


def _same_case(row: dict, own: dict) -> bool:
    return (row["protocol"], row["model"], row["batch"]) == (own["protocol"], own["model"], own["batch"])


def _best_ratio(label: str, own: dict, peers: list[dict], key: str, best) -> dict:
    measured = [p for p in peers if p[key] is not None]
    if not measured or own[key] is None:
        return {f"{label}_best_peer": None, f"{label}_ratio": None}
    top = best(measured, key=lambda p: p[key])
    return {f"{label}_best_peer": top["server"], f"{label}_ratio": stats.ratio(own[key], top[key])}
