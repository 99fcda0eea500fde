"""`emu://MEDIUM?options#link-options`: the MicroPython firmware emulating a device, a medium behind it.

MEDIUM is a medium name (`acoustic`) or a user's class (`emu://mylab.rig:Cavity`). The query is
split by name: the emulator's options (`baud`, `runtime`, `max_batch`), and every other one goes
to the medium (`seed`, `noise`, ...), exactly as `sim://MEDIUM?...` would take it -- so the same
medium options give the same medium in both schemes. Link options (`timeout`, `retries`,
link faults, ...) go after `#`, as for any device on a link. See docs/emulator.md.
"""
from __future__ import annotations

from ..urls import DeviceURL
from .device import EmulatedDevice, open_emulated_url


def open(url: DeviceURL) -> EmulatedDevice:  # noqa: A001 - handler modules expose open(), like pyserial
    return open_emulated_url(url)
