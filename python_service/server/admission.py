"""Admission control: at most `bound` predict requests in progress or waiting for the predictor in
one worker; the next one is refused at once (RESOURCE_EXHAUSTED: HTTP 503 with Retry-After, the
error table's "overloaded"), never queued."""

import threading

import grpc

from python_service.server import metrics
from python_service.server.errors import PredictError

RETRY_AFTER_S = 1


class Admission:
    def __init__(self, bound, recorder=metrics.NO_METRICS):
        self.bound = bound
        self._recorder = recorder
        self._lock = threading.Lock()
        self._inflight = 0

    @property
    def message(self):
        return "server overloaded: %d requests in progress or queued (--max-inflight %d); retry later" % (
            self.bound,
            self.bound,
        )

    def full(self):
        return self._inflight >= self.bound

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

    def refusal(self, counted=False):
        """(HTTP status, JSON body, headers) of a refusal answered before the app runs (`counted`:
        `enter` has already counted it as shed)."""
        if not counted:
            self._recorder.shed()
        body = {"code": grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], "message": self.message}
        return 503, body, [("retry-after", str(RETRY_AFTER_S))]

    def __enter__(self):
        if not self.enter():
            raise PredictError(grpc.StatusCode.RESOURCE_EXHAUSTED, self.message, retry_after_s=RETRY_AFTER_S)

    def __exit__(self, *exc):
        self.exit()


class Unbounded:
    """No admission bound (the RSGI front admits before the app runs)."""

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None
