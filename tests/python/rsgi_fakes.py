"""granian's RSGI side, faked in process: a scope, a protocol that hands over a body and records
the answer, and `Front`, an HTTP adapter behind the RSGI front (httpapi/rsgi.py) on an event loop of
its own, for tests that send requests through the front without a server process."""

import asyncio

from python_service.server.httpapi.rsgi import RsgiApp

MAX_BODY = 4194304


class Scope:
    """granian's RSGI scope, as the front reads it."""

    proto, query_string, http_version, scheme = "http", "", "1.1", "http"
    server, client = "127.0.0.1:5000", "127.0.0.1:40000"

    def __init__(self, method, path, headers):
        self.method, self.path, self.headers = method, path, headers


class Proto:
    """granian's RSGI protocol: the body (whole, or in chunks), the answer recorded."""

    def __init__(self, body):
        self.body, self.answer = body, None

    async def __call__(self):
        return self.body

    def __aiter__(self):
        return self._chunks()

    async def _chunks(self):
        for i in range(0, len(self.body), 1 << 20):
            yield self.body[i : i + (1 << 20)]

    async def client_disconnect(self):
        await asyncio.Event().wait()

    def response_bytes(self, status, headers, payload):
        self.answer = (status, {k.lower(): v for k, v in headers}, payload)


class Front:
    """An HTTP adapter behind the RSGI front, on an event loop of its own; `call` sends one request."""

    def __init__(self, app, admission):
        self.rsgi = RsgiApp(app, admission=admission, max_body=MAX_BODY, read_timeout_s=10)
        self.loop = asyncio.new_event_loop()
        self.rsgi.__rsgi_init__(self.loop)

    def call(self, method, path, body=b"", headers=None):
        """(status, lowercase headers, body) of one request."""
        sent = {k.lower(): v for k, v in (headers or {}).items()}
        if len(body) <= MAX_BODY:  # a larger body comes chunked, as a client streaming it would send it
            sent["content-length"] = str(len(body))
        proto = Proto(body)
        self.loop.run_until_complete(self.rsgi.__rsgi__(Scope(method, path, sent), proto))
        return proto.answer

    def close(self):
        self.rsgi.__rsgi_del__(self.loop)
        self.loop.close()
