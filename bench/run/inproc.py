"""In-process time per model and batch: the work a server does for a request, without the server.

- Go: go_service/internal/predictor's benchmarks, compiled once with `go test -c` and run pinned to
  the server CPUs (standard `ns/op` lines parsed): BenchmarkPredictWire/model=…/batch=…/codec=…
  (work "protobuf" or "json": the request's bytes decoded, the core Predict, the answer encoded, on
  the run's own request bodies) and BenchmarkPredict (work "core": the core Predict alone).
- Python: bench.run.inproc_child, pinned to the server CPUs: work "protobuf" and "json" (the same,
  with the Python server's codec and Predictor) and "inference" (onnxruntime session.run alone).

`stage` measures every model and batch of the matrix once, before the windows (the overhead table's
figures); `WindowTimer` times one work on demand, inside a window, repeat by repeat, so that a goal
comparing a server with the in-process time of its work compares figures of the same minutes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence

from bench.plan import GO_BENCH_COUNT, Plan, go_seconds
from bench.results import Inproc, InprocTiming
from bench.run.procs import Supervisor

GO_BENCH_LINE = re.compile(
    r"^BenchmarkPredict(?P<wire>Wire)?/model=(?P<model>[^/\s]+)/batch=(?P<batch>\d+)"
    r"(?:/codec=(?P<codec>[a-z]+))?(?:-\d+)?\s+(?P<n>\d+)\s+(?P<ns>[\d.]+) ns/op"
)
GO_PACKAGE = "./internal/predictor"
GO_WORKS = ("core", "protobuf", "json")
PYTHON_WORKS = ("inference", "protobuf", "json")


def stage(sup: Supervisor, plan: Plan, ui, bodies_dir: str) -> tuple[Inproc, WindowTimer | None]:
    """Both languages' timings of every model and batch of the matrix (none when the settings turn
    it off), and the timer the windows use; a problem of either is warned about and kept."""
    s = plan.settings
    out = Inproc()
    if not s.inproc.enabled:
        return out, None
    ui.info("in-process time: Go's predictor benchmarks and Python's codec + Predictor, pinned to the server CPUs")
    raw = os.path.join(plan.run_dir, "raw")
    binary, problem = build_go(sup, plan, raw)
    timer = WindowTimer(sup, plan, binary, bodies_dir)
    if binary:
        argv = go_argv(binary, go_bench_pattern(s.models, s.batch), s.inproc.go_benchtime, GO_BENCH_COUNT, bodies_dir)
        text, problem = timer.run_go(argv)
        timings = parse_go_bench(text)
        missing = [f"{m}/batch={b}" for m in s.models for b in s.batch if (m, b, "protobuf") not in timings]
        problem = problem or (f"Go benchmark has no result for {', '.join(missing)}" if missing else None)
        out.timings += [InprocTiming("go", m, b, us, work=w) for (m, b, w), us in timings.items()]
    py, problem_py = timer.python_batch(s.models, s.batch, s.inproc.python_min_time_s)
    out.timings += [InprocTiming("python", m, b, us, work=w) for (m, b, w), us in py.items()]
    out.problems = [p for p in (problem, problem_py) if p]
    for p in out.problems:
        ui.warn(p)
    return out, timer


def parse_go_bench(text: str) -> dict[tuple[str, int, str], float]:
    """(model, batch, work) → µs per op from `go test -bench` standard output; with several runs of
    a benchmark (-test.count), the fastest: the floor, least disturbed by the rest of the machine."""
    out = {}
    for line in text.splitlines():
        m = GO_BENCH_LINE.match(line.strip())
        if m:
            work = m["codec"] if m["wire"] else "core"
            key, us = (m["model"], int(m["batch"]), work), float(m["ns"]) / 1e3
            out[key] = min(us, out.get(key, us))
    return out


def go_bench_pattern(models: Sequence[str], batches: Sequence[int], works: Sequence[str] = GO_WORKS) -> str:
    """A -bench regex selecting exactly these sub-benchmarks (go splits the pattern on '/');
    "core" is BenchmarkPredict, the codecs BenchmarkPredictWire's."""
    names = "|".join(re.escape(m) for m in models)
    sizes = "|".join(str(b) for b in batches)
    codecs = [w for w in works if w != "core"]
    benches = (["BenchmarkPredict"] if "core" in works else []) + (["BenchmarkPredictWire"] if codecs else [])
    return f"^({'|'.join(benches)})$/^model=({names})$/^batch=({sizes})$/^codec=({'|'.join(codecs) or 'none'})$"


def go_argv(binary: str, pattern: str, benchtime: str, count: int, bodies_dir: str) -> list[str]:
    return [
        binary, "-test.run", "^$", "-test.bench", pattern, "-test.benchtime", benchtime,
        "-test.count", str(count), "-predict.bodies", bodies_dir,
    ]  # fmt: skip


def build_go(sup: Supervisor, plan: Plan, raw_dir: str) -> tuple[str | None, str | None]:
    """The predictor's test binary (built on every CPU of the run), or (None, the problem)."""
    go_dir = os.path.join(plan.repo, "go_service")
    binary = os.path.abspath(os.path.join(raw_dir, "predictor.test"))
    log = os.path.join(raw_dir, "go-bench.txt")
    all_cpus = sorted(set(plan.server_cpus) | set(plan.client_cpus))
    with open(log, "wb") as out:
        build = sup.run_measured(
            ["go", "test", "-c", "-o", binary, GO_PACKAGE], all_cpus, stdout=out, stderr=out, cwd=go_dir
        )
    if build.returncode != 0:
        return None, f"`go test -c {GO_PACKAGE}` failed (see {log})"
    return binary, None


class WindowTimer:
    """In-process timings on demand, pinned to the server CPUs: Go by running the compiled benchmark
    binary on one sub-benchmark, Python by asking a child (bench.run.inproc_child --serve) that
    keeps its models loaded. `close()` stops the child and removes the binary."""

    def __init__(self, sup: Supervisor, plan: Plan, go_binary: str | None, bodies_dir: str):
        self.sup, self.plan, self.go_binary, self.bodies_dir = sup, plan, go_binary, bodies_dir
        self.raw = os.path.join(plan.run_dir, "raw")
        self._child: subprocess.Popen | None = None

    def run_go(self, argv: list[str]) -> tuple[str, str | None]:
        """The benchmark's output (also appended to raw/go-bench.txt), and a problem or None."""
        log = os.path.join(self.raw, "go-bench.txt")
        pkg_dir = os.path.join(self.plan.repo, "go_service", GO_PACKAGE)
        env = {"GOMAXPROCS": str(len(self.plan.server_cpus))}
        with open(log, "ab") as out:
            start = out.tell()
            run = self.sup.run_measured(argv, self.plan.server_cpus, stdout=out, stderr=out, cwd=pkg_dir, env=env)
        with open(log, encoding="utf-8", errors="replace") as fh:
            fh.seek(start)
            text = fh.read()
        return text, (None if run.returncode == 0 else f"Go benchmark exited with status {run.returncode} (see {log})")

    def python_batch(self, models, batches, min_time_s: float) -> tuple[dict, str | None]:
        out_path = os.path.join(self.raw, "python-inproc.json")
        argv = [
            *self._python_argv(), "--model", ",".join(models), "--batch", ",".join(map(str, batches)),
            "--min-time", str(min_time_s),
        ]  # fmt: skip
        with open(out_path, "wb") as out, open(out_path + ".stderr", "wb") as err:
            run = self.sup.run_measured(argv, self.plan.server_cpus, stdout=out, stderr=err)
        if run.returncode != 0:
            return {}, f"Python in-process timing failed (see {out_path}.stderr)"
        os.remove(out_path + ".stderr")
        with open(out_path, encoding="utf-8") as fh:
            data = json.load(fh)
        return {(d["model"], d["batch"], d["work"]): d["us_per_run"] for d in data["timings"]}, None

    def _python_argv(self) -> list[str]:
        return [
            sys.executable, "-m", "bench.run.inproc_child", "--models", self.plan.models_dir,
            "--bodies", self.bodies_dir,
        ]  # fmt: skip

    def time(self, impl: str, model: str, batch: int, work: str) -> tuple[float | None, str | None]:
        """µs per run of one work now; (None, the problem) when it cannot be timed."""
        s = self.plan.settings.inproc
        if impl == "go":
            if not self.go_binary:
                return None, "no Go benchmark binary"
            bench = go_seconds(s.go_benchtime)
            argv = go_argv(
                self.go_binary, go_bench_pattern([model], [batch], [work]), f"{bench:g}s", 1, self.bodies_dir
            )
            text, problem = self.run_go(argv)
            got = parse_go_bench(text).get((model, batch, work))
            return got, problem or (None if got is not None else f"no Go timing of {model}/{batch}/{work}")
        if self._child is None:
            self._child = self.sup.spawn(
                [*self._python_argv(), "--serve"],
                self.plan.server_cpus,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        ask = {"model": model, "batch": batch, "work": work, "min_time": s.python_min_time_s}
        try:
            self._child.stdin.write((json.dumps(ask) + "\n").encode())
            self._child.stdin.flush()
            answer = json.loads(self._child.stdout.readline() or b"{}")
        except (OSError, ValueError) as exc:
            return None, f"Python in-process timing child: {exc}"
        return answer.get("us_per_run"), answer.get("error")

    def close(self) -> None:
        if self._child is not None:
            self._child.stdin.close()
            self.sup.stop(self._child)
            self._child = None
        if self.go_binary and os.path.exists(self.go_binary):
            os.remove(self.go_binary)
