"""The server's configuration: one `ServeConfig` value, built once from the command line
(process/cli.py) and handed to the supervisor and every worker (as JSON in the environment), and
what follows from it (the admission bound, a worker's CPUs)."""

import dataclasses
import json
import os
from dataclasses import dataclass

from python_service import contract

HTTP_SERVERS = ("granian", "rsgi", "granian-wsgi", "gunicorn")
GRPC_SERVERS = ("sync", "aio")
# Defaults chosen by measurement (README, "The Python stack").
DEFAULT_HTTP_SERVER = "granian"
DEFAULT_GRPC_SERVER = "sync"
_TABLE = contract.load("errors.json")
MAX_INFLIGHT_PER_CPU = _TABLE["max_inflight_per_cpu"]
DEFAULT_QUEUE_DELAY_S = _TABLE["max_queue_delay_ms"] / 1000


@dataclass(frozen=True)
class ServeConfig:
    models_dir: str
    grpc_addr: str
    http_addr: str
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    max_batch: int = 1024
    max_body: int = 4194304
    log_level: str = "info"
    workers: int = 1
    http_server: str = DEFAULT_HTTP_SERVER
    grpc_server: str = DEFAULT_GRPC_SERVER
    max_inflight: int = 0  # the backstop; 0: auto (MAX_INFLIGHT_PER_CPU × the worker's CPUs)
    max_queue_delay_s: float = DEFAULT_QUEUE_DELAY_S  # the queueing budget; 0: none
    http_read_header_timeout_s: float = 5.0
    http_read_timeout_s: float = 30.0
    http_write_timeout_s: float = 30.0
    http_idle_timeout_s: float = 60.0
    http_max_header_bytes: int = 16384
    http_blocking_threads: int = 256
    metrics: bool = True
    metrics_addr: str = ""
    tls_cert: str = ""  # PEM certificate (chain) and key: every listener serves TLS; "" both: plaintext
    tls_key: str = ""

    @property
    def tls(self):
        """(certificate file, key file), or None for plaintext."""
        return (self.tls_cert, self.tls_key) if self.tls_cert else None

    def to_json(self):
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))


def inflight_bound(config):
    """The admission backstop of one worker process: --max-inflight, or errors.json
    max_inflight_per_cpu × the CPUs it may use."""
    if config.max_inflight:
        return config.max_inflight
    return MAX_INFLIGHT_PER_CPU * worker_cpus(config)


def worker_cpus(config):
    """CPUs one worker process may use: its affinity shared among the workers (at least 1)."""
    return max(1, len(os.sched_getaffinity(0)) // config.workers)
