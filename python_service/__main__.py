"""Command line: `python -m python_service COMMAND ...` (run with --help for the list).

Each command lives in its own module, which exposes `add_parser(subparsers)`: it adds its
subparser and sets `func`, a callable taking the parsed arguments and returning the exit status.
Configuration is parsed here, once, and passed to the command as values.
"""

import argparse
import sys

from python_service.export import cli as export_cli
from python_service.server.process import cli as serve_cli


def _command_registrars():
    """The add_parser functions, one per subcommand, in --help order."""
    registrars = [export_cli.add_parser, serve_cli.add_parser]
    return registrars


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m python_service",
        description="servebench's Python side: export scikit-learn models to ONNX and serve them.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_parser in _command_registrars():
        add_parser(subparsers)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
