"""What every worker process (HTTP or gRPC) shares: its configuration from the supervisor, its
predictor and metrics, the background model load, and the one-line fatal error.

The supervisor hands a worker its configuration in the environment (SERVE_CONFIG_ENV, the
ServeConfig as JSON, and the port it reserved); each worker verifies and loads the model repository
itself, after it listens. Readiness is the tree's: a worker answers "ready" (/readyz, gRPC health)
once its own models are loaded and every worker of the tree (--workers per protocol) has loaded
them at least once, each saying so with a file `<protocol>-<pid>` in READY_DIR_ENV. So a client
that waited for "ready" is never sent to a worker still loading. A worker restarted later answers
"not ready" (and refuses predictions with UNAVAILABLE) only itself, while it loads.
"""

import gc
import logging
import os
import sys
import threading
import time

from python_service.server.core.config import ServeConfig, inflight_bound, worker_cpus
from python_service.server.core.repository import load_repository

SERVE_CONFIG_ENV = "SERVEBENCH_SERVE_CONFIG"
PORT_ENV = "SERVEBENCH_SERVE_PORT"
ERROR_FILE_ENV = "SERVEBENCH_SERVE_ERROR_FILE"
READY_DIR_ENV = "SERVEBENCH_SERVE_READY_DIR"
READY_POLL_S = 0.02
LOAD_ERROR = 4  # a worker that cannot load the models exits so; the supervisor then stops the tree
log = logging.getLogger("python_service.server")


def config():
    return ServeConfig.from_json(os.environ[SERVE_CONFIG_ENV])


def port():
    return int(os.environ[PORT_ENV])


def setup_logging(config):
    logging.basicConfig(
        level=config.log_level.upper(), stream=sys.stderr, format="python_service: %(levelname)s %(name)s: %(message)s"
    )


def fail(message):
    """Print the one error line of the whole tree (the first worker to fail wins) and exit."""
    path = os.environ.get(ERROR_FILE_ENV)
    first = True
    if path:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.write(fd, message.encode())
            os.close(fd)
        except FileExistsError:
            first = False
    if first:
        sys.stderr.write("python_service: error: %s\n" % " ".join(str(message).split()))
        sys.stderr.flush()
    os._exit(LOAD_ERROR)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def tree_loaded(config):
    """Whether every worker of the tree has loaded the models (true outside a supervised tree)."""
    path = os.environ.get(READY_DIR_ENV)
    if not path:
        return True
    loaded = {"http": 0, "grpc": 0}
    for name in os.listdir(path):
        protocol, _, pid = name.partition("-")
        if protocol in loaded and pid.isdigit() and _alive(int(pid)):
            loaded[protocol] += 1
    expected = {protocol: config.workers for protocol in loaded if getattr(config, protocol + "_addr")}
    return all(loaded[protocol] >= n for protocol, n in expected.items())


# How long a thread may hold the GIL while another asks for it (CPython's default: 5 ms). A worker's
# threads that accept, read and refuse requests (granian's, the RSGI front's loop, grpcio's poller)
# wait for the GIL behind the thread running a prediction's Python code: grpcio's refusals under 3×
# overload took 16 ms (median) at 5 ms, 3.2 and 6.9 ms at 1 ms (make test-reliability, attack 4).
GIL_SWITCH_INTERVAL_S = 0.001


class Worker:
    """One worker's predictor (empty and not ready until `load` has run) and metrics recorder."""

    def __init__(self, config, protocol):
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        # Imported here: the supervisor and the HTTP host's master use this module without serving.
        from python_service.server.core import metrics
        from python_service.server.core.predictor import Predictor

        self.config = config
        self.protocol = protocol
        self._tree_loaded = False
        self.recorder = metrics.for_protocol(protocol, config.metrics)
        self.inflight_bound = inflight_bound(config)
        self.cpus = worker_cpus(config)
        self.predictor = Predictor(
            intra_op_threads=config.intra_op_threads,
            inter_op_threads=config.inter_op_threads,
            max_batch=config.max_batch,
            inference_slots=self.cpus,
        )

    @property
    def ready(self):
        """This worker's models are loaded (and it is not draining), and so are the tree's."""
        if not self.predictor.ready:
            return False
        if not self._tree_loaded:
            self._tree_loaded = tree_loaded(self.config)
        return self._tree_loaded

    def load(self, on_ready=None, *, wait_for_tree=False):
        """Verify and load the repository (ORT sessions); on failure, `fail` ends the process.
        With `on_ready` (or `wait_for_tree`), wait until the tree is ready, then call it."""
        try:
            # No log: the supervisor has named each skipped directory once already (one line each,
            # not one more per worker).
            self.predictor.load(load_repository(self.config.models_dir))
        except Exception as e:
            fail(str(e))
        # What the worker holds from now on (modules, sessions, metadata) is never garbage: out of
        # the collector's sight, a full collection walks only what requests allocate. Under 3×
        # overload the admitted gRPC calls' p99 was 26, 63 and 109 ms with the collector walking it
        # all, 23, 28 and 33 ms with the collector off (make test-reliability, attack 4).
        gc.freeze()
        path = os.environ.get(READY_DIR_ENV)
        if path:
            with open(os.path.join(path, "%s-%d" % (self.protocol, os.getpid())), "w"):
                pass
        if on_ready is None and not wait_for_tree:
            return
        while self.predictor.ready and not self.ready:
            time.sleep(READY_POLL_S)
        if on_ready is not None and self.ready:
            on_ready()

    def load_in_background(self, on_ready=None):
        threading.Thread(target=self.load, args=(on_ready,), name="load-models", daemon=True).start()
