"""Peers over the Open Inference Protocol: servebench's servers over V2 (and predict.v1) beside other
V2 servers — which version of each ran and how it was configured, the peers table, and where
servebench's servers stand against the best peer (bench.analysis.peers)."""

from __future__ import annotations

from bench.analysis import peers
from bench.report.format import num, ratio_text, section, table
from bench.results import Results


def render(results: Results, conc: int | None) -> list[str]:
    none = "(no peer and no V2 run in this run: `make bench PROFILE=peers`)"
    body = _body(results) if peers.included(results) else [none]
    return section("Peers over the Open Inference Protocol (V2)", body)


def _body(results: Results) -> list[str]:
    lines = _who(results)
    rows = peers.rows(results)
    quota = results.calibration.get("cpu_quota")
    capped = f"; in capacity sweeps alone, capped to {quota:g} CPU" if results.capacity and quota else ""
    lines += [
        "Every server started alike by the bench (pinned to the server CPUs, its whole process tree's CPU measured"
        f"{capped}) and driven by the same tools with the same rows: hey (V2 REST JSON, predict.v1 JSON) and ghz "
        "(ModelInfer, Predict) in closed loop, vegeta and openloop in open loop. CPU µs/req at the higher "
        "concurrency; capacity: the highest open-loop rate with p99 within the SLO (section *Capacity at an SLO*).",
        "",
    ]
    body = [
        [
            r["server"] + (" (client-side figures only)" if r["client_side_only"] else ""),
            r["protocol"],
            f"{r['model']} b{r['batch']}",
            num(r["cpu_us_per_req"], 0),
            f"{num(r['c1_p50_ms'], 2)} / {num(r['c1_p99_ms'], 2)}",
            num(r["c10_rps"], 0),
            f"{num(r['c10_p50_ms'], 2)} / {num(r['c10_p99_ms'], 2)}",
            _capacity(r),
            num(r["rss_mb"], 0),
            ", ".join(r["flags"]),
        ]
        for r in rows
    ]
    c1 = next((r["c1"] for r in rows if r["c1"]), peers.LOW)
    c10 = next((r["c10"] for r in rows if r["c10"]), peers.HIGH)
    header = [
        "server",
        "protocol",
        "model",
        "CPU µs/req",
        f"c={c1} p50 / p99 ms",
        f"c={c10} req/s",
        f"c={c10} p50 / p99 ms",
        "capacity req/s at SLO",
        "peak RSS MB",
        "flags",
    ]
    lines += table(header, body)
    return lines + ["", *_standing(rows)]


def _capacity(r: dict) -> str:
    if r["capacity_bound_by"] is None:
        return "-"
    if r["capacity_bound_by"] == "unfinished":
        return f"≥ {num(r['capacity_rps'], 0)} (no failing rate found)"
    if r["capacity_bound_by"] != "server":
        return f"{num(r['capacity_rps'], 0)} ({r['capacity_bound_by']}-bound)"
    return num(r["capacity_rps"], 0)


def _who(results: Results) -> list[str]:
    doc = results.peers or {}
    items = doc.get("peers") or {}
    if not items:
        return []
    own = (doc.get("servebench") or {}).get("version", "?")
    lines = [f"Peers (servebench {own} beside them), each in a virtualenv of its own (`make peers`):", ""]
    for name, p in items.items():
        versions = ", ".join(f"{k} {v}" for k, v in (p.get("versions") or {}).items()) or "not installed"
        config = "; ".join(f"{k}: {_text(v)}" for k, v in (p.get("config") or {}).items())
        lines.append(f"- **{name}** — {p.get('server')} ({versions}): {p.get('runtime')}. {config}")
    gate = results.parity
    estimator = ""
    if gate.estimator_servers and gate.estimator_max_abs_diff is not None:
        estimator = (
            f"; {', '.join(gate.estimator_servers)}, answering from the scikit-learn estimator: the same labels, "
            f"probabilities within {gate.estimator_max_abs_diff:.2g} of ONNX Runtime's (the export's parity "
            "tolerance, metadata.json, applies)"
        )
    lines += [
        "",
        f"Parity gate over V2 before anything was measured: {'passed' if gate.passed else 'FAILED'}, "
        f"{gate.answers_checked} answers; the ONNX servers' largest difference from ONNX Runtime here "
        f"{gate.max_abs_diff or 0:.2g}{estimator}.",
        "",
    ]
    return lines


def _text(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _versus(s: dict, label: str) -> str:
    best = s[f"{label}_best_peer"]
    bound = " (a bound: a search found no failing rate)" if label == "capacity" and s["capacity_is_bound"] else ""
    return f"{ratio_text(s[f'{label}_ratio'])} of {best}{bound}" if best else "n/a"


def _standing(rows: list[dict]) -> list[str]:
    standing = peers.standing(rows)
    if not standing:
        return []
    body = [
        [
            s["server"],
            s["protocol"],
            f"{s['model']} b{s['batch']}",
            _versus(s, "cpu"),
            _versus(s, "p99"),
            _versus(s, "capacity"),
        ]
        for s in standing
    ]
    return [
        "Where servebench stands: each of its servers over V2 ÷ the best peer on the same protocol "
        "(CPU per request and p99 at the higher concurrency: below 1× is better; capacity: above 1× is better).",
        "",
        *table(["server", "protocol", "model", "CPU µs/req", "p99", "capacity"], body),
        "",
    ]
