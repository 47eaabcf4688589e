"""A server's own account of its CPU and memory on /metrics — what the bench reads of a server it did
not start (--target) — agrees with its process tree measured from outside (psutil: what the bench
reads of a server it started): process_cpu_seconds_total within 5 % of the tree's CPU seconds,
process_resident_memory_bytes within 5 % of its summed RSS, for the Go server (one process) and
the Python server with two workers per protocol (a supervisor, gRPC workers, granian's master and
workers, summed)."""

import http.client
import json
import os

import pytest

from bench.run import scrape, servers
from bench.run.procs import Supervisor, tree_cpu_s, tree_rss_mb
from tests.conformance.conftest import GO_BIN, ort_library, require

pytestmark = pytest.mark.process
BODY = json.dumps({"model": "breast-cancer-rf", "instances": [{"features": [0.5] * 30}] * 32})


def spec(kind, models_dir):
    if kind == "python":
        return servers.python_spec(("grpc", "http"), models_dir, workers=2)
    require(GO_BIN, "the Go server binary", "build")
    return servers.go_spec(("grpc", "http"), models_dir, "--ort-lib", ort_library(), go_bin=GO_BIN)


@pytest.mark.parametrize("kind", ["python", "go"])
def test_metrics_account_for_the_process_tree(kind, models_dir, tmp_path):
    with Supervisor(stop_timeout_s=30) as sup:
        server = servers.start(sup, spec(kind, models_dir), None, str(tmp_path / "server.log"), 90)
        for _ in range(200):  # new connections (every HTTP worker gets some) until the tree used a CPU second
            if tree_cpu_s(server.pid) > 1.0:
                break
            conn = http.client.HTTPConnection(server.endpoints["http"], timeout=30)
            for _ in range(100):
                conn.request("POST", "/v1/predict", BODY, {"Content-Type": "application/json"})
                assert conn.getresponse().read()
            conn.close()
        cpu_before, rss_before = tree_cpu_s(server.pid), tree_rss_mb(server.pid)
        scraped = scrape.scrape(server.endpoints["http"])
        cpu_after, rss_after = tree_cpu_s(server.pid), tree_rss_mb(server.pid)
        cpu, rss = scraped[scrape.CPU_KEY], scrape.rss_mb(scraped)
        assert 0.95 * cpu_before <= cpu <= 1.05 * cpu_after, (cpu_before, cpu, cpu_after)
        low, high = min(rss_before, rss_after), max(rss_before, rss_after)
        assert 0.95 * low <= rss <= 1.05 * high, (rss_before, rss, rss_after)
        assert server.stop(sup) == 0
    assert os.path.exists(tmp_path / "server.log")
