"""The null grpcio server: predict.v1.PredictionService's Predict and PredictStream answered with a
constant empty PredictResponse, the request bytes never parsed; grpcio's thread-pool server with the
service's pool size, or (`--aio`) its asyncio server — the floor of the Python gRPC server of each kind.

    python -m bench.null.grpcio_server --addr 127.0.0.1:0 [--aio] [--workers N]

Like the service (python_service/server/process/grpc_host.py, grpcapi/server.py): the port reserved
with SO_REUSEPORT and shared by --workers processes, the same GIL switch interval, the same pool size;
no health service, no reflection and no metrics (the bench's load generators need none of them).
Writes "grpc listening on HOST:PORT" to stderr once it serves; SIGTERM or SIGINT stops it.
"""

import argparse
import asyncio
import os
import signal
import socket
import sys
from concurrent import futures

from bench.null import ANSWER_PROTOBUF

SERVICE = "predict.v1.PredictionService"
# As the service: python_service/server/grpcapi/server.py GRPC_THREADS and process/worker.py
# GIL_SWITCH_INTERVAL_S (tests/bench/test_bench_null.py checks that they agree).
GRPC_THREADS = 8
GIL_SWITCH_INTERVAL_S = 0.001


def _unary(request, context):
    return ANSWER_PROTOBUF


def _stream(requests, context):
    for _ in requests:
        yield ANSWER_PROTOBUF


async def _unary_aio(request, context):
    return ANSWER_PROTOBUF


async def _stream_aio(requests, context):
    async for _ in requests:
        yield ANSWER_PROTOBUF


def _handler(aio: bool):
    import grpc

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Predict": grpc.unary_unary_rpc_method_handler(_unary_aio if aio else _unary),
            "PredictStream": grpc.stream_stream_rpc_method_handler(_stream_aio if aio else _stream),
        },
    )


def _options():
    return [("grpc.so_reuseport", 1)]


def serve_sync(address: str, announce) -> None:
    import grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=GRPC_THREADS), options=_options())
    server.add_generic_rpc_handlers((_handler(False),))
    server.add_insecure_port(address)
    server.start()
    announce()
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))
    while not stop:
        signal.pause()
    server.stop(1).wait()


async def serve_aio(address: str, announce) -> None:
    import grpc

    server = grpc.aio.server(options=_options())
    server.add_generic_rpc_handlers((_handler(True),))
    server.add_insecure_port(address)
    await server.start()
    announce()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1)


def reserve(address: str) -> socket.socket:
    """A socket bound to `address` with SO_REUSEPORT, not listening: the port the workers share."""
    host, _, port = address.rpartition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, int(port)))
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.null.grpcio_server", description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:0", help="HOST:PORT (port 0 picks a free port)")
    parser.add_argument("--aio", action="store_true", help="grpcio's asyncio server instead of the thread pool")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port (SO_REUSEPORT)")
    args = parser.parse_args(argv)
    reserved = reserve(args.addr)
    host, port = reserved.getsockname()
    address = f"{host}:{port}"

    def announce():
        if first:  # once the first process serves (the port is reserved: every worker shares it)
            sys.stderr.write(f"null-grpcio: grpc listening on {address}\n")
            sys.stderr.flush()

    first = True
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    children = []
    for _ in range(args.workers - 1):  # forked before grpcio is imported (it does not survive a fork)
        pid = os.fork()
        if pid == 0:
            children, first = [], False
            break
        children.append(pid)
    try:
        if args.aio:
            asyncio.run(serve_aio(address, announce))
        else:
            serve_sync(address, announce)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
