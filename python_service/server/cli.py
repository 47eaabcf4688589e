"""`python -m python_service serve`: the command line. Flags are parsed here, once, into a
`ServeConfig` value that the process tree (`process.run`) receives."""

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class ServeConfig:
    models_dir: str
    grpc_addr: str
    http_addr: str
    intra_op_threads: int
    inter_op_threads: int
    max_batch: int
    max_body: int
    log_level: str
    workers: int


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_parser(subparsers):
    """Register the `serve` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser(
        "serve",
        help="serve the model repository over gRPC and HTTP",
        description="Serve every model of the repository over gRPC and HTTP/JSON until SIGTERM or SIGINT.",
    )
    p.add_argument("--models", default="models", metavar="DIR", help="model repository (default: %(default)s)")
    p.add_argument(
        "--grpc-addr",
        default="127.0.0.1:50051",
        metavar="HOST:PORT",
        help="gRPC address; port 0 picks one, empty disables (default: %(default)s)",
    )
    p.add_argument(
        "--http-addr",
        default="127.0.0.1:5000",
        metavar="HOST:PORT",
        help="HTTP address; port 0 picks one, empty disables (default: %(default)s)",
    )
    p.add_argument(
        "--intra-op-threads",
        type=_positive,
        default=1,
        metavar="N",
        help="ONNX Runtime intra-op threads per session (default: %(default)s)",
    )
    p.add_argument(
        "--inter-op-threads",
        type=_positive,
        default=1,
        metavar="N",
        help="ONNX Runtime inter-op threads per session (default: %(default)s)",
    )
    p.add_argument(
        "--max-batch",
        type=_positive,
        default=1024,
        metavar="ROWS",
        help="most instances in one request (default: %(default)s)",
    )
    p.add_argument(
        "--max-body",
        type=_positive,
        default=4194304,
        metavar="BYTES",
        help="HTTP body and gRPC message limit (default: %(default)s)",
    )
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error", "critical"))
    p.add_argument(
        "--workers",
        type=_positive,
        default=1,
        metavar="N",
        help="worker processes, each serving both protocols (default: %(default)s)",
    )
    p.set_defaults(
        func=lambda args: _run(
            ServeConfig(
                models_dir=args.models,
                grpc_addr=args.grpc_addr,
                http_addr=args.http_addr,
                intra_op_threads=args.intra_op_threads,
                inter_op_threads=args.inter_op_threads,
                max_batch=args.max_batch,
                max_body=args.max_body,
                log_level=args.log_level,
                workers=args.workers,
            )
        )
    )
    return p


def _run(config):
    from python_service.server import process  # gunicorn and grpc load only for `serve`

    return process.run(config)
