"""The RSGI front (python_service/server/httpapi/rsgi.py) with a fake granian protocol: small requests run
on the app lane one at a time, a big one on the side lane without holding the small ones, neither
on the loop's thread (which keeps refusing while a prediction runs), and the admission bound
counts both."""

import asyncio
import threading

from python_service.server.core import metrics
from python_service.server.core.admission import Admission
from python_service.server.httpapi.rsgi import BIG_BODY_BYTES, RsgiApp


class Scope:
    proto = "http"
    method = "POST"
    path = "/v1/predict"
    query_string = ""
    http_version = "1.1"
    scheme = "http"
    server = "127.0.0.1:5000"
    client = "127.0.0.1:40000"

    def __init__(self, body):
        self.headers = {"content-type": "application/json", "content-length": str(len(body))}


class Proto:
    def __init__(self, body):
        self.body = body
        self.answer = None

    async def __call__(self):
        return self.body

    async def client_disconnect(self):
        await asyncio.Event().wait()  # the client stays

    def response_bytes(self, status, headers, payload):
        self.answer = (status, dict(headers), payload)


class App:
    """A WSGI app that records its thread; a body starting with b"wait" blocks until released."""

    def __init__(self):
        self.threads, self.release = [], threading.Event()

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read()
        self.threads.append((body[:4], threading.get_ident()))
        if body.startswith(b"wait"):
            assert self.release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


def front(app, bound=8):
    return RsgiApp(app, admission=Admission(bound, metrics.NO_METRICS), max_body=8 << 20, read_timeout_s=5)


def big_then_small(bound):
    """A big request blocked in the app (side lane), then a small one sent meanwhile: (small's
    answer while the big one is still blocked, big's answer, the app's (body, thread) records,
    the loop's thread)."""
    app = App()
    rsgi = front(app, bound)

    async def main():
        loop = asyncio.get_running_loop()
        rsgi.__rsgi_init__(loop)
        big_body = b"wait" + b" " * BIG_BODY_BYTES
        big, small = Proto(big_body), Proto(b"small")
        big_call = asyncio.ensure_future(rsgi.__rsgi__(Scope(big_body), big))
        await asyncio.sleep(0.1)  # the big one is in the app now, blocked
        await asyncio.wait_for(rsgi.__rsgi__(Scope(b"small"), small), 5)
        assert big.answer is None, "the big request finished before it was released"
        app.release.set()
        await asyncio.wait_for(big_call, 5)
        rsgi.__rsgi_del__(loop)
        return small.answer, big.answer, threading.get_ident()

    small, big, loop_thread = asyncio.run(main())
    return small, big, dict(app.threads), loop_thread


def test_a_big_request_does_not_hold_the_small_ones():
    small, big, threads, loop_thread = big_then_small(bound=8)
    assert small[0] == 200 and big[0] == 200  # the small one answered while the big one was blocked
    assert loop_thread not in (threads[b"smal"], threads[b"wait"]) and threads[b"smal"] != threads[b"wait"]


def test_the_loop_refuses_while_a_prediction_runs():
    """With the worker at its bound (one small request blocked in the app), the next request is
    refused 503 at once, while the first is still running: the app does not run on the loop."""
    app = App()
    rsgi = front(app, bound=1)

    async def main():
        loop = asyncio.get_running_loop()
        rsgi.__rsgi_init__(loop)
        first, second = Proto(b"wait"), Proto(b"second")
        first_call = asyncio.ensure_future(rsgi.__rsgi__(Scope(b"wait"), first))
        await asyncio.sleep(0.1)  # the first one is in the app now, blocked
        await asyncio.wait_for(rsgi.__rsgi__(Scope(b"second"), second), 2)
        running = first.answer is None
        app.release.set()
        await asyncio.wait_for(first_call, 5)
        rsgi.__rsgi_del__(loop)
        return first.answer, second.answer, running

    first, second, running = asyncio.run(main())
    assert running, "the first request finished before it was released"
    assert second[0] == 503 and "retry-after" in second[1]
    assert first[0] == 200


def test_the_admission_bound_counts_big_requests_too():
    small, big, _, _ = big_then_small(bound=1)
    assert small[0] == 503 and "retry-after" in small[1]
    assert big[0] == 200


def test_an_empty_body_takes_no_admission_place():
    """What granian delivers for a malformed chunked body is an empty one: it goes to the app (which
    answers 400) without taking a place, so that a burst of them is never refused 503 by each other."""

    class CountingAdmission(Admission):
        entered = 0

        def enter(self, queue=None):
            CountingAdmission.entered += 1
            return super().enter(queue)

    rsgi = RsgiApp(App(), admission=CountingAdmission(1), max_body=1 << 20, read_timeout_s=5)

    async def main():
        loop = asyncio.get_running_loop()
        rsgi.__rsgi_init__(loop)
        answers = []
        for body in (b"", b"", b"{}"):
            proto = Proto(body)
            await asyncio.wait_for(rsgi.__rsgi__(Scope(body), proto), 5)
            answers.append(proto.answer[0])
        rsgi.__rsgi_del__(loop)
        return answers

    assert asyncio.run(main()) == [200, 200, 200]  # the fake app answered each
    assert CountingAdmission.entered == 1  # only the non-empty body took a place
