"""Admission by queueing time (core/admission.py; the rule in proto/predict/v1/README.md, the same
as Go's admission package), on synthetic figures: the expected wait, the moving average of service
times, the budget as a count (Little's law), the backstop, and the gRPC adapter's deadline check."""

import threading
import time

import grpc
import pytest

from python_service import contract
from python_service.server.core import metrics
from python_service.server.core.admission import CLIP, TARGET, WEIGHT, Admission, Queue
from python_service.server.core.errors import PredictError
from python_service.server.grpcapi.service import Calls
from tests.python.grpc_fakes import Context

TABLE = contract.load("errors.json")


def test_the_rule_reads_its_defaults_from_the_contract():
    from python_service.server.core.config import DEFAULT_QUEUE_DELAY_S, MAX_INFLIGHT_PER_CPU

    assert TABLE["max_queue_delay_ms"] / 1000 == DEFAULT_QUEUE_DELAY_S
    assert TABLE["max_inflight_per_cpu"] == MAX_INFLIGHT_PER_CPU and TABLE["service_time_weight"] == WEIGHT


@pytest.mark.parametrize(
    "inflight, slots, service_s, wait_s",
    [(0, 1, 0.01, 0.0), (1, 1, 0.01, 0.0), (2, 1, 0.01, 0.01), (11, 1, 0.01, 0.1), (10, 2, 0.01, 0.04), (9, 1, 0, 0.0)],
)
def test_expected_wait_is_the_requests_waiting_ahead_times_the_service_time_over_the_slots(
    inflight, slots, service_s, wait_s
):
    queue = Queue(slots)
    queue.inflight, queue.service_s = inflight, service_s
    assert queue.expected_wait_s() == pytest.approx(wait_s)


def test_the_service_time_is_a_moving_average_of_clipped_samples():
    queue = Queue()
    queue.served(0.010)
    assert queue.service_s == 0.010  # the first sample, whole
    queue.served(0.020)
    assert queue.service_s == pytest.approx(0.010 + WEIGHT * 0.010)
    before = queue.service_s
    queue.served(10.0)  # a stall: counts as CLIP × the average at most
    assert queue.service_s == pytest.approx(before + WEIGHT * (CLIP - 1) * before)


def test_the_budget_as_a_count():
    queue = Queue(2)
    assert queue.limit(1.0, 512) == 512  # no service time yet: the backstop alone
    queue.service_s = 0.01
    assert queue.limit(1.0, 512) == 2 + 200  # slots + budget × slots ÷ service time
    assert queue.limit(0.0, 512) == 512  # no budget
    assert queue.limit(100.0, 512) == 512  # never above the backstop


def test_a_request_is_refused_once_its_wait_would_exceed_the_target():
    admission = Admission(1000, budget_s=0.1)  # the target: TARGET × 100 ms = 50 ms
    assert admission.target_s == pytest.approx(TARGET * 0.1) and TARGET == 0.5
    queue = admission.queue(slots=1)
    queue.service_s = 0.01
    admitted = 0
    while admission.enter(queue) is None:
        admitted += 1
    refusal = admission.enter(queue)
    # 1 at work + 6 waiting (the last waits 5 × 10 ms = 50 ms) admitted; the next would wait 60 ms
    assert admitted == 7 and refusal.code == grpc.StatusCode.RESOURCE_EXHAUSTED and refusal.retry_after_s == 1
    assert "expected wait 60 ms exceeds 50 ms, 0.5 of the queueing budget 100 ms" in refusal.message
    admission.exit(queue, 0.01)
    assert admission.enter(queue) is None


def test_the_backstop_bounds_every_queue_together():
    admission = Admission(3, budget_s=0)
    a, b = admission.queue(), admission.queue()
    assert [admission.enter(q) for q in (a, b, a)] == [None, None, None]
    refusal = admission.enter(b)
    assert refusal is not None and "3 requests in progress or queued (--max-inflight 3)" in refusal.message


class _Blocked:
    """A core whose work waits for `release` (so that calls queue behind it)."""

    def __init__(self):
        self.release, self.calls = threading.Event(), 0

    def infer(self, request, time_remaining=None, timing=None):
        self.calls += 1
        self.release.wait(5)
        raise PredictError(grpc.StatusCode.INTERNAL, "not reached by the refused call")


def _refused(calls):
    try:
        calls.predict(b"", Context(None))
    except PredictError:
        pass


def test_a_deadline_nearer_than_the_expected_wait_is_answered_at_once_without_inference():
    core = _Blocked()
    calls = Calls(core, metrics.NO_METRICS, work_slots=1, admission=Admission(100, budget_s=10))
    calls._queue.service_s = 0.5  # each call holds the slot half a second
    busy = threading.Thread(target=_refused, args=(calls,))
    busy.start()
    while core.calls == 0:
        time.sleep(0.001)
    waiting = threading.Thread(target=_refused, args=(calls,))
    waiting.start()
    while calls._queue.inflight < 2:
        time.sleep(0.001)
    with pytest.raises(PredictError) as err:
        calls.predict(b"", Context(0.2))  # one call waits ahead: 0.5 s expected, 0.2 s left
    assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED and "expected wait 500 ms" in err.value.message
    core.release.set()
    busy.join(5)
    waiting.join(5)
    assert core.calls == 2  # the refused call never reached the core


def test_a_call_that_waited_over_the_budget_is_refused_without_inference():
    """The other half of the rule: a call admitted on an estimate that did not foresee the wait (here
    no service time is known yet, so the estimate is 0) is refused once it has waited the budget."""
    core = _Blocked()
    calls = Calls(core, metrics.NO_METRICS, work_slots=1, admission=Admission(100, budget_s=0.05))
    busy = threading.Thread(target=_refused, args=(calls,))
    busy.start()
    while core.calls == 0:
        time.sleep(0.001)
    started = time.monotonic()
    with pytest.raises(PredictError) as err:
        calls.predict(b"", Context(None))
    waited = time.monotonic() - started
    core.release.set()
    busy.join(5)
    assert (
        err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "over the queueing budget 50 ms" in err.value.message
    )
    assert waited >= 0.05 and core.calls == 1
    assert Admission(1, budget_s=0.05).overdue(0.049) is None and Admission(1, budget_s=0).overdue(9) is None
