"""`python -m python_service serve`: the gRPC + HTTP server process tree.

Process model. The command's own process verifies the model repository (metadata and sha256: one
clear line and exit 1 on a problem), then becomes the gunicorn master (`gunicorn.app.base`) that
binds the HTTP socket and forks `--workers` worker processes. The master never creates an ONNX
Runtime session or a gRPC server, so forking is safe. Each worker, after the fork, creates the
`Predictor`, the Flask app and a grpcio server; the workers' gRPC servers share one port through
SO_REUSEPORT, reserved by the master (bound, never listening) so that port 0 resolves once. Each
worker serves at once and loads its models (one ORT session each) in a background thread: until
every model is loaded, /readyz and predictions answer 503 / UNAVAILABLE and the health service
NOT_SERVING; they turn so again the moment draining starts. A model ONNX Runtime cannot load ends
the whole tree with one line (exit status 4, gunicorn's "app failed to load").

SIGTERM or SIGINT to the master: gunicorn closes the HTTP listener and sends SIGTERM to the
workers; each worker at once drains its predictor (new predictions → UNAVAILABLE) and sets health
NOT_SERVING, finishes its in-flight HTTP requests (gRPC still answering meanwhile), then stops
gRPC, giving in-flight RPCs GRACE_S, and exits; the master reaps them and exits 0. With HTTP
disabled (`--http-addr ""`) there is nothing to fork: the gRPC server runs in this one process (so
--workers must be 1).
"""

import logging
import os
import signal
import socket
import sys
import threading

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from python_service.server.repository import RepositoryError, load_repository

GRACE_S = 25  # gRPC grace for in-flight RPCs on shutdown
APP_LOAD_ERROR = Arbiter.APP_LOAD_ERROR  # a worker exiting so makes the gunicorn master stop
# gunicorn worker: gthread keeps HTTP/1.1 connections alive (sync closes each one) for the same
# server CPU per request as sync (measured with hey -c 10, one CPU); 2 threads gave the lowest
# p99 (4 threads: about twice as high, 1 thread: more CPU per request).
WORKER_CLASS = "gthread"
WORKER_THREADS = 2


def _announce(protocol, sockname):
    host, port = sockname[0], sockname[1]
    host = "[%s]" % host if ":" in host else host
    sys.stderr.write("python_service: %s listening on %s:%d\n" % (protocol, host, port))
    sys.stderr.flush()


def _reserve_port(address):
    """A socket bound to `address` with SO_REUSEPORT (not listening): the port the workers'
    gRPC servers share. A busy fixed port is refused, not silently shared."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError("--grpc-addr %r is not HOST:PORT" % address)
    host = host.strip("[]")
    family, _, _, _, sockaddr = socket.getaddrinfo(host or None, int(port), type=socket.SOCK_STREAM)[0]
    if int(port):
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(sockaddr)
    reserved = socket.socket(family, socket.SOCK_STREAM)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserved.bind(sockaddr)
    return reserved


class _Worker:
    """What one worker process serves: the predictor, the Flask app and the gRPC server."""

    def __init__(self, config, entries, grpc_sockname):
        from python_service.server.grpc_server import GrpcServer
        from python_service.server.http_app import create_app
        from python_service.server.predictor import Predictor

        self._entries = entries
        self.predictor = Predictor(
            intra_op_threads=config.intra_op_threads,
            inter_op_threads=config.inter_op_threads,
            max_batch=config.max_batch,
        )  # empty: not ready until loaded
        self.wsgi = create_app(self.predictor, max_body=config.max_body) if config.http_addr else None
        self.grpc = None
        self.grpc_sockname = grpc_sockname
        if grpc_sockname:
            host = "[%s]" % grpc_sockname[0] if ":" in grpc_sockname[0] else grpc_sockname[0]
            self.grpc = GrpcServer(
                self.predictor, "%s:%d" % (host, grpc_sockname[1]), max_message=config.max_body, reuse_port=True
            )

    def start(self, announce):
        """Serve now (not ready), load the models in the background, then become ready."""
        if self.grpc:
            self.grpc.start()
            if announce:
                _announce("grpc", self.grpc_sockname)
        threading.Thread(target=self._load, name="load-models", daemon=True).start()

    def _load(self):
        try:
            self.predictor.load(self._entries)
        except Exception as e:
            sys.stderr.write("python_service: error: %s\n" % " ".join(str(e).split()))
            sys.stderr.flush()
            os._exit(APP_LOAD_ERROR)
        if self.grpc and self.predictor.ready:
            self.grpc.serving()

    def drain(self):
        """Not ready from now on: predictions get UNAVAILABLE, health says NOT_SERVING."""
        self.predictor.drain()
        if self.grpc:
            self.grpc.drain()

    def close(self):
        """Stop gRPC: in-flight RPCs get GRACE_S after a drain, none after a quick stop."""
        if self.grpc:
            self.grpc.stop(0 if self.predictor.ready else GRACE_S).wait(GRACE_S + 1)


class _Arbiter(Arbiter):
    def handle_int(self):
        """SIGINT drains like SIGTERM (gunicorn's default is a quick stop)."""
        raise StopIteration


class _GunicornApp(BaseApplication):
    def __init__(self, config, entries, grpc_sockname):
        self._config, self._entries, self._grpc_sockname = config, entries, grpc_sockname
        self.worker = None
        super().__init__()

    def load_config(self):
        settings = {
            "bind": [self._config.http_addr],
            "workers": self._config.workers,
            "worker_class": WORKER_CLASS,
            "threads": WORKER_THREADS,
            "keepalive": 5,
            "graceful_timeout": GRACE_S + 5,
            "loglevel": self._config.log_level,
            "accesslog": None,
            "errorlog": "-",
            "proc_name": "python_service",
            "control_socket_disable": True,
            "preload_app": False,
            "when_ready": lambda arbiter: [_announce("http", lnr.getsockname()) for lnr in arbiter.LISTENERS],
            "post_worker_init": _post_worker_init,
            "worker_exit": _worker_exit,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self):
        """Runs in each worker process, after the fork."""
        self.worker = _Worker(self._config, self._entries, self._grpc_sockname)
        return self.worker.wsgi

    def run(self):
        _Arbiter(self).run()


def _post_worker_init(gunicorn_worker):
    worker = gunicorn_worker.app.worker

    def stop(sig, frame):
        worker.drain()
        gunicorn_worker.handle_exit(sig, frame)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.start(announce=gunicorn_worker.age == 1)


def _worker_exit(arbiter, gunicorn_worker):
    worker = getattr(gunicorn_worker.app, "worker", None)
    if worker is not None:  # None in the master (a worker that vanished)
        worker.close()


def _serve_grpc_only(config, entries, reserved):
    """HTTP disabled: one process, no fork."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker = _Worker(config, entries, reserved.getsockname())
    worker.start(announce=True)
    while not stop.wait(1.0):
        pass
    worker.drain()
    worker.close()
    return 0


def run(config):
    """Serve until SIGTERM/SIGINT; returns the exit status."""
    logging.basicConfig(
        level=config.log_level.upper(), stream=sys.stderr, format="python_service: %(levelname)s %(name)s: %(message)s"
    )
    error = None
    if not config.grpc_addr and not config.http_addr:
        error = "both --grpc-addr and --http-addr are empty; nothing to serve"
    elif not config.http_addr and config.workers != 1:
        error = "--workers %d needs HTTP: with --http-addr empty, gRPC runs in one process" % config.workers
    try:
        entries = None if error else load_repository(config.models_dir)
        reserved = _reserve_port(config.grpc_addr) if config.grpc_addr and not error else None
    except (RepositoryError, ValueError) as e:
        error = str(e)
    except OSError as e:
        error = "--grpc-addr %s: %s" % (config.grpc_addr, e.strerror or e)
    if error:
        sys.stderr.write("python_service: error: %s\n" % error)
        return 1
    grpc_sockname = reserved.getsockname() if reserved else None
    if not config.http_addr:
        return _serve_grpc_only(config, entries, reserved)
    _GunicornApp(config, entries, grpc_sockname).run()
    return 0
