"""Serving overhead: server CPU per request ÷ the in-process time of the same work (decode, predict,
encode in the protocol's encoding), and what is above the floor ÷ the same."""

from __future__ import annotations

from bench.analysis import goals
from bench.report.format import CB, num, section, table
from bench.results import Inproc, Results, Scenario


def render(results: Results, conc: int | None) -> list[str]:
    return section(
        f"Serving overhead (server CPU per request ÷ in-process time of the same work, concurrency {conc})",
        [
            "In-process time: the work a server does for one request without the server, in each language, on the "
            "run's own request bodies, pinned to the server CPU (bench.run.inproc): the request's bytes decoded "
            "(protobuf for gRPC and HTTP protobuf, the JSON mapping for HTTP JSON), the core predict (validate, "
            "tensor, ONNX Runtime, shape), the answer encoded — Go's BenchmarkPredictWire, Python's codec and "
            "Predictor. Taken once before the windows (best of 3); the goals use timings taken inside their "
            "windows. Above floor = (server CPU − its floor) ÷ in-process.",
            "",
            *overhead_table(results.scenarios, results.inproc, conc, results.settings["floors"]["of"]),
            *[f"\nNote: {p}." for p in results.inproc.problems],
        ],
    )


def overhead_table(rows: list[Scenario], inproc: Inproc, conc: int | None, floors_of: dict) -> list[str]:
    data = goals.serving_overhead(rows, inproc, conc, floors_of)
    header = [
        "server",
        "protocol",
        "model",
        "batch",
        "server CPU µs/req",
        "in-process µs (work)",
        "overhead ×",
        "floor µs",
        "above floor ×",
        "flags",
    ]
    return table(
        header,
        [
            [
                d["server"],
                d["protocol"],
                d["model"],
                str(d["batch"]),
                num(d["cpu_us_per_req"]),
                f"{num(d['inproc_us'])} ({d['work']})",
                num(d["overhead"]),
                num(d["floor_us"]),
                num(d["above_floor_overhead"]),
                CB if d["client_bound"] else "",
            ]
            for d in data
        ],
    )
