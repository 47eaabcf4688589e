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
            "- Percentiles are nearest-rank over the successful answers of one timed run; hey's CSV has 0.1 ms "
            "resolution, ghz's nanoseconds. req/s = successful answers ÷ (first request start → last answer).",
            "- Server CPU = user + system time of the server's whole process tree (psutil), read before and after "
            "the timed run; peak RSS = largest sum of RSS over that tree (shared pages count once per process).",
            "- hey's CSV omits requests that got no HTTP answer (connection errors); ghz reports them as errors.",
            f"- grpc-stream: one ghz call is a PredictStream of {settings['stream_messages']} requests; req/s and CPU "
            "per request count requests (messages), latency is per stream.",
            "- Phase times are the servers' own histograms (wall clock inside the server); the breakdown reads them "
            "at the lowest concurrency measured, where they are also CPU time.",
            f"- The other server under test stays up, idle, on the same CPUs; the CPU it used during a timed run "
            f"was at most {num(_max_background(results.runs) * 1e3, 0)} ms (runs[].background_cpu_s).",
            "- psutil reads CPU time in clock ticks (10 ms), so CPU per request of short or slow runs is coarse.",
            f"- Other processes on the machine used a median {_share(results.runs, 'median')} and at most "
            f"{_share(results.runs, 'max')} of the server CPUs during timed runs (runs[].foreign_cpu_share); "
            f"repeats at or above {settings['noise_threshold']:.0%} are marked noisy.",
            "- Raw tool output of every timed run is in raw/ (gzipped), named in results.json (`runs[].raw`).",
        ],
    )


def _share(runs, which: str) -> str:
    value = getattr(stats.spread(r.foreign_cpu_share for r in runs), which)
    return "n/a" if value is None else f"{value:.1%}"


def _max_background(runs) -> float:
    return max((r.background_cpu_s or 0.0 for r in runs), default=0.0)
