"""`python -m python_service serve`: the command line. Flags are parsed here, once, into a
`ServeConfig` value (core/config.py) that the process tree (`supervisor.run`) and every worker
receive."""

import argparse
import re
import sys

from python_service.server.core.config import (
    DEFAULT_GRPC_SERVER,
    DEFAULT_HTTP_SERVER,
    DEFAULT_QUEUE_DELAY_S,
    GRPC_SERVERS,
    HTTP_SERVERS,
    MAX_INFLIGHT_PER_CPU,
    ServeConfig,
)


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _count(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be at least 0")
    return value


def _seconds(text):
    value = float(text.removesuffix("s"))
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text):
    """A duration as Go's flag package reads one ("500ms", "1.5s", "1m30s"; "0" alone): seconds."""
    if text == "0":
        return 0.0
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError("expected a duration such as 500ms, 1s or 0")
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def _bool(text):
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError("expected true or false")


def add_parser(subparsers):
    """Register the `serve` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser(
        "serve",
        help="serve the model repository over gRPC and HTTP",
        description="Serve every model of the repository over gRPC and HTTP until SIGTERM or SIGINT.",
    )
    add = p.add_argument
    add("--models", default="models", metavar="DIR", help="model repository (default: %(default)s)")
    add(
        "--grpc-addr",
        default="127.0.0.1:50051",
        metavar="HOST:PORT",
        help="gRPC address; port 0 picks one, empty disables (default: %(default)s)",
    )
    add(
        "--http-addr",
        default="127.0.0.1:5000",
        metavar="HOST:PORT",
        help="HTTP address; port 0 picks one, empty disables (default: %(default)s)",
    )
    add(
        "--intra-op-threads",
        type=_positive,
        default=1,
        metavar="N",
        help="ONNX Runtime intra-op threads per session (default: %(default)s)",
    )
    add(
        "--inter-op-threads",
        type=_positive,
        default=1,
        metavar="N",
        help="ONNX Runtime inter-op threads per session (default: %(default)s)",
    )
    add(
        "--max-batch",
        type=_positive,
        default=1024,
        metavar="ROWS",
        help="most instances in one request (default: %(default)s)",
    )
    add(
        "--max-body",
        type=_positive,
        default=4194304,
        metavar="BYTES",
        help="HTTP body and gRPC message limit (default: %(default)s)",
    )
    add("--log-level", default="info", choices=("debug", "info", "warning", "error", "critical"))
    add(
        "--workers", type=_positive, default=1, metavar="N", help="worker processes per protocol (default: %(default)s)"
    )
    add(
        "--http-server",
        choices=HTTP_SERVERS,
        default=DEFAULT_HTTP_SERVER,
        help="the HTTP adapter and its host: granian (the Flask app behind granian's RSGI front, asyncio), "
        "rsgi (the lean adapter on granian's RSGI interface, no Flask, same front), granian-wsgi (Flask on "
        "granian's WSGI threads) or gunicorn (Flask on gthread) (default: %(default)s)",
    )
    add(
        "--grpc-server",
        choices=GRPC_SERVERS,
        default=DEFAULT_GRPC_SERVER,
        help="grpcio server: thread pool (sync) or asyncio (aio) (default: %(default)s)",
    )
    add(
        "--max-queue-delay",
        type=_duration,
        default=DEFAULT_QUEUE_DELAY_S,
        metavar="DURATION",
        help="the queueing budget: a predict request is refused at once (RESOURCE_EXHAUSTED / 503 + "
        "Retry-After) when the time it would wait for a work slot exceeds it; 0 turns it off, leaving "
        "--max-inflight (default: %gs)" % DEFAULT_QUEUE_DELAY_S,
    )
    add(
        "--max-inflight",
        type=_count,
        default=0,
        metavar="N",
        help="the memory backstop: predict requests in progress or queued per worker; more are refused at "
        "once like the queueing budget's (default 0: %d × the worker's CPUs)" % MAX_INFLIGHT_PER_CPU,
    )
    add(
        "--http-read-header-timeout",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="close a connection whose request head is not complete in time; granian also uses it as the "
        "keep-alive idle timeout (default: %(default)s)",
    )
    add(
        "--http-read-timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="granian: a request body must arrive within this (else 408 and the connection closed); "
        "gunicorn and granian-wsgi: not applied (default: %(default)s)",
    )
    add(
        "--http-write-timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="not applied by the Python HTTP hosts (accepted for symmetry with go_service) (default: %(default)s)",
    )
    add(
        "--http-idle-timeout",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="gunicorn: keep-alive idle timeout; granian keeps an idle connection for the read-header timeout "
        "(default: %(default)s)",
    )
    add(
        "--http-max-header-bytes",
        type=_positive,
        default=16384,
        metavar="BYTES",
        help="largest request head; larger is refused with 431 and the connection closed (default: %(default)s)",
    )
    add(
        "--http-blocking-threads",
        type=_positive,
        default=256,
        metavar="N",
        help="granian-wsgi only: Python threads per worker for requests; a client trickling its body holds "
        "one (default: %(default)s)",
    )
    add(
        "--metrics",
        type=_bool,
        default=True,
        metavar="true|false",
        help="record and serve Prometheus metrics at GET /metrics (default: %(default)s)",
    )
    add(
        "--metrics-addr",
        default="",
        metavar="HOST:PORT",
        help="also serve /metrics on this address (needed when --http-addr is empty)",
    )
    add(
        "--tls-cert",
        default="",
        metavar="FILE",
        help="PEM certificate (chain): every listener serves TLS (gRPC; HTTP/2 and HTTP/1.1 by ALPN with "
        "granian, HTTP/1.1 with gunicorn; --metrics-addr); needs --tls-key (default: plaintext)",
    )
    add("--tls-key", default="", metavar="FILE", help="PEM private key of --tls-cert")
    p.set_defaults(func=_run)
    return p


def config_from(args):
    return ServeConfig(
        models_dir=args.models,
        grpc_addr=args.grpc_addr,
        http_addr=args.http_addr,
        intra_op_threads=args.intra_op_threads,
        inter_op_threads=args.inter_op_threads,
        max_batch=args.max_batch,
        max_body=args.max_body,
        log_level=args.log_level,
        workers=args.workers,
        http_server=args.http_server,
        grpc_server=args.grpc_server,
        max_inflight=args.max_inflight,
        max_queue_delay_s=args.max_queue_delay,
        http_read_header_timeout_s=args.http_read_header_timeout,
        http_read_timeout_s=args.http_read_timeout,
        http_write_timeout_s=args.http_write_timeout,
        http_idle_timeout_s=args.http_idle_timeout,
        http_max_header_bytes=args.http_max_header_bytes,
        http_blocking_threads=args.http_blocking_threads,
        metrics=args.metrics,
        metrics_addr=args.metrics_addr,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )


def _run(args):
    if args.metrics_addr and not args.metrics:  # as go_service: contradictory flags are refused
        print("python_service serve: --metrics-addr needs --metrics", file=sys.stderr)
        return 1
    if bool(args.tls_cert) != bool(args.tls_key):
        print("python_service serve: --tls-cert and --tls-key go together", file=sys.stderr)
        return 1
    from python_service.server.process import supervisor  # the process tree loads only for `serve`

    return supervisor.run(config_from(args))
