"""The gRPC adapter's PredictionService, for the thread-pool and asyncio servers alike.

The handlers take and return serialized messages, so that decode and encode (core/codec.py, as
for HTTP protobuf) are timed as phases of the request.
Every RPC (and each message of a PredictStream) runs through `metrics.timed`, the one wrapper
that times a call and counts it with its status; a core `PredictError` becomes the call's status
in `_behaviors`, the one place each flavor (sync or asyncio) aborts a call.
"""

import threading
from time import perf_counter

import grpc
from google.protobuf import descriptor_pool

from python_service.gen.predict.v1 import predict_pb2
from python_service.server.core import codec, metrics
from python_service.server.core.admission import Admission
from python_service.server.core.errors import PredictError
from python_service.server.core.predictor import Timing

SERVICE_NAME = predict_pb2.DESCRIPTOR.services_by_name["PredictionService"].full_name


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

    A Predict call (or a PredictStream message) is admitted by `admission` (core/admission.py: the
    queueing budget, the backstop), then waits for one of `work_slots` (default: one per CPU) to do
    its work (decode, the core, encode), off the GIL: the thread-pool server's handler threads would
    otherwise take turns holding the GIL with grpcio's own thread, which admits and refuses calls
    (3× overload, four interleaved pairs: refusal median 1.6–5.7 ms with one slot, 5.0–14.6 without,
    in three; in the fourth both fell behind, ~0.5 s). A call whose deadline has passed, or is
    nearer than its expected wait, or passes while it waits, is answered DEADLINE_EXCEEDED without
    inference; one whose client went away is dropped. After each call `on_limit` receives the
    queueing budget as a count (Queue.limit): the thread-pool server hands it to grpcio, which then
    refuses the calls over it on arrival, before any handler thread takes them."""

    def __init__(self, predictor, recorder, work_slots=1, admission=None, on_limit=None):
        self.predictor = predictor
        self.recorder = recorder
        self.admission = admission or Admission(1 << 30, recorder, budget_s=0)
        self._queue = self.admission.queue(slots=work_slots)
        self._work = threading.BoundedSemaphore(work_slots)
        self._on_limit = on_limit

    def predict(self, data, context=None):
        """One Predict (or PredictStream message): admitted, then its work in a slot. `context`:
        the call's (time_remaining, is_active), or None."""
        return self.admitted(self._predict, data, context)

    def admitted(self, work, data, context=None):
        """`work(data, time_remaining)` of one prediction call (Predict, a PredictStream message,
        V2's ModelInfer: one admission bound and one set of work slots for them all), admitted,
        then run in a work slot."""
        queue = self._queue
        wait_s = queue.expected_wait_s()
        refused = self.admission.enter(queue)
        if refused is not None:
            raise refused
        service_s = None
        try:
            left = context.time_remaining() if context is not None else None
            if left is not None and left < wait_s:
                raise PredictError(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    "deadline exceeded: %.0f ms left, expected wait %.0f ms" % (1000 * max(left, 0), 1000 * wait_s),
                )
            budget = self.admission.budget_s or None  # the slot is waited for until the deadline or
            by_deadline = budget is None or (left is not None and left < budget)  # the budget, the nearer
            waiting = perf_counter()
            if not self._work.acquire(timeout=left if by_deadline else budget):
                if by_deadline:
                    raise PredictError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded while queued")
                raise self.admission.overdue(perf_counter() - waiting)
            try:
                if context is not None and _gone(context):
                    raise PredictError(grpc.StatusCode.CANCELLED, "the client went away while the call was queued")
                started = perf_counter()
                answer = work(data, context.time_remaining if context is not None else None)
                service_s = perf_counter() - started
                return answer
            finally:
                self._work.release()
        finally:
            self.admission.exit(queue, service_s)
            if self._on_limit is not None:
                self._on_limit(queue.limit(self.admission.target_s, self.admission.bound))

    def _predict(self, data, time_remaining):
        timing = Timing()
        started = perf_counter()
        request = codec.decode_protobuf(data)
        timing.decode = perf_counter() - started
        answer = self.predictor.infer(request, time_remaining, timing)
        encoding = perf_counter()
        data = codec.encode_answer_protobuf(answer)
        timing.encode += perf_counter() - encoding
        timing.record(self.recorder)
        return data

    def list_models(self, data):
        return self.predictor.list_models().SerializeToString()

    def get_model(self, data):
        return self.predictor.get_model(predict_pb2.GetModelRequest.FromString(data).name).SerializeToString()

    def unary(self):
        """method name → handle(request bytes, context) → answer bytes, of every unary RPC."""
        return {
            "Predict": self.predict,
            "ListModels": lambda data, context: self.list_models(data),
            "GetModel": lambda data, context: self.get_model(data),
        }


def _gone(context):
    """Whether the call's client went away (a thread-pool context's is_active, an asyncio one's
    cancelled)."""
    is_active = getattr(context, "is_active", None)
    return not is_active() if is_active is not None else context.cancelled()


def _behaviors(calls, aio):
    """(unary behavior factory, PredictStream behavior) of one server flavor."""
    timed, recorder = metrics.timed, calls.recorder
    if not aio:

        def unary(method, handle):
            def behavior(data, context):
                try:
                    return timed(recorder, method, handle, data, context) if method else handle(data, context)
                except PredictError as e:
                    context.abort(e.code, e.message)

            return behavior

        def stream(requests, context):
            for data in requests:
                try:
                    yield timed(recorder, "PredictStream", calls.predict, data, context)
                except PredictError as e:
                    context.abort(e.code, e.message)

        return unary, stream

    def aio_unary(method, handle):
        async def behavior(data, context):
            try:
                return timed(recorder, method, handle, data, context) if method else handle(data, context)
            except PredictError as e:
                await context.abort(e.code, e.message)

        return behavior

    async def aio_stream(requests, context):
        async for data in requests:
            try:
                answer = timed(recorder, "PredictStream", calls.predict, data, context)
            except PredictError as e:
                await context.abort(e.code, e.message)
            yield answer

    return aio_unary, aio_stream


_PAIR = {"request_deserializer": _identity, "response_serializer": _identity}


def unary_handlers(calls, table, aio=False):
    """name → grpc.RpcMethodHandler of unary RPCs on serialized messages: `table` maps each name to
    (the metrics method it is counted as, or None for none; handle(request bytes, context) → answer
    bytes, raising PredictError), wrapped as `_behaviors` does for the server's flavor."""
    unary = _behaviors(calls, aio)[0]
    return {name: grpc.unary_unary_rpc_method_handler(unary(m, h), **_PAIR) for name, (m, h) in table.items()}


def handlers(calls, aio=False):
    """name → grpc.RpcMethodHandler of every PredictionService RPC, for the thread-pool server
    (or, with `aio`, the asyncio server: the core is synchronous and short, so a handler calls it
    directly on the loop)."""
    out = unary_handlers(calls, {m: (m, h) for m, h in calls.unary().items()}, aio)
    out["PredictStream"] = grpc.stream_stream_rpc_method_handler(_behaviors(calls, aio)[1], **_PAIR)
    return out


def register(server, method_handlers, service_name=SERVICE_NAME):
    """Add a service's handlers (default: PredictionService's) to a grpcio (sync or aio) server."""
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service_name, method_handlers),))
    server.add_registered_method_handlers(service_name, method_handlers)


def add_reflection(server, services=()):
    """Server reflection for the prediction and health services and `services` (names; grpcurl,
    ghz need no .proto)."""
    from grpc_health.v1 import health
    from grpc_reflection.v1alpha import reflection

    names = (SERVICE_NAME, *services, health.SERVICE_NAME, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server, pool=ReflectionPool())


def bind(server, address, credentials=None):
    """Listen on `address` ("host:port"), over TLS with `credentials` (grpc.ssl_server_credentials);
    the bound port, or OSError."""
    try:
        port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    except RuntimeError:
        port = 0
    if not port:
        raise OSError("cannot listen for gRPC on %s (address in use or invalid)" % address)
    return port
