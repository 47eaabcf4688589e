"""The servers' own account of a run: GET /metrics (proto/predict/v1/metrics.json) before and after
each timed run; the difference says how many predict requests the server answered and how long
each phase (decode, tensor, inference, encode) took per request, on average; and the server's own
CPU seconds and resident memory (process_cpu_seconds_total, process_resident_memory_bytes: the
whole process tree), which is how a server the bench did not start (--target) is measured.

Parsed with prometheus_client's own text parser; a server without metrics (or not reachable)
gives None, and the run simply has no phase figures.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from bench.run.lifecycle import http_url, ssl_context

PHASES = ("decode", "tensor", "inference", "encode")
PREDICT_METHODS = ("Predict", "PredictStream", "ModelInfer")  # ModelInfer: the Open Inference Protocol


# The Python server writes its histograms (the phases) every 50 ms (python_service/server/core/metrics.py):
# the scrape after a timed run waits this long, outside the measured window, so that it sees them all.
SETTLE_S = 0.15


CPU_KEY, RSS_KEY = ("process", "cpu_seconds"), ("process", "resident_memory_bytes")


def scrape(address: str | None, timeout_s: float = 5.0, ca: str | None = None) -> dict | None:
    """{("requests", protocol, method, code) | ("phase_sum" | "phase_count", protocol, phase): value,
    CPU_KEY: the server's CPU seconds, RSS_KEY: its resident bytes} (over HTTPS verified with the
    CA file `ca` when given)."""
    if not address:
        return None
    try:
        with urllib.request.urlopen(
            http_url(address, "/metrics", ca), timeout=timeout_s, context=ssl_context(ca)
        ) as resp:
            text = resp.read().decode("utf-8")
    except (urllib.error.URLError, OSError):
        return None
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "process_cpu_seconds_total":
                out[CPU_KEY] = sample.value
            elif sample.name == "process_resident_memory_bytes":
                out[RSS_KEY] = sample.value
            elif sample.name == "servebench_requests_total":
                out[("requests", labels["protocol"], labels["method"], labels["code"])] = sample.value
            elif sample.name == "servebench_phase_duration_seconds_sum":
                out[("phase_sum", labels["protocol"], labels["phase"])] = sample.value
            elif sample.name == "servebench_phase_duration_seconds_count":
                out[("phase_count", labels["protocol"], labels["phase"])] = sample.value
    return out


def phases_per_request(before: dict | None, after: dict | None, protocol: str) -> tuple[int | None, dict | None]:
    """(predict requests answered OK in between, µs per request of each phase) for protocol "http" or
    "grpc"; (None, None) without both scrapes."""
    if before is None or after is None:
        return None, None

    def delta(key):
        return after.get(key, 0.0) - before.get(key, 0.0)

    answered = round(sum(delta(("requests", protocol, m, "OK")) for m in PREDICT_METHODS))
    phases = {}
    for phase in PHASES:
        count = delta(("phase_count", protocol, phase))
        phases[phase] = delta(("phase_sum", protocol, phase)) / count * 1e6 if count > 0 else None
    return answered, phases


def cpu_between(before: dict | None, after: dict | None) -> float | None:
    """The server's CPU seconds between two scrapes (its process_cpu_seconds_total), or None."""
    if not before or not after or CPU_KEY not in before or CPU_KEY not in after:
        return None
    return after[CPU_KEY] - before[CPU_KEY]


def rss_mb(scraped: dict | None) -> float | None:
    """The server's resident memory at a scrape, in MiB, or None."""
    if not scraped or RSS_KEY not in scraped:
        return None
    return scraped[RSS_KEY] / 2**20
