"""The thread-pool gRPC server (grpcio `grpc.server`), `--grpc-server sync`.

Registers predict.v1.PredictionService (grpc_service), the standard grpc.health.v1 health service
(SERVING under both "" and the service name while the predictor is ready, NOT_SERVING once
draining) and server reflection, so grpcurl and ghz work without the .proto file. The receive
limit is --max-body (a larger message fails with RESOURCE_EXHAUSTED inside grpcio, before any
handler runs); at most `max_inflight` RPCs run or wait at once, the next ones are refused by grpcio
at once with RESOURCE_EXHAUSTED (the admission bound).
"""

from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from python_service.server import grpc_service, metrics
from python_service.server.grpc_service import SERVICE_NAME

# Handler threads per process. Python runs one of them at a time (the GIL) and ORT runs under the
# predictor's inference bound, so more threads only add switching; enough to keep callers busy.
GRPC_THREADS = 8
__all__ = ["SERVICE_NAME", "GrpcServer"]


class GrpcServer:
    """One grpcio server bound to `address` ("host:port"; port 0 picks one, see `.port`)."""

    def __init__(
        self,
        predictor,
        address,
        *,
        max_message,
        reuse_port=False,
        threads=GRPC_THREADS,
        max_inflight=None,
        recorder=metrics.NO_METRICS,
        work_slots=None,
    ):
        self._predictor = predictor
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc"),
            options=[("grpc.max_receive_message_length", max_message), ("grpc.so_reuseport", 1 if reuse_port else 0)],
            maximum_concurrent_rpcs=max_inflight,
        )
        grpc_service.register(
            self._server, grpc_service.sync_handlers(grpc_service.Calls(predictor, recorder, work_slots))
        )
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        grpc_service.add_reflection(self._server)
        self.port = grpc_service.bind(self._server, address)
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
