"""What a MicroPython board file builds, read without a board: the INFO its frame server answers.

A board file (firmware/micropython/boards/NAME.py, or a lab's own) wires buses and pins into a HAL
and a FrameServer; the shapes it builds (actuators, sensors, statics), its board name, watchdog
and batch size are what INFO will say once it runs. To know them without hardware, the file's
`make_server(link)` is run under CPython in a child process, against the firmware tests' recording
stand-in for `machine` (firmware/micropython/tests/machine.py) and a scripted link that carries
nothing, and its `info()` is printed as JSON. A child process keeps those stand-ins out of this
one.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware" / "micropython"
_TIMEOUT_S = 60

_PROBE = """
import importlib.util, json, sys
from support import ScriptedLink
spec = importlib.util.spec_from_file_location("board_under_test", sys.argv[1])
board = importlib.util.module_from_spec(spec)
spec.loader.exec_module(board)
print(json.dumps(board.make_server(ScriptedLink()).info()))
"""


class BoardFileError(ValueError):
    """A board file that cannot be found or built; the message names it and what happened."""


def board_path(name_or_path: str, relative_to: Path | None = None) -> Path:
    """A bundled board's file (`pico_acoustic`) or a path (absolute, or relative to the rig file)."""
    bundled = FIRMWARE / "boards" / f"{name_or_path}.py"
    if bundled.is_file():
        return bundled
    path = Path(name_or_path)
    if not path.is_absolute() and relative_to is not None:
        path = relative_to / path
    if path.suffix == ".py" and path.is_file():
        return path
    names = sorted(p.stem for p in (FIRMWARE / "boards").glob("*.py") if p.stem != "__init__")
    raise BoardFileError(f"board file {name_or_path!r} is neither a bundled board ({', '.join(names)}) "
                         "nor a .py file")


def board_info(path: Path) -> dict:
    """INFO of the server that board file builds (under CPython: runtime "cpython")."""
    paths = [FIRMWARE / "tests", FIRMWARE, FIRMWARE / "cpython"]
    code = "import sys; sys.path[:0] = " + repr([str(p) for p in paths]) + "\n" + _PROBE
    try:
        result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                                timeout=_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise BoardFileError(f"board file {path}: make_server() did not return within {_TIMEOUT_S} s") from None
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1:] or ["(nothing on stderr)"]
        raise BoardFileError(f"board file {path}: make_server(link) failed under the firmware's machine "
                             f"stand-in: {tail[0]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
