"""The Flask app on granian's RSGI interface: an asyncio front that reads each request body in the
event loop, under a deadline and a size limit, admits predictions by queueing time
(core/admission.py) and only then calls the WSGI app (Flask, unchanged) with the whole body.

Why not granian's WSGI interface: there a request is handed to a Python thread as soon as its head
is read, so a client trickling its body holds a thread for as long as it likes (granian has no
body deadline), and requests beyond the threads queue where no admission check can see them. Here
no thread waits on a client: a body too slow for --http-read-timeout gets 408 and a closed
connection. A prediction asks for admission once its body is in (so a refusal reaches a client that
sends its whole body before reading, and a trickling client holds no place), and is refused at once,
503 + Retry-After, when it would wait longer than the queueing budget. Admitted requests wait for
the app lane, one thread running the app one request at a time (a worker is one CPU's worth of
work); one whose client goes away while it waits is dropped without running.

The app never runs on the loop's thread, so the loop reads, admits and refuses arrivals while a
prediction runs, as soon as the GIL is handed over (worker.GIL_SWITCH_INTERVAL_S). Running the
app on the loop, as this front first did, refused under 3× overload only between two predictions:
10–16 ms (median) instead of 2–3 ms (make test-reliability, attack 4).

A request whose body is over BIG_BODY_BYTES (errors.json big_body_bytes; a 1,024-row batch, a
hostile 4 MiB body) runs instead on a second lane, so that the small requests behind it are not
held for its whole decode (tens to hundreds of ms in Python): the two lanes share the GIL. The Go
HTTP adapter keeps the same two lanes.

The Open Inference Protocol's inferences (POST /v2/models/…/infer, v2/rest.py) are admitted the
same way, in the same queues: one bound for predict.v1 and V2 together; their errors, here too,
are V2's {"error": ...}.
"""

import asyncio
import concurrent.futures
import io
import sys
from time import perf_counter

import grpc

from python_service import contract
from python_service.server.core.errors import PredictError
from python_service.server.httpapi import errors
from python_service.server.v2 import rest

# errors.json big_body_bytes: the largest body of the small requests' lane (the Go HTTP adapter's
# BigBody too).
BIG_BODY_BYTES = contract.load("errors.json")["big_body_bytes"]


class RsgiApp:
    """RSGI application over a WSGI app (see the module docstring); granian calls `__rsgi__`."""

    def __init__(self, app, *, admission, max_body, read_timeout_s, server_name="127.0.0.1", on_exit=None):
        """`app`: a WSGI app (Flask), or a handler with `prepare(scope, body)` (on the loop) and
        `__call__(prepared)` → (status, headers, body bytes) (in a lane), as httpapi/lean.py's."""
        self.handler = app if hasattr(app, "prepare") else WsgiHandler(app, server_name)
        self.admission = admission
        self.max_body = max_body
        self.read_timeout_s = read_timeout_s
        self.on_exit = on_exit

    def __rsgi_init__(self, loop):
        self._lanes = (
            _Lane(self.admission, "request"),  # bodies up to BIG_BODY_BYTES
            _Lane(self.admission, "big-request"),
        )

    def __rsgi_del__(self, loop):
        """The worker stopped serving (its in-flight requests are done)."""
        for lane in self._lanes:
            lane.executor.shutdown(wait=False)
        if self.on_exit is not None:
            self.on_exit()

    async def __rsgi__(self, scope, proto):
        if scope.proto != "http":
            return
        v2 = rest.is_v2(scope.path)  # the Open Inference Protocol's: errors are {"error": ...}
        try:
            async with asyncio.timeout(self.read_timeout_s):  # no extra task, unlike wait_for
                body = await self._body(scope, proto)
            ready = perf_counter()  # the request is in: from now on its wait is the server's
        except TimeoutError:
            message = "request body not received within %gs" % self.read_timeout_s
            refusal = PredictError(grpc.StatusCode.DEADLINE_EXCEEDED, message)
            return proto.response_bytes(*errors.answer(refusal, 408, close=True, v2=v2))
        except _Truncated as e:
            refusal = PredictError(grpc.StatusCode.INVALID_ARGUMENT, str(e))
            return proto.response_bytes(*errors.answer(refusal, 400, close=True, v2=v2))
        inference = scope.path == "/v1/predict" if not v2 else rest.admits(scope.method, scope.path)
        if v2 and inference:  # its header checks come first (proto/inference/README.md)
            refused = _v2_refusal(scope, body)
            if refused is not None:
                status = getattr(refused, "status", None)
                return proto.response_bytes(*errors.answer(refused, status, close=body is None, v2=True))
        if body is None:  # over the limit: the rest was read and dropped
            message = "request body larger than %d bytes" % self.max_body
            refusal = PredictError(grpc.StatusCode.RESOURCE_EXHAUSTED, message)
            return proto.response_bytes(*errors.answer(refusal, 413, close=True, v2=v2))
        lane = self._lanes[len(body) > BIG_BODY_BYTES]
        prepared = self.handler.prepare(scope, body)
        # An empty body cannot be a prediction (the app refuses it at once, 400), and is what a
        # malformed chunked body arrives as from granian: it asks for no admission, so that it gets
        # its 400 even when the worker is full.
        if not (scope.method == "POST" and inference and body):
            return proto.response_bytes(*await lane.run(self.handler, prepared))
        refused = self.admission.enter(lane.queue)
        if refused is not None:
            return proto.response_bytes(*errors.answer(refused, v2=v2))
        gone = _watch_disconnect(proto) if lane.queue.inflight > lane.queue.slots else None
        answer, service_s = None, None
        try:
            answer, service_s = await lane.run_timed(self.handler, prepared, gone, self.admission, ready)
        finally:
            self.admission.exit(lane.queue, service_s)
            if gone is not None:
                gone.cancel()
        if answer is not None:  # None: the client went away while it waited
            proto.response_bytes(*answer)

    async def _body(self, scope, proto):
        """The whole body, or None when it is larger than max_body (the rest, up to 4 × max_body,
        is read and dropped so that a client sending it all before reading gets the 413); a body
        that ends before its Content-Length (the client half-closed) raises _Truncated."""
        length = scope.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) <= self.max_body:
            try:
                body = await proto()
            except Exception as e:  # granian: the connection ended before the body did
                raise _Truncated("request body ended before its Content-Length (%s bytes)" % length) from e
            if len(body) != int(length):
                raise _Truncated("request body of %d bytes, Content-Length %s" % (len(body), length))
            return body
        chunks, size = [], 0
        async for chunk in proto:
            size += len(chunk)
            if size > self.max_body:
                if size > 4 * self.max_body:
                    return None
                continue
            chunks.append(chunk)
        return b"".join(chunks) if size <= self.max_body else None


def _v2_refusal(scope, body):
    """A V2 inference's refusal by its headers (v2/rest.py early_refusal: Content-Encoding, then,
    for a body within the limit (not None), Inference-Header-Content-Length), or None."""
    encoding, lengths = rest.headers_of(scope.headers.items())
    return rest.early_refusal(encoding, lengths if body is not None else (), len(body or b""))


class _Truncated(Exception):
    """A request body shorter than its Content-Length: the client's error (400), not the server's."""


class _Lane:
    """One thread running the app, one request at a time, and the admission queue in front of it."""

    def __init__(self, admission, name):
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.queue = admission.queue(slots=1)

    async def run(self, handler, prepared):
        return await asyncio.get_running_loop().run_in_executor(self.executor, handler, prepared)

    async def run_timed(self, handler, prepared, gone, admission, ready):
        """(answer, or None when `gone` is set by the time its turn comes, or admission's refusal
        when it has waited over the budget since its body was in, at `ready`; seconds it held the
        lane, None if it did not run)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, _call_timed, handler, prepared, gone, admission, ready)


def _watch_disconnect(proto):
    """A task whose `.done()` tells that the client went away (granian's client_disconnect)."""
    return asyncio.ensure_future(proto.client_disconnect())


def _call_timed(handler, prepared, gone, admission, queued):
    if gone is not None and gone.done() and not gone.cancelled():
        return None, None
    started = perf_counter()
    overdue = admission.overdue(started - queued)
    if overdue is not None:
        return errors.answer(overdue), None
    answer = handler(prepared)
    return answer, perf_counter() - started


class WsgiHandler:
    """A WSGI app (Flask) behind the front: each request as an environ, the app called in a lane."""

    def __init__(self, wsgi_app, server_name):
        self.wsgi_app, self.server_name = wsgi_app, server_name

    def prepare(self, scope, body):
        """The WSGI environ of a request whose body has been read (on the loop)."""
        host, _, port = (scope.server or "").rpartition(":")
        environ = {
            "REQUEST_METHOD": scope.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": scope.path,
            "QUERY_STRING": scope.query_string,
            "SERVER_PROTOCOL": "HTTP/" + scope.http_version,
            "SERVER_NAME": host or self.server_name,
            "SERVER_PORT": port or "0",
            "REMOTE_ADDR": (scope.client or "").rpartition(":")[0],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scope.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)),
        }
        for name, value in scope.headers.items():
            name = name.lower()
            if name == "content-type":
                environ["CONTENT_TYPE"] = value
            elif name not in ("content-length", "transfer-encoding"):
                key = "HTTP_" + name.upper().replace("-", "_")
                environ[key] = environ[key] + "," + value if key in environ else value
        return environ

    def __call__(self, environ):
        """(status, headers, body bytes) of one WSGI call."""
        started = []

        def start_response(status, headers, exc_info=None):
            started[:] = [status, headers]

        chunks = self.wsgi_app(environ, start_response)
        try:
            payload = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        status, headers = started
        return int(status[:3]), [(k, v) for k, v in headers], payload
