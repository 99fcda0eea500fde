"""`phyll devices`: the serial ports and UF2 boot drives here, and what answers on each port.

Each port is probed without resetting its board (flash/probe.py): phyll's firmware (its INFO),
a MicroPython REPL without it, or nothing recognisable; a port another program holds is busy.
Paths pyserial does not list (a pty from `phyll emulate`, a socket:// URL) are probed by name.
"""
from __future__ import annotations

import json

from ..flash.probe import PROBE_TIMEOUT_S, probe_all
from ..flash.uf2 import describe_drive
from ..flash.usb import boot_drives, serial_ports
from .common import fail


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "devices", help="list serial ports and boards, and what runs on them",
        description="List the serial ports (with board hints from their USB IDs) and UF2 boot drives on "
                    "this machine, and probe each port without resetting it: phyll firmware (its version, "
                    "board and medium), MicroPython without it, or unknown.")
    p.add_argument("ports", nargs="*", metavar="PORT",
                   help="also probe these paths or pyserial URLs (a pty from phyll emulate, socket://...)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--no-probe", action="store_true", help="list only; open no port")
    p.add_argument("--timeout", type=float, default=PROBE_TIMEOUT_S,
                   help=f"seconds to wait for an answer on each port (default {PROBE_TIMEOUT_S:g})")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.timeout <= 0:
        return fail(f"--timeout must be a number of seconds > 0, got {args.timeout}")
    listed = serial_ports()
    entries = [{"port": port.device, "usb": port.usb_id, "description": port.description,
                "serial_number": port.serial_number, "hint": port.hint.what if port.hint else None,
                "family": port.hint.family if port.hint else None, "named": False} for port in listed]
    known = {entry["port"] for entry in entries}
    entries += [{"port": name, "usb": None, "description": "", "serial_number": None, "hint": None,
                 "family": None, "named": True} for name in dict.fromkeys(args.ports) if name not in known]
    if not args.no_probe:
        for entry, answer in zip(entries, probe_all([entry["port"] for entry in entries], args.timeout)):
            entry["probe"] = answer.as_dict()
    drives = boot_drives()
    if args.json:
        print(json.dumps({"ports": entries, "boot_drives": [{"path": str(d.path), "info": d.info} for d in drives]},
                         indent=2))
        return 0
    if not entries and not drives:
        print("no serial ports or UF2 boot drives found: plug a board in (a bare RP2040 in BOOTSEL mode shows "
              "up as a boot drive), or name a port: phyll devices PATH")
        return 0
    for entry in entries:
        _print_port(entry)
    for drive in drives:
        print(f"{describe_drive(drive)}; takes a UF2: phyll flash --micropython FILE.uf2")
    return 0


def _print_port(entry: dict) -> None:
    usb = entry["usb"] or ("named" if entry["named"] else "-")
    what = entry["hint"] or entry["description"] or ""
    print(f"{entry['port']:<16} {usb:<10} {what}".rstrip())
    if "probe" in entry:
        print(f"{'':<16} {'':<10} {entry['probe']['summary']}")

