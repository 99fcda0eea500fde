"""Opening a physical system by URL, the way pyserial opens ports.

`open_device(url)` imports the handler module `scheme_<scheme>` from the packages listed in
`HANDLER_PACKAGES` (users may append their own) and calls its `open(DeviceURL)`: `sim://` and
serial ports here, `emu://` in the emulator's package (found by name, so this room never
imports the emulator: the dependency points one way). A URL with a scheme no handler claims, or
a plain path, is a serial port handed to pyserial (`/dev/ttyACM0`, `socket://host:port`,
`rfc2217://...`, `spy://...`), link options after `#` (docs/link.md).
"""
from __future__ import annotations

import importlib

from ..physical import PhysicalTransform
from ..urls import DeviceURL

HANDLER_PACKAGES = ["phyll.devices", "phyll.emulator", "phyll.labgrid"]
DEFAULT_URL = "sim://acoustic"


def open_device(url: str = DEFAULT_URL) -> PhysicalTransform:
    parsed = DeviceURL.parse(url)
    for package in HANDLER_PACKAGES:
        try:
            handler = importlib.import_module(f"{package}.scheme_{parsed.scheme}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.scheme_{parsed.scheme}":
                raise
            continue
        return handler.open(parsed)
    serial_handler = importlib.import_module(f"{__name__}.scheme_serial")
    return serial_handler.open(DeviceURL("serial", url, {}))
