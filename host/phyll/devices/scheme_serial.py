"""`serial://PATH?opts`, plain paths and any pyserial URL: a device speaking docs/protocol.md.

`serial:///dev/ttyACM0?baudrate=921600&retries=5` parses our options from the query; a pyserial
URL that reaches here through the fallback (`socket://host:port`, `rfc2217://...`, `loop://`) is
handed to pyserial whole, query included, since the query then belongs to pyserial.
"""
from __future__ import annotations

from ..urls import DeviceURL
from .serial_device import Device

OPTIONS = ("baudrate", "timeout", "per_vector", "retries", "in_flight")


def open(url: DeviceURL) -> Device:  # noqa: A001 - handler modules expose open(), like pyserial
    unknown = sorted(set(url.options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown serial device option(s) {unknown} in {url.target!r}; "
                         f"expected some of {list(OPTIONS)}")
    if not url.target:
        raise ValueError("serial device URL names no port; use e.g. serial:///dev/ttyACM0")
    return Device.open(url.target, **url.options)
