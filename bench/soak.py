"""python -m bench.soak: hold the four endpoints at a fraction of their measured capacity for a long
time and report what drifts — RSS growth, errors, p99 — per endpoint (`make soak`; not part of CI).

The capacity comes from the newest run with a capacity sweep of all four endpoints (python and go,
http-json and grpc), or from `--from DIR`; without one, the `capacity-iris` profile runs first. Each
endpoint gets its own server process (one protocol each, as in the sweep), all four on the server
CPUs, each capped by the kernel's CFS bandwidth control to an equal share of those CPUs; the offered
rate is `fraction` × the endpoint's capacity per core × its share. All four are driven at once by
the same open-loop generators as the capacity sweep, in windows, so that a window's p99 and RSS
can be compared with the first.

Writes results/soak-<id>/ (soak.json, soak.md, raw/ generator outputs) and results/soak-latest.
Exit status: 0 done (drift is reported, not judged by the status), 1 error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import glob
import json
import os
import sys
import time

from bench import config
from bench.analysis import stats
from bench.plan import Plan
from bench.report.format import num, table
from bench.run import loadgen, openloop, payloads, servers
from bench.run.capacity import capped
from bench.run.measure import tree_cpu
from bench.run.procs import Supervisor, cpu_list, interrupt_on_signals, tree_rss_mb
from bench.settings import Settings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENDPOINTS = (("python", "http-json"), ("python", "grpc"), ("go", "http-json"), ("go", "grpc"))
ATTENTION = {"rss_growth": 0.25, "p99_drift": 2.0, "error_share": 0.001}  # what the report points out


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0, help="how long to hold the load (default 10)")
    p.add_argument("--fraction", type=float, default=0.7, help="share of each endpoint's capacity (default 0.7)")
    p.add_argument("--window", type=float, default=30.0, help="seconds per measurement window (default 30)")
    p.add_argument("--from", dest="source", help="a results directory with a capacity sweep (default: newest)")
    p.add_argument("--out", default=os.path.join(REPO, "results"), help="results root")
    p.add_argument("--scenarios", default=os.path.join(REPO, "bench", "scenarios.yaml"))
    return p.parse_args(argv)


# A capacity the server itself set at the SLO (its CPU, its latency, or the cap's throttling of it),
# not one the generator, refusals or other processes set (bench.analysis.capacity.bound_by).
SERVER_CAPACITY = ("server", "latency", "throttling")


def find_capacity(root: str, source: str | None) -> tuple[str, dict] | None:
    """(results dir, {(server, protocol): capacity entry}) of `source` or of the newest run whose
    capacity sweep found a capacity the server set for all four endpoints; None if there is none."""
    candidates = [source] if source else sorted(glob.glob(os.path.join(root, "*", "results.json")), reverse=True)
    for path in candidates:
        path = os.path.join(path, "results.json") if os.path.isdir(path) else path
        try:
            with open(path, encoding="utf-8") as fh:
                items = json.load(fh).get("capacity", [])
        except (OSError, ValueError):
            continue
        found = {
            (c["server"], c["protocol"]): c
            for c in items
            if c.get("batch") == 1 and c.get("model") == "iris-logreg" and c.get("bound_by") in SERVER_CAPACITY
        }
        if all(e in found for e in ENDPOINTS):
            return os.path.dirname(path), found
    return None


def main(argv=None) -> int:
    args = parse_args(argv)
    found = find_capacity(args.out, args.source)
    if found is None:
        if args.source:
            print(f"soak: {args.source} has no server-bound capacity for all four endpoints", file=sys.stderr)
            return 1
        print("soak: no capacity sweep of the four endpoints yet: running the capacity-iris profile first", flush=True)
        from bench.__main__ import main as bench_main

        status = bench_main(["--profile", "capacity-iris", "--out", args.out])
        found = find_capacity(args.out, None) if status == 0 else None
        if found is None:
            print(
                "soak: the capacity-iris profile found no server-bound capacity for all four endpoints", file=sys.stderr
            )
            return 1
    source, capacity = found
    settings = Settings.from_json(config.load(args.scenarios, "capacity-iris"))
    server_cpus = cpu_list(os.environ.get("BENCH_SERVER_CPUS", "0"))
    client_cpus = cpu_list(os.environ.get("BENCH_CLIENT_CPUS", "1"))
    share = len(server_cpus) / len(ENDPOINTS)  # each server's CPU cap: the server CPUs split four ways
    quota_off = os.environ.get("BENCH_SERVER_CPU_QUOTA", "").strip().lower() == "none"
    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-soak"
    run_dir = os.path.join(args.out, run_id)
    for sub in ("raw", "logs", "bodies"):
        os.makedirs(os.path.join(run_dir, sub), exist_ok=True)
    go_bin = os.path.join(REPO, "go_service", "bin", "go_service")
    plan = Plan(
        settings=settings,
        profile="capacity",
        repo=REPO,
        run_dir=run_dir,
        models_dir=os.path.join(REPO, "models"),
        server_cpus=server_cpus,
        client_cpus=client_cpus,
        tools=loadgen.Tools.installed(REPO, os.path.join(REPO, ".tools", "bin"), os.path.dirname(go_bin)),
        go_bin=go_bin,
        toy_go_bin="",
        run_id=run_id,
        cpu_quota=None if quota_off else share,
    )
    rates = {
        e: {
            "rate": args.fraction * capacity[e]["capacity_rps_per_core"] * share,
            "capacity_rps_per_core": capacity[e]["capacity_rps_per_core"],
        }
        for e in ENDPOINTS
    }
    print(f"soak: {args.minutes:g} min at {args.fraction:.0%} of the capacity measured in {source}", flush=True)
    for (name, protocol), p in rates.items():
        print(f"soak:   {name}/{protocol}: {p['rate']:,.0f} req/s (each server capped to {share:g} CPU)", flush=True)
    interrupt_on_signals()
    os.sched_setaffinity(0, client_cpus)
    started = time.monotonic()
    try:
        windows = _hold(plan, rates, max(1, round(args.minutes * 60 / args.window)), args.window)
    except KeyboardInterrupt:
        print(f"soak: interrupted; servers stopped; partial output in {run_dir}", file=sys.stderr)
        return 130
    except (servers.ServerError, loadgen.LoadError) as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 1
    summary = summarize(windows, rates)
    doc = {
        "run_id": run_id,
        "capacity_from": os.path.relpath(source, args.out),
        "minutes": args.minutes,
        "fraction": args.fraction,
        "window_s": args.window,
        "cpu_share_per_server": plan.cpu_quota,
        "wall_s": time.monotonic() - started,
        "endpoints": [
            {"server": n, "protocol": p, **summary[(n, p)], "windows": windows[(n, p)]} for n, p in ENDPOINTS
        ],
    }
    with open(os.path.join(run_dir, "soak.json"), "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
    text = report(doc)
    with open(os.path.join(run_dir, "soak.md"), "w", encoding="utf-8") as fh:
        fh.write(text)
    link = os.path.join(args.out, "soak-latest")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(run_id, link)
    print(text)
    return 0


def _hold(plan: Plan, rates: dict, n_windows: int, window_s: float) -> dict[tuple[str, str], list[dict]]:
    """Every endpoint's server up in its own CPU cap, then all four driven at once, window after
    window; each endpoint's windows."""
    models = payloads.load_models(plan.models_dir, ["iris-logreg"])
    bodies = payloads.write_bodies(os.path.join(plan.run_dir, "bodies"), models, [1])
    windows: dict[tuple[str, str], list[dict]] = {e: [] for e in ENDPOINTS}
    # the caps are removed after the Supervisor has stopped the servers inside them
    with contextlib.ExitStack() as stack, Supervisor(plan.settings.stop_timeout_s) as sup:
        running = {}
        for name, protocol in ENDPOINTS:
            cap = stack.enter_context(
                capped(f"soak-{name}-{protocol}", plan.cpu_quota, plan.settings.capacity.cfs_period_us)
            )
            spec = servers.spec_for(plan, name, protocol)
            server = servers.start_planned(sup, plan, spec, f"soak-{name}-{protocol}", cap)
            address = server.endpoints[servers.transport(protocol)]
            running[(name, protocol)] = (server, openloop.Target(protocol, address, bodies[("iris-logreg", 1, "json")]))
        with concurrent.futures.ThreadPoolExecutor(len(ENDPOINTS)) as pool:
            for w in range(n_windows):
                jobs = {
                    e: pool.submit(_window, sup, plan, e, running[e], rates[e]["rate"], window_s, w) for e in ENDPOINTS
                }
                for e, job in jobs.items():
                    windows[e].append(job.result())
                line = "  ".join(
                    f"{n}/{p} p99 {num(windows[(n, p)][-1]['p99_ms'], 1)} ms rss "
                    f"{num(windows[(n, p)][-1]['rss_mb'], 0)} MB"
                    for n, p in ENDPOINTS
                )
                print(f"soak: window {w + 1}/{n_windows}: {line}", flush=True)
        for server, _ in running.values():
            server.stop(sup)
    return windows


def _window(sup, plan: Plan, endpoint, running, rate, seconds, w) -> dict:
    server, target = running
    name, protocol = endpoint
    c = plan.settings.capacity
    raw = os.path.join(plan.run_dir, "raw", openloop.raw_name(f"soak-{name}-{protocol}-w{w + 1:03d}", target, c))
    cpu_before = tree_cpu(server)
    result, usage, _ = openloop.run(
        sup, plan.tools, target, rate, seconds, c, plan.settings.request_timeout_s, plan.client_cpus, raw
    )
    cpu_after = tree_cpu(server)
    lat = stats.latency_summary(result.latencies_ms)
    return {
        "offered_rps": rate,
        "achieved_rps": result.ok / result.elapsed_s if result.elapsed_s > 0 else None,
        "requests": result.requests,
        "errors": result.errors,
        "error_kinds": result.error_kinds,
        "p50_ms": lat.p50,
        "p99_ms": lat.p99,
        "max_ms": lat.max,
        "rss_mb": tree_rss_mb(server.pid),
        "server_cpu_us_per_req": stats.per_request_us(
            None if cpu_before is None or cpu_after is None else cpu_after - cpu_before, result.ok
        ),
        "generator_cpu_util": stats.client_util(usage.cpu_s, usage.wall_s, len(plan.client_cpus)),
        "raw": os.path.relpath(raw + ".gz", plan.run_dir),
    }


def summarize(windows: dict, rates: dict) -> dict:
    out = {}
    for e, ws in windows.items():
        requests = sum(w["requests"] for w in ws)
        errors = sum(w["errors"] for w in ws)
        p99s = [w["p99_ms"] for w in ws if w["p99_ms"] is not None]
        rss = [w["rss_mb"] for w in ws if w["rss_mb"] is not None]
        first, last = (p99s[0], p99s[-1]) if p99s else (None, None)
        tail = p99s[len(p99s) // 2 :] or p99s
        head = p99s[: max(1, len(p99s) // 2)]
        drift = stats.ratio(stats.spread(tail).median, stats.spread(head).median) if p99s else None
        growth = stats.ratio(rss[-1] - rss[0], rss[0]) if len(rss) > 1 else None
        attention = []
        if growth is not None and growth > ATTENTION["rss_growth"]:
            attention.append(f"RSS grew {growth:.0%}")
        if drift is not None and drift > ATTENTION["p99_drift"]:
            attention.append(f"p99 of the second half {drift:.1f}× the first")
        if requests and errors / requests > ATTENTION["error_share"]:
            attention.append(f"{errors} errors")
        out[e] = {
            "offered_rps": rates[e]["rate"],
            "requests": requests,
            "errors": errors,
            "p99_first_ms": first,
            "p99_last_ms": last,
            "p99_median_ms": stats.spread(p99s).median if p99s else None,
            "p99_drift": drift,
            "rss_start_mb": rss[0] if rss else None,
            "rss_end_mb": rss[-1] if rss else None,
            "rss_growth": growth,
            "attention": attention,
        }
    return out


def report(doc: dict) -> str:
    share = doc["cpu_share_per_server"]
    lines = [
        f"# Soak {doc['run_id']}",
        "",
        f"{doc['minutes']:g} minutes, all four endpoints at once, each at {doc['fraction']:.0%} of its capacity per "
        f"core (from results/{doc['capacity_from']}) × its CPU share "
        f"({'no cap' if share is None else f'{share:g} CPU'}), open loop, measured in {doc['window_s']:g} s windows. "
        "p99 drift: median p99 of the second half of the windows ÷ that of the first half. "
        "RSS: the server's process tree after the first and the last window.",
        "",
    ]
    body = [
        [
            e["server"],
            e["protocol"],
            num(e["offered_rps"], 0),
            f"{e['requests']:,}",
            str(e["errors"]),
            num(e["p99_first_ms"], 2),
            num(e["p99_last_ms"], 2),
            num(e["p99_median_ms"], 2),
            "n/a" if e["p99_drift"] is None else f"{e['p99_drift']:.2f}×",
            num(e["rss_start_mb"], 1),
            num(e["rss_end_mb"], 1),
            "n/a" if e["rss_growth"] is None else f"{e['rss_growth']:+.1%}",
            "; ".join(e["attention"]) or "ok",
        ]
        for e in doc["endpoints"]
    ]
    header = [
        "server", "protocol", "req/s", "requests", "errors", "p99 first ms", "p99 last ms", "p99 median ms",
        "p99 drift", "RSS start MB", "RSS end MB", "RSS growth", "attention",
    ]  # fmt: skip
    return "\n".join(lines + table(header, body)) + "\n"


if __name__ == "__main__":
    sys.exit(main())
