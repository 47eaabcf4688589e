"""Admission control by queueing time (errors.json "overloaded", proto/predict/v1/README.md
"Admission"): a predict request waits for a work slot at most the budget (--max-queue-delay). It
is admitted while the time it would wait stays within the target, a fraction of the budget
(errors.json queue_target_fraction, 1/2):

    expected wait = requests waiting ahead of it for a slot × recent service time ÷ slots ≤ target

per queue (a lane of `slots` work slots: the RSGI front's small-body and big-body lanes, the gRPC
work slots), where the recent service time is an exponentially weighted moving average of how long
a request holds its work slot. So a burst of ordinary clients, whose requests wait a few
milliseconds, is never refused; a standing queue that would keep each request waiting longer than
the target is, at once, and sits at the target under overload. A count of requests in progress or
queued (--max-inflight) stays as a memory backstop, large. A request that, once admitted, has waited
the whole budget for its slot all the same (`overdue`: a stall, a burst of big requests the estimate
did not foresee) is refused then, without running: the half of the budget above the target is room
for those waits, and for the service times that stretch under overload. A refusal is
RESOURCE_EXHAUSTED with a retry delay; admission only says yes or no, each adapter answers the
refusal in its protocol.
"""

import contextlib
import threading
from time import perf_counter

import grpc

from python_service import contract
from python_service.server.core import metrics
from python_service.server.core.config import DEFAULT_QUEUE_DELAY_S
from python_service.server.core.errors import PredictError

RETRY_AFTER_S = 1
_TABLE = contract.load("errors.json")
# The weight of the newest service time in the moving average (errors.json service_time_weight),
# and the most a sample may count for, as a multiple of the average (service_time_clip): a request
# held up by a stall of the machine (a descheduled worker, a collection) is not a change in the work,
# and one such sample would otherwise raise every wait estimate at once and refuse ordinary clients.
WEIGHT = _TABLE["service_time_weight"]
CLIP = _TABLE["service_time_clip"]
# The expected wait a request is admitted within, as a fraction of the budget
# (errors.json queue_target_fraction): the standing queue an overload keeps sits there, and the
# rest of the budget is room for the waits the estimate does not foresee, which `overdue` cuts.
TARGET = _TABLE["queue_target_fraction"]


class Queue:
    """Requests admitted for `slots` work slots (one lane), and their recent service time."""

    __slots__ = ("inflight", "service_s", "slots")

    def __init__(self, slots=1):
        self.slots = slots
        self.inflight = 0  # admitted and not yet answered: at work or waiting for a slot
        self.service_s = 0.0  # the moving average; 0 until a request has been served

    def expected_wait_s(self):
        """The time a request arriving now would wait for a slot: the requests waiting ahead of it
        (those admitted beyond the slots) × the recent service time ÷ the slots; 0 while a slot is
        free or before any service time is known (Go's admission.ExpectedWait, the same rule)."""
        ahead = self.inflight - self.slots
        return ahead * self.service_s / self.slots if ahead > 0 else 0.0

    def served(self, seconds):
        """One request held its work slot for `seconds`."""
        average = self.service_s
        self.service_s = seconds if not average else average + WEIGHT * (min(seconds, CLIP * average) - average)

    def limit(self, budget_s, backstop):
        """The same rule as a count (Little's law): the requests this queue may hold while the last
        of them would wait at most `budget_s`, at most `backstop`."""
        if not budget_s or not self.service_s:
            return backstop
        return min(backstop, self.slots + int(budget_s * self.slots / self.service_s))


class Admission:
    """The admission rule of one worker process: the queueing budget per queue, the backstop over
    all of them."""

    def __init__(self, backstop, recorder=metrics.NO_METRICS, budget_s=DEFAULT_QUEUE_DELAY_S):
        self.bound = backstop
        self.budget_s = budget_s
        self.target_s = TARGET * budget_s  # the expected wait admitted (the time rule on arrival)
        self._recorder = recorder
        self._lock = threading.Lock()
        self._inflight = 0
        self._default = Queue()

    def queue(self, slots=1):
        """A queue of this worker's for `slots` work slots (a lane)."""
        return Queue(slots)

    def refusal(self, wait_s=None):
        """The core error a refused request is answered with (`wait_s`: the expected wait that
        exceeded the budget; None: the backstop)."""
        if wait_s is None:
            message = "server overloaded: %d requests in progress or queued (--max-inflight %d); retry later" % (
                self.bound,
                self.bound,
            )
        else:
            message = "server overloaded: expected wait %.0f ms exceeds %.0f ms, %g of the queueing budget %.0f ms" % (
                1000 * wait_s,
                1000 * self.target_s,
                TARGET,
                1000 * self.budget_s,
            )
            message += " (--max-queue-delay); retry later"
        return PredictError(grpc.StatusCode.RESOURCE_EXHAUSTED, message, retry_after_s=RETRY_AFTER_S)

    def _refusal_now(self, queue):
        if self._inflight >= self.bound:
            return self.refusal()
        wait = queue.expected_wait_s() if self.budget_s else 0.0
        return self.refusal(wait) if wait > self.target_s else None

    def overdue(self, waited_s):
        """The refusal of an admitted request that has waited `waited_s` for its work slot, when
        that is over the budget (counted as shed), else None: the rule's other half, for the waits
        the estimate on arrival did not foresee (a stall, a burst of big requests ahead)."""
        if not self.budget_s or waited_s < self.budget_s:
            return None
        self._recorder.shed()
        message = "server overloaded: waited %.0f ms for a work slot, over the queueing budget %.0f ms" % (
            1000 * waited_s,
            1000 * self.budget_s,
        )
        return PredictError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            message + " (--max-queue-delay); retry later",
            retry_after_s=RETRY_AFTER_S,
        )

    def enter(self, queue=None):
        """Admit a request into `queue` (None: the default one), None; or refuse it, counted as
        shed: the refusal, a PredictError."""
        queue = queue or self._default
        with self._lock:
            refused = self._refusal_now(queue)
            if refused is None:
                self._inflight += 1
                queue.inflight += 1
        if refused is not None:
            self._recorder.shed()
            return refused
        self._recorder.inflight(1)
        return None

    def exit(self, queue=None, service_s=None):
        """A request `enter` admitted into `queue` is answered; `service_s`: how long it held its
        work slot (None: it did no work, e.g. refused by the core before)."""
        queue = queue or self._default
        with self._lock:
            self._inflight -= 1
            queue.inflight -= 1
            if service_s is not None:
                queue.served(service_s)
        self._recorder.inflight(-1)

    def admit(self, queue=None):
        """A context for one request: admitted on entry (or the refusal raised), answered on exit,
        its time inside counted as its service time."""
        return _Admitted(self, queue)


class _Admitted:
    __slots__ = ("admission", "queue", "started")

    def __init__(self, admission, queue):
        self.admission, self.queue = admission, queue

    def __enter__(self):
        refused = self.admission.enter(self.queue)
        if refused is not None:
            raise refused
        self.started = perf_counter()

    def __exit__(self, *exc):
        self.admission.exit(self.queue, perf_counter() - self.started)


class Unbounded:
    """No admission in the app (the RSGI front admits before the app runs)."""

    def admit(self, queue=None):
        return contextlib.nullcontext()
