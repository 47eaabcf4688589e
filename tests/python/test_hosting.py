"""The default HTTP hosting (granian, RSGI front) with short deadlines: a body slower than the read
timeout gets 408 and a closed connection, trickling bodies hold no admission place, a full worker
refuses predictions at once with 503 + Retry-After, and a refused or timed-out client never stops
the others."""

import json
import socket
import threading
import time

import pytest

from tests.python.pyservice_harness import SETOSA, http_call, post_predict

pytestmark = pytest.mark.process
BODY = json.dumps({"model": "iris-logreg", "instances": [{"features": SETOSA}]}).encode()


def head(length):
    return (
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % length
    )


def read_all(sock, timeout):
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        return data, False
    return data, True  # closed by the server


def test_a_slow_body_gets_408_and_a_closed_connection(start_server):
    server = start_server("--http-read-timeout", "1", grpc_addr="")
    host, port = server.http.rsplit(":", 1)
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head(len(BODY)) + BODY[:10])
        started = time.monotonic()
        data, closed = read_all(sock, 5)
    assert data.startswith(b"HTTP/1.1 408") and closed, data
    assert 0.9 <= time.monotonic() - started <= 3
    assert json.loads(data.partition(b"\r\n\r\n")[2])["code"] == 4


def test_trickling_bodies_hold_no_admission_place(start_server):
    server = start_server("--max-inflight", "2", "--http-read-timeout", "5", grpc_addr="")
    host, port = server.http.rsplit(":", 1)
    tricklers = [socket.create_connection((host, int(port))) for _ in range(5)]
    for sock in tricklers:
        sock.sendall(head(len(BODY)) + BODY[:5])
    time.sleep(0.3)
    try:
        for _ in range(10):
            assert post_predict(server.http, BODY)[0] == 200
    finally:
        for sock in tricklers:
            sock.close()


def test_a_full_worker_refuses_at_once(start_server):
    """--max-inflight 1: while one prediction holds the worker, the others are refused with 503 +
    Retry-After, fast; once the load ends predictions succeed again."""
    server = start_server("--max-inflight", "1", grpc_addr="")
    big = json.dumps({"model": "breast-cancer-rf", "instances": [{"features": [1.0] * 30}] * 1024}).encode()
    statuses, times = [], []

    def send():
        started = time.monotonic()
        status, headers, _ = post_predict(server.http, big)
        statuses.append((status, headers.get("Retry-After")))
        times.append(time.monotonic() - started)

    threads = [threading.Thread(target=send) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [s for s in statuses if s[0] == 503]
    assert refused and all(retry == "1" for _, retry in refused), statuses
    assert any(s[0] == 200 for s in statuses), statuses
    assert post_predict(server.http, BODY)[0] == 200
    assert http_call(server.http, "GET", "/readyz")[0] == 200
