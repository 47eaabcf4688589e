"""In-process inference time per model and batch: the floor that serving overhead is measured against.

- Go: the Go core benchmark, BenchmarkPredict/model=<name>/batch=<n> in go_service/internal/predictor,
  compiled with `go test -c` and run pinned to the server CPUs; its standard `ns/op` lines are parsed.
- Python: onnxruntime session.run on the same model.onnx, with the servers' session options
  (1 intra-op, 1 inter-op thread), timed with timeit, pinned to the server CPUs. Run as a child:
  `python -m bench.run.inproc --models DIR --model NAME[,NAME] --batch 1,32 --min-time 0.3` prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import timeit
from collections.abc import Sequence

from bench.plan import GO_BENCH_COUNT, Plan
from bench.results import Inproc, InprocTiming
from bench.run.procs import Supervisor

GO_BENCH_LINE = re.compile(
    r"^BenchmarkPredict/model=(?P<model>[^/\s]+)/batch=(?P<batch>\d+)(?:-\d+)?\s+"
    r"(?P<n>\d+)\s+(?P<ns>[\d.]+) ns/op"
)
GO_PACKAGE = "./internal/predictor"


def floors(sup: Supervisor, plan: Plan, ui) -> Inproc:
    """The in-process stage: both timings of every model and batch of the matrix (none when the
    settings turn it off); a problem of either is warned about and kept."""
    s = plan.settings
    raw = os.path.join(plan.run_dir, "raw")
    all_cpus = sorted(set(plan.server_cpus) | set(plan.client_cpus))
    out = Inproc()
    if not s.inproc.enabled:
        return out
    ui.info("in-process inference time: Go core benchmark and onnxruntime from Python, pinned to the server CPUs")
    env = {"GOMAXPROCS": str(len(plan.server_cpus))}
    go_dir = os.path.join(plan.repo, "go_service")
    go, problem = go_timings(
        sup, go_dir, s.models, s.batch, s.inproc.go_benchtime, plan.server_cpus, all_cpus, env, raw
    )
    py, problem_py = python_timings(
        sup, plan.models_dir, s.models, s.batch, s.inproc.python_min_time_s, plan.server_cpus, raw
    )
    for impl, timings in (("go", go), ("python", py)):
        out.timings += [InprocTiming(impl, m, b, us) for (m, b), us in timings.items()]
    out.problems = [p for p in (problem, problem_py) if p]
    for p in out.problems:
        ui.warn(p)
    return out


def parse_go_bench(text: str) -> dict[tuple[str, int], float]:
    """(model, batch) → µs per op from `go test -bench` standard output; with several runs of
    a benchmark (-test.count), the fastest: the floor, least disturbed by the rest of the machine."""
    out = {}
    for line in text.splitlines():
        m = GO_BENCH_LINE.match(line.strip())
        if m:
            key, us = (m["model"], int(m["batch"])), float(m["ns"]) / 1e3
            out[key] = min(us, out.get(key, us))
    return out


def go_bench_pattern(models: Sequence[str], batches: Sequence[int]) -> str:
    """A -bench regex selecting exactly these sub-benchmarks (go splits the pattern on '/')."""
    names = "|".join(re.escape(m) for m in models)
    sizes = "|".join(str(b) for b in batches)
    return f"^BenchmarkPredict$/^model=({names})$/^batch=({sizes})$"


def go_timings(
    sup: Supervisor,
    go_dir: str,
    models: Sequence[str],
    batches: Sequence[int],
    benchtime: str,
    cpus: list[int],
    build_cpus: list[int],
    env: dict,
    raw_dir: str,
) -> tuple[dict, str | None]:
    """Compile the predictor's test binary (on build_cpus), run its benchmark pinned to cpus.

    Returns (timings, problem or None).
    """
    binary = os.path.abspath(os.path.join(raw_dir, "predictor.test"))
    log = os.path.join(raw_dir, "go-bench.txt")
    with open(log, "wb") as out:
        build = sup.run_measured(
            ["go", "test", "-c", "-o", binary, GO_PACKAGE], build_cpus, stdout=out, stderr=out, cwd=go_dir
        )
    if build.returncode != 0:
        return {}, f"`go test -c {GO_PACKAGE}` failed (see {log})"
    argv = [
        binary,
        "-test.run",
        "^$",
        "-test.bench",
        go_bench_pattern(models, batches),
        "-test.benchtime",
        benchtime,
        "-test.count",
        str(GO_BENCH_COUNT),
    ]
    pkg_dir = os.path.join(go_dir, GO_PACKAGE)
    with open(log, "ab") as out:
        run = sup.run_measured(argv, cpus, stdout=out, stderr=out, cwd=pkg_dir, env=env)
    os.remove(binary)
    with open(log, encoding="utf-8", errors="replace") as fh:
        timings = parse_go_bench(fh.read())
    if run.returncode != 0:
        return timings, f"Go benchmark exited with status {run.returncode} (see {log})"
    missing = [f"{m}/batch={b}" for m in models for b in batches if (m, b) not in timings]
    return timings, (f"Go benchmark has no result for {', '.join(missing)}" if missing else None)


def python_timings(
    sup: Supervisor,
    models_dir: str,
    models: Sequence[str],
    batches: Sequence[int],
    min_time_s: float,
    cpus: list[int],
    raw_dir: str,
) -> tuple[dict, str | None]:
    out_path = os.path.join(raw_dir, "python-inproc.json")
    argv = [
        sys.executable,
        "-m",
        "bench.run.inproc",
        "--models",
        models_dir,
        "--model",
        ",".join(models),
        "--batch",
        ",".join(map(str, batches)),
        "--min-time",
        str(min_time_s),
    ]
    with open(out_path, "wb") as out, open(out_path + ".stderr", "wb") as err:
        run = sup.run_measured(argv, cpus, stdout=out, stderr=err)
    if run.returncode != 0:
        return {}, f"Python in-process timing failed (see {out_path}.stderr)"
    os.remove(out_path + ".stderr")
    with open(out_path, encoding="utf-8") as fh:
        data = json.load(fh)
    return {(d["model"], d["batch"]): d["us_per_run"] for d in data["timings"]}, None


def time_session_run(models_dir: str, model: str, batch: int, min_time_s: float) -> float:
    """µs per session.run of `batch` rows: best of 5 timeit repeats of at least min_time_s each."""
    import numpy as np
    import onnxruntime as ort

    from bench.run import payloads
    from python_service.server.core.predictor import session_options

    entry = payloads.load_models(models_dir, [model])[model]
    meta = entry.metadata
    session = ort.InferenceSession(entry.model_bytes, session_options(), providers=["CPUExecutionProvider"])
    feed = {meta["input_name"]: np.ascontiguousarray(payloads.rows_for(meta, batch))}
    fetch = [meta.get("probabilities_output") or meta["value_output"]]
    timer = timeit.Timer(lambda: session.run(fetch, feed))
    number, elapsed = timer.autorange()
    number = max(1, int(number * min_time_s / max(elapsed, 1e-9)))
    return min(timer.repeat(repeat=5, number=number)) / number * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run.inproc", description=__doc__.splitlines()[0])
    parser.add_argument("--models", required=True, help="model repository directory")
    parser.add_argument("--model", required=True, help="comma-separated model names")
    parser.add_argument("--batch", default="1", help="comma-separated batch sizes")
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds per timeit repeat")
    args = parser.parse_args(argv)
    timings = [
        {"model": m, "batch": int(b), "us_per_run": time_session_run(args.models, m, int(b), args.min_time)}
        for m in args.model.split(",")
        for b in args.batch.split(",")
    ]
    json.dump({"timings": timings, "cpus": sorted(os.sched_getaffinity(0))}, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
