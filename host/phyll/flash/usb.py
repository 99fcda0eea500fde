"""The serial ports and UF2 boot drives on this machine, and what their USB IDs say is behind them.

Hints come from USB vendor and product IDs only: they say what kind of board or bridge a port
is, never what runs on it (probe.py asks the port itself).
"""
from __future__ import annotations

import os
import string
import sys
from dataclasses import dataclass
from pathlib import Path

from serial.tools import list_ports


@dataclass(frozen=True)
class Hint:
    """What a USB ID says: `what` in words, `family` the chip family MicroPython is built for
    ("rp2", "esp32", None when the ID does not tell)."""

    what: str
    family: str | None = None


# (vendor, product) -> Hint. Bridges name the chips usually found behind them.
HINTS = {
    (0x2E8A, 0x0005): Hint("Raspberry Pi RP2040/RP2350 running MicroPython", "rp2"),
    (0x2E8A, 0x000A): Hint("Raspberry Pi Pico SDK USB serial: a C/C++ program (arduino-pico, "
                           "the phyll C++ firmware)", "rp2"),
    (0x2E8A, 0x0003): Hint("RP2040 in BOOTSEL mode (its boot drive takes a UF2)", "rp2"),
    (0x2E8A, 0x000F): Hint("RP2350 in BOOTSEL mode (its boot drive takes a UF2)", "rp2"),
    (0x10C4, 0xEA60): Hint("Silicon Labs CP210x USB-UART bridge (ESP32 DevKitC and most ESP32 boards)", "esp32"),
    (0x1A86, 0x7523): Hint("WCH CH340 USB-UART bridge (many ESP32 boards)", "esp32"),
    (0x1A86, 0x55D4): Hint("WCH CH9102 USB-UART bridge (many ESP32 boards)", "esp32"),
    (0x0403, 0x6001): Hint("FTDI FT232R USB-UART bridge"),
    (0x0403, 0x6010): Hint("FTDI FT2232 USB-UART bridge (ESP-Prog, ESP-WROVER-KIT)", "esp32"),
    (0x0403, 0x6014): Hint("FTDI FT232H USB-UART bridge"),
    (0x0403, 0x6015): Hint("FTDI FT231X USB-UART bridge"),
    (0x303A, 0x1001): Hint("Espressif USB Serial/JTAG: ESP32-S3/C3/C6 native USB", "esp32"),
    (0x303A, 0x0002): Hint("ESP32-S2 native USB in its ROM download mode", "esp32"),
    (0x303A, 0x4001): Hint("Espressif native USB (TinyUSB): ESP32-S2/S3 running MicroPython", "esp32"),
    (0x16C0, 0x0483): Hint("Teensy USB serial"),
    (0xF055, 0x9800): Hint("MicroPython pyboard"),
    (0xF055, 0x9802): Hint("MicroPython pyboard"),
    (0x0483, 0x5740): Hint("STM32 USB virtual COM port"),
}


def hint_for(vid: int | None, pid: int | None) -> Hint | None:
    if vid is None or pid is None:
        return None
    return HINTS.get((vid, pid))


@dataclass(frozen=True)
class SerialPort:
    device: str
    description: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    hint: Hint | None

    @property
    def usb_id(self) -> str | None:
        return f"{self.vid:04x}:{self.pid:04x}" if self.vid is not None and self.pid is not None else None


def serial_ports() -> list[SerialPort]:
    """The serial ports pyserial finds (USB, platform UARTs), in device order."""
    found = []
    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        description = port.description if port.description and port.description != "n/a" else ""
        found.append(SerialPort(port.device, description, port.vid, port.pid, port.serial_number,
                                hint_for(port.vid, port.pid)))
    return found


INFO_UF2 = "INFO_UF2.TXT"


@dataclass(frozen=True)
class BootDrive:
    """A mounted UF2 bootloader drive (an RP2040 or RP2350 in BOOTSEL mode shows up as one)."""

    path: Path
    info: dict[str, str]  # INFO_UF2.TXT's "Key: value" lines: Model, Board-ID, ...

    @property
    def board_id(self) -> str:
        return self.info.get("Board-ID", "")


def read_boot_drive(path: Path) -> BootDrive | None:
    """The boot drive at `path`, or None if it holds no INFO_UF2.TXT."""
    try:
        text = (path / INFO_UF2).read_text("ascii", "replace")
    except OSError:
        return None
    info = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    return BootDrive(path, info)


def boot_drives() -> list[BootDrive]:
    """Mounted UF2 boot drives: any mount point (Linux), volume (macOS) or drive letter
    (Windows) with an INFO_UF2.TXT at its root."""
    drives = (read_boot_drive(path) for path in _mount_points())
    return [drive for drive in drives if drive is not None]


def _mount_points() -> list[Path]:
    if sys.platform.startswith("linux"):
        try:
            lines = Path("/proc/self/mounts").read_text().splitlines()
        except OSError:
            return []
        # fields are space-separated with spaces in paths written as \040
        points = (line.split()[1].encode().decode("unicode_escape") for line in lines if len(line.split()) > 1)
        return [Path(point) for point in points if point.startswith(("/media", "/run/media", "/mnt"))]
    if sys.platform == "darwin":
        volumes = Path("/Volumes")
        return sorted(volumes.iterdir()) if volumes.is_dir() else []
    if os.name == "nt":
        return [Path(f"{letter}:\\") for letter in string.ascii_uppercase if os.path.exists(f"{letter}:\\")]
    return []
