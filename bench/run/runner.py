"""The run: servers up → parity gate → in-process timings → scenario matrix → seed toys → Results.

Only measuring happens here; printing is the caller's `ui` (bench.report.console), writing the
report and plots is bench.report. Everything the run needs arrives in a Plan built by __main__;
what it measured leaves as one `Results` (bench.results).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import sys
import time
from dataclasses import dataclass, field

from bench.analysis import goals, stats
from bench.results import Inproc, InprocTiming, Parity, Results, Run, ServerInfo
from bench.run import capacity, environment, inproc, loadgen, parity, payloads, servers
from bench.run.measure import measure_run
from bench.run.procs import Supervisor

SEED_TOYS = ("toy-flask", "toy-go")
SEED_EXACT_S = 1.0  # budget guess for the post's fixed-count run (hey -n 1000 -c 10)
FIXED_S = {"servers": 8.0, "parity": 3.0, "go_build": 15.0, "report": 8.0}


@dataclass
class Plan:
    settings: dict
    profile: str
    repo: str
    run_dir: str
    models_dir: str
    server_cpus: list[int]
    client_cpus: list[int]
    tools: loadgen.Tools
    go_bin: str
    toy_go_bin: str
    run_id: str = ""
    targets: dict[str, dict[str, str]] = field(default_factory=dict)  # server → protocol → address
    server_pids: dict[str, int] = field(default_factory=dict)
    only: str | None = None  # "serve", "seed" or None for both
    cpu_quota: float | None = None  # the capacity sweeps' server CPU cap (None: no cap)

    def stage(self, name: str) -> bool:
        """Whether this run does a stage of settings["stages"] (narrowed by --only)."""
        if name not in self.settings["stages"]:
            return False
        if self.only == "serve":
            return name in ("matrix", "variants")
        if self.only == "seed":
            return name == "seed"
        return name != "variants" or self.settings["variants"]["enabled"]


def matrix_runs(servers_: list[str], matrix: dict, models: list[str], batches: list[int], repeats: int) -> int:
    return len(servers_) * sum(len(c) for c in matrix.values()) * len(models) * len(batches) * repeats


def variant_runs(v: dict, repeats: int) -> int:
    """Timed runs of the variants stage (a variant listed in protocols_of runs those protocols only)."""
    n = 0
    for name in v["servers"]:
        protocols = [p for p in v["matrix"] if p in v["protocols_of"].get(name, v["matrix"])]
        n += sum(len(v["matrix"][p]) for p in protocols) * len(v["models"]) * len(v["batch"]) * repeats
    return n


CAPACITY_POINTS_GUESS = 10  # points a sweep usually takes (the search's own count varies)


def estimate_s(plan: Plan) -> dict[str, float]:
    """Up-front time estimate from the matrix size and the durations (printed before the run starts)."""
    s = plan.settings
    per_run = s["warmup_s"] + s["duration_s"] + 2 * s["run_overhead_s"]
    out: dict[str, float] = {"runs": 0}
    if plan.stage("matrix"):
        n_runs = matrix_runs(s["servers"], s["matrix"], s["models"], s["batch"], s["repeats"])
        out["runs"] += n_runs
        out["matrix_s"] = n_runs * per_run
        if s["inproc"]["enabled"]:
            per_model = (inproc.GO_BENCH_COUNT + 2) * _seconds(s["inproc"]["go_benchtime"]) + 6 * s["inproc"][
                "python_min_time_s"
            ]
            out["inproc_s"] = len(s["models"]) * len(s["batch"]) * per_model + FIXED_S["go_build"]
        out["setup_s"] = FIXED_S["servers"] + FIXED_S["parity"]
    variants = s["variants"]
    if plan.stage("variants"):
        n = variant_runs(variants, s["repeats"])
        out["runs"] += n
        out["variants_s"] = n * per_run + FIXED_S["servers"] * len(variants["servers"]) / 2
    seed = s["seed"]
    if plan.stage("seed") and seed["enabled"]:
        per_toy = 2 * (s["warmup_s"] + 2 * s["run_overhead_s"]) + SEED_EXACT_S + seed["duration_s"]
        out["seed_s"] = len(SEED_TOYS) * seed["repeats"] * per_toy + FIXED_S["servers"]
    if plan.stage("capacity"):
        c = s["capacity"]
        # a point lasts point_duration_s, longer at low rates (point_min_requests): a third of the way
        timed = c["point_duration_s"] + max(0.0, c["point_max_duration_s"] - c["point_duration_s"]) / 3
        per_point = 2 * c["point_warmup_s"] + timed + 4 * s["run_overhead_s"]
        sweeps = len(c["servers"]) * len(c["protocols"]) * len(c["models"]) * len(c["batch"]) + len(c["toys"])
        points = min(c["max_points"], CAPACITY_POINTS_GUESS) + 1
        extra = (len(c["protocols"]) * len(c["servers"]) if c["floor"] else 0) + (2 if c["calibrate_cap"] else 0)
        out["capacity_s"] = sweeps * (points * per_point + FIXED_S["servers"] / 2) + extra * (per_point + 3)
    out["report_s"] = FIXED_S["report"]
    out["total_s"] = sum(v for k, v in out.items() if k.endswith("_s"))
    return out


def _seconds(go_duration: str) -> float:
    """Seconds of a Go duration ("500ms", "1m30s"); an iteration count ("100x") is guessed at 0.5 s."""
    if go_duration.endswith("x"):
        return 0.5
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", go_duration))


def transport(protocol: str) -> str:
    """The listener a protocol uses: "http" (http-json, http-protobuf) or "grpc" (grpc, grpc-stream)."""
    return protocol.split("-")[0]


def service_spec(plan: Plan, name: str, transports: tuple[str, ...]) -> servers.ServerSpec:
    """How the bench starts a server or a variant of one (BASE[NAME]: BASE plus the variant's flags)."""
    s, n = plan.settings, len(plan.server_cpus)
    base = name.split("[")[0]
    variant = s["server_variants"].get(name, [])
    metrics = [] if "--metrics=false" in variant else ["--metrics-addr", "127.0.0.1:0"]
    flags = [
        "--intra-op-threads",
        "1",
        "--inter-op-threads",
        "1",
        "--max-inflight",
        str(s["server_max_inflight"]),
        *metrics,
        *variant,
    ]
    if base == "python":
        return servers.python_spec(transports, plan.models_dir, *flags, workers=n, name=name)
    if base == "go":
        return servers.go_spec(transports, plan.models_dir, *flags, gomaxprocs=n, go_bin=plan.go_bin, name=name)
    raise servers.ServerError(f"no built-in way to start server {name!r}; give its address with --target")


def start_servers(
    sup: Supervisor, plan: Plan, ui, names: list[str], matrix: dict, protocols_of: dict | None = None
) -> dict[str, servers.Server]:
    """Each server up on the transports of the matrix (or of protocols_of[name], where given)."""
    s, started = plan.settings, {}
    for name in names:
        protocols = [p for p in matrix if p in (protocols_of or {}).get(name, matrix)]
        transports = tuple(sorted({transport(p) for p in protocols}))
        if name in plan.targets:
            eps = {p: a for p, a in plan.targets[name].items() if p in transports}
            started[name] = servers.Server(name, eps, plan.server_pids.get(name), managed=False)
            started[name].wait_ready(s["startup_timeout_s"])
            ui.info(
                f"{name}: using the running server at {eps}"
                + ("" if name in plan.server_pids else " (server CPU and RSS unavailable: no --server-pid)")
            )
            continue
        spec = service_spec(plan, name, transports)
        ui.info(f"starting {name} on CPUs {plan.server_cpus}: {' '.join(spec.argv)}")
        log = os.path.join(plan.run_dir, "logs", f"{_file_name(name)}.log")
        started[name] = servers.start(sup, spec, plan.server_cpus, log, s["startup_timeout_s"])
        ui.info(f"{name} ready: {started[name].endpoints}")
    return started


def _file_name(name: str) -> str:
    return name.replace("[", "-").replace("]", "")


def in_process(sup: Supervisor, plan: Plan, ui) -> Inproc:
    s = plan.settings
    raw = os.path.join(plan.run_dir, "raw")
    all_cpus = sorted(set(plan.server_cpus) | set(plan.client_cpus))
    out = Inproc()
    if not s["inproc"]["enabled"]:
        return out
    ui.info("in-process inference time: Go core benchmark and onnxruntime from Python, pinned to the server CPUs")
    env = {"GOMAXPROCS": str(len(plan.server_cpus))}
    go, problem = inproc.go_timings(
        sup,
        os.path.join(plan.repo, "go_service"),
        s["models"],
        s["batch"],
        s["inproc"]["go_benchtime"],
        plan.server_cpus,
        all_cpus,
        env,
        raw,
    )
    py, problem_py = inproc.python_timings(
        sup, plan.models_dir, s["models"], s["batch"], s["inproc"]["python_min_time_s"], plan.server_cpus, raw
    )
    for impl, timings in (("go", go), ("python", py)):
        out.timings += [InprocTiming(impl, m, b, us) for (m, b), us in timings.items()]
    out.problems = [p for p in (problem, problem_py) if p]
    for p in out.problems:
        ui.warn(p)
    return out


def _load_argv(plan: Plan, protocol: str, address: str, conc: int, bodies: dict, model: str, batch: int):
    """(tool, messages per tool request, duration → argv) for one endpoint and scenario."""
    s, tools, n_client = plan.settings, plan.tools, len(plan.client_cpus)
    if protocol.startswith("http"):
        protobuf = protocol == "http-protobuf"
        body = bodies[(model, batch, "protobuf" if protobuf else "json")]
        return (
            "hey",
            1,
            lambda d: loadgen.hey_argv(
                tools.hey,
                f"http://{address}/v1/predict",
                concurrency=conc,
                n_cpus=n_client,
                timeout_s=s["request_timeout_s"],
                duration_s=d,
                body=body,
                protobuf=protobuf,
            ),
        )
    stream = s["stream_messages"] if protocol == "grpc-stream" else None
    connections = max(s["ghz_connections"], len(plan.server_cpus))  # ≥ 1 per worker: SO_REUSEPORT spreads them
    return (
        "ghz",
        stream or 1,
        lambda d: loadgen.ghz_argv(
            tools,
            address,
            concurrency=conc,
            n_cpus=n_client,
            timeout_s=s["request_timeout_s"],
            duration_s=d,
            body=bodies[(model, batch, "json")],
            connections=min(connections, conc),
            stream_messages=stream,
        ),
    )


def serve_matrix(
    sup: Supervisor,
    plan: Plan,
    running: dict[str, servers.Server],
    bodies: dict,
    ui,
    *,
    kind: str,
    models: list[str],
    batches: list[int],
    matrix: dict,
) -> list[Run]:
    s, runs = plan.settings, []
    pairs = [(protocol, conc) for protocol, concurrencies in matrix.items() for conc in concurrencies]
    for model, batch, (protocol, conc) in itertools.product(models, batches, pairs):
        for repeat in range(1, s["repeats"] + 1):
            for name, server in running.items():  # implementations interleaved: A B A B …
                address = server.endpoints.get(transport(protocol))
                if address is None:
                    continue
                tool, messages, argv = _load_argv(plan, protocol, address, conc, bodies, model, batch)
                labels = {
                    "kind": kind,
                    "server": name,
                    "protocol": protocol,
                    "model": model,
                    "batch": batch,
                    "concurrency": conc,
                    "repeat": repeat,
                    "mode": None,
                    "duration_s": s["duration_s"],
                }
                raw = os.path.join(
                    plan.run_dir,
                    "raw",
                    f"{_file_name(name)}-{protocol}-{model}-b{batch}-c{conc}-"
                    f"r{repeat}." + ("csv" if tool == "hey" else "json"),
                )
                others = [o for o in running.values() if o is not server]
                warm = argv(s["warmup_s"]) if s["warmup_s"] > 0 else None
                record = measure_run(
                    sup,
                    server,
                    others,
                    tool,
                    warm,
                    argv(s["duration_s"]),
                    raw,
                    (plan.server_cpus, plan.client_cpus),
                    s,
                    labels,
                    messages,
                )
                runs.append(record)
                ui.advance(record)
    return runs


def _gate(sup, plan, ui, running, models, batches) -> Parity:
    """The parity gate over every way into every running server."""
    s = plan.settings
    endpoints = [
        (n, p, r.endpoints[transport(p)]) for n, r in running.items() for p in parity.ASK if transport(p) in r.endpoints
    ]
    ui.info(f"parity gate: {len(endpoints)} endpoint(s) × {len(models)} model(s)")
    gate = parity.run_gate(endpoints, models, batches, s["parity"]["rows"], s["parity"]["tolerance"])
    if gate.passed:
        ui.info(f"parity gate passed: {gate.answers_checked} answers, max |diff| {gate.max_abs_diff:.3g}")
    return gate


def seed_runs(sup: Supervisor, plan: Plan, ui) -> tuple[list[Run], dict[str, servers.Server]]:
    """The seed post's toys: its exact command (hey -n 1000 -c 10) and a longer timed run, interleaved."""
    s, seed, runs = plan.settings, plan.settings["seed"], []
    toys = {}
    try:
        for name in SEED_TOYS:
            spec = servers.toy_spec(name, plan.toy_go_bin)
            log = os.path.join(plan.run_dir, "logs", f"{name}.log")
            toys[name] = servers.start(sup, spec, plan.server_cpus, log, s["startup_timeout_s"])
            ui.info(f"seed toy {name} ready: {toys[name].endpoints['http']}")
        for repeat, mode in itertools.product(range(1, seed["repeats"] + 1), ("exact", "timed")):
            for name, toy in toys.items():
                url = f"http://{toy.endpoints['http']}/predict"
                common = dict(
                    concurrency=seed["concurrency"], n_cpus=len(plan.client_cpus), timeout_s=s["request_timeout_s"]
                )
                warm = (
                    loadgen.hey_argv(plan.tools.hey, url, duration_s=s["warmup_s"], **common)
                    if s["warmup_s"] > 0
                    else None
                )
                if mode == "exact":
                    argv = loadgen.hey_argv(plan.tools.hey, url, requests=seed["requests"], **common)
                else:
                    argv = loadgen.hey_argv(plan.tools.hey, url, duration_s=seed["duration_s"], **common)
                labels = {
                    "kind": "seed",
                    "server": name,
                    "protocol": "http",
                    "model": None,
                    "batch": None,
                    "concurrency": seed["concurrency"],
                    "repeat": repeat,
                    "mode": mode,
                    "duration_s": seed["duration_s"] if mode == "timed" else None,
                }
                raw = os.path.join(plan.run_dir, "raw", f"seed-{name}-{mode}-r{repeat}.csv")
                others = [o for o in toys.values() if o is not toy]
                record = measure_run(
                    sup, toy, others, "hey", warm, argv, raw, (plan.server_cpus, plan.client_cpus), s, labels
                )
                runs.append(record)
                ui.advance(record)
    finally:
        for toy in toys.values():
            toy.stop(sup)
    return runs, toys


def run(plan: Plan, ui) -> Results:
    """Measure everything the plan asks for; the Results (with environment, scenarios and goals)."""
    s = plan.settings
    for sub in ("raw", "logs", "bodies"):
        os.makedirs(os.path.join(plan.run_dir, sub), exist_ok=True)
    results = Results(
        run_id=plan.run_id,
        profile=plan.profile,
        command=sys.argv,
        started_at=_now(),
        finished_at="",
        estimate=estimate_s(plan),
        environment={},
        settings=s,
    )
    started = time.monotonic()
    variants, c = s["variants"], s["capacity"]
    with Supervisor(s["stop_timeout_s"]) as sup:
        wanted = [
            (s["models"], s["batch"], "matrix"),
            (variants["models"], variants["batch"], "variants"),
            (c["models"], c["batch"], "capacity"),
        ]
        names = sorted({m for ms, _, stage in wanted if plan.stage(stage) for m in ms})
        batches = sorted({b for _, bs, stage in wanted if plan.stage(stage) for b in bs})
        models = payloads.load_models(plan.models_dir, names) if names else {}
        bodies = payloads.write_bodies(os.path.join(plan.run_dir, "bodies"), models, batches) if names else {}
        ui.start_progress(_progress_total(plan))
        if plan.stage("matrix"):
            running = start_servers(sup, plan, ui, s["servers"], s["matrix"])
            results.parity = _gate(sup, plan, ui, running, {m: models[m] for m in s["models"]}, s["batch"])
            if not results.parity.passed:
                results.servers = _describe(running, plan.run_dir)
                ui.finish_progress()
                return _finish(results, plan, started)
            results.inproc = in_process(sup, plan, ui)
            results.runs += serve_matrix(
                sup, plan, running, bodies, ui, kind="serve", models=s["models"], batches=s["batch"], matrix=s["matrix"]
            )
            for server in running.values():
                server.stop(sup)
            results.servers.update(_describe(running, plan.run_dir))
        if plan.stage("variants"):
            results.runs += run_variants(sup, plan, ui, models, bodies, results)
        if plan.stage("seed") and s["seed"]["enabled"]:
            seed, toys = seed_runs(sup, plan, ui)
            results.runs += seed
            results.servers.update(_describe(toys, plan.run_dir))
        ui.finish_progress()
        if plan.stage("capacity") and not plan.stage("matrix"):  # a capacity-only run is gated too
            running = start_servers(sup, plan, ui, c["servers"], {p: [1] for p in c["protocols"]})
            try:
                results.parity = _gate(sup, plan, ui, running, {m: models[m] for m in c["models"]}, c["batch"])
            finally:
                for server in running.values():
                    server.stop(sup)
            if not results.parity.passed:
                return _finish(results, plan, started)
        if plan.stage("capacity"):
            results.capacity, results.calibration = capacity.run(sup, plan, ui, bodies)
    return _finish(results, plan, started)


def _progress_total(plan: Plan) -> int:
    s, v = plan.settings, plan.settings["variants"]
    total = _seed_count(plan)
    if plan.stage("matrix"):
        total += matrix_runs(s["servers"], s["matrix"], s["models"], s["batch"], s["repeats"])
    if plan.stage("variants"):
        total += variant_runs(v, s["repeats"])
    return total


def run_variants(sup, plan: Plan, ui, models, bodies, results: Results) -> list[Run]:
    """The stacks side by side: every variant up at once, gated, then the small matrix interleaved."""
    v = plan.settings["variants"]
    running = start_servers(sup, plan, ui, v["servers"], v["matrix"], v["protocols_of"])
    try:
        gate = _gate(sup, plan, ui, running, {m: models[m] for m in v["models"]}, v["batch"])
        if not gate.passed:
            raise parity.GateFailed("variants: " + "; ".join(gate.failures[:5]))
        return serve_matrix(
            sup, plan, running, bodies, ui, kind="variant", models=v["models"], batches=v["batch"], matrix=v["matrix"]
        )
    finally:
        for server in running.values():
            server.stop(sup)
        results.servers.update({f"variant {n}": i for n, i in _describe(running, plan.run_dir).items()})


def _finish(results: Results, plan: Plan, started: float) -> Results:
    s = plan.settings
    results.wall_s = time.monotonic() - started
    results.finished_at = _now()
    pinning = {
        "server_cpus": plan.server_cpus,
        "client_cpus": plan.client_cpus,
        "python_workers": len(plan.server_cpus),
        "go_gomaxprocs": len(plan.server_cpus),
        "tool_cpus": len(plan.client_cpus),
    }
    tools = {"hey": plan.tools.hey, "ghz": plan.tools.ghz}
    results.environment = environment.collect(plan.repo, tools, pinning)
    results.scenarios = stats.aggregate(results.runs)
    results.goals = goals.evaluate(s["goals"], results.scenarios, results.inproc, s["reference_concurrency"])
    return results


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _seed_count(plan: Plan) -> int:
    seed = plan.settings["seed"]
    return len(SEED_TOYS) * seed["repeats"] * 2 if plan.stage("seed") and seed["enabled"] else 0


def _describe(started: dict[str, servers.Server], run_dir: str) -> dict[str, ServerInfo]:
    """Endpoints, pid, command line, log and exit status (after the bench stopped it) of each server."""
    return {
        n: ServerInfo(
            endpoints=r.endpoints,
            managed=r.managed,
            pid=r.pid,
            argv=r.argv,
            log=r.log_path and os.path.relpath(r.log_path, run_dir),
            exit_code=r.exit_code,
        )
        for n, r in started.items()
    }
