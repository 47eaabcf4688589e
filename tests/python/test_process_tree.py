"""Nothing a server starts outlives it (the short form; tests/reliability/test_kill.py has the full
one under load): kill -9 each kind of process of the Python tree — granian's worker, the HTTP host
(granian's master), the gRPC worker — and check that every process of the killed one's subtree is
gone, that only the supervisor's tree listens on the server's ports, and that the server answers
again; then stop it and check that nothing is left and nothing answers. The supervisor's own
SIGKILL takes the tree with it (the parent-death signal). The Go server: nothing answers after it
stops."""

import signal

import grpc
import pytest

from bench.run import servers
from bench.run.procs import Supervisor
from python_service.gen.predict.v1 import predict_pb2_grpc
from tests import process_tree as pt
from tests.python.pyservice_harness import SETOSA, post_predict, predict_request

pytestmark = pytest.mark.process

SETTLE_S = 15.0  # a killed child's group is gone and its replacement answers within this
GONE_S = 15.0  # after a stop (drain 1 s, then the stop itself), or after the supervisor's SIGKILL


def _http_ok(address):
    try:
        return post_predict(address, {"model": "iris-logreg", "instances": [{"features": SETOSA}]})[0] == 200
    except OSError:
        return False


def _grpc_ok(address):
    with grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
        try:
            stub = predict_pb2_grpc.PredictionServiceStub(channel)
            return bool(stub.Predict(predict_request("iris-logreg", [SETOSA]), timeout=2).predictions)
        except grpc.RpcError:
            return False


def _children(root, module):
    """The supervisor's children running `python -m module` (not the workers they fork)."""
    return [p for p in pt.tree(root).values() if p.ppid() == root and module in " ".join(_cmdline(p))]


def _cmdline(proc):
    try:
        return proc.cmdline()
    except Exception:
        return []


def _victims(root):
    """kind → (the process to kill, how to tell it answers again)."""
    (host,) = _children(root, "python_service.server.process.http_host")
    (grpc_worker,) = _children(root, "python_service.server.process.grpc_host")
    workers = host.children()
    assert workers, "granian has no worker process"
    return {
        "granian worker": (workers[0], "http"),
        "HTTP host": (host, "http"),
        "gRPC worker": (grpc_worker, "grpc"),
    }


def _check_settled(server, root, ports, killed, old, protocol):
    ok = _http_ok if protocol == "http" else _grpc_ok

    def settled():
        return not pt.alive(old) and not pt.unsupervised(root, ports) and ok(server.addresses[protocol])

    if pt.wait_for(settled, SETTLE_S):
        return
    left, strays = pt.alive(old), pt.unsupervised(root, ports)
    assert not left, "after kill -9 of the %s: processes of its tree still alive: %s" % (killed, pt.describe(left))
    assert not strays, "after kill -9 of the %s: unsupervised listeners: %s" % (killed, strays)
    pytest.fail("after kill -9 of the %s: %s answers no prediction within %g s" % (killed, protocol, SETTLE_S))


def test_a_killed_process_leaves_nothing_behind_and_a_stopped_server_nothing_at_all(start_server):
    server = start_server()
    root = server.proc.pid
    ports = [pt.port(a) for a in server.addresses.values()]
    seen = dict(pt.tree(root))
    for kind in ("granian worker", "HTTP host", "gRPC worker"):
        victim, protocol = _victims(root)[kind]
        old = [victim, *victim.children(recursive=True)]
        victim.send_signal(signal.SIGKILL)
        _check_settled(server, root, ports, kind, old, protocol)
        seen.update(pt.tree(root))
    assert server.stop() == 0, server.log()
    left = pt.wait_for(lambda: not pt.alive(seen.values()), GONE_S) or pt.alive(seen.values())
    assert left is True, "after SIGTERM: still alive: %s" % pt.describe(left)
    answering = [a for a in server.addresses.values() if pt.answers(a)]
    assert not answering, "after SIGTERM, something still answers on %s" % answering


def test_the_tree_follows_a_killed_supervisor(start_server):
    server = start_server()
    seen = dict(pt.tree(server.proc.pid))
    assert len(seen) >= 4, "expected supervisor, HTTP host, granian worker, gRPC worker: %s" % pt.describe(
        seen.values()
    )
    server.proc.send_signal(signal.SIGKILL)
    left = pt.wait_for(lambda: not pt.alive(seen.values()), GONE_S) or pt.alive(seen.values())
    assert left is True, "%g s after the supervisor's SIGKILL, still alive: %s" % (GONE_S, pt.describe(left))
    answering = [a for a in server.addresses.values() if pt.answers(a)]
    assert not answering, "after the supervisor's SIGKILL, something still answers on %s" % answering


def test_nothing_answers_after_the_go_server_stops(models_dir, tmp_path):
    with Supervisor(stop_timeout_s=GONE_S) as sup:
        spec = servers.go_spec(("grpc", "http"), models_dir)
        server = servers.start(sup, spec, None, str(tmp_path / "go.log"), 60)
        assert server.stop(sup) == 0, server.log()
    answering = [a for a in server.endpoints.values() if pt.answers(a)]
    assert not answering, "after SIGTERM, something still answers on %s" % answering
