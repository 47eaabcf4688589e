"""gRPC adapter: grpcio server over the core `Predictor` (decode → core → encode → map errors).

Registers predict.v1.PredictionService, the standard grpc.health.v1 health service (SERVING under
both "" and the service name while the predictor is ready, NOT_SERVING once draining) and server
reflection, so grpcurl and ghz work without the .proto file. The receive limit is --max-body:
a larger message fails with RESOURCE_EXHAUSTED inside grpcio, before the servicer runs.
"""

import functools
from concurrent import futures

import grpc
from google.protobuf import descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from python_service.gen.predict.v1 import predict_pb2, predict_pb2_grpc
from python_service.server.errors import PredictError

SERVICE_NAME = predict_pb2.DESCRIPTOR.services_by_name["PredictionService"].full_name

# Handler threads per process. Python runs one of them at a time (the GIL) and ORT runs with
# --intra-op-threads, so more threads only add switching; enough to keep ~10 callers busy.
GRPC_THREADS = 8


class _ReflectionPool:
    """The default descriptor pool, except that a method's full name (ghz asks reflection for
    `predict.v1.PredictionService.Predict`) finds its service's file, as grpc-go's does; the
    Python pool alone only resolves the service name."""

    def __init__(self, pool):
        self._pool = pool

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


def map_errors(servicer_class):
    """Class decorator: every RPC of the service answers a core `PredictError` with its code and
    message (the error table), so that no method can forget to (ListModels once did)."""
    for method in predict_pb2.DESCRIPTOR.services_by_name["PredictionService"].methods:
        implementation = getattr(servicer_class, method.name)
        setattr(servicer_class, method.name, _mapped(implementation))
    return servicer_class


def _mapped(implementation):
    @functools.wraps(implementation)
    def method(self, request, context):
        try:
            return implementation(self, request, context)
        except PredictError as e:
            context.abort(e.code, e.message)

    return method


@map_errors
class PredictionServicer(predict_pb2_grpc.PredictionServiceServicer):
    def __init__(self, predictor):
        self._predictor = predictor

    def Predict(self, request, context):
        return self._predictor.predict(request, context.time_remaining)

    def ListModels(self, request, context):
        return self._predictor.list_models()

    def GetModel(self, request, context):
        return self._predictor.get_model(request.name)


class GrpcServer:
    """One grpcio server bound to `address` ("host:port"; port 0 picks one, see `.port`)."""

    def __init__(self, predictor, address, *, max_message, reuse_port=False, threads=GRPC_THREADS):
        self._predictor = predictor
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc"),
            options=[("grpc.max_receive_message_length", max_message), ("grpc.so_reuseport", 1 if reuse_port else 0)],
        )
        predict_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(predictor), self._server)
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME),
            self._server,
            pool=_ReflectionPool(descriptor_pool.Default()),
        )
        try:
            self.port = self._server.add_insecure_port(address)
        except RuntimeError:
            self.port = 0
        if not self.port:
            raise OSError("cannot listen for gRPC on %s (address in use or invalid)" % address)
        self._stopped = None

    def start(self):
        self._server.start()
        self._set_health(self._predictor.ready)

    def serving(self):
        """Health SERVING (once the predictor is ready; ignored after `drain`)."""
        self._set_health(True)

    def _set_health(self, serving):
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            self._health.set(name, status)

    def drain(self):
        """Health goes NOT_SERVING for good; the server keeps answering (the drained predictor
        refuses predictions with UNAVAILABLE) until `stop`."""
        self._health.enter_graceful_shutdown()

    def stop(self, grace):
        """Refuse new RPCs, give in-flight ones `grace` seconds; returns a threading.Event set
        once stopped. Only the first call's grace counts."""
        if self._stopped is None:
            self.drain()
            self._stopped = self._server.stop(grace)
        return self._stopped
