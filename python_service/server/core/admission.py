"""Admission control: at most `bound` predict requests in progress or waiting for the predictor in
one worker; the next one is refused at once (RESOURCE_EXHAUSTED with a retry delay: the error
table's "overloaded"), never queued. Admission only says yes or no; each adapter answers a refusal
in its protocol (`refusal()` is the core's error for it)."""

import threading

import grpc

from python_service.server.core import metrics
from python_service.server.core.errors import PredictError

RETRY_AFTER_S = 1


class Admission:
    def __init__(self, bound, recorder=metrics.NO_METRICS):
        self.bound = bound
        self._recorder = recorder
        self._lock = threading.Lock()
        self._inflight = 0

    def refusal(self):
        """The core error a refused request is answered with."""
        message = "server overloaded: %d requests in progress or queued (--max-inflight %d); retry later" % (
            self.bound,
            self.bound,
        )
        return PredictError(grpc.StatusCode.RESOURCE_EXHAUSTED, message, retry_after_s=RETRY_AFTER_S)

    def full(self):
        """Whether a request arriving now would be refused (a look, not a promise)."""
        return self._inflight >= self.bound

    def shed(self):
        """Count a request refused before it asked `enter` (on `full`)."""
        self._recorder.shed()

    def enter(self):
        """Take a place (True), or count the request as shed (False)."""
        with self._lock:
            admitted = self._inflight < self.bound
            if admitted:
                self._inflight += 1
        if admitted:
            self._recorder.inflight(1)
        else:
            self._recorder.shed()
        return admitted

    def exit(self):
        with self._lock:
            self._inflight -= 1
        self._recorder.inflight(-1)

    def __enter__(self):
        if not self.enter():
            raise self.refusal()

    def __exit__(self, *exc):
        self.exit()


class Unbounded:
    """No admission bound (the RSGI front admits before the app runs)."""

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None
