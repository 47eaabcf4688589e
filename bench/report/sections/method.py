"""How the figures were taken: percentiles, CPU and RSS, what each tool omits, and how disturbed the
runs were."""

from __future__ import annotations

from bench.analysis import stats
from bench.report.format import num, section
from bench.results import Results


def render(results: Results, conc: int | None) -> list[str]:
    settings = results.settings
    return section(
        "Method notes",
        [
            "- Windows: every figure the report divides is measured in one window (one model, batch and "
            "concurrency), its members interleaved repeat by repeat, the order reversed every other repeat; a ratio "
            "is the median of the per-repeat ratios of its two members, with the bootstrap 95% interval of that "
            "median. Medians carry the bootstrap interval over their repeats. With few repeats that interval is the "
            "range of the values, which holds the true median with a chance of 1 − 2^(1−n): 75% with 3 repeats, 94% "
            "with 5, 98% with 7 — read a 3-repeat interval as a lower bound on the uncertainty.",
            "- Server CPU = the CPU time of the server's own cgroup (cpu.stat usage_usec, or cpuacct.usage: every "
            "thread and child process, to the microsecond; the process tree's /proc times, in 10 ms ticks, where no "
            "cgroup can be made), read before and after the timed run.",
            f"- Drift sentinel: {_drift(results.drift)}",
            "- Percentiles are nearest-rank over the successful answers of one timed run; hey's CSV has 0.1 ms "
            "resolution, ghz's nanoseconds. req/s = successful answers ÷ (first request start → last answer).",
            "- Peak RSS = largest sum of RSS over the server's process tree (shared pages count once per process).",
            "- hey's CSV omits requests that got no HTTP answer (connection errors); ghz reports them as errors.",
            f"- grpc-stream: one ghz call is a PredictStream of {settings['stream_messages']} requests; req/s and CPU "
            "per request count requests (messages), latency is per stream.",
            "- Phase times are the servers' own histograms (wall clock inside the server); the breakdown reads them "
            "at the lowest concurrency measured, where they are also CPU time.",
            f"- The other server under test stays up, idle, on the same CPUs; the CPU it used during a timed run "
            f"was at most {num(_max_background(results.runs) * 1e3, 0)} ms (runs[].background_cpu_s).",
            f"- Other processes on the machine used a median {_share(results.runs, 'median')} and at most "
            f"{_share(results.runs, 'max')} of the server CPUs during timed runs (runs[].foreign_cpu_share); "
            f"repeats at or above {settings['noise_threshold']:.0%} are marked noisy.",
            "- Raw tool output of every timed run is in raw/ (gzipped), named in results.json (`runs[].raw`).",
        ],
    )


def _drift(drift: dict) -> str:
    """The sentinel's readings and what they say."""
    readings = (drift or {}).get("readings") or []
    if not readings:
        return "not measured in this run."
    parts = ", ".join(
        f"{r['at']} {r['toy_cpu_us_per_req'] or 0:.1f} µs / {r['inproc_us'] or 0:.1f} µs" for r in readings
    )
    verdict = "over" if drift.get("flagged") else "within"
    return (
        f"the Go toy's CPU per request / one session.run ({parts}); drift {drift['drift'] or 0:.0%}, {verdict} the "
        f"{drift['threshold']:.0%} threshold."
    )


def _share(runs, which: str) -> str:
    value = getattr(stats.spread(r.foreign_cpu_share for r in runs), which)
    return "n/a" if value is None else f"{value:.1%}"


def _max_background(runs) -> float:
    return max((r.background_cpu_s or 0.0 for r in runs), default=0.0)
