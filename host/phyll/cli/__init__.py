"""`phyll` command line: one thin module per command, each with register(subparsers)."""
from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__

COMMANDS = ("train", "eval", "experiment")


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
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("phyll: interrupted", file=sys.stderr)
        return 130
