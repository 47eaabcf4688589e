"""The normal client: ~40 iris-logreg batch-1 predictions per second, each with a 5 s timeout, sent
open-loop (on a schedule, whatever the previous answers do) while an attack runs.

It runs as its own process (`python -m tests.reliability.normal`, pinned to the client CPU by the
test), so that the attack code in the test process cannot slow it down through the GIL. It prints
`started` once its first answer came back, sends until SIGTERM (or --max-s), waits for what is in
flight, and writes one JSON record per request to --out: [sent_at (epoch s), latency_s, outcome,
detail]. outcome is "ok" (a correct answer), "shed" (a correct overload refusal: 503 + Retry-After,
or RESOURCE_EXHAUSTED) or "error" (anything else: a wrong answer, another status, a timeout, a
connection failure). The latency runs from the scheduled send time to the end of the answer, so a
client that falls behind its schedule counts that against the figures (no coordinated omission).

`NormalClient` starts and stops it from a test and summarises the records.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

IRIS_FEATURES = [5.1, 3.5, 1.4, 0.2]
IRIS_BODY = json.dumps({"model": "iris-logreg", "instances": [{"features": IRIS_FEATURES}]}).encode()
RATE_PER_S = 40
TIMEOUT_S = 5.0
STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.BadStatusLine)


def iris_answer_ok(answer: dict) -> bool:
    """The one correct answer to IRIS_FEATURES (class 0, setosa, three probabilities)."""
    try:
        (prediction,) = answer["predictions"]
        return (
            answer["model"] == "iris-logreg"
            and prediction["label"] == "setosa"
            and prediction.get("class_index", 0) == 0
            and len(prediction["probabilities"]) == 3
            and prediction["probabilities"][0] > 0.9
        )
    except (KeyError, TypeError, ValueError):
        return False


class HttpSender:
    """POST /v1/predict (JSON) on a keep-alive connection per thread. A request that fails on a
    reused connection before any answer byte (the server closed it while idle: legal) is retried
    once on a new connection, as HTTP clients do; every other failure is an error."""

    def __init__(self, address: str):
        self.host, _, port = address.rpartition(":")
        self.port = int(port)
        self.local = threading.local()
        self.retries = 0

    def _conn(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT_S)
            self.local.used = False
        return conn

    def _drop(self):
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            conn.close()
        self.local.conn = None

    def send(self) -> tuple[str, str]:
        for attempt in (0, 1):
            conn = self._conn()
            reused = self.local.used
            try:
                conn.request("POST", "/v1/predict", IRIS_BODY, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
            except STALE as e:
                self._drop()
                if reused and attempt == 0:
                    self.retries += 1
                    continue
                return "error", type(e).__name__
            except (OSError, http.client.HTTPException) as e:
                self._drop()
                return "error", type(e).__name__
            self.local.used = True
            if resp.will_close:
                self._drop()
            if resp.status == 200:
                try:
                    ok = iris_answer_ok(json.loads(data))
                except ValueError:
                    ok = False
                return ("ok", "") if ok else ("error", "wrong answer")
            if resp.status == 503 and resp.getheader("Retry-After"):
                return "shed", "503"
            return "error", "HTTP %d" % resp.status
        return "error", "unreachable"


class GrpcSender:
    """Predict on one channel; answers are collected by callbacks (truly open-loop). The channel
    reconnects after 0.1-0.5 s (not grpcio's default 1 s backoff), so that recovery times measure
    the server rather than the client's backoff."""

    def __init__(self, address: str):
        import grpc

        from python_service.gen.predict.v1 import predict_pb2, predict_pb2_grpc

        self.grpc = grpc
        options = [
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 500),
        ]
        self.channel = grpc.insecure_channel(address, options=options)
        self.stub = predict_pb2_grpc.PredictionServiceStub(self.channel)
        self.request = predict_pb2.PredictRequest(
            model="iris-logreg", instances=[predict_pb2.Instance(features=IRIS_FEATURES)]
        )
        self.retries = 0

    def start(self, callback):
        future = self.stub.Predict.future(self.request, timeout=TIMEOUT_S)
        future.add_done_callback(lambda f: callback(*self._outcome(f)))

    def _outcome(self, future):
        code = future.code()
        if code == self.grpc.StatusCode.OK:
            answer = future.result()
            ok = (
                len(answer.predictions) == 1
                and answer.predictions[0].label == "setosa"
                and answer.predictions[0].class_index == 0
            )
            return ("ok", "") if ok else ("error", "wrong answer")
        if code == self.grpc.StatusCode.RESOURCE_EXHAUSTED:
            return "shed", code.name
        return "error", code.name


def run(protocol: str, address: str, rate: float, max_s: float, out: str) -> int:
    # The SIGTERM handler only appends to a list (as the servers' handlers do): one that took a lock
    # (threading.Event.set) could find it held by the main thread it interrupted, and hang for good.
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    records, lock = [], threading.Lock()
    pending = threading.Semaphore(0)
    outstanding = [0]
    started = threading.Event()

    def record(scheduled_wall, scheduled_mono, outcome, detail):
        with lock:
            records.append([scheduled_wall, time.monotonic() - scheduled_mono, outcome, detail])
            outstanding[0] -= 1
        if outcome == "ok" and not started.is_set():
            started.set()
            print("started", flush=True)
        pending.release()

    if protocol == "http":
        sender = HttpSender(address)
        pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="normal")

        def launch(wall, mono):
            pool.submit(lambda: record(wall, mono, *sender.send()))

    else:
        sender = GrpcSender(address)

        def launch(wall, mono):
            sender.start(lambda outcome, detail: record(wall, mono, outcome, detail))

    interval, begin, i = 1.0 / rate, time.monotonic(), 0
    wall0 = time.time()
    while not stopping and time.monotonic() - begin < max_s:
        due = begin + i * interval
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # ≤ one interval (25 ms at 40/s); the flag is read after it
            if stopping:
                break
        with lock:
            outstanding[0] += 1
        launch(wall0 + (due - begin), due)
        i += 1
    deadline = time.monotonic() + TIMEOUT_S + 2
    while outstanding[0] > 0 and time.monotonic() < deadline:
        pending.acquire(timeout=0.1)
    with lock:
        lost = outstanding[0]
        data = {"records": sorted(records), "unfinished": lost, "retries": sender.retries}
    with open(out + ".tmp", "w") as fh:
        json.dump(data, fh)
    os.replace(out + ".tmp", out)
    os._exit(0)  # do not wait for the pool or the channel: everything is recorded


@dataclass
class Summary:
    sent: int
    ok: int
    shed: int
    errors: dict
    p50_ms: float | None
    p99_ms: float | None
    retries: int

    @property
    def answered_pct(self) -> float:
        """Share of requests answered correctly (a correct overload refusal is not one)."""
        return 100.0 * self.ok / self.sent if self.sent else 0.0

    @property
    def answered_or_shed_pct(self) -> float:
        return 100.0 * (self.ok + self.shed) / self.sent if self.sent else 0.0

    def as_dict(self) -> dict:
        return {
            "sent": self.sent,
            "ok": self.ok,
            "shed": self.shed,
            "errors": self.errors,
            "answered_pct": round(self.answered_pct, 2),
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "keepalive_retries": self.retries,
        }


def percentile(values, q):
    """Nearest-rank percentile (q in 0-100) of a list of numbers, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def summarise(records, retries=0, counted=("ok",)) -> Summary:
    """Counts and latency percentiles (over the outcomes in `counted`) of normal-client records."""
    errors: dict[str, int] = {}
    for _, _, outcome, detail in records:
        if outcome == "error":
            errors[detail] = errors.get(detail, 0) + 1
    latencies = [lat * 1000 for _, lat, outcome, _ in records if outcome in counted]
    ms = lambda v: None if v is None else round(v, 2)
    return Summary(
        sent=len(records),
        ok=sum(1 for r in records if r[2] == "ok"),
        shed=sum(1 for r in records if r[2] == "shed"),
        errors=errors,
        p50_ms=ms(percentile(latencies, 50)),
        p99_ms=ms(percentile(latencies, 99)),
        retries=retries,
    )


class NormalClient:
    """Start the normal client process (pinned to `cpus`), wait for its first answer; `stop()`
    returns its records."""

    def __init__(self, sup, protocol: str, address: str, out: str, cpus, rate: float = RATE_PER_S):
        self.sup, self.out = sup, out
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        argv = [sys.executable, "-m", "tests.reliability.normal", "--protocol", protocol, "--address", address]
        argv += ["--rate", str(rate), "--out", out]
        # stderr goes to a file: a pipe nobody reads until a failure could fill and block the client.
        self.stderr_path = out + ".stderr"
        with open(self.stderr_path, "wb") as stderr:
            self.proc = sup.spawn(argv, cpus, stdout=subprocess.PIPE, stderr=stderr, cwd=root)
        self.records: list = []
        self.retries = 0

    def wait_started(self, timeout_s: float = 15.0) -> NormalClient:
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout_s):
                raise RuntimeError("the normal client got no correct answer within %.0f s" % timeout_s)
        line = self.proc.stdout.readline().decode().strip()
        if line != "started":
            with open(self.stderr_path, "rb") as fh:
                raise RuntimeError("the normal client failed: %s" % fh.read().decode()[-2000:])
        return self

    def stop(self) -> list:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(TIMEOUT_S + 10)
        finally:
            self.sup.stop(self.proc)
        with open(self.out) as fh:
            data = json.load(fh)
        self.records, self.retries = data["records"], data["retries"]
        self.records += [[0, TIMEOUT_S, "error", "unfinished"]] * data["unfinished"]
        return self.records

    def summary(self, since: float | None = None, until: float | None = None, counted=("ok",)) -> Summary:
        rows = [r for r in self.records if (since is None or r[0] >= since) and (until is None or r[0] < until)]
        return summarise(rows, self.retries, counted)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--protocol", choices=("http", "grpc"), required=True)
    p.add_argument("--address", required=True)
    p.add_argument("--rate", type=float, default=RATE_PER_S)
    p.add_argument("--max-s", type=float, default=120.0)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    return run(args.protocol, args.address, args.rate, args.max_s, args.out)


if __name__ == "__main__":
    sys.exit(main())
