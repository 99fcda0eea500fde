"""The MicroPython firmware onto a board that runs MicroPython, through its raw REPL (mpremote).

    probe -> (phyll firmware running: REPL, back to its REPL) -> raw REPL (mpremote)
    -> on the board (on_board.py): its port and .mpy format -> compile for it (mpy.py)
    -> on the board: which files differ by sha256, free space -> refuse if they do not fit
    -> copy what differs
    -> soft reset from the friendly REPL: main.py starts the firmware -> HELLO verifies it

What lands: phyllfw/ compiled to .mpy, the board file as board.py (source: pins are edited on the
board), and main.py, copied last so a board whose copy was cut short does not start a half
firmware. Files under phyllfw/ that the firmware no longer has are removed (a stale .py would be
imported before the new .mpy).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import serial

from .. import protocol as p
from ..devices.serial_device import Device
from ..emulator.firmware import firmware_dir
from ..link import split_link_options
from ..protocol import DeviceError, LinkError
from .boards import MicroPythonBoard, firmware_name
from .errors import FlashError, NoPortError, NoReplError, NoSpaceError
from .mpy import MpyCross, MpyFormat
from .probe import Probe, probe
from .verify import verify

_ON_BOARD = Path(__file__).with_name("on_board.py")
_FIRMWARE_FOLDER = "phyllfw"
_CHUNK = 1024  # bytes per mpremote write: raw paste streams it; larger costs board RAM for the repr
_RAW_REPL_S = 2  # seconds: a REPL answers Ctrl-A at once; a port that does not has no REPL
_EXEC_TIMEOUT_S = 5.0  # the port's read timeout while mpremote runs code on the board


@dataclass(frozen=True)
class FirmwareFile:
    target: str  # path on the board, relative to its root: "phyllfw/server.mpy"
    source: Path
    compiled: bool  # compiled with mpy-cross, or copied as it is

    def data(self, compiler: MpyCross) -> bytes:
        return compiler.compile(self.source, self.source_name) if self.compiled else self.source.read_bytes()

    @property
    def source_name(self) -> str:
        return self.target[:-4] + ".py" if self.compiled else self.target


@dataclass
class FlashReport:
    port: str
    board: str
    copied: list[tuple[str, int]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def copied_bytes(self) -> int:
        return sum(size for _, size in self.copied)

    def as_dict(self) -> dict:
        return {"port": self.port, "board": self.board, "copied": [{"path": path, "bytes": size} for path, size in self.copied],
                "copied_files": len(self.copied), "copied_bytes": self.copied_bytes,
                "unchanged_files": len(self.unchanged), "removed": self.removed,
                "verified": self.info, "seconds": round(self.seconds, 3)}


def firmware_files(board: MicroPythonBoard, tree: Path) -> list[FirmwareFile]:
    """Everything the board gets, in copy order (main.py last)."""
    files = [FirmwareFile(source.relative_to(tree).as_posix()[:-3] + ".mpy", source, True)
             for source in sorted((tree / _FIRMWARE_FOLDER).rglob("*.py"))]
    return [*files, FirmwareFile("board.py", board.file, False), FirmwareFile("main.py", tree / "main.py", False)]


def hand_back_to_repl(url: str, found: Probe, install: str, say: Callable[[str], None]) -> None:
    """Leave the port at a MicroPython REPL, or say why it cannot be (`install`: how to put
    MicroPython on the board, for the error)."""
    if found.state in ("busy", "unavailable"):
        raise NoPortError(f"{url}: {found.summary}")
    if found.state == "silent":
        raise NoReplError(f"{url} answers neither a MicroPython REPL's Ctrl-B nor phyll's HELLO "
                          f"(no MicroPython on it, or another program runs there); {install}")
    if found.state == "micropython":
        return
    if found.info.get("runtime") != "micropython" or not found.info:
        raise NoReplError(f"{url} runs {found.summary}, which has no REPL to copy files through: flash it "
                          f"with --firmware cpp, or {install}")
    try:
        with Device.open(url) as device:
            device.to_repl()
    except (LinkError, DeviceError) as exc:
        raise NoReplError(f"{url} runs {found.summary} but did not hand the port back to its REPL: {exc}") from exc
    say(f"{url}: {found.info['firmware']} handed the port back to MicroPython's REPL")


def deploy(url: str, board: MicroPythonBoard, say: Callable[[str], None] = print, tree: Path | None = None) -> FlashReport:
    """Flash the MicroPython firmware onto the board at `url`; returns what was done."""
    started = time.monotonic()
    tree = tree or firmware_dir()
    hand_back_to_repl(url, probe(url), board.install, say)
    report = FlashReport(url, board.name)
    address, options = split_link_options(url)
    from mpremote.transport import TransportError

    transport = _raw_repl(address, options.baudrate, board)
    try:
        transport.exec(_ON_BOARD.read_text())
        found = _board_kind(transport, board)
        compiler = MpyCross(MpyFormat.from_board(found["mpy"]))
        say(f"{url}: MicroPython on {found['platform']}, {compiler.board}; compiling with {compiler.binary}")
        contents = {f.target: f.data(compiler) for f in firmware_files(board, tree)}
        _copy(transport, contents, report, say)
        transport.exit_raw_repl()
    except TransportError as exc:  # the board's REPL stopped answering, or raised
        raise FlashError(f"{url}: the board's REPL failed while flashing ({exc}); {len(report.copied)} files were "
                         "copied before it; the board is at its REPL: flash again") from exc
    finally:
        transport.close()
    report.info = verify(url, firmware_name(tree), p.VERSION, board.board_id, soft_reset=True)
    report.seconds = time.monotonic() - started
    return report


def _raw_repl(address: str, baudrate: int, board: MicroPythonBoard):
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport

    try:
        transport = SerialTransport(address, baudrate=baudrate, timeout=_EXEC_TIMEOUT_S)
    except TransportError as exc:
        raise NoPortError(f"cannot open {address} for mpremote: {exc}") from exc
    printed = io.StringIO()
    try:
        # No soft reset first (mpremote's `resume`): the REPL is idle, and copying needs no clean heap.
        # mpremote reads a pty a byte at a time with the port's own timeout: short while waiting.
        port = cast(serial.Serial, transport.serial)
        port.timeout = 0.05
        with contextlib.redirect_stdout(printed):  # mpremote prints what it heard when this fails
            transport.enter_raw_repl(soft_reset=False, timeout_overall=_RAW_REPL_S)
        port.timeout = _EXEC_TIMEOUT_S
    except TransportError as exc:
        transport.close()
        heard = printed.getvalue().strip()
        raise NoReplError(f"{address} did not enter MicroPython's raw REPL within {_RAW_REPL_S:g} s ({exc}"
                          + (f"; it answered {heard}" if heard not in ("", "b''") else "; it answered nothing")
                          + f"); {board.install}") from exc
    return transport


def _board_kind(transport, board: MicroPythonBoard) -> dict:
    """The board's port and .mpy format; refuses a board the firmware is not for."""
    found = _run(transport, "describe()")
    if found["implementation"] != "micropython" or found["mpy"] is None:
        raise NoReplError(f"the REPL is {found['implementation']}'s, without .mpy support: not a MicroPython board")
    if board.platform is not None and found["platform"] != board.platform:
        raise FlashError(f"the board runs MicroPython's {found['platform']} port; board {board.name} is for "
                         f"{board.platform}: pick the board file for this one")
    if found["platform"] == "linux" and not found["emulated_flash"]:
        raise FlashError("this is MicroPython's unix port but not an emulated board: its / is this machine's "
                         "own filesystem, so nothing is written there; start a board with `phyll emulate --fs DIR`")
    return found


def _run(transport, call: str) -> dict:
    """One of on_board.py's functions, run on the board; what it printed, as JSON."""
    return json.loads(transport.exec(call).decode())


def _copy(transport, contents: dict[str, bytes], report: FlashReport, say: Callable[[str], None]) -> None:
    """Copy the files whose size or sha256 on the board differ, after removing stale ones."""
    expected = {target: [len(data), hashlib.sha256(data).hexdigest()] for target, data in contents.items()}
    folders = sorted({target.rsplit("/", 1)[0] for target in contents if "/" in target})
    found = _run(transport, f"survey({expected!r}, {folders!r})")
    changed = {target: contents[target] for target in contents if target in found["changed"]}
    report.unchanged = [target for target in contents if target not in changed]
    stale = found["stale"]
    new_folders = sorted({target.rsplit("/", 1)[0] for target in changed if "/" in target} - set(found["folders"]))
    _check_space(found, changed, stale, new_folders)
    for path in stale:
        transport.fs_rmfile(path)
        report.removed.append(path)
        say(f"  removed   {path}")
    for folder in new_folders:
        transport.fs_mkdir(folder)
    for target, data in changed.items():
        transport.fs_writefile(target, data, chunk_size=_CHUNK)
        report.copied.append((target, len(data)))
        say(f"  copied    {target} ({len(data):,} bytes)")
    say(f"{len(changed)} files copied ({report.copied_bytes:,} bytes), {len(report.unchanged)} unchanged"
        + (f", {len(stale)} removed" if stale else ""))


def _check_space(found: dict, changed: dict[str, bytes], stale: dict[str, int], folders: list[str]) -> None:
    """Refuse before anything is written when the board's filesystem cannot take the files.

    Counted in the filesystem's blocks, at least one per file and one per new folder. A file
    being replaced is not counted as freed: a filesystem may write the new copy before it drops
    the old one. Stale files are removed first, so their blocks are."""
    block = max(1, int(found["block_size"]))

    def blocks(size: int) -> int:
        return max(1, -(-size // block))

    need = sum(blocks(len(data)) for data in changed.values()) + len(folders)
    free = int(found["free_blocks"]) + sum(blocks(size) for size in stale.values())
    if need > free:
        raise NoSpaceError(f"the board's filesystem has {free * block:,} bytes free ({free} blocks of {block}); "
                           f"the firmware needs {need * block:,} ({len(changed)} files): nothing was copied. "
                           "Remove files from the board (mpremote connect PORT resume fs rm ...) and flash again")
