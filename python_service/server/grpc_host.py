"""One gRPC worker process (`python -m python_service.server.grpc_host`, started --workers times by
the supervisor): a grpcio server on the port the supervisor reserved (SO_REUSEPORT: the kernel
spreads connections over the workers), thread pool (`--grpc-server sync`) or asyncio (`aio`).

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
import sys  # noqa: E402
import time  # noqa: E402

from python_service.server import worker  # noqa: E402

GRACE_S = 25
DRAIN_S = 1.0
STOP_POLL_S = 0.1


def _options(config, work):
    return {
        "max_message": config.max_body,
        "reuse_port": True,
        "max_inflight": work.inflight_bound,
        "recorder": work.recorder,
    }


def _address(config):
    host = config.grpc_addr.rpartition(":")[0]
    return "%s:%d" % (host, worker.port())


def serve_sync(config, work):
    from python_service.server.grpc_server import GrpcServer

    server = GrpcServer(work.predictor, _address(config), work_slots=work.cpus, **_options(config, work))
    server.start()
    work.load_in_background(on_ready=server.serving)
    while not _STOP:
        time.sleep(STOP_POLL_S)
    work.predictor.drain()
    server.drain()
    time.sleep(DRAIN_S)
    server.stop(GRACE_S).wait(GRACE_S + 1)
    return 0


def serve_aio(config, work):
    from python_service.server.grpc_aio import serve

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if _STOP:
            stop.set()
        await serve(
            work.predictor,
            _address(config),
            None,
            stop,
            grace=GRACE_S,
            drain=DRAIN_S,
            load=lambda _: work.load(wait_for_tree=True),
            **_options(config, work),
        )

    asyncio.run(main())
    return 0


def main():
    config = worker.config()
    worker.setup_logging(config)
    work = worker.Worker(config, "grpc")
    if config.grpc_server == "aio":
        return serve_aio(config, work)
    return serve_sync(config, work)


if __name__ == "__main__":
    sys.exit(main())
