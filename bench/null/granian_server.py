"""The null HTTP server on granian's RSGI interface: every request's body read (not parsed) and
answered 200 with a constant empty PredictResponse JSON — the floor of the Python HTTP host the
service ships (granian, RSGI, uvloop, HTTP/1.1), for its default Flask stack and its lean adapter
(`--http-server rsgi`) alike.

    python -m bench.null.granian_server --addr 127.0.0.1:0 [--workers N]

Like the service's host (python_service/server/process/http_host.py, serve_granian): the port
reserved with SO_REUSEPORT, --workers processes, RSGI on uvloop, HTTP/1.1 only, one blocking thread,
the same backpressure and GIL switch interval. Writes "http listening on HOST:PORT" to stderr.
"""

import argparse
import sys

from bench.null import ANSWER_JSON
from bench.null.grpcio_server import GIL_SWITCH_INTERVAL_S, reserve

BACKPRESSURE = 8192  # as http_host.serve_granian
_HEADERS = [("content-type", "application/json")]


class NullApp:
    """RSGI: read the body, answer the constant."""

    def __rsgi_init__(self, loop):
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)

    def __rsgi_del__(self, loop):
        pass

    async def __rsgi__(self, scope, proto):
        if scope.proto != "http":
            return
        await proto()
        proto.response_bytes(200, _HEADERS, ANSWER_JSON)


def app():
    """granian's factory (called in each worker)."""
    return NullApp()


def main(argv: list[str] | None = None) -> int:
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.server import Server

    parser = argparse.ArgumentParser(prog="python -m bench.null.granian_server", description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:0", help="HOST:PORT (port 0 picks a free port)")
    parser.add_argument("--workers", type=int, default=1, help="granian worker processes")
    args = parser.parse_args(argv)
    reserved = reserve(args.addr)
    host, port = reserved.getsockname()
    sys.stderr.write(f"null-granian: http listening on {host}:{port}\n")
    sys.stderr.flush()
    server = Server(
        "bench.null.granian_server:app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.RSGI,
        loop=Loops.uvloop,
        workers=args.workers,
        blocking_threads=1,
        backpressure=BACKPRESSURE,
        http=HTTPModes.http1,
        websockets=False,
        log_level="error",
    )
    server.serve()
    reserved.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
