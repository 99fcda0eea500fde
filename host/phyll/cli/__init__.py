"""`phyll` command line: one thin module per command, each with register(subparsers)."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from threadpoolctl import threadpool_limits

from .. import __version__

COMMANDS = ("train", "eval", "experiment", "info", "emulate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phyll", description="Train physical neural networks in situ with PhyLL.")
    parser.add_argument("--version", action="version", version=f"phyll {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}_cmd").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # PhyLL's matrices are small (tens to hundreds wide): one BLAS thread beats several, which
    # mostly spin against each other. PHYLL_BLAS_THREADS overrides it for large media.
    threads = int(os.environ.get("PHYLL_BLAS_THREADS", "1"))
    try:
        with threadpool_limits(limits=threads, user_api="blas"):
            return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("phyll: interrupted", file=sys.stderr)
        return 130
