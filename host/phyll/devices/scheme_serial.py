"""`serial://PATH#link-options`, plain paths and any pyserial URL: a device speaking docs/protocol.md.

A pyserial URL that reaches here through the fallback (`socket://host:port?logging=debug`,
`rfc2217://host:port?ign_set_control`, `spy:///dev/ttyACM0`) is handed to pyserial whole, query
included, since the query belongs to pyserial; phyll's own options (timeout, retries, in_flight,
baudrate, exclusive, link faults) go in the fragment after `#` (docs/link.md).
"""
from __future__ import annotations

from ..urls import DeviceURL
from .serial_device import Device


def open(url: DeviceURL) -> Device:  # noqa: A001 - handler modules expose open(), like pyserial
    if url.options:
        raise ValueError(f"serial://{url.target} takes no query options, got {sorted(url.options)}; "
                         f"phyll's link options go after '#': serial://{url.target}#timeout=5&retries=3")
    if not url.target:
        raise ValueError("serial device URL names no port; use e.g. serial:///dev/ttyACM0")
    return Device.open(url.target + (f"#{url.fragment}" if url.fragment else ""))
