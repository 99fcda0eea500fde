"""`emu://MEDIUM?opts`: the MicroPython firmware emulating a device, a medium behind it.

MEDIUM is a medium name (`acoustic`) or a user's class (`emu://mylab.rig:Cavity`). Options are
split by name: the emulator's (`baud`, `runtime`, `max_batch`), the serial Device's (`timeout`,
`per_vector`, `retries`, `in_flight`), and every other one goes to the medium (`seed`, `noise`,
...), exactly as `sim://MEDIUM?...` would take it -- so the same medium options give the same
medium in both schemes. See docs/emulator.md.
"""
from __future__ import annotations

from ..emulator.device import EmulatedDevice, open_emulated_url
from ..urls import DeviceURL


def open(url: DeviceURL) -> EmulatedDevice:  # noqa: A001 - handler modules expose open(), like pyserial
    return open_emulated_url(url)
