"""Prometheus metrics of proto/predict/v1/metrics.json, recorded with prometheus_client in its
multiprocess mode: every worker process (HTTP and gRPC) writes its values into files under
$PROMETHEUS_MULTIPROC_DIR (set by the supervisor for the whole tree), and GET /metrics sums them,
so the figures add up across workers.

`for_protocol(protocol)` gives a recorder with its label children resolved once; with
--metrics=false it is `NO_METRICS`, whose methods do nothing. `timed` is the one wrapper that times
a call and counts it with the status it ended with, for every RPC and every HTTP route.

Cost: in multiprocess mode every prometheus_client update is a locked write into an mmap'd file
(~2.5 µs here), and a predict request makes 13 of them (counter, duration and four phase
histograms, in-flight gauge up and down) — measured 35 µs, over 5% of a Python request. So the
request counter is written at once (a scrape right after N answers counts N), and everything else
is queued in the process (a deque append, ~0.1 µs) and written in aggregate by one thread every
FLUSH_S (one write per touched bucket): histograms and the in-flight gauge are at most FLUSH_S
behind. /metrics flushes its own worker first.
"""

import atexit
import bisect
import collections
import os
import threading
import time
from time import perf_counter

from python_service import contract
from python_service.server.core.errors import PredictError

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SPEC = contract.load("metrics.json")
_BUCKETS = _SPEC["buckets"]["seconds"]
PHASES = tuple(_SPEC["label_values"]["phase"])
METHODS = tuple(_SPEC["label_values"]["method"])
FLUSH_S = 0.05


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
    """The metrics of one protocol ("grpc" or "http"), label children resolved up front; all but
    the request counter go through the process's `_Batcher`."""

    enabled = True

    def __init__(self, families, protocol):
        self.protocol = protocol
        self._families = families
        self._phase = {p: families.phase.labels(protocol, p) for p in PHASES}
        self._duration = {m: families.duration.labels(protocol, m) for m in METHODS}
        self._ok = {m: families.requests.labels(protocol, m, "OK") for m in METHODS}
        self._inflight = families.inflight.labels(protocol)
        self._shed = families.shed.labels(protocol)
        self._queue = _batcher().queue

    def phase(self, name, seconds):
        self._queue.append((self._phase[name], seconds))

    def request(self, method, code, seconds):
        """One answered request: `code` is a grpc.StatusCode name ("OK", "INVALID_ARGUMENT", ...)."""
        counter = self._ok[method] if code == "OK" else self._families.requests.labels(self.protocol, method, code)
        counter.inc()
        self._queue.append((self._duration[method], seconds))

    def inflight(self, delta):
        self._queue.append((self._inflight, delta))

    def shed(self):
        self._shed.inc()


def status_of(error):
    """The status code name a call that raised `error` is counted with: a core refusal's own code,
    INTERNAL for anything else (a bug)."""
    return error.code.name if isinstance(error, PredictError) else "INTERNAL"


def timed(recorder, method, handle, *args, status=status_of):
    """`handle(*args)`, timed and counted as one `method` request of `recorder` with the status
    code it ended with: OK, or `status(error)` of the exception it raised (which propagates)."""
    started, code = perf_counter(), "OK"
    try:
        return handle(*args)
    except BaseException as e:
        code = status(e)
        raise
    finally:
        recorder.request(method, code, perf_counter() - started)


class _Batcher:
    """Queued updates of one process, written in aggregate every FLUSH_S by a daemon thread: per
    histogram child the count of each bucket touched and the sum, per gauge the net change."""

    def __init__(self):
        self.pid = os.getpid()
        self.queue = collections.deque()
        self._lock = threading.Lock()
        threading.Thread(target=self._run, name="metrics-flush", daemon=True).start()
        atexit.register(self.flush)

    def _run(self):
        while True:
            time.sleep(FLUSH_S)
            self.flush()

    def flush(self):
        with self._lock:  # one flusher at a time (the thread, /metrics, exit)
            histograms, gauges = {}, {}
            queue = self.queue
            while queue:
                child, value = queue.popleft()
                bounds = getattr(child, "_upper_bounds", None)
                if bounds is None:
                    gauges[child] = gauges.get(child, 0) + value
                    continue
                counts, total = histograms.get(child) or ({}, 0.0)
                i = bisect.bisect_left(bounds, value)
                counts[i] = counts.get(i, 0) + 1
                histograms[child] = (counts, total + value)
            # prometheus_client's Histogram.observe is "_sum.inc(amount); _buckets[i].inc(1)" for
            # the first bound ≥ amount (non-cumulative buckets); the same, n at a time.
            for child, (counts, total) in histograms.items():
                child._sum.inc(total)
                for i, n in counts.items():
                    child._buckets[i].inc(n)
            for child, delta in gauges.items():
                if delta:
                    child.inc(delta)


_batcher_instance = None
_batcher_lock = threading.Lock()


def _batcher():
    global _batcher_instance
    with _batcher_lock:
        if _batcher_instance is None or _batcher_instance.pid != os.getpid():  # (a forked child starts its own)
            _batcher_instance = _Batcher()
        return _batcher_instance


def flush():
    """Write this process's queued updates now (GET /metrics does, before reading)."""
    if _batcher_instance is not None:
        _batcher_instance.flush()


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


def registry():
    """A registry of every worker's metrics, summed, and the process tree's CPU and memory
    (tree_metrics)."""
    from prometheus_client import CollectorRegistry, multiprocess

    from python_service.server.core.tree_metrics import TreeCollector

    summed = CollectorRegistry()
    multiprocess.MultiProcessCollector(summed)
    summed.register(TreeCollector())
    return summed


def exposition():
    """The text exposition of every worker's metrics, summed (GET /metrics)."""
    from prometheus_client import generate_latest

    flush()
    return generate_latest(registry())


def mark_dead(pid):
    """Forget a worker's live gauges (its counters and histograms keep counting in the sum)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)
