"""A bench run interrupted in its network stage — Ctrl-C (SIGINT) or killed outright (SIGKILL) —
leaves no proxy process, namespace, veth or qdisc behind, and the next run first removes what a
dead run left. Real bench runs (`python -m bench`, a one-cell network profile), stopped once the
namespace and the proxy are up. Needs root (namespaces, veth, tc): skipped elsewhere."""

import os
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest
import yaml

from bench.run import netem
from tests.bench.test_bench_servers import SCENARIOS

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"), reason="needs root and iproute2"),
]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NETPROXY = os.path.join(ROOT, "bench", "netproxy", "bin", "netproxy")


@pytest.fixture
def scenarios(tmp_path):
    """scenarios.yaml plus a profile of one slow cell: the network stage, Go, a 40 ms round trip."""
    with open(SCENARIOS, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    doc["profiles"]["cleanup-test"] = {
        "stages": ["network"],
        "network": {
            "profiles": [
                {"name": "loopback", "rtt_ms": 0, "bandwidth_mbit": 0},
                {"name": "far", "rtt_ms": 40, "bandwidth_mbit": 50},
            ],
            "servers": ["go"],
            "ways": ["h1-json"],
            "concurrency": [1],
            "min_requests": 1000,
            "max_duration_s": 60,
        },
    }
    path = tmp_path / "scenarios.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _start(scenarios, tmp_path):
    if not os.access(NETPROXY, os.X_OK):
        pytest.fail(f"{NETPROXY} not built: run `make bench-network` or `make {os.path.relpath(NETPROXY, ROOT)}`")
    log = open(tmp_path / "bench.log", "wb")  # noqa: SIM115 (the bench writes it while the test waits)
    argv = [
        sys.executable,
        "-m",
        "bench",
        "--scenarios",
        scenarios,
        "--profile",
        "cleanup-test",
        "--out",
        str(tmp_path),
    ]
    return subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _host_ip(pid) -> str | None:
    """The address of the bench `pid`'s end of its link, while it has one."""
    shown = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", f"{netem.HOST_PREFIX}{pid}"], capture_output=True)
    words = shown.stdout.decode().split()
    return words[words.index("inet") + 1].split("/")[0] if "inet" in words else None


def _proxies(host_ip):
    """netproxy processes routing to the link at `host_ip` (the bench's children, or orphans of it)."""
    out = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if any(a.endswith("netproxy") for a in cmd) and f"={host_ip}:0," in " ".join(cmd):
            out.append(proc)
    return out


def _wait_emulating(bench, tmp_path, timeout_s=90) -> str:
    """Until the bench has its namespace, its link's qdisc (the far profile's tbf) and its proxy;
    its end of the link's address."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert bench.poll() is None, (tmp_path / "bench.log").read_text()
        veth = f"{netem.HOST_PREFIX}{bench.pid}"
        qdiscs = subprocess.run(["tc", "qdisc", "show", "dev", veth], capture_output=True, text=True).stdout
        host_ip = _host_ip(bench.pid)
        if host_ip and len(netem.leftovers(bench.pid)) == 2 and _proxies(host_ip) and "tbf" in qdiscs:
            return host_ip
        time.sleep(0.2)
    pytest.fail("the bench did not reach its far profile in time:\n" + (tmp_path / "bench.log").read_text()[-3000:])


def _assert_gone(pid, host_ip, timeout_s=15):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (netem.leftovers(pid) or _proxies(host_ip)):
        time.sleep(0.2)
    assert not netem.leftovers(pid), f"left behind: {netem.leftovers(pid)}"
    assert not _proxies(host_ip), f"proxy left running: {[p.pid for p in _proxies(host_ip)]}"
    qdiscs = subprocess.run(["tc", "qdisc", "show"], capture_output=True, text=True).stdout
    assert f"{netem.HOST_PREFIX}{pid}" not in qdiscs


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_run_leaves_nothing(sig, scenarios, tmp_path):
    bench = _start(scenarios, tmp_path)
    try:
        host_ip = _wait_emulating(bench, tmp_path)
        os.kill(bench.pid, sig)
        bench.wait(timeout=60)
    finally:
        if bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)
            bench.wait()
    if sig == signal.SIGINT:
        assert bench.returncode == 130, (tmp_path / "bench.log").read_text()[-2000:]
    _assert_gone(bench.pid, host_ip)


def test_next_run_removes_what_a_dead_run_left(tmp_path):
    """A namespace and veth named for a pid that no longer runs are removed by the next run's sweep."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    ns, veth = f"{netem.NS_PREFIX}{dead.pid}", f"{netem.HOST_PREFIX}{dead.pid}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    subprocess.run(["ip", "link", "add", veth, "type", "veth", "peer", "name", f"sbx{dead.pid}"], check=True)
    try:
        assert set(netem.leftovers(dead.pid)) == {ns, veth}
        removed = netem.sweep_stale()
        assert {ns, veth} <= set(removed)
        assert not netem.leftovers(dead.pid)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", veth], capture_output=True)
