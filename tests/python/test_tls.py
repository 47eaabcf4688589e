"""The Python server over TLS (--tls-cert, --tls-key): every listener, HTTP/2 and HTTP/1.1 by ALPN,
clients that verify the certificate get the same answers; the flags checked before anything starts."""

import json
import socket

import grpc

from bench.run import certs
from bench.run.lifecycle import grpc_channel, ssl_context
from python_service.__main__ import main
from python_service.gen.predict.v1 import predict_pb2_grpc
from tests.conformance.endpoints import http_connection
from tests.python.pyservice_harness import SETOSA, predict_request

PREDICT = json.dumps({"model": "iris-logreg", "instances": [{"features": SETOSA}]})


def alpn(address, ca, offered):
    """The protocol a TLS client offering `offered` gets."""
    host, port = address.rsplit(":", 1)
    context = ssl_context(ca)
    context.set_alpn_protocols(offered)
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=certs.SERVER_NAME) as tls,
    ):
        return tls.selected_alpn_protocol()


def test_every_listener_over_tls(start_server, tmp_path):
    made = certs.make(str(tmp_path / "tls"))
    server = start_server(*made.server_flags(), "--metrics-addr", "127.0.0.1:0", "--workers", "2", ca=made.ca)
    assert alpn(server.http, made.ca, ["h2", "http/1.1"]) == "h2"
    assert alpn(server.http, made.ca, ["http/1.1"]) == "http/1.1"
    assert alpn(server.grpc, made.ca, ["h2"]) == "h2"

    conn = http_connection(server.http, made.ca)  # HTTP/1.1 over TLS
    conn.request("POST", "/v1/predict", PREDICT, {"Content-Type": "application/json"})
    answer = conn.getresponse()
    assert answer.status == 200 and json.loads(answer.read())["predictions"][0]["label"] == "setosa"
    conn.close()

    with grpc_channel(server.grpc, made.ca) as channel:
        reply = predict_pb2_grpc.PredictionServiceStub(channel).Predict(predict_request("iris-logreg", [SETOSA]))
        assert reply.predictions[0].label == "setosa"

    metrics_addr = next(line.split()[-1] for line in server.log().splitlines() if "metrics listening on" in line)
    conn = http_connection(metrics_addr, made.ca)
    conn.request("GET", "/metrics")
    assert b"process_cpu_seconds_total" in conn.getresponse().read()
    conn.close()

    with grpc.insecure_channel(server.grpc) as plain:  # plaintext is not served
        try:
            predict_pb2_grpc.PredictionServiceStub(plain).Predict(predict_request("iris-logreg", [SETOSA]), timeout=3)
            raise AssertionError("a plaintext client got an answer from a TLS server")
        except grpc.RpcError:
            pass
    assert server.stop() == 0, server.log()


def test_tls_flags_are_checked(tmp_path, capsys):
    assert main(["serve", "--tls-cert", "x.pem"]) == 1
    assert "--tls-cert and --tls-key go together" in capsys.readouterr().err
    bad = tmp_path / "not-a-cert.pem"
    bad.write_text("not a certificate")
    assert main(["serve", "--models", "models", "--tls-cert", str(bad), "--tls-key", str(bad)]) == 1
    assert "--tls-cert/--tls-key" in capsys.readouterr().err
