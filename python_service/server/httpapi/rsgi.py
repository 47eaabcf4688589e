"""The Flask app on granian's RSGI interface: an asyncio front that reads each request body in the
event loop, under a deadline and a size limit, refuses predictions at once when the worker is at
its admission bound, and only then calls the WSGI app (Flask, unchanged) with the whole body.

Why not granian's WSGI interface: there a request is handed to a Python thread as soon as its head
is read, so a client trickling its body holds a thread for as long as it likes (granian has no
body deadline), and requests beyond the threads queue where no admission check can see them. Here
no thread waits on a client: a body too slow for --http-read-timeout gets 408 and a closed
connection, an overloaded worker answers 503 + Retry-After before reading anything. Requests whose
body has arrived wait for the app lane, one thread running the app one request at a time (a worker
is one CPU's worth of work), in a queue the admission bound caps (queued plus the one in progress).

The app never runs on the loop's thread, so the loop reads, admits and refuses arrivals while a
prediction runs, as soon as the GIL is handed over (worker.GIL_SWITCH_INTERVAL_S). Running the
app on the loop, as this front first did, refused under 3× overload only between two predictions:
10–16 ms (median) instead of 2–3 ms (make test-reliability, attack 4).

A request whose body is over BIG_BODY_BYTES (errors.json big_body_bytes; a 1,024-row batch, a
hostile 4 MiB body) runs instead on a second lane, so that the small requests behind it are not
held for its whole decode (tens to hundreds of ms in Python): the two lanes share the GIL. The Go
HTTP adapter keeps the same two lanes.
"""

import asyncio
import concurrent.futures
import io
import sys

import grpc

from python_service import contract
from python_service.server.core.errors import PredictError
from python_service.server.httpapi import errors

# errors.json big_body_bytes: the largest body of the small requests' lane (the Go HTTP adapter's
# BigBody too).
BIG_BODY_BYTES = contract.load("errors.json")["big_body_bytes"]


class RsgiApp:
    """RSGI application over a WSGI app (see the module docstring); granian calls `__rsgi__`."""

    def __init__(self, wsgi_app, *, admission, max_body, read_timeout_s, server_name="127.0.0.1", on_exit=None):
        self.wsgi_app = wsgi_app
        self.admission = admission
        self.max_body = max_body
        self.read_timeout_s = read_timeout_s
        self.server_name = server_name
        self.on_exit = on_exit

    def __rsgi_init__(self, loop):
        self._lane = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")
        self._big_lane = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="big-request")

    def __rsgi_del__(self, loop):
        """The worker stopped serving (its in-flight requests are done)."""
        self._lane.shutdown(wait=False)
        self._big_lane.shutdown(wait=False)
        if self.on_exit is not None:
            self.on_exit()

    async def __rsgi__(self, scope, proto):
        if scope.proto != "http":
            return
        predict = scope.method == "POST" and scope.path == "/v1/predict"
        if predict and self.admission.full():
            self.admission.shed()
            return _answer(proto, errors.answer(self.admission.refusal()))
        try:
            async with asyncio.timeout(self.read_timeout_s):  # no extra task, unlike wait_for
                body = await self._body(scope, proto)
        except TimeoutError:
            message = "request body not received within %gs" % self.read_timeout_s
            return _answer(
                proto, errors.answer(PredictError(grpc.StatusCode.DEADLINE_EXCEEDED, message), 408, close=True)
            )
        if body is None:  # over the limit: the rest was read and dropped
            message = "request body larger than %d bytes" % self.max_body
            refusal = PredictError(grpc.StatusCode.RESOURCE_EXHAUSTED, message)
            return _answer(proto, errors.answer(refusal, 413, close=True))
        environ = self._environ(scope, body)
        # An empty body cannot be a prediction (the app refuses it at once, 400), and is what a
        # malformed chunked body arrives as from granian: it takes no admission place, so that it
        # gets its 400 even when the worker is full.
        admitted = predict and bool(body)
        if admitted and not self.admission.enter():
            return _answer(proto, errors.answer(self.admission.refusal()))
        lane = self._big_lane if len(body) > BIG_BODY_BYTES else self._lane
        try:
            status, headers, payload = await asyncio.get_running_loop().run_in_executor(
                lane, _call, self.wsgi_app, environ
            )
        finally:
            if admitted:
                self.admission.exit()
        proto.response_bytes(status, headers, payload)

    async def _body(self, scope, proto):
        """The whole body, or None when it is larger than max_body (the rest, up to 4 × max_body,
        is read and dropped so that a client sending it all before reading gets the 413)."""
        length = scope.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) <= self.max_body:
            return await proto()
        chunks, size = [], 0
        async for chunk in proto:
            size += len(chunk)
            if size > self.max_body:
                if size > 4 * self.max_body:
                    return None
                continue
            chunks.append(chunk)
        return b"".join(chunks) if size <= self.max_body else None

    def _environ(self, scope, body):
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


def _call(wsgi_app, environ):
    """(status, headers, body bytes) of one WSGI call."""
    started = []

    def start_response(status, headers, exc_info=None):
        started[:] = [status, headers]

    chunks = wsgi_app(environ, start_response)
    try:
        payload = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    status, headers = started
    return int(status[:3]), [(k, v) for k, v in headers], payload


def _answer(proto, answer):
    """An error answer straight from the front (overload, slow or too large body): errors.answer's."""
    proto.response_bytes(*answer)
