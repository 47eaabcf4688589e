"""Each server against its framework's floor: the null servers measured, and server CPU per
request = floor + phases + the rest, with the overhead above the floor."""

from __future__ import annotations

from bench.analysis import breakdown, floors
from bench.report.format import CB, SCENARIO_HEADER, cells, ci_text, num, ratio_text, section, table
from bench.results import Results


def render(results: Results, conc: int | None) -> list[str]:
    return section("Against the framework's floor", _body(results))


def _body(results: Results) -> list[str]:
    if not results.floors:
        return ["(no floors measured in this run)"]
    lines = [
        "A floor is a null server of the same stack (bench/null; the seed's Go toy for Go), answering every "
        "predict call with a constant empty PredictResponse without parsing it, started and pinned like the "
        "servers and measured in the same windows (same body, concurrency and repeats, interleaved). Flask's "
        "floor is granian's: Flask runs on the same host as the lean adapter, so what Flask costs shows in the "
        "rest (Flask ÷ lean adapter in Ratios); the seed's toy Flask (werkzeug's development server) is another "
        "server, kept as the goals' baseline.",
        "",
        "### Floors",
        "",
    ]
    body = [
        [
            f["server"],
            f["stack"],
            f["protocol"],
            str(f["model"]),
            str(f["batch"]),
            str(f["concurrency"]),
            ci_text(f["server_cpu_us_per_req"], f["server_cpu_us_per_req_ci95"]),
            ci_text(f["rps"], f["rps_ci95"], 0),
            num(f["p99_ms"], 2),
            ", ".join(f["floor_of"]),
            CB if f["client_bound"] else "",
        ]
        for f in results.floors
    ]
    lines += table(
        [
            "null server",
            "stack",
            "protocol",
            "model (body)",
            "batch",
            "conc",
            "server CPU µs/req [95% CI]",
            "req/s",
            "p99 ms",
            "floor of",
            "flags",
        ],
        body,
    )
    rows = floors.decomposition(results.runs, results.scenarios, results.settings["floors"]["of"])
    lines += [
        "",
        "### Server CPU per request = floor + phases + rest",
        "",
        "Per endpoint, medians in µs per request at the floor's concurrency. Phases are the server's own "
        "histograms (wall time inside the server: above concurrency 1 a phase may include waiting for the CPU, "
        "so the rest can come out low). Rest = CPU − floor − phases: the adapter, admission, metrics and any "
        "framework over the host. Above floor = CPU − floor, paired repeat by repeat; ÷ floor likewise.",
        "",
    ]
    body = [
        [
            *cells(r),
            num(r["cpu_us"]),
            num(r["floor_us"]),
            *(num(r[p]) for p in ("decode", "tensor", "inference", "encode")),
            num(r["rest_us"]),
            ci_text(r["above_floor_us"], r["above_floor_us_ci95"]),
            ratio_text(r["vs_floor"], r["vs_floor_ci95"]),
            CB if r["client_bound"] else "",
        ]
        for r in rows
    ]
    return lines + table(
        [
            *SCENARIO_HEADER,
            "CPU µs/req",
            "floor",
            *breakdown.PHASES,
            "rest",
            "above floor [95% CI]",
            "÷ floor [95% CI]",
            "flags",
        ],
        body,
    )
