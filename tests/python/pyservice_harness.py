"""Test harness for the Python service: real `python -m python_service serve` processes on free
ports (the listening lines on stderr tell the addresses) and small HTTP / gRPC client helpers."""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

import python_service  # noqa: F401  (puts the generated stubs on sys.path)
from predict.v1 import predict_pb2, predict_pb2_grpc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LISTENING = re.compile(r"(grpc|http) listening on (\S+:\d+)")
SETOSA = [5.1, 3.5, 1.4, 0.2]


class Server:
    """A `python -m python_service serve` process started on free ports."""

    def __init__(self, models, *extra, grpc_addr="127.0.0.1:0", http_addr="127.0.0.1:0",
                 log_path):
        self.log_path = log_path
        self._log = open(log_path, "w+b")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "python_service", "serve", "--models", str(models),
             "--grpc-addr", grpc_addr, "--http-addr", http_addr, *extra],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self.addresses = {}
        self._channel = None

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_listening(self, protocols, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.addresses = dict(LISTENING.findall(self.log()))
            if set(protocols) <= set(self.addresses):
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("server did not report %s listening:\n%s" % (protocols, self.log()))

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if "http" in self.addresses:
                    if http_call(self.http, "GET", "/readyz")[0] != 200:
                        raise OSError("not ready")
                if "grpc" in self.addresses:
                    check = health_pb2_grpc.HealthStub(self.channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=2)
                    if check.status != health_pb2.HealthCheckResponse.SERVING:
                        raise OSError("not serving")
                return self
            except (OSError, grpc.RpcError):
                time.sleep(0.05)
        raise AssertionError("server never became ready:\n%s" % self.log())

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
        """Signal the top process; return its exit status."""
        if self._channel is not None:
            self._channel.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self):
        """Last resort for a failed test: the process group this fixture started."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._log.close()


def http_call(address, method, path, body=None, headers=None, timeout=30):
    """(status, headers, body bytes) of one HTTP request on a fresh connection."""
    conn = http.client.HTTPConnection(address, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def post_predict(address, body, content_type="application/json"):
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    headers = {"Content-Type": content_type} if content_type else {}
    return http_call(address, "POST", "/v1/predict", body, headers)


def predict_request(model, rows):
    return predict_pb2.PredictRequest(
        model=model, instances=[predict_pb2.Instance(features=row) for row in rows])
