"""`python -m python_service serve`: the process tree.

The supervisor (this process) checks the configuration and the model repository (metadata and
sha256: one clear line and exit 1 on a problem; skipped version directories are named in one log
line each), reserves the ports (bound with SO_REUSEPORT, never listening, so that port 0 resolves
once and a busy port is refused, not shared), prints one `<protocol> listening on HOST:PORT` line
each, then starts its children, each in a session of its own and with a parent-death signal:
- the HTTP host (http_host: granian or gunicorn, which forks --workers HTTP workers), and
- --workers gRPC workers (grpc_host), sharing the gRPC port.
Every worker listens at once and loads the models in the background; the tree is ready once every
worker has loaded them (worker.py: each says so in a shared directory). A
worker that cannot load them prints the tree's one error line and exits 4; the supervisor then
stops the others and exits 4. A child that dies otherwise (kill -9, a crash) is started again once
its whole process group is gone (the HTTP host restarts its own workers). SIGTERM or SIGINT: every
child drains (stops accepting, finishes in-flight requests) and exits; after STOP_TIMEOUT_S what is
left of any child's group is SIGKILLed; the supervisor exits 0 once all have exited cleanly. Nothing
the tree starts outlives it: children.py says how, for each way a process can die.

Metrics: the supervisor gives the tree one prometheus_client multiprocess directory; /metrics on
any HTTP worker (and --metrics-addr, served here) sums every worker's figures, and the whole tree's
CPU and memory (core/tree_metrics.py, rooted at this process). TLS (--tls-cert, --tls-key): checked
here, then every listener serves it (the HTTP host, the gRPC workers, --metrics-addr).
"""

import logging
import os
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import time

from python_service.server.core.repository import RepositoryError, load_repository
from python_service.server.core.tree_metrics import TREE_PID_ENV
from python_service.server.process import children as tree
from python_service.server.process import worker

STOP_TIMEOUT_S = 40  # SIGTERM → SIGKILL of a child that does not finish draining
RESPAWN_LIMIT, RESPAWN_WINDOW_S = 5, 30.0  # more deaths than this within the window: give up
log = logging.getLogger("python_service.server")


def _announce(protocol, sockname):
    host, port = sockname[0], sockname[1]
    host = "[%s]" % host if ":" in host else host
    sys.stderr.write("python_service: %s listening on %s:%d\n" % (protocol, host, port))
    sys.stderr.flush()


def reserve_port(address, flag):
    """A socket bound to `address` with SO_REUSEPORT (not listening): the port the workers share.
    A busy fixed port is refused, not silently shared."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError("%s %r is not HOST:PORT" % (flag, address))
    host = host.strip("[]")
    family, _, _, _, sockaddr = socket.getaddrinfo(host or None, int(port), type=socket.SOCK_STREAM)[0]
    try:
        if int(port):
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(sockaddr)
        reserved = socket.socket(family, socket.SOCK_STREAM)
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reserved.bind(sockaddr)
    except OSError as e:
        raise ValueError("%s %s: %s" % (flag, address, e.strerror or e)) from None
    return reserved


def _problem(config):
    if not config.grpc_addr and not config.http_addr:
        return "both --grpc-addr and --http-addr are empty; nothing to serve"
    if config.tls:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(*config.tls)
        except (OSError, ssl.SSLError) as e:
            return "--tls-cert/--tls-key: %s" % (e.strerror or e)
    return None


def _serve_metrics(address, tls):
    from prometheus_client import start_http_server

    from python_service.server.core import metrics

    host, _, port = address.rpartition(":")
    certfile, keyfile = tls or (None, None)
    server, _ = start_http_server(
        int(port), addr=host.strip("[]") or "0.0.0.0", registry=metrics.registry(), certfile=certfile, keyfile=keyfile
    )
    _announce("metrics", server.server_address)


def run(config):
    """Serve until SIGTERM/SIGINT; returns the exit status."""
    worker.setup_logging(config)
    error, reserved = _problem(config), {}
    try:
        if not error:
            load_repository(config.models_dir, log=log)
            for protocol, address in (("grpc", config.grpc_addr), ("http", config.http_addr)):
                if address:
                    reserved[protocol] = reserve_port(address, "--%s-addr" % protocol)
    except (RepositoryError, ValueError) as e:
        error = str(e)
    if error:
        sys.stderr.write("python_service: error: %s\n" % error)
        return 1
    workdir = tempfile.mkdtemp(prefix="python_service-")
    try:
        return _supervise(config, reserved, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _supervise(config, reserved, workdir):
    metrics_dir, ready_dir = os.path.join(workdir, "metrics"), os.path.join(workdir, "ready")
    os.mkdir(metrics_dir)
    os.mkdir(ready_dir)
    env = dict(
        os.environ,
        **{
            worker.SERVE_CONFIG_ENV: config.to_json(),
            worker.ERROR_FILE_ENV: os.path.join(workdir, "error"),
            worker.READY_DIR_ENV: ready_dir,
            TREE_PID_ENV: str(os.getpid()),
        },
    )
    if config.metrics:
        env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        if config.metrics_addr:
            try:
                _serve_metrics(config.metrics_addr, config.tls)
            except OSError as e:
                sys.stderr.write("python_service: error: --metrics-addr %s: %s\n" % (config.metrics_addr, e.strerror))
                return 1
    for protocol, sock in reserved.items():
        _announce(protocol, sock.getsockname())
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    specs = []
    if "http" in reserved:
        specs.append(
            (
                "python_service.server.process.http_host",
                dict(env, **{worker.PORT_ENV: str(reserved["http"].getsockname()[1])}),
            )
        )
    if "grpc" in reserved:
        grpc_env = dict(env, **{worker.PORT_ENV: str(reserved["grpc"].getsockname()[1])})
        specs += [("python_service.server.process.grpc_host", grpc_env)] * config.workers
    error_file = os.path.join(workdir, "error")
    children = [tree.spawn(module, child_env) for module, child_env in specs]
    failed = _watch(children, specs, stopping, error_file)
    codes = tree.stop(children, STOP_TIMEOUT_S)
    if os.path.exists(error_file):
        return worker.LOAD_ERROR
    if failed is not None:
        sys.stderr.write("python_service: error: %s\n" % failed)
        return 1
    return 0 if all(code == 0 for code in codes) else 1


def _watch(children, specs, stopping, error_file):
    """Until a stop signal: restart a child that dies (killed, crashed), unless a worker could not
    load the models (the error file) or children keep dying (RESPAWN_LIMIT within RESPAWN_WINDOW_S).
    None after a stop signal, else why the tree stops."""
    deaths = []
    while not stopping:
        if os.path.exists(error_file):
            return "a worker could not load the models"
        for i, child in enumerate(children):
            if not tree.exited(child):
                continue
            code = tree.ended(child)  # its group too: a host's workers die with it
            now = time.monotonic()
            deaths = [t for t in deaths if now - t < RESPAWN_WINDOW_S] + [now]
            if len(deaths) > RESPAWN_LIMIT:
                return "worker processes keep exiting (the last with status %s); giving up" % code
            log.warning("%s (pid %d) exited with status %s; starting it again", specs[i][0], child.pid, code)
            _forget(child.pid)
            children[i] = tree.spawn(*specs[i])
        time.sleep(0.05)
    return None


def _forget(pid):
    """Drop a dead worker's live gauges from the metrics sum."""
    from python_service.server.core import metrics

    if os.environ.get(metrics.MULTIPROC_ENV):
        metrics.mark_dead(pid)
