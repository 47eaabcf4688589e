"""The asyncio gRPC server (grpcio `grpc.aio.server`), `--grpc-server aio`: the same handlers,
health and reflection as the thread-pool server, run on one event loop. The core is synchronous and
short, so a handler calls it directly on the loop; the models load in a thread meanwhile.
"""

import asyncio

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from python_service.server import grpc_service, metrics
from python_service.server.grpc_service import SERVICE_NAME


class AioGrpcServer:
    """One grpc.aio server bound to `address`; create and use it inside a running event loop."""

    def __init__(
        self, predictor, address, *, max_message, reuse_port=False, max_inflight=None, recorder=metrics.NO_METRICS
    ):
        self._predictor = predictor
        self._server = grpc.aio.server(
            options=[("grpc.max_receive_message_length", max_message), ("grpc.so_reuseport", 1 if reuse_port else 0)],
            maximum_concurrent_rpcs=max_inflight,
        )
        grpc_service.register(self._server, grpc_service.aio_handlers(grpc_service.Calls(predictor, recorder)))
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        grpc_service.add_reflection(self._server)
        self.port = grpc_service.bind(self._server, address)

    async def start(self):
        await self._server.start()
        await self._set_health(self._predictor.ready)

    async def serving(self):
        await self._set_health(True)

    async def _set_health(self, serving):
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            await self._health.set(name, status)

    async def drain(self):
        await self._health.enter_graceful_shutdown()

    async def stop(self, grace):
        """Refuse new RPCs and give in-flight ones `grace` seconds."""
        await self.drain()
        await self._server.stop(grace)


async def serve(predictor, address, entries, stop_event, *, grace, load, drain=0.0, **options):
    """Serve until `stop_event` is set: start, load the models in a thread (`load(entries)`), go
    SERVING; on the event drain (predictor and health), keep answering for `drain` seconds, then
    stop with `grace`."""
    server = AioGrpcServer(predictor, address, **options)
    await server.start()
    loading = asyncio.get_running_loop().run_in_executor(None, load, entries)
    waiting = asyncio.ensure_future(stop_event.wait())
    done, _ = await asyncio.wait({loading, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if loading in done:
        loading.result()  # a load failure ends the worker (load exits the process itself)
        if predictor.ready:
            await server.serving()
        await waiting
    predictor.drain()
    await server.drain()
    await asyncio.sleep(drain)
    await server.stop(grace)
