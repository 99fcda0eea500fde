"""`phyll info URL`: what answers at a device URL -- its hello/info, counters and status."""
from __future__ import annotations

import json
from contextlib import closing

from ..devices import open_device
from ..training import json_safe
from .common import USER_ERRORS, fail


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info", help="show what a device URL answers",
        description="Open a device (emu://, sim://, a serial port such as the path `phyll emulate` "
                    "printed, or a pyserial URL) and print its description as JSON: the firmware's "
                    "INFO, link counters and device STATUS.")
    p.add_argument("url", help="device URL or serial port path")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        device = open_device(args.url)
    except USER_ERRORS as exc:
        return fail(str(exc))
    with closing(device):
        try:
            described = json_safe(device.describe())
        except USER_ERRORS as exc:
            return fail(str(exc))
    print(json.dumps(described, indent=2, sort_keys=True))
    return 0
