"""Prometheus metrics of proto/predict/v1/metrics.json, recorded with prometheus_client in its
multiprocess mode: every worker process (HTTP and gRPC) writes its values into files under
$PROMETHEUS_MULTIPROC_DIR (set by the supervisor for the whole tree), and GET /metrics sums them,
so the figures add up across workers.

`for_protocol(protocol)` gives a recorder with its label children resolved once (the hot path only
calls .observe/.inc on them); with --metrics=false it is `NO_METRICS`, whose methods do nothing.
"""

import os

from python_service import contract

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SPEC = contract.load("metrics.json")
_BUCKETS = _SPEC["buckets"]["seconds"]
PHASES = tuple(_SPEC["label_values"]["phase"])
METHODS = tuple(_SPEC["label_values"]["method"])


class _Families:
    """The metric families of metrics.json, created once per process."""

    def __init__(self):
        import prometheus_client
        from prometheus_client import Counter, Gauge, Histogram

        prometheus_client.disable_created_metrics()
        by_name = {m["name"]: m for m in _SPEC["metrics"]}

        def labels(name):
            return by_name[name]["labels"]

        def doc(name):
            return by_name[name]["help"]

        # prometheus_client adds the _total suffix of a counter itself.
        self.requests = Counter(
            "servebench_requests", doc("servebench_requests_total"), labels("servebench_requests_total")
        )
        self.duration = Histogram(
            "servebench_request_duration_seconds",
            doc("servebench_request_duration_seconds"),
            labels("servebench_request_duration_seconds"),
            buckets=_BUCKETS,
        )
        self.phase = Histogram(
            "servebench_phase_duration_seconds",
            doc("servebench_phase_duration_seconds"),
            labels("servebench_phase_duration_seconds"),
            buckets=_BUCKETS,
        )
        self.inflight = Gauge(
            "servebench_inflight_requests",
            doc("servebench_inflight_requests"),
            labels("servebench_inflight_requests"),
            multiprocess_mode="livesum",
        )
        self.shed = Counter("servebench_shed", doc("servebench_shed_total"), labels("servebench_shed_total"))


_families = None


class Recorder:
    """The metrics of one protocol ("grpc" or "http"), label children resolved up front."""

    enabled = True

    def __init__(self, families, protocol):
        self.protocol = protocol
        self._families = families
        self._phase = {p: families.phase.labels(protocol, p) for p in PHASES}
        self._duration = {m: families.duration.labels(protocol, m) for m in METHODS}
        self._ok = {m: families.requests.labels(protocol, m, "OK") for m in METHODS}
        self._inflight = families.inflight.labels(protocol)
        self._shed = families.shed.labels(protocol)

    def phase(self, name, seconds):
        self._phase[name].observe(seconds)

    def request(self, method, code, seconds):
        """One answered request: `code` is a grpc.StatusCode name ("OK", "INVALID_ARGUMENT", ...)."""
        counter = self._ok[method] if code == "OK" else self._families.requests.labels(self.protocol, method, code)
        counter.inc()
        self._duration[method].observe(seconds)

    def inflight(self, delta):
        self._inflight.inc(delta)

    def shed(self):
        self._shed.inc()


class _NoMetrics:
    enabled = False

    def phase(self, name, seconds):
        pass

    def request(self, method, code, seconds):
        pass

    def inflight(self, delta):
        pass

    def shed(self):
        pass


NO_METRICS = _NoMetrics()


def for_protocol(protocol, enabled=True):
    """The recorder a worker of `protocol` uses (NO_METRICS when disabled or no multiprocess dir)."""
    global _families
    if not enabled or not os.environ.get(MULTIPROC_ENV):
        return NO_METRICS
    if _families is None:
        _families = _Families()
    return Recorder(_families, protocol)


def exposition():
    """The text exposition of every worker's metrics, summed (GET /metrics)."""
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def mark_dead(pid):
    """Forget a worker's live gauges (its counters and histograms keep counting in the sum)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)
