"""Attack 8, kill -9 under load, beside the normal clients (HTTP JSON and gRPC at once).

Python: kill -9 each kind of process of the tree in turn: granian's HTTP worker (granian's master
starts another), the HTTP host (granian's master: the supervisor kills its process group and starts
another), the gRPC worker (the supervisor starts another), and last the supervisor itself. Go: kill
-9 the process and start it again through the harness on the same ports. Rules: the endpoint
answers correctly again within 5 s of the kill (a probe sends a normal request every 10 ms from the
kill on: recovery = from the kill to its first correct answer); the normal client's rule holds
outside [kill, kill + recovery + 1 s] (the second: its own reconnect); nothing is left behind (issue
"nothing a server starts outlives it"): within 5 s of the recovery no process of the killed one's
tree is alive and only the supervisor's tree listens on the server's ports. The supervisor's row:
its whole tree is gone within 15 s (the parent-death signal: each child drains, then exits) and
nothing answers on its ports.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import grpc
import pytest

from tests import process_tree as pt
from tests.reliability import harness
from tests.reliability.conftest import finish, judge_normal
from tests.reliability.report import Verdict
from tests.reliability.test_overload import recover_grpc, recover_http

pytestmark = [pytest.mark.reliability, pytest.mark.process]

RECOVERY_MAX_S = 5.0
LEFT_MAX_S = 5.0  # after the recovery, for the killed one's tree to be gone
TREE_GONE_MAX_S = 15.0  # after the supervisor's SIGKILL: every child drained and exited
STEADY_S = 2.0
CLIENT_GRACE_S = 1.0  # after the recovery, for the normal client's own reconnect (gRPC backoff ≤ 0.5 s)


def _probe_grpc(address: str, max_s: float) -> float | None:
    from python_service.gen.predict.v1 import predict_pb2_grpc

    options = [
        ("grpc.initial_reconnect_backoff_ms", 50),
        ("grpc.min_reconnect_backoff_ms", 50),
        ("grpc.max_reconnect_backoff_ms", 200),
    ]
    with grpc.insecure_channel(address, options=options) as channel:
        return recover_grpc(predict_pb2_grpc.PredictionServiceStub(channel), max_s)


def _probe(protocol: str, address: str, out: dict) -> threading.Thread:
    def run():
        out[protocol] = recover_http(address, 10.0) if protocol == "http" else _probe_grpc(address, 10.0)

    thread = threading.Thread(target=run, name="probe-" + protocol)
    thread.start()
    return thread


def _kill(proc) -> int:
    pid = proc.pid
    os.kill(pid, signal.SIGKILL)
    return pid


def _left_behind(target, old) -> list[str]:
    """Reasons, if any, that the killed process's tree left something behind."""
    ports = [pt.port(target.http), pt.port(target.grpc)]
    pt.wait_for(lambda: not pt.alive(old) and not pt.unsupervised(target.pid, ports), LEFT_MAX_S)
    reasons = []
    left, strays = pt.alive(old), pt.unsupervised(target.pid, ports)
    if left:
        reasons.append("left behind: processes of the killed one's tree still alive: %s" % pt.describe(left))
    if strays:
        reasons.append("left behind: unsupervised listeners (port → pids) %s" % strays)
    return reasons


def _kill_tree(target, victim) -> tuple[int, list]:
    """kill -9 `victim`; (its pid, its tree as it was)."""
    old = [victim, *victim.children(recursive=True)]
    victim.send_signal(signal.SIGKILL)
    return victim.pid, old


def _window(killed_at, recovery):
    """[kill, kill + recovery + the client's grace): when the normal client is not judged."""
    return killed_at, killed_at + (recovery + CLIENT_GRACE_S if recovery is not None else 10.0)


def _row(report, target, what, protocol, client, killed_at, recovery, extra, v, left=(), windows=()):
    """One kill's row; the normal client is judged outside every kill's window on its protocol."""
    until = _window(killed_at, recovery)[1]
    outside = [r for r in client.records if not any(a <= r[0] < b for a, b in windows or [(killed_at, until)])]
    from tests.reliability.normal import summarise

    summary = summarise(outside, client.retries)
    inside = client.summary(since=killed_at, until=until)
    judge_normal(v, summary)
    for reason in left:
        v.check(False, reason)
    v.check(
        recovery is not None and recovery <= RECOVERY_MAX_S,
        "%s: no correct answer within %g s of the kill%s"
        % (protocol, RECOVERY_MAX_S, "" if recovery is None else " (%.2f s)" % recovery),
    )
    text = "recovered in %s; normal requests sent meanwhile: %d, %d failed; %s" % (
        "—" if recovery is None else "%.2f s" % recovery,
        inside.sent,
        inside.sent - inside.ok,
        extra,
    )
    figures = {"recovery_s": recovery, "normal_during": inside.as_dict(), "detail": extra}
    finish(report, target.kind, "8 kill -9 %s" % what, v, text, figures, summary)


def test_kill_9(target, normal, report):
    http_client = normal("http", target.http)
    grpc_client = normal("grpc", target.grpc)
    time.sleep(STEADY_S)
    results: dict = {}
    rows = []
    if target.kind.startswith("python"):
        for what, module, protocol in (
            ("(granian worker)", None, "http"),
            ("(HTTP host)", "python_service.server.process.http_host", "http"),
            ("(gRPC worker)", "python_service.server.process.grpc_host", "grpc"),
        ):
            (host,) = harness.python_children(target, module or "python_service.server.process.http_host")
            victim = host if module else (host.children() or [None])[0]
            assert victim is not None, "granian has no worker process"
            killed_at = time.time()
            pid, old = _kill_tree(target, victim)
            _probe(protocol, target.http if protocol == "http" else target.grpc, results).join()
            left = _left_behind(target, old)
            now = [p.pid for p in pt.tree(target.pid).values() if p.pid != target.pid]
            detail = "pid %d killed (its tree: %s); the tree now %s" % (pid, [p.pid for p in old], now)
            rows.append((what, protocol, killed_at, results.get(protocol), detail, left))
            time.sleep(STEADY_S)
    else:
        old = target.server
        killed_at = time.time()
        pid = _kill(old.proc)
        probes = [_probe("http", old.endpoints["http"], results), _probe("grpc", old.endpoints["grpc"], results)]
        old.proc.wait()
        target.sup.stop(old.proc)
        started = time.monotonic()
        restarted = harness.start(
            target.sup,
            "go",
            old.log_path + ".restart",
            harness.MODELS,
            "--http-addr",
            old.endpoints["http"],
            "--grpc-addr",
            old.endpoints["grpc"],
        )
        restart_s = time.monotonic() - started
        target.server = restarted.server
        for t in probes:
            t.join()
        detail = "pid %d killed, restarted as %d on the same ports (harness start %.2f s)" % (
            pid,
            restarted.pid,
            restart_s,
        )
        rows.append(("+ restart (HTTP)", "http", killed_at, results.get("http"), detail, ()))
        rows.append(("+ restart (gRPC)", "grpc", killed_at, results.get("grpc"), detail, ()))
    time.sleep(STEADY_S)
    http_client.stop()
    grpc_client.stop()
    failures = []
    for what, protocol, killed_at, recovery, extra, left in rows:
        client = http_client if protocol == "http" else grpc_client
        windows = [_window(row[2], row[3]) for row in rows if row[1] == protocol]
        try:
            _row(report, target, what, protocol, client, killed_at, recovery, extra, Verdict(), left, windows)
        except pytest.fail.Exception as e:
            failures.append(str(e))
    if target.kind.startswith("python"):
        try:
            _supervisor_row(report, target)
        except pytest.fail.Exception as e:
            failures.append(str(e))
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


def _supervisor_row(report, target):
    """kill -9 the supervisor (last: the server is gone after it): its tree follows, nothing answers."""
    seen = list(pt.tree(target.pid).values())
    killed_at = time.monotonic()
    target.server.proc.send_signal(signal.SIGKILL)
    gone = pt.wait_for(lambda: not pt.alive(seen), TREE_GONE_MAX_S)
    gone_s = time.monotonic() - killed_at
    left = pt.alive(seen)
    answering = [a for a in (target.http, target.grpc) if pt.answers(a)]
    v = Verdict()
    v.check(
        gone and not left, "left behind: %g s after the kill, still alive: %s" % (TREE_GONE_MAX_S, pt.describe(left))
    )
    v.check(not answering, "left behind: something still answers on %s" % answering)
    text = "supervisor pid %d killed; its tree of %d processes gone in %.2f s; answering after: %s" % (
        target.pid,
        len(seen),
        gone_s,
        answering or "nothing",
    )
    figures = {"tree": [p.pid for p in seen], "gone_s": round(gone_s, 2), "answering": answering}
    finish(report, target.kind, "8 kill -9 (supervisor)", v, text, figures)
