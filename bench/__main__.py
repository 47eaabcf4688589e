"""python -m bench: benchmark the Python and Go servers (HTTP via hey, gRPC via ghz) and write a report.
`python -m bench compare A B` compares two runs (bench.compare).

Configuration is read here only — bench/scenarios.yaml (a profile), command-line overrides, and the
BENCH_SERVER_CPUS / BENCH_CLIENT_CPUS environment variables — and passed on as values.
Exit status: 0 done, 1 error, 2 parity gate failed (nothing benchmarked), 130 interrupted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys

from bench import config
from bench.plan import Plan, estimate_s
from bench.report import console, markdown, plots
from bench.run import loadgen, parity, payloads, runner, servers, targets
from bench.run.procs import cpu_list, interrupt_on_signals
from bench.settings import Settings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _csv(kind):
    return lambda text: [kind(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="full", help="profile of the scenario file (quick, full)")
    p.add_argument("--scenarios", default=os.path.join(REPO, "bench", "scenarios.yaml"), help="scenario file")
    p.add_argument("--servers", type=_csv(str), help="comma-separated, e.g. python,go")
    p.add_argument("--protocols", type=_csv(str), help="comma-separated: " + ",".join(config.PROTOCOLS))
    p.add_argument("--models", type=_csv(str), help="comma-separated model names")
    p.add_argument("--concurrency", type=_csv(int), help="comma-separated, e.g. 1,10,50,100")
    p.add_argument("--batch", type=_csv(int), help="comma-separated rows per request, e.g. 1,32")
    p.add_argument("--duration", type=float, help="seconds of each timed run")
    p.add_argument("--warmup", type=float, help="seconds of the discarded warm-up before each timed run")
    p.add_argument("--repeats", type=int, help="timed runs per scenario and server (>= 3)")
    p.add_argument("--only", choices=("serve", "seed"), help="run only the servers' matrix or only the seed toys")
    p.add_argument("--no-seed", action="store_true", help="skip the seed toy servers")
    p.add_argument("--no-inproc", action="store_true", help="skip the in-process inference timings")
    p.add_argument("--out", default=os.path.join(REPO, "results"), help="results root (results/<run-id>/)")
    p.add_argument("--models-dir", default=os.path.join(REPO, "models"), help="model repository")
    for server in ("python", "go"):
        for proto in ("http", "grpc"):
            p.add_argument(f"--{server}-{proto}", metavar="ADDR", help=f"use a running {server} {proto} server")
    p.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME=PROTO://HOST:PORT",
        help="a running server to benchmark instead of starting one (repeatable); PROTO: "
        + ", ".join((*targets.PROTOCOLS, *targets.TRANSPORTS, targets.METRICS))
        + " (a transport: every protocol on it; metrics: its /metrics, by default on its HTTP address), "
        "e.g. go=grpc://h:50052 go=http-json://h:8080. Its CPU and memory come from its /metrics",
    )
    p.add_argument(
        "--server-pid",
        action="append",
        default=[],
        metavar="NAME=PID",
        help="pid of a running local target: its CPU and RSS from its process tree instead of its /metrics",
    )
    p.add_argument("--go-bin", default=os.path.join(REPO, "go_service", "bin", "go_service"))
    p.add_argument("--toy-go-bin", default=os.path.join(REPO, "bench", "toy", "go", "bin", "toy"))
    p.add_argument("--tools-dir", default=os.path.join(REPO, ".tools", "bin"), help="where hey and ghz are")
    p.add_argument(
        "--peers-dir",
        default=os.path.join(REPO, ".tools", "peers"),
        help="the peers' virtualenvs (`make peers`), for the peer servers of PROFILE=peers",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan and the time estimate, run nothing")
    return p.parse_args(argv)


def targets_from(args) -> tuple[dict[str, targets.TargetServer], dict[str, int]]:
    """The running servers given on the command line (name → endpoints and protocols) and their pids."""
    given = [  # --go-grpc ADDR and the like: every protocol of that listener
        targets.Target(server, protocol, getattr(args, f"{server}_{transport}"))
        for server in ("python", "go")
        for protocol, transport in targets.PROTOCOLS.items()
        if getattr(args, f"{server}_{transport}")
    ]
    given += [targets.parse(item) for item in args.target]
    pids = {}
    for item in args.server_pid:
        name, _, pid = item.partition("=")
        if not pid.isdigit():
            raise config.ScenarioError(f"--server-pid {item!r}: expected NAME=PID")
        pids[name] = int(pid)
    return targets.group(given), pids


def overrides_from(args, targets: dict) -> dict:
    out = {
        k: v
        for k, v in (
            ("servers", args.servers),
            ("models", args.models),
            ("batch", args.batch),
            ("duration_s", args.duration),
            ("warmup_s", args.warmup),
            ("repeats", args.repeats),
        )
        if v is not None
    }
    if targets and "servers" not in out:
        out["servers"] = list(targets)
    if args.no_seed:
        out["seed"] = {"enabled": False}
    if args.no_inproc:
        out["inproc"] = {"enabled": False}
    return out


def matrix_from(args, settings: dict) -> dict:
    """The profile's matrix narrowed by --protocols and --concurrency (validated like the file); a
    protocol a --target names (v2-http at a V2 server) that the matrix lacks is added, at the
    concurrencies of the matrix's first protocol on the same transport."""
    matrix = dict(settings["matrix"])
    named = [targets.parse(t).proto for t in args.target]
    for p in dict.fromkeys(n for n in named if n in targets.PROTOCOLS and n not in matrix):
        same = [c for q, c in matrix.items() if targets.PROTOCOLS.get(q) == targets.PROTOCOLS[p]]
        matrix[p] = list(same[0]) if same else [settings["reference_concurrency"]]
    if args.protocols is not None:
        unknown = [p for p in args.protocols if p not in config.PROTOCOLS]
        if unknown:
            raise config.ScenarioError(f"--protocols: {', '.join(unknown)} not one of {', '.join(config.PROTOCOLS)}")
        matrix = {p: matrix.get(p, [settings["reference_concurrency"]]) for p in args.protocols}
    if args.concurrency is not None:
        matrix = {p: list(args.concurrency) for p in matrix}
    return config.load_override(settings, {"matrix": matrix})


def cpu_quota_from(text: str | None, settings: Settings) -> float | None:
    """BENCH_SERVER_CPU_QUOTA ("none" for no cap, or CPUs, e.g. 0.25), else the settings' cpu_quota."""
    if text is None or not text.strip():
        return settings.capacity.cpu_quota
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"BENCH_SERVER_CPU_QUOTA={text!r}: expected a number of CPUs (e.g. 0.25) or none") from None
    if value <= 0:
        raise ValueError(f"BENCH_SERVER_CPU_QUOTA={text!r}: must be positive")
    return value


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["compare"]:  # python -m bench compare A B (bench.compare)
        from bench import compare

        return compare.main(args_list[1:])
    ui = console.Console()
    try:
        args = parse_args(argv)
        targets, pids = targets_from(args)
        settings = Settings.from_json(
            matrix_from(args, config.load(args.scenarios, args.profile, overrides_from(args, targets)))
        )
        cpu_quota = cpu_quota_from(os.environ.get("BENCH_SERVER_CPU_QUOTA"), settings)
        server_cpus = cpu_list(os.environ.get("BENCH_SERVER_CPUS", "0"))
        client_cpus = cpu_list(os.environ.get("BENCH_CLIENT_CPUS", "1"))
        available = os.sched_getaffinity(0)
        for var, cpus in (("BENCH_SERVER_CPUS", server_cpus), ("BENCH_CLIENT_CPUS", client_cpus)):
            if not set(cpus) <= available:
                raise ValueError(
                    f"{var}: CPUs {sorted(set(cpus) - available)} are not available (available: {sorted(available)})"
                )
    except (config.ScenarioError, ValueError) as exc:
        ui.error(str(exc))
        return 1
    if set(server_cpus) & set(client_cpus):
        ui.warn(f"server CPUs {server_cpus} and client CPUs {client_cpus} overlap: results will be unfair")
    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + f"-{args.profile}"
    tools = loadgen.Tools.installed(REPO, args.tools_dir, os.path.dirname(args.go_bin))
    plan = Plan(
        settings=settings,
        profile=args.profile,
        repo=REPO,
        run_dir=os.path.join(args.out, run_id),
        models_dir=args.models_dir,
        server_cpus=server_cpus,
        client_cpus=client_cpus,
        tools=tools,
        go_bin=args.go_bin,
        toy_go_bin=args.toy_go_bin,
        run_id=run_id,
        targets=targets,
        server_pids=pids,
        only=args.only,
        cpu_quota=cpu_quota,
        peers_dir=args.peers_dir,
    )
    est = estimate_s(plan)
    ui.estimate(est)
    if est["total_s"] > settings.budget_s:
        ui.warn(f"estimate {est['total_s']:.0f}s exceeds the profile's budget of {settings.budget_s:.0f}s")
    if args.dry_run:
        return 0
    missing = [p for p in (tools.hey, tools.ghz, tools.vegeta, tools.openloop) if not os.access(p, os.X_OK)]
    if missing:
        ui.error(f"load generator missing: {', '.join(missing)} (run `make tools build`)")
        return 1
    interrupt_on_signals()  # Ctrl-C, SIGTERM, SIGHUP: stop every child, exit 130
    os.sched_setaffinity(0, client_cpus)  # the bench's own work (sampling, parsing) stays off the server CPUs
    try:
        results = runner.run(plan, ui)
    except KeyboardInterrupt:
        ui.error(f"interrupted; every server and load generator was stopped; partial output in {plan.run_dir}")
        return 130
    except (servers.ServerError, loadgen.LoadError, payloads.ModelError, parity.GateFailed) as exc:
        ui.error(str(exc))
        return 1
    with open(os.path.join(plan.run_dir, "results.json"), "w", encoding="utf-8") as fh:
        json.dump(results.to_json(), fh, indent=1)
    if results.parity.ran and not results.parity.passed:
        failures = results.parity.failures
        more = f"\n  … and more: parity.failures in {plan.run_dir}/results.json" if len(failures) > 8 else ""
        ui.error(
            "parity gate failed — the servers do not answer alike, so nothing was benchmarked:\n  "
            + "\n  ".join(failures[:8])
            + more
        )
        return 2
    markdown.write(plan.run_dir, results)
    plots.write(plan.run_dir, results)
    _link_latest(args.out, run_id)
    ui.summary(results, os.path.relpath(plan.run_dir, os.getcwd()))
    ui.info(f"done in {results.wall_s:.0f}s (estimated {est['total_s']:.0f}s)")
    return 0


def _link_latest(root: str, run_id: str) -> None:
    tmp = os.path.join(root, ".latest.tmp")
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(run_id, tmp)
    os.replace(tmp, os.path.join(root, "latest"))


if __name__ == "__main__":
    sys.exit(main())
