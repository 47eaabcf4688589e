"""Each server against its framework's floor: the null server of its stack (bench/null), measured
in the same window, and server CPU per request = floor + the server's own phases (decode, tensor,
inference, encode, from its metrics) + the rest (what neither the bare stack nor the phases account
for: the adapter, admission, metrics, a framework on top of the host such as Flask).
"""

from __future__ import annotations

from bench.analysis import intervals, stats
from bench.analysis.breakdown import PHASES
from bench.analysis.goals import floor_server
from bench.results import Run, Scenario

# What each null server is the floor of, per transport.
STACKS = {
    ("null-granian", "http"): "granian RSGI (uvloop, HTTP/1.1): the Python HTTP host",
    ("null-grpcio", "grpc"): "grpcio, thread-pool server",
    ("null-grpcio-aio", "grpc"): "grpcio, asyncio server",
    ("toy-go", "http"): "Go net/http (the seed's toy handler)",
    ("toy-go", "grpc"): "grpc-go",
}


def floors(rows: list[Scenario], floors_of: dict) -> list[dict]:
    """Every null server measured (results.json `floors`): its figures per window, and the servers
    it is the floor of."""
    out = []
    for r in rows:
        if r.kind != "floor":
            continue
        transport = r.protocol.split("-")[0]
        cpu = r.server_cpu_us_per_req
        out.append(
            {
                "server": r.server,
                "stack": STACKS.get((r.server, transport), r.server),
                "protocol": r.protocol,
                "model": r.model,
                "batch": r.batch,
                "concurrency": r.concurrency,
                "floor_of": [s for s, by in floors_of.items() if by.get(transport) == r.server],
                "server_cpu_us_per_req": cpu.median,
                "server_cpu_us_per_req_ci95": cpu.median_ci95,
                "rps": r.rps.median,
                "rps_ci95": r.rps.median_ci95,
                "p99_ms": r.p99_ms.median,
                "client_bound": r.client_bound,
                "repeats": r.repeats,
            }
        )
    return out


def decomposition(runs: list[Run], rows: list[Scenario], floors_of: dict) -> list[dict]:
    """Per server and protocol with a floor in its window: server CPU per request, the floor, each
    phase, the rest, and the overhead above the floor (paired repeat by repeat, with its interval) —
    every figure from the repeats both the server and its floor have (a goal's pair may have more)."""
    out = []
    for row in rows:
        if row.kind not in ("serve", "variant"):
            continue
        null = floor_server(floors_of, row.server, row.protocol)
        cell = {k: getattr(row, k) for k in ("protocol", "model", "batch", "concurrency")}
        floor_row = stats.find(rows, kind="floor", server=null, **cell) if null else None
        if floor_row is None:
            continue
        own = stats.by_repeat(runs, "server_cpu_us_per_req", server=row.server, **cell)
        base = stats.by_repeat(runs, "server_cpu_us_per_req", server=null, **cell)
        both = sorted(set(own) & set(base))
        above = [own[r] - base[r] for r in both]
        cpu, floor = stats.spread(own[r] for r in both).median, stats.spread(base[r] for r in both).median
        mine = [r for r in runs if r.server == row.server and r.repeat in both and r.phases_us
                and all(getattr(r, k) == v for k, v in cell.items())]  # fmt: skip
        phases = {p: stats.spread(r.phases_us.get(p) for r in mine).median for p in PHASES}
        known = [v for v in phases.values() if v is not None]
        rest = cpu - floor - sum(known) if cpu is not None and floor is not None and len(known) == len(PHASES) else None
        ratio = intervals.ratio_summary(intervals.paired_ratios(own, base))
        out.append(
            {
                "server": row.server,
                **cell,
                "floor_server": null,
                "cpu_us": cpu,
                "floor_us": floor,
                **phases,
                "rest_us": rest,
                "above_floor_us": stats.spread(above).median,
                "above_floor_us_ci95": intervals.median_ci(above),
                "vs_floor": ratio[0],
                "vs_floor_ci95": ratio[1],
                "client_bound": row.client_bound or floor_row.client_bound,
            }
        )
    return out
