"""The gRPC adapter's PredictionService, for the thread-pool and asyncio servers alike.

The handlers take and return serialized messages, so that decode (bytes → PredictRequest,
protobuf's own FromString) and encode (SerializeToString) are timed as phases of the request.
Every RPC (and each message of a PredictStream) runs through `metrics.timed`, the one wrapper
that times a call and counts it with its status; a core `PredictError` becomes the call's status
in `_behaviors`, the one place each flavor (sync or asyncio) aborts a call.
"""

import contextlib
import threading
from time import perf_counter

import grpc
from google.protobuf import descriptor_pool

from python_service.gen.predict.v1 import predict_pb2
from python_service.server.core import metrics
from python_service.server.core.errors import PredictError
from python_service.server.core.predictor import Timing

SERVICE_NAME = predict_pb2.DESCRIPTOR.services_by_name["PredictionService"].full_name
REQUEST = predict_pb2.PredictRequest


def _identity(data):
    return data


class ReflectionPool:
    """The default descriptor pool, except that a method's full name (ghz asks reflection for
    `predict.v1.PredictionService.Predict`) finds its service's file, as grpc-go's does; the
    Python pool alone only resolves the service name."""

    def __init__(self, pool=None):
        self._pool = pool or descriptor_pool.Default()

    def __getattr__(self, name):
        return getattr(self._pool, name)

    def FindFileContainingSymbol(self, symbol):
        try:
            return self._pool.FindFileContainingSymbol(symbol)
        except KeyError:
            service, _, method = symbol.rpartition(".")
            if not service or method not in self._pool.FindServiceByName(service).methods_by_name:
                raise
            return self._pool.FindFileContainingSymbol(service)


class Calls:
    """PredictionService over a predictor, on serialized messages; refusals raise PredictError.
    With `work_slots`, at most that many predictions do their work (decode, the core, encode) at
    once, the others waiting for a slot off the GIL: the thread-pool server's handler threads
    would otherwise take turns holding the GIL with grpcio's own thread, which admits and refuses
    calls (3× overload, four interleaved pairs: refusal median 1.6–5.7 ms with one slot, 5.0–14.6
    without, in three; in the fourth both fell behind, ~0.5 s)."""

    def __init__(self, predictor, recorder, work_slots=None):
        self.predictor = predictor
        self.recorder = recorder
        self._work = contextlib.nullcontext() if work_slots is None else threading.BoundedSemaphore(work_slots)

    def predict(self, data, time_remaining=None):
        with self._work:
            return self._predict(data, time_remaining)

    def _predict(self, data, time_remaining):
        timing = Timing()
        started = perf_counter()
        request = REQUEST.FromString(data)
        timing.decode = perf_counter() - started
        response = self.predictor.predict(request, time_remaining, timing)
        encoding = perf_counter()
        answer = response.SerializeToString()
        timing.encode += perf_counter() - encoding
        timing.record(self.recorder)
        return answer

    def list_models(self, data):
        return self.predictor.list_models().SerializeToString()

    def get_model(self, data):
        return self.predictor.get_model(predict_pb2.GetModelRequest.FromString(data).name).SerializeToString()

    def unary(self):
        """method name → handle(request bytes, context) → answer bytes, of every unary RPC."""
        return {
            "Predict": lambda data, context: self.predict(data, context.time_remaining),
            "ListModels": lambda data, context: self.list_models(data),
            "GetModel": lambda data, context: self.get_model(data),
        }


def _behaviors(calls, aio):
    """(unary behavior factory, PredictStream behavior) of one server flavor."""
    timed, recorder = metrics.timed, calls.recorder
    if not aio:

        def unary(method, handle):
            def behavior(data, context):
                try:
                    return timed(recorder, method, handle, data, context)
                except PredictError as e:
                    context.abort(e.code, e.message)

            return behavior

        def stream(requests, context):
            for data in requests:
                try:
                    yield timed(recorder, "PredictStream", calls.predict, data, context.time_remaining)
                except PredictError as e:
                    context.abort(e.code, e.message)

        return unary, stream

    def aio_unary(method, handle):
        async def behavior(data, context):
            try:
                return timed(recorder, method, handle, data, context)
            except PredictError as e:
                await context.abort(e.code, e.message)

        return behavior

    async def aio_stream(requests, context):
        async for data in requests:
            try:
                answer = timed(recorder, "PredictStream", calls.predict, data, context.time_remaining)
            except PredictError as e:
                await context.abort(e.code, e.message)
            yield answer

    return aio_unary, aio_stream


def handlers(calls, aio=False):
    """name → grpc.RpcMethodHandler of every PredictionService RPC, for the thread-pool server
    (or, with `aio`, the asyncio server: the core is synchronous and short, so a handler calls it
    directly on the loop)."""
    unary, stream = _behaviors(calls, aio)
    pair = {"request_deserializer": _identity, "response_serializer": _identity}
    out = {m: grpc.unary_unary_rpc_method_handler(unary(m, h), **pair) for m, h in calls.unary().items()}
    out["PredictStream"] = grpc.stream_stream_rpc_method_handler(stream, **pair)
    return out


def register(server, method_handlers):
    """Add the PredictionService handlers to a grpcio (sync or aio) server."""
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, method_handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, method_handlers)


def add_reflection(server):
    """Server reflection for the prediction and health services (grpcurl, ghz need no .proto)."""
    from grpc_health.v1 import health
    from grpc_reflection.v1alpha import reflection

    names = (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server, pool=ReflectionPool())


def bind(server, address):
    """Listen on `address` ("host:port"); the bound port, or OSError."""
    try:
        port = server.add_insecure_port(address)
    except RuntimeError:
        port = 0
    if not port:
        raise OSError("cannot listen for gRPC on %s (address in use or invalid)" % address)
    return port
