"""The emulated device: the MicroPython firmware itself, on a pty, with a numpy medium behind it.

`open_device("emu://acoustic?seed=3")` (via `devices/scheme_emu.py`) or `open_emulated_device`
starts `firmware/micropython/boards/emu.py` under MicroPython's unix port (CPython when that is
missing, or with runtime=cpython), serves the medium to it over the firmware's medium channel,
and returns the serial `Device` opened on the pty: the trainer talks to the real protocol and
firmware. `Emulator` alone is what `phyll emulate` runs. See docs/emulator.md.

Modules: firmware (where the firmware and its interpreter are), scales (int16 scales),
medium_server (the medium channel), uart (baud= pacing), runner (the Emulator), device
(EmulatedDevice).
"""
from .device import EmulatedDevice, open_emulated_device
from .errors import EmulatorError
from .firmware import RUNTIMES
from .runner import Emulator, close_all, start_emulator

__all__ = ["Emulator", "EmulatedDevice", "EmulatorError", "RUNTIMES", "close_all", "open_emulated_device",
           "start_emulator"]
