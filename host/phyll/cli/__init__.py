"""`phyll` command line: one thin module per command, each with register(subparsers)."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from threadpoolctl import threadpool_limits

from .. import __version__
from ..training import StopRequested
from .common import fail

COMMANDS = ("train", "eval", "experiment", "twin", "info", "emulate", "devices", "flash", "hil")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phyll", description="Train physical neural networks in situ with PhyLL.")
    parser.add_argument("--version", action="version", version=f"phyll {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}_cmd").register(subparsers)
    return parser


def blas_threads():
    """The BLAS thread limit every command runs under (a context manager).

    PhyLL's matrices are small (tens to hundreds wide): one BLAS thread beats several, which
    mostly spin against each other. PHYLL_BLAS_THREADS overrides it for large media.
    """
    text = os.environ.get("PHYLL_BLAS_THREADS", "1")
    if not (text.strip().isdigit() and int(text) >= 1):
        raise ValueError(f"PHYLL_BLAS_THREADS must be a whole number of threads >= 1, got {text!r}")
    return threadpool_limits(limits=int(text), user_api="blas")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        limit = blas_threads()
    except ValueError as exc:
        return fail(str(exc))
    try:
        with limit:
            return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("phyll: interrupted", file=sys.stderr)
        return 130
    except StopRequested as stop:  # before a run had anything to save
        return fail(f"stopped by {stop} before anything was trained; nothing to save", 128 + stop.signum)
