"""The gRPC server: grpcio's thread-pool server (`--grpc-server sync`) or its asyncio server
(`aio`), built and run the same way.

Registers predict.v1.PredictionService (service.py), the Open Inference Protocol's
inference.GRPCInferenceService (v2/rpc.py, sharing its admission and work slots), the standard
grpc.health.v1 health service
(SERVING under both "" and the service name while the predictor is ready, NOT_SERVING once
draining) and server reflection, so grpcurl and ghz work without the .proto file. The receive
limit is --max-body (a larger message fails with RESOURCE_EXHAUSTED inside grpcio, before any
handler runs). Admission (core/admission.py): a Predict call waiting longer than the queueing
budget (`max_queue_delay_s`) would, or one over the backstop (`max_inflight`), is refused at once
with RESOURCE_EXHAUSTED. The thread-pool server refuses on arrival, in grpcio's own polling thread
(`maximum_concurrent_rpcs`, which this server keeps at the budget's count: Queue.limit); the asyncio
server in its handler, on the loop.

`serve` is the one lifecycle of both flavors: start, load the models, SERVING; on the stop event
drain (predictor and health), keep answering for a moment, then stop with a grace period.
"""

import asyncio
import inspect
import pathlib
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from python_service.server.core import metrics
from python_service.server.core.admission import Admission
from python_service.server.grpcapi import service
from python_service.server.grpcapi.service import SERVICE_NAME
from python_service.server.v2 import rpc

# Handler threads per process (thread-pool server). Python runs one of them at a time (the GIL) and
# ORT runs under the predictor's inference bound, so more threads only add switching; enough to
# keep callers busy.
GRPC_THREADS = 8
_UNBOUNDED = 1 << 30  # no backstop (tests)
__all__ = ["SERVICE_NAME", "GrpcServer", "serve"]


class GrpcServer:
    """One grpcio server bound to `address` ("host:port"; port 0 picks one, see `.port`), over TLS
    with `tls` = (certificate file, key file). With `aio`, an asyncio server: create it inside a
    running event loop, and await its methods."""

    def __init__(
        self,
        predictor,
        address,
        *,
        max_message,
        aio=False,
        reuse_port=False,
        threads=GRPC_THREADS,
        max_inflight=None,
        max_queue_delay_s=0.0,
        recorder=metrics.NO_METRICS,
        work_slots=1,
        tls=None,
    ):
        self._predictor = predictor
        options = [("grpc.max_receive_message_length", max_message), ("grpc.so_reuseport", 1 if reuse_port else 0)]
        on_limit = None
        if aio:
            self._server = grpc.aio.server(options=options, maximum_concurrent_rpcs=max_inflight)
            self._health = health.aio.HealthServicer()
        else:
            pool = futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc")
            self._server = grpc.server(pool, options=options, maximum_concurrent_rpcs=max_inflight)
            self._health = health.HealthServicer()
            if max_inflight and max_queue_delay_s:
                on_limit = _limit_setter(self._server)
        admission = Admission(max_inflight or _UNBOUNDED, recorder, budget_s=max_queue_delay_s)
        calls = service.Calls(predictor, recorder, work_slots, admission, on_limit)
        service.register(self._server, service.handlers(calls, aio=aio))
        rpc.register(self._server, calls, aio=aio)  # the Open Inference Protocol (V2), same calls
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        service.add_reflection(self._server, (rpc.SERVICE_NAME,))
        self.port = service.bind(self._server, address, _credentials(tls))
        self._stopped = None

    def start(self):
        return _then(self._server.start(), lambda: self._set_health(self._predictor.ready))

    def serving(self):
        """Health SERVING (once the predictor is ready; ignored after `drain`)."""
        return self._set_health(True)

    def _set_health(self, serving):
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        return _each(self._health.set(name, status) for name in ("", SERVICE_NAME))

    def drain(self):
        """Health goes NOT_SERVING for good; the server keeps answering (the drained predictor
        refuses predictions with UNAVAILABLE) until `stop`."""
        return self._health.enter_graceful_shutdown()

    def stop(self, grace):
        """Refuse new RPCs, give in-flight ones `grace` seconds. Thread-pool: a threading.Event set
        once stopped (only the first call's grace counts); asyncio: a coroutine."""
        if self._stopped is None:
            self._stopped = _then(self.drain(), lambda: self._server.stop(grace))
        return self._stopped


def _credentials(tls):
    """Server credentials of (certificate file, key file) (PEM), or None for plaintext."""
    if not tls:
        return None
    cert, key = (pathlib.Path(path).read_bytes() for path in tls)
    return grpc.ssl_server_credentials([(key, cert)])


def _limit_setter(server):
    """A function that sets the thread-pool server's count bound (`maximum_concurrent_rpcs`, which
    grpcio's polling thread reads for every arriving call, before any handler thread takes it: the
    one refusal cheap enough under 3× overload, README "Under attack")."""
    state = getattr(server, "_state", None)
    if state is None or not hasattr(state, "maximum_concurrent_rpcs"):
        raise RuntimeError("this grpcio has no _state.maximum_concurrent_rpcs: update grpcapi/server.py")

    def set_limit(n):
        state.maximum_concurrent_rpcs = n

    return set_limit


def _then(first, second):
    """`second()` after `first` (an awaitable's completion, or a plain value: at once)."""
    if not inspect.isawaitable(first):
        return second()

    async def chained():
        await first
        return await _settled(second())

    return chained()


def _each(results):
    """Every result of an iterable of calls, awaited when they are awaitables (asyncio)."""
    results = list(results)
    if not any(inspect.isawaitable(r) for r in results):
        return None
    return asyncio.gather(*results)


async def _settled(result, timeout=None):
    """A method's result, however the flavor returns it: awaited, or waited for off the loop (a
    threading.Event)."""
    if inspect.isawaitable(result):
        return await result
    if isinstance(result, threading.Event):
        return await asyncio.to_thread(result.wait, timeout)
    return result


async def serve(server, predictor, load, stop, *, grace, drain):
    """Serve until `stop` (an asyncio.Event) is set: start, load the models in a thread (`load()`
    returns once this worker's and the tree's models are loaded; a failure ends the process), go
    SERVING; on the event drain (predictor and health), keep answering for `drain` seconds (so that
    clients watching health move away), then stop with `grace`."""
    await _settled(server.start())
    loading = asyncio.get_running_loop().run_in_executor(None, load)
    waiting = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({loading, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if loading in done:
        loading.result()
        if predictor.ready:
            await _settled(server.serving())
        await waiting
    predictor.drain()
    await _settled(server.drain())
    await asyncio.sleep(drain)
    await _settled(server.stop(grace), grace + 1)
