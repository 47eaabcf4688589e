"""Figures derived from one run's scenarios: serving overhead, the seed comparison and the issue's targets.

All read the aggregated scenario rows (stats.aggregate) at the reference concurrency, so the report,
the terminal and results.json agree.
"""
from __future__ import annotations

from bench import stats

IMPL_OF = {"python": "python", "go": "go"}  # server → which in-process timing is its floor


def reference_concurrency(rows: list[dict], wanted: int) -> int | None:
    """The wanted concurrency if it was measured, else the nearest one measured."""
    measured = sorted({r["concurrency"] for r in rows if r["kind"] == "serve"})
    if not measured:
        return None
    return wanted if wanted in measured else min(measured, key=lambda c: (abs(c - wanted), c))


def inproc_us(inproc: dict, impl: str, model: str, batch: int) -> float | None:
    for t in inproc.get("timings", []):
        if (t["impl"], t["model"], t["batch"]) == (impl, model, batch):
            return t["us_per_run"]
    return None


def serving_overhead(rows: list[dict], inproc: dict, conc: int | None) -> list[dict]:
    """Server CPU per request ÷ in-process inference time of the same model and batch, per server and protocol."""
    out = []
    for row in rows:
        if row["kind"] != "serve" or row["concurrency"] != conc or row["server"] not in IMPL_OF:
            continue
        floor = inproc_us(inproc, IMPL_OF[row["server"]], row["model"], row["batch"])
        cpu = stats.median_of(row, "server_cpu_us_per_req")
        out.append({"server": row["server"], "protocol": row["protocol"], "model": row["model"],
                    "batch": row["batch"], "concurrency": conc, "cpu_us_per_req": cpu, "inproc_us": floor,
                    "overhead": stats.ratio(cpu, floor), "client_bound": row["client_bound"]})
    return out


def seed_row(rows: list[dict], toy: str, mode: str) -> dict | None:
    return stats.find(rows, kind="seed", server=toy, mode=mode)


def evaluate(rows: list[dict], inproc: dict, reference: int) -> list[dict]:
    """The three targets of the bench issue, each with its measured ratio and whether it is met."""
    conc = reference_concurrency(rows, reference)
    toy_go, toy_flask = seed_row(rows, "toy-go", "timed"), seed_row(rows, "toy-flask", "timed")
    out = []

    go_grpc = stats.find(rows, kind="serve", server="go", protocol="grpc", model="iris-logreg", batch=1,
                         concurrency=conc)
    r = stats.ratio(stats.median_of(go_grpc, "server_cpu_us_per_req"), stats.median_of(toy_go, "server_cpu_us_per_req"))
    out.append(_target("go-grpc-vs-toy-go",
                       "Go gRPC serving iris-logreg (batch 1) costs at most 2× the server CPU per request of the "
                       "seed's toy Go server", r, 2.0, "<=", f"concurrency {conc} vs toy at its timed run",
                       go_grpc, toy_go))

    py_http = stats.find(rows, kind="serve", server="python", protocol="http", model="iris-logreg", batch=1,
                         concurrency=conc)
    r = stats.ratio(stats.median_of(py_http, "server_cpu_us_per_req"),
                    stats.median_of(toy_flask, "server_cpu_us_per_req"))
    out.append(_target("python-http-vs-toy-flask",
                       "Python HTTP with real inference (production WSGI server) costs less server CPU per request "
                       "than the seed's toy Flask development server", r, 1.0, "<",
                       f"iris-logreg batch 1, concurrency {conc} vs toy at its timed run", py_http, toy_flask))

    for server in ("python", "go"):
        row = stats.find(rows, kind="serve", server=server, protocol="grpc", model="breast-cancer-rf", batch=32,
                         concurrency=conc)
        floor = inproc_us(inproc, IMPL_OF[server], "breast-cancer-rf", 32)
        r = stats.ratio(stats.median_of(row, "server_cpu_us_per_req"), floor)
        out.append(_target(f"{server}-grpc-rf32-vs-inproc",
                           f"{server} gRPC, breast-cancer-rf batch 32: server CPU per request within 1.5× of the "
                           f"in-process inference time of the same batch", r, 1.5, "<=",
                           f"concurrency {conc}; in-process {_fmt(floor)} µs ({server})", row))
    return out


def _target(key: str, text: str, measured: float | None, limit: float, op: str, detail: str, *rows) -> dict:
    met = None if measured is None else (measured <= limit if op == "<=" else measured < limit)
    return {"key": key, "text": text, "measured_ratio": measured, "limit": limit, "op": op, "met": met,
            "client_bound": any(r is not None and r["client_bound"] for r in rows),
            "detail": detail if measured is not None else detail + " — not measured in this run"}


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}"
