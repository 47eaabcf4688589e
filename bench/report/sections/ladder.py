"""Encoding × transport: one change per rung (JSON → protobuf, HTTP/1.1 → HTTP/2, unary → stream)."""

from __future__ import annotations

from bench.analysis import breakdown
from bench.report.format import CB, num, ratio_text, section, table
from bench.results import Results


def render(results: Results, conc: int | None) -> list[str]:
    return section(f"Encoding × transport (concurrency {conc})", _body(results, conc))


def _body(results: Results, conc: int | None) -> list[str]:
    rows = breakdown.ladder(results.scenarios, conc)
    if not rows:
        return ["(not measured)"]
    lines = [
        f"At concurrency {conc}, each rung changes one thing: the encoding (JSON → protobuf, both over HTTP/1.1), "
        "then the transport (HTTP/1.1 → HTTP/2, gRPC unary), then one stream carrying many requests "
        f'({results.settings["stream_messages"]} per stream: req/s counts messages). "× previous" is the server CPU '
        "per request relative to the rung above.",
        "",
    ]
    body = [
        [
            r["server"],
            r["model"],
            str(r["batch"]),
            r["label"],
            num(r["cpu_us"]),
            ratio_text(r["vs_previous"]),
            num(r["rps"], 0),
            num(r["p99_ms"], 2),
            CB if r["client_bound"] else "",
        ]
        for r in rows
    ]
    return lines + table(
        [
            "server",
            "model",
            "batch",
            "encoding / transport",
            "server CPU µs/req",
            "× previous",
            "req/s",
            "p99 ms",
            "flags",
        ],
        body,
    )
