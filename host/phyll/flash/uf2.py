"""MicroPython onto an RP2040 or RP2350 in BOOTSEL mode: a UF2 file copied to its boot drive.

Held in BOOTSEL while plugged in, the chip's ROM shows a USB drive (RPI-RP2 for the RP2040,
RP2350 for the RP2350) with an INFO_UF2.TXT. A UF2 file copied onto it is written to flash; the
chip then reboots, the drive goes away and MicroPython's serial port (2e8a:0005) comes up.
Nothing is downloaded: the UF2 is a file the user has (micropython.org/download).

UF2 (github.com/microsoft/uf2): 512-byte blocks, each with two start magics, flags, a target
address, a payload size, its number and the block count, a family ID (flag 0x2000), 476 bytes
of data and an end magic.
"""
from __future__ import annotations

import os
import shutil
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import FlashError
from .usb import BootDrive, SerialPort, boot_drives, read_boot_drive, serial_ports

BLOCK = 512
_HEAD = struct.Struct("<8I")  # magic0, magic1, flags, address, payload size, block no, blocks, family
_MAGIC0, _MAGIC1, _MAGIC_END = 0x0A324655, 0x9E5D5157, 0x0AB16F30
_FAMILY_PRESENT = 0x2000
RP2040 = 0xE48BFF56
RP2XXX_ABSOLUTE = 0xE48BFF57
RP2350 = frozenset({0xE48BFF59, 0xE48BFF5A, 0xE48BFF5B})  # ARM secure, RISC-V, ARM non-secure
FAMILY_NAMES = {RP2040: "RP2040", RP2XXX_ABSOLUTE: "RP2XXX absolute", 0xE48BFF58: "RP2XXX data",
                0xE48BFF59: "RP2350 ARM-S", 0xE48BFF5A: "RP2350 RISC-V", 0xE48BFF5B: "RP2350 ARM-NS"}
# Board-ID in INFO_UF2.TXT -> the families its ROM takes
DRIVE_FAMILIES = {"RPI-RP2": frozenset({RP2040}), "RP2350": RP2350 | {RP2XXX_ABSOLUTE}}
MICROPYTHON_USB = (0x2E8A, 0x0005)


@dataclass(frozen=True)
class Uf2File:
    path: Path
    blocks: int
    families: frozenset[int]

    @property
    def family_names(self) -> str:
        return ", ".join(sorted(FAMILY_NAMES.get(f, f"0x{f:08x}") for f in self.families)) or "none named"


def read_uf2(path: Path) -> Uf2File:
    """Check every block of a UF2 file; FlashError naming the first thing wrong."""
    data = Path(path).read_bytes()
    if not data or len(data) % BLOCK:
        raise FlashError(f"{path} is not a UF2 file: {len(data)} bytes is not a whole number of 512-byte blocks")
    families = set()
    for number, at in enumerate(range(0, len(data), BLOCK)):
        magic0, magic1, flags, _, size, _, _, family = _HEAD.unpack_from(data, at)
        end, = struct.unpack_from("<I", data, at + BLOCK - 4)
        if (magic0, magic1, end) != (_MAGIC0, _MAGIC1, _MAGIC_END):
            raise FlashError(f"{path} is not a UF2 file: block {number} lacks the UF2 magic numbers")
        if size > 476:
            raise FlashError(f"{path}: UF2 block {number} claims {size} payload bytes, more than a block holds")
        if flags & _FAMILY_PRESENT:
            families.add(family)
    return Uf2File(Path(path), len(data) // BLOCK, frozenset(families))


def find_boot_drive(given: Path | None = None) -> BootDrive:
    """The boot drive `given`, or the one mounted boot drive."""
    if given is not None:
        drive = read_boot_drive(given)
        if drive is None:
            raise FlashError(f"{given} is not a UF2 boot drive: it has no INFO_UF2.TXT")
        return drive
    drives = boot_drives()
    if not drives:
        raise FlashError("no UF2 boot drive is mounted: hold BOOTSEL while plugging the board in (the drive "
                         "RPI-RP2 or RP2350 appears; mount it if your system does not), or name it with --drive DIR")
    if len(drives) > 1:
        raise FlashError(f"several UF2 boot drives are mounted ({', '.join(str(d.path) for d in drives)}): name one "
                         "with --drive DIR")
    return drives[0]


def check_fits(uf2: Uf2File, drive: BootDrive) -> None:
    """A UF2 for another chip would be ignored by the ROM: refuse it before copying."""
    takes = DRIVE_FAMILIES.get(drive.board_id)
    if takes is None or not uf2.families:
        return  # a drive or file we know nothing about: let its ROM judge
    if not uf2.families & takes:
        raise FlashError(f"{uf2.path} is for {uf2.family_names}; the boot drive {drive.path} ({drive.board_id}) "
                         f"takes {', '.join(sorted(FAMILY_NAMES[f] for f in takes))}: download the UF2 for this chip")


def install_uf2(uf2_path: Path, drive: BootDrive, *, wait: float, say: Callable[[str], None],
                list_ports: Callable[[], list[SerialPort]] = serial_ports) -> SerialPort | None:
    """Copy the UF2 onto the boot drive; then, unless wait is 0, wait that long for the board to
    reboot into MicroPython: its drive going away and its serial port appearing (returned)."""
    uf2 = read_uf2(uf2_path)
    check_fits(uf2, drive)
    before = {port.device for port in list_ports()}
    target = drive.path / uf2.path.name
    say(f"copying {uf2.path} ({uf2.blocks} blocks, {uf2.family_names}) to the boot drive {drive.path} "
        f"({drive.info.get('Model', drive.board_id)})")
    try:
        with open(uf2.path, "rb") as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink)
            sink.flush()
            os.fsync(sink.fileno())
    except OSError as exc:
        if (drive.path / "INFO_UF2.TXT").exists():  # the drive is still there: the copy itself failed
            raise FlashError(f"cannot copy {uf2.path} to {target}: {exc}") from exc
        # The ROM reboots as the last block lands, and the drive can vanish before the close.
    if wait <= 0:
        return None
    return _wait_for_micropython(drive, before, wait, say, list_ports)


def _wait_for_micropython(drive: BootDrive, before: set[str], wait: float, say: Callable[[str], None],
                          list_ports: Callable[[], list[SerialPort]]) -> SerialPort:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for port in list_ports():
            if port.device not in before and (port.vid, port.pid) == MICROPYTHON_USB:
                say(f"MicroPython's serial port is up: {port.device}")
                return port
        time.sleep(0.25)
    gone = not (drive.path / "INFO_UF2.TXT").exists()
    raise FlashError(f"no MicroPython serial port (USB 2e8a:0005) appeared within {wait:g} s of copying the UF2; "
                     + ("the boot drive went away, so the board rebooted: is the UF2 MicroPython's?" if gone else
                        f"the boot drive {drive.path} is still there: the board did not take the file"))


def describe_drive(drive: BootDrive) -> str:
    return f"{drive.path}: UF2 boot drive {drive.board_id or '?'} ({drive.info.get('Model', 'unknown model')})"
