"""The HTTP side of the process tree: the HTTP adapter hosted by a production server, chosen with
--http-server (`python -m python_service.server.process.http_host`, started by the supervisor).

- rsgi: the lean adapter (httpapi/lean.py: the routes answered straight from granian's RSGI
  interface, no Flask) behind the same asyncio front as granian's, below.

- granian (default; Rust/hyper HTTP): the master forks --workers processes, each of which calls
  `rsgi_app()` after the fork: it creates that worker's predictor, starts loading the models in
  the background and returns the asyncio RSGI front (httpapi/rsgi.py) over the Flask app. Request heads
  are read by hyper (no Python thread waits on a slow or idle client; --http-read-header-timeout
  closes them), heads over --http-max-header-bytes get 431, and the front reads bodies under
  --http-read-timeout. `granian-wsgi` is granian's WSGI interface instead (`wsgi_app()`, on
  --http-blocking-threads Python threads): there a client trickling its body holds a thread until
  it is done, as granian has no body-read timeout.
- gunicorn (gthread, 2 threads per worker: yesterday's stack, kept for comparison): the arbiter
  forks --workers processes; --http-idle-timeout is its keep-alive timeout and the header cap
  applies, but a slow client holds one of the two threads for as long as it likes.

Both bind the port the supervisor reserved (SO_REUSEPORT) and drain on SIGTERM: stop accepting,
finish in-flight requests, exit 0.
"""

import os
import signal
import sys
from pathlib import Path

# A stop signal may come while this process still imports, before the WSGI server installs its
# own handlers: nothing is served yet, so there is nothing to drain; exit cleanly at once.
for _sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(_sig, lambda *_: os._exit(0))

from python_service.server.process import children, worker  # noqa: E402

GRACE_S = 25
GUNICORN_THREADS = 2
HOST_PID_ENV = "SERVEBENCH_HTTP_HOST_PID"  # the host's pid, for its workers' parent-death check
_worker = None


def _app(in_view_admission):
    """One HTTP worker's app (called in the worker, after the fork): its predictor, the model load
    started in the background, its admission (in the view, or the RSGI front's), and the app: the
    Flask app, or the lean adapter with `--http-server rsgi`."""
    from python_service.server.core.admission import Admission
    from python_service.server.httpapi.app import create_app
    from python_service.server.httpapi.lean import LeanApp

    global _worker
    host = os.environ.get(HOST_PID_ENV)
    if host:  # a worker the host forked: it dies with the host (children.py)
        children.die_with_parent(signal.SIGKILL, int(host))
    config = worker.config()
    worker.setup_logging(config)
    _worker = worker.Worker(config, "http")
    _worker.load_in_background()
    admission = Admission(_worker.inflight_bound, _worker.recorder, budget_s=config.max_queue_delay_s)
    ready = lambda: _worker.ready
    if config.http_server == "rsgi":
        return config, LeanApp(_worker.predictor, recorder=_worker.recorder, ready=ready), admission
    app = create_app(
        _worker.predictor,
        max_body=config.max_body,
        recorder=_worker.recorder,
        admission=admission if in_view_admission else None,
        ready=ready,
    )
    return config, app, admission


def wsgi_app():
    """The WSGI app of one worker (granian-wsgi, gunicorn)."""
    return _app(in_view_admission=True)[1]


def rsgi_app():
    """The RSGI app of one worker (granian, granian's RSGI interface): the asyncio front
    (httpapi/rsgi.py) over the Flask app, or over the lean adapter (httpapi/lean.py)."""
    from python_service.server.httpapi.rsgi import RsgiApp

    config, app, admission = _app(in_view_admission=False)
    return RsgiApp(
        app,
        admission=admission,
        max_body=config.max_body,
        read_timeout_s=config.http_read_timeout_s,
        on_exit=_worker.predictor.drain,
    )


def _host_port(config):
    host = config.http_addr.rpartition(":")[0].strip("[]") or "0.0.0.0"
    return host, worker.port()


def serve_granian(config):
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.server import Server

    host, port = _host_port(config)
    wsgi = config.http_server == "granian-wsgi"
    tls = dict(ssl_cert=Path(config.tls_cert), ssl_key=Path(config.tls_key)) if config.tls else {}
    server = Server(
        "python_service.server.process.http_host:" + ("wsgi_app" if wsgi else "rsgi_app"),
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.WSGI if wsgi else Interfaces.RSGI,
        loop=Loops.uvloop,
        workers=config.workers,
        blocking_threads=config.http_blocking_threads if wsgi else 1,
        backpressure=8192,
        http=HTTPModes.auto if config.tls else HTTPModes.http1,  # TLS: h2 or http/1.1 by ALPN
        websockets=False,
        http1_settings=HTTP1Settings(
            header_read_timeout=int(config.http_read_header_timeout_s * 1000),
            keep_alive=True,
            max_buffer_size=config.http_max_header_bytes,
        ),
        log_level="debug" if config.log_level == "debug" else "error",
        workers_kill_timeout=GRACE_S + 5,
        respawn_failed_workers=True,
        respawn_interval=0.1,
        **tls,
    )
    server.serve()
    return 0


def serve_gunicorn(config):
    from gunicorn.app.base import BaseApplication
    from gunicorn.arbiter import Arbiter

    class Drain(Arbiter):
        def handle_int(self):
            """SIGINT drains like SIGTERM (gunicorn's default is a quick stop)."""
            raise StopIteration

    class App(BaseApplication):
        def load_config(self):
            host, port = _host_port(config)
            settings = {
                "bind": ["[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)],
                "reuse_port": True,
                "workers": config.workers,
                "worker_class": "gthread",
                "threads": GUNICORN_THREADS,
                "keepalive": int(config.http_idle_timeout_s),
                "graceful_timeout": GRACE_S + 5,
                "limit_request_field_size": config.http_max_header_bytes,
                "limit_request_line": min(config.http_max_header_bytes, 8190),
                "loglevel": config.log_level,
                "accesslog": None,
                "errorlog": "-",
                "proc_name": "python_service-http",
                "control_socket_disable": True,
            }
            if config.tls:
                settings.update(certfile=config.tls_cert, keyfile=config.tls_key)
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self):
            return wsgi_app()

        def run(self):
            Drain(self).run()

    App().run()
    return 0


def main():
    os.environ[HOST_PID_ENV] = str(os.getpid())  # inherited by the workers it forks
    config = worker.config()
    worker.setup_logging(config)
    if config.http_server == "gunicorn":
        return serve_gunicorn(config)
    return serve_granian(config)


if __name__ == "__main__":
    sys.exit(main())
