"""One gRPC worker process (`python -m python_service.server.process.grpc_host`, started --workers
times by the supervisor): a grpcio server (grpcapi/server.py) on the port the supervisor reserved
(SO_REUSEPORT: the kernel spreads connections over the workers), thread pool (`--grpc-server
sync`) or asyncio (`aio`), run by the one lifecycle of both (`grpcapi.server.serve`) on an event
loop in the main thread.

It listens at once and loads the models in the background: health NOT_SERVING and predictions
UNAVAILABLE until every model is loaded. SIGTERM or SIGINT: health NOT_SERVING and new predictions
UNAVAILABLE at once (for DRAIN_S, so that clients watching health move away), then no new RPCs and
in-flight ones get GRACE_S to finish; exit 0.
"""

import signal

# A stop signal may come while this process still imports (a quick start and stop): note it from
# the first instant, before the slow imports, instead of dying of it. The handler only appends to a
# list: one that took a lock (threading.Event.set) could find it held by the main thread it
# interrupted (inside Event.wait) and hang the worker for good.
_STOP = []
for _sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(_sig, lambda *_: _STOP.append(True))

import asyncio  # noqa: E402
import functools  # noqa: E402
import sys  # noqa: E402

from python_service.server.process import worker  # noqa: E402

GRACE_S = 25
DRAIN_S = 1.0


def _address(config):
    host = config.grpc_addr.rpartition(":")[0]
    return "%s:%d" % (host, worker.port())


async def _serve(config, work):
    from python_service.server.grpcapi.server import GrpcServer, serve

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if _STOP:
        stop.set()
    server = GrpcServer(
        work.predictor,
        _address(config),
        max_message=config.max_body,
        aio=config.grpc_server == "aio",
        reuse_port=True,
        max_inflight=work.inflight_bound,
        max_queue_delay_s=config.max_queue_delay_s,
        recorder=work.recorder,
        work_slots=work.cpus,
        tls=config.tls,
    )
    load = functools.partial(work.load, wait_for_tree=True)
    await serve(server, work.predictor, load, stop, grace=GRACE_S, drain=DRAIN_S)


def main():
    config = worker.config()
    worker.setup_logging(config)
    asyncio.run(_serve(config, worker.Worker(config, "grpc")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
