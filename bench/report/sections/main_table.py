"""Every serve scenario: throughput, latency, server CPU per request, memory, flags."""

from __future__ import annotations

from bench.report.format import flags, num, section, shares_text, spread_text, table
from bench.results import Results, Scenario


def render(results: Results, conc: int | None) -> list[str]:
    return section("Main table", main_table(results.scenarios))


def main_table(rows: list[Scenario]) -> list[str]:
    body = []
    serve = [r for r in rows if r.kind == "serve"]
    fields = ("model", "batch", "protocol", "server", "concurrency")
    order = {f: {v: i for i, v in enumerate(dict.fromkeys(getattr(r, f) for r in serve))} for f in fields}
    serve.sort(key=lambda r: tuple(order[f][getattr(r, f)] for f in fields))  # the scenario file's order
    for r in serve:
        util = r.client_cpu_util.median
        body.append(
            [
                r.server,
                r.protocol,
                r.model,
                str(r.batch),
                str(r.concurrency),
                spread_text(r.rps),
                num(r.p50_ms.median, 2),
                num(r.p99_ms.median, 2),
                spread_text(r.server_cpu_us_per_req, 1),
                num(r.server_rss_mb.median, 0),
                "n/a" if util is None else num(100 * util, 0) + "%",
                shares_text(r.worker_cpu_share),
                flags(r),
            ]
        )
    return table(
        [
            "server",
            "protocol",
            "model",
            "batch",
            "conc",
            "req/s median [95% CI]",
            "p50 ms",
            "p99 ms",
            "server CPU µs/req median [95% CI]",
            "peak RSS MB",
            "client CPU",
            "worker CPU shares",
            "flags",
        ],
        body,
    )
