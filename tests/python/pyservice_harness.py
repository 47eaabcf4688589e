"""Test harness for the Python service: real `python -m python_service serve` processes on free
ports, started by the bench's server harness (bench.run.servers), and small HTTP / gRPC client
helpers."""

import http.client
import json
import os
import signal
import sys

import grpc

from bench.run import servers
from bench.run.procs import Supervisor
from python_service.gen.predict.v1 import predict_pb2, predict_pb2_grpc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SETOSA = [5.1, 3.5, 1.4, 0.2]


class Server:
    """A `python -m python_service serve` process, started by the bench's server harness."""

    def __init__(self, models, *extra, grpc_addr="127.0.0.1:0", http_addr="127.0.0.1:0", log_path, ca=None):
        self.log_path = log_path
        argv = [
            sys.executable,
            "-m",
            "python_service",
            "serve",
            "--models",
            str(models),
            "--grpc-addr",
            grpc_addr,
            "--http-addr",
            http_addr,
            *extra,
        ]
        protocols = tuple(p for p, a in (("grpc", grpc_addr), ("http", http_addr)) if a)
        self._sup = Supervisor(stop_timeout_s=40)
        spec = servers.ServerSpec("python", argv, protocols, ca=ca)  # ca: over TLS, verified with it
        self._server = servers.launch(self._sup, spec, None, log_path)
        self.proc = self._server.proc
        self.addresses = self._server.endpoints
        self._channel = None

    def log(self):
        return self._server.log()

    def wait_listening(self, protocols, timeout=60):
        self._server.spec.protocols = tuple(protocols)
        try:
            self._server.wait_listening(timeout)
        except servers.ServerError as e:
            raise AssertionError(str(e)) from None
        return self

    def wait_ready(self, timeout=60):
        try:
            self._server.wait_ready(timeout)
        except servers.ServerError as e:
            raise AssertionError("%s\n%s" % (e, self.log())) from None
        return self

    @property
    def http(self):
        return self.addresses["http"]

    @property
    def grpc(self):
        return self.addresses["grpc"]

    @property
    def channel(self):
        if self._channel is None:
            self._channel = grpc.insecure_channel(self.grpc)
        return self._channel

    @property
    def stub(self):
        return predict_pb2_grpc.PredictionServiceStub(self.channel)

    def stop(self, sig=signal.SIGTERM, timeout=40):
        """Signal the top process; its exit status (SIGKILL of what is left after `timeout`)."""
        if self._channel is not None:
            self._channel.close()
        self._sup.stop_timeout_s = timeout
        return self._server.stop(self._sup, sig)

    def kill(self):
        """Last resort for a failed test: everything this harness started."""
        self._sup.stop_all()


def http_call(address, method, path, body=None, headers=None, timeout=30):
    """(status, headers, body bytes) of one HTTP request on a fresh connection."""
    conn = http.client.HTTPConnection(address, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()  # headers: case-insensitive
    finally:
        conn.close()


def post_predict(address, body, content_type="application/json"):
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    headers = {"Content-Type": content_type} if content_type else {}
    return http_call(address, "POST", "/v1/predict", body, headers)


def predict_request(model, rows):
    return predict_pb2.PredictRequest(model=model, instances=[predict_pb2.Instance(features=row) for row in rows])
