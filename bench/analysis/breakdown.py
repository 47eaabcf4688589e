"""Why each figure is what it is: where a server's time goes per request (its own phase metrics
against its CPU per request), what each step from JSON over HTTP/1.1 to a protobuf stream over
HTTP/2 buys, and how the server stacks and the metrics themselves compare.

Phase times come from the servers' histograms (bench.run.scrape): wall-clock time inside the
server. Read at concurrency 1, a phase's wall time is its CPU time; under concurrency it also holds
time spent waiting for the CPU (or Python's GIL), which is why the breakdown is read at the lowest
concurrency measured.
"""

from __future__ import annotations

from bench.analysis import stats
from bench.analysis.goals import IMPL_OF, inproc_us
from bench.results import Inproc, Run, Scenario

PHASES = ("decode", "tensor", "inference", "encode")
# The in-process timing the inference phase is set against: Python's session.run alone; Go has
# none as narrow, its core Predict (validate, tensor, ORT, shape) is the nearest.
INFERENCE_WORK = {"python": "inference", "go": "core"}
# The encoding × transport ladder: each step changes one thing.
LADDER = (
    ("http-json", "JSON / HTTP/1.1"),
    ("http-protobuf", "protobuf / HTTP/1.1"),
    ("grpc", "protobuf / HTTP/2 unary"),
    ("grpc-stream", "protobuf / HTTP/2 stream"),
)


def _order(rows: list[Scenario], field: str) -> list:
    return list(dict.fromkeys(getattr(r, field) for r in rows))


def phases(rows: list[Scenario], inproc: Inproc) -> list[dict]:
    """Per server, protocol, model and batch, at the lowest concurrency measured: µs per request of
    each phase, the remainder of the server's CPU per request (framework, transport, scheduling),
    and the inference phase against the in-process floor."""
    serve = [r for r in rows if r.kind == "serve" and r.phases_us]
    out = []
    for key in dict.fromkeys((r.server, r.protocol, r.model, r.batch) for r in serve):
        candidates = [r for r in serve if (r.server, r.protocol, r.model, r.batch) == key]
        row = min(candidates, key=lambda r: r.concurrency)
        cpu = stats.median_of(row, "server_cpu_us_per_req")
        values = {p: row.phases_us[p].median if p in row.phases_us else None for p in PHASES}
        known = [v for v in values.values() if v is not None]
        remainder = cpu - sum(known) if cpu is not None and len(known) == len(PHASES) else None
        impl = IMPL_OF.get(row.server, "")
        floor = inproc_us(inproc, impl, row.model, row.batch, INFERENCE_WORK.get(impl, ""))
        out.append(
            {
                "server": row.server,
                "protocol": row.protocol,
                "model": row.model,
                "batch": row.batch,
                "concurrency": row.concurrency,
                "cpu_us": cpu,
                **values,
                "remainder": remainder,
                "inproc_us": floor,
                "inference_vs_inproc": stats.ratio(values["inference"], floor),
                "client_bound": row.client_bound,
            }
        )
    return out


def ladder(rows: list[Scenario], conc: int | None) -> list[dict]:
    """Per server, model and batch at concurrency `conc`: CPU per request and req/s on each rung of
    LADDER, and each rung's CPU per request relative to the rung before it."""
    serve = [r for r in rows if r.kind == "serve" and r.concurrency == conc]
    out = []
    for server in _order(serve, "server"):
        for model, batch in dict.fromkeys((r.model, r.batch) for r in serve if r.server == server):
            previous = None
            for protocol, label in LADDER:
                row = stats.find(serve, server=server, protocol=protocol, model=model, batch=batch)
                if row is None:
                    continue
                cpu = stats.median_of(row, "server_cpu_us_per_req")
                out.append(
                    {
                        "server": server,
                        "model": model,
                        "batch": batch,
                        "protocol": protocol,
                        "label": label,
                        "cpu_us": cpu,
                        "rps": stats.median_of(row, "rps"),
                        "p99_ms": stats.median_of(row, "p99_ms"),
                        "vs_previous": stats.ratio(cpu, previous),
                        "client_bound": row.client_bound,
                    }
                )
                previous = cpu
    return out


def variants(runs: list[Run], rows: list[Scenario]) -> list[dict]:
    """The stacks side by side (the variants' servers, in the windows they share with the matrix):
    CPU per request, req/s, p99 and each worker's CPU share, with each variant's CPU per request
    relative to its base server's default stack of the same window."""
    measured = [r for r in rows if r.kind in ("serve", "variant")]
    listed = {n for r in rows if r.kind == "variant" for n in (r.server, r.server.split("[")[0])}
    cells = {(r.protocol, r.model, r.batch, r.concurrency) for r in rows if r.kind == "variant"}
    rows = [r for r in measured if r.server in listed and (r.protocol, r.model, r.batch, r.concurrency) in cells]
    out = []
    for r in rows:
        base = stats.find(
            rows,
            server=r.server.split("[")[0],
            protocol=r.protocol,
            model=r.model,
            batch=r.batch,
            concurrency=r.concurrency,
        )
        cpu = stats.median_of(r, "server_cpu_us_per_req")
        cell = {k: getattr(r, k) for k in ("protocol", "model", "batch", "concurrency")}
        vs = {"ratio": None, "ratio_ci95": None}
        if base is not None and base is not r:
            vs = stats.paired(
                runs, "server_cpu_us_per_req", {"server": r.server, **cell}, {"server": base.server, **cell}
            )
        out.append(
            {
                "server": r.server,
                **cell,
                "cpu_us": cpu,
                "rps": stats.median_of(r, "rps"),
                "p99_ms": stats.median_of(r, "p99_ms"),
                "worker_shares": r.worker_cpu_share,
                "vs_default": vs["ratio"],
                "vs_default_ci95": vs["ratio_ci95"],
                "client_bound": r.client_bound,
                "errors": r.errors,
            }
        )
    return out
