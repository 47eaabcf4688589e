"""report.md: the printer. Reads the Results only; computes nothing that is not in bench.analysis, so
every figure traces back to results.json and from there to raw/.
"""

from __future__ import annotations

import os

from bench.analysis import goals, stats
from bench.report import sections
from bench.report.format import CB, flags, num, ratio_text, shares_text, spread_text, table
from bench.results import Results, Scenario

_table, _ratio = table, ratio_text


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
    return _table(
        [
            "server",
            "protocol",
            "model",
            "batch",
            "conc",
            "req/s median (min–max)",
            "p50 ms",
            "p99 ms",
            "server CPU µs/req median (min–max)",
            "peak RSS MB",
            "client CPU",
            "worker CPU shares",
            "flags",
        ],
        body,
    )


def ratio_tables(rows: list[Scenario]) -> list[str]:
    out = ["### Go / Python (same protocol, model, batch, concurrency)", ""]
    go_py = stats.pair_ratios(rows, "server", "go", "python")
    out += _table(
        ["protocol", "model", "batch", "conc", "req/s Go÷Python", "CPU/req Go÷Python", "flags"],
        [
            [
                r["protocol"],
                r["model"],
                str(r["batch"]),
                str(r["concurrency"]),
                _ratio(r["rps_ratio"]),
                _ratio(r["cpu_per_req_ratio"]),
                CB if r["client_bound"] else "",
            ]
            for r in go_py
        ],
    )
    out += ["", "### gRPC / HTTP JSON (same server, model, batch, concurrency)", ""]
    g_h = stats.pair_ratios(rows, "protocol", "grpc", "http-json")
    out += _table(
        ["server", "model", "batch", "conc", "req/s gRPC÷HTTP", "CPU/req gRPC÷HTTP", "flags"],
        [
            [
                r["server"],
                r["model"],
                str(r["batch"]),
                str(r["concurrency"]),
                _ratio(r["rps_ratio"]),
                _ratio(r["cpu_per_req_ratio"]),
                CB if r["client_bound"] else "",
            ]
            for r in g_h
        ],
    )
    return out


def overhead_table(rows: list[Scenario], inproc, conc: int | None) -> list[str]:
    data = goals.serving_overhead(rows, inproc, conc)
    header = ["server", "protocol", "model", "batch", "server CPU µs/req", "in-process µs", "overhead ×", "flags"]
    return _table(
        header,
        [
            [
                d["server"],
                d["protocol"],
                d["model"],
                str(d["batch"]),
                num(d["cpu_us_per_req"]),
                num(d["inproc_us"]),
                num(d["overhead"]),
                CB if d["client_bound"] else "",
            ]
            for d in data
        ],
    )


def seed_section(rows: list[Scenario], settings: dict, conc: int | None) -> list[str]:
    claim = settings["seed"]["claim"]
    claim_ratio = claim["go_rps"] / claim["python_rps"]
    lines = [
        f"The seed post claimed: {claim['text']}, i.e. Go÷Python = {claim_ratio:.2f}×. Its servers answer a "
        "constant string (no model). Measured here with the same pinning as everything else:",
        "",
    ]
    body = []
    for toy, label, claimed in (
        ("toy-flask", "Flask development server (toy)", claim["python_rps"]),
        ("toy-go", "Go net/http (toy)", claim["go_rps"]),
    ):
        exact, timed = goals.seed_row(rows, toy, "exact"), goals.seed_row(rows, toy, "timed")
        body.append(
            [
                label,
                num(claimed, 0),
                spread_text(exact.rps) if exact else "n/a",
                spread_text(timed.rps) if timed else "n/a",
                num(stats.median_of(timed, "server_cpu_us_per_req")),
                num(stats.median_of(timed, "p99_ms"), 2),
                flags(timed) if timed else "",
            ]
        )
    ratios = []
    for mode in ("exact", "timed"):
        go, py = goals.seed_row(rows, "toy-go", mode), goals.seed_row(rows, "toy-flask", mode)
        ratios.append(_ratio(stats.ratio(stats.median_of(go, "rps"), stats.median_of(py, "rps"))))
    body.append(["Go ÷ Python", f"{claim_ratio:.2f}×", *ratios, "", "", ""])
    seed = settings["seed"]
    lines += _table(
        [
            "server",
            "post's claim req/s",
            f"hey -n {seed['requests']} -c {seed['concurrency']} req/s",
            f"hey -z {seed['duration_s']:g}s -c {seed['concurrency']} req/s",
            "CPU µs/req (timed)",
            "p99 ms (timed)",
            "flags",
        ],
        body,
    )
    lines += ["", f"Beside real inference (iris-logreg, batch 1, concurrency {conc}):", ""]
    real = []
    for server in ("python", "go"):
        for protocol in ("http", "grpc"):
            r = stats.find(
                rows, kind="serve", server=server, protocol=protocol, model="iris-logreg", batch=1, concurrency=conc
            )
            if r:
                real.append(
                    [
                        f"{server} {protocol}",
                        spread_text(r.rps),
                        num(stats.median_of(r, "server_cpu_us_per_req")),
                        num(stats.median_of(r, "p99_ms"), 2),
                        flags(r),
                    ]
                )
    lines += _table(["server", "req/s", "CPU µs/req", "p99 ms", "flags"], real) if real else ["(not measured)"]
    return lines


def goal_lines(results: Results) -> list[str]:
    out = []
    for g in results.goals:
        verdict = {True: "**met**", False: "**not met**", None: "not measured"}[g.met]
        cb = f" {CB}: a client-bound run is involved." if g.client_bound else ""
        out.append(
            f"- {g.text}: measured **{_ratio(g.measured_ratio)}** (goal {g.op} {g.limit:g}×) → {verdict}; "
            f"{g.detail}.{cb}"
        )
    return out


def build(results: Results) -> str:
    env, settings = results.environment, results.settings
    rows, inproc = results.scenarios, results.inproc
    conc = goals.reference_concurrency(rows, settings["reference_concurrency"])
    pin, v, gate = env["pinning"], env["versions"], results.parity
    lines = [
        f"# servebench report — {results.run_id} (profile {results.profile})",
        "",
        f"Machine: {env['cpu_model']}, {env['cpu_count']} CPUs, {env['os']}. Server pinned to CPUs "
        f"{pin['server_cpus']}, load generator to CPUs {pin['client_cpus']} (taskset). Commit "
        f"{(env['git']['commit'] or 'unknown')[:12]}{' (dirty tree)' if env['git']['dirty'] else ''}. "
        f"hey {v.get('hey')}, ghz {v.get('ghz')}, Python {v['python']}, {v.get('go')}, onnxruntime "
        f"{v.get('onnxruntime')}, grpcio {v.get('grpcio')}, grpc-go {v.get('grpc-go')}. "
        f"Each figure: median of {settings['repeats']} timed runs of {settings['duration_s']:g}s (min–max in "
        f"brackets), each after a discarded {settings['warmup_s']:g}s warm-up, implementations interleaved.",
        "",
        *_quality_warning(results.runs),
        f"**Read CPU per request first.** On a {env['cpu_count']}-core machine the server gets "
        f"{len(pin['server_cpus'])} CPU and the load generator {len(pin['client_cpus'])}; when the load "
        "generator saturates its CPU (marked CB: client CPU ≥ "
        f"{settings['client_bound_threshold']:.0%}), req/s measures the load generator, not the server. "
        "Server CPU time per request is the figure that compares the servers fairly here.",
        "",
        "## Parity gate",
        "",
        (
            f"Passed: {gate.answers_checked} answers from {', '.join(gate.endpoints)} on "
            f"{', '.join(gate.models)} agree with each other and with {gate.reference} (max |diff| "
            f"{gate.max_abs_diff:.3g}, tolerance {gate.tolerance:g})."
        )
        if gate.passed
        else ("Did not run (seed only)." if not gate.ran else "FAILED — see results.json."),
        "",
        f"## Goals (from scenarios.yaml, at concurrency {conc})",
        "",
        *goal_lines(results),
        "",
        "## Main table",
        "",
        *main_table(rows),
        "",
        "## Ratios",
        "",
        *ratio_tables(rows),
        "",
        f"## Encoding × transport (concurrency {conc})",
        "",
        *sections.ladder(results, conc),
        "",
        "## Where the server's time goes",
        "",
        *sections.phases(results),
        "",
        "## Capacity at an SLO",
        "",
        *sections.capacity(results),
        "",
        "## Stacks side by side (variants)",
        "",
        *sections.variants(results),
        "",
        f"## Serving overhead (server CPU per request ÷ in-process inference time, concurrency {conc})",
        "",
        "In-process time: Go's BenchmarkPredict (its core Predict: validate, tensor, ORT run, shape) for the Go "
        "server; onnxruntime session.run alone from Python for the Python server; same model file and batch, "
        "1 intra-op and 1 inter-op thread, pinned to the server CPU.",
        "",
        *overhead_table(rows, inproc, conc),
        *[f"\nNote: {p}." for p in inproc.problems],
        "",
        "## Seed replication",
        "",
        *seed_section(rows, settings, conc),
        "",
        "## Plots",
        "",
        "![throughput](throughput.png)",
        "",
        "![latency](latency.png)",
        "",
        "![CPU per request](cpu_per_request.png)",
        "",
        "![where the time goes](breakdown.png)",
        "",
        "![capacity: latency against throughput](capacity_latency.png)",
        "",
        "![capacity: server CPU against offered rate](capacity_cpu.png)",
        "",
        "## Method notes",
        "",
        "- Percentiles are nearest-rank over the successful answers of one timed run; hey's CSV has 0.1 ms "
        "resolution, ghz's nanoseconds. req/s = successful answers ÷ (first request start → last answer).",
        "- Server CPU = user + system time of the server's whole process tree (psutil), read before and after "
        "the timed run; peak RSS = largest sum of RSS over that tree (shared pages count once per process).",
        "- hey's CSV omits requests that got no HTTP answer (connection errors); ghz reports them as errors.",
        f"- grpc-stream: one ghz call is a PredictStream of {settings['stream_messages']} requests; req/s and CPU per "
        "request count requests (messages), latency is per stream.",
        "- Phase times are the servers' own histograms (wall clock inside the server); the breakdown reads them "
        "at the lowest concurrency measured, where they are also CPU time.",
        f"- The other server under test stays up, idle, on the same CPUs; the CPU it used during a timed run "
        f"was at most {num(_max_background(results.runs) * 1e3, 0)} ms (runs[].background_cpu_s).",
        "- psutil reads CPU time in clock ticks (10 ms), so CPU per request of short or slow runs is coarse.",
        f"- Other processes on the machine used a median {_share(results.runs, 'median')} and at most "
        f"{_share(results.runs, 'max')} of the server CPUs during timed runs (runs[].foreign_cpu_share); "
        f"repeats at or above {settings['noise_threshold']:.0%} are marked noisy.",
        "- Raw tool output of every timed run is in raw/ (gzipped), named in results.json (`runs[].raw`).",
        "",
    ]
    return "\n".join(lines)


def quality(runs) -> str | None:
    """A warning when some timed runs were disturbed by other processes or got no answer at all."""
    noisy = sum(1 for r in runs if r.noisy)
    failed = sum(1 for r in runs if r.no_answers)
    if not noisy and not failed:
        return None
    parts = [f"{noisy} of {len(runs)} timed runs were noisy (other processes used the server CPUs)"] if noisy else []
    parts += [f"{failed} got no answer at all"] if failed else []
    return "; ".join(parts) + ". Figures from those runs are marked; rerun on a quiet machine to compare."


def _quality_warning(runs) -> list[str]:
    text = quality(runs)
    return [f"**Warning:** {text}", ""] if text else []


def _share(runs, which: str) -> str:
    value = getattr(stats.spread(r.foreign_cpu_share for r in runs), which)
    return "n/a" if value is None else f"{value:.1%}"


def _max_background(runs) -> float:
    return max((r.background_cpu_s or 0.0 for r in runs), default=0.0)


def write(run_dir: str, results: Results) -> str:
    path = os.path.join(run_dir, "report.md")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(build(results))
    return path
