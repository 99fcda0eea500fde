"""The external tools phyll flash runs, as optional extras: esptool and PlatformIO.

esptool (`pip install 'phyll[esp32]'`) writes a MicroPython .bin onto an ESP32 at its chip's
offset; PlatformIO (`pip install 'phyll[cpp]'`) builds and uploads the C++ firmware. Each
command is built first, so `--dry-run` shows exactly what would run; a missing tool is named
with its install command. Neither downloads anything on phyll's behalf (PlatformIO fetches its
platforms and toolchains from its registry on first use: that is PlatformIO's own doing).
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shlex
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import FlashError, ToolMissingError

ESPTOOL_HINT = "esptool is not installed: pip install 'phyll[esp32]' (or pip install esptool)"
PLATFORMIO_HINT = "PlatformIO is not installed: pip install 'phyll[cpp]' (or pip install platformio)"

# An ESP image starts with 0xE9; its extended header's chip ID (bytes 12-13) names the chip,
# and each chip's ROM looks for the bootloader at its own offset (MicroPython's .bin starts there).
_ESP_MAGIC = 0xE9
ESP_CHIPS = {0: ("esp32", 0x1000), 2: ("esp32s2", 0x1000), 5: ("esp32c3", 0x0), 9: ("esp32s3", 0x0),
             12: ("esp32c2", 0x0), 13: ("esp32c6", 0x0), 16: ("esp32h2", 0x0), 18: ("esp32p4", 0x2000)}
CHIP_OFFSETS = dict(ESP_CHIPS.values())


@dataclass(frozen=True)
class Command:
    """A command line to run, and what it needs in its environment."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    tool_missing: str = ""  # the install hint when the tool is not installed ("" when it is)

    def __str__(self) -> str:
        prefix = " ".join(f"{key}={shlex.quote(value)}" for key, value in self.env.items())
        return (prefix + " " if prefix else "") + shlex.join(self.argv)

    def run(self) -> None:
        if self.tool_missing:
            raise ToolMissingError(self.tool_missing)
        try:
            done = subprocess.run(self.argv, env={**os.environ, **self.env})
        except OSError as exc:
            raise ToolMissingError(f"cannot run {self.argv[0]}: {exc}") from exc
        if done.returncode != 0:
            raise FlashError(f"{self} failed with exit code {done.returncode} (its output is above)")


def esp_chip(image: Path) -> str:
    """The chip a MicroPython ESP .bin is built for, from its image header."""
    head = Path(image).read_bytes()[:16]
    if len(head) < 16 or head[0] != _ESP_MAGIC:
        raise FlashError(f"{image} is not an ESP firmware image (it does not start with 0xE9): give "
                         "MicroPython's .bin for the chip (micropython.org/download)")
    chip_id, = struct.unpack_from("<H", head, 12)
    if chip_id not in ESP_CHIPS:
        raise FlashError(f"{image} is an ESP image for chip ID {chip_id}, which phyll does not know: flash it "
                         "with esptool yourself")
    return ESP_CHIPS[chip_id][0]


def esptool_commands(image: Path, port: str, chip: str | None = None, *, erase: bool = False,
                     baud: int = 460800) -> list[Command]:
    """esptool's commands to put the MicroPython .bin `image` on the ESP at `port`, as
    MicroPython's download page gives them; `chip` is checked against the image's header."""
    from_image = esp_chip(image)
    if chip is not None and chip != from_image:
        raise FlashError(f"{image} is built for {from_image}, not {chip}: download the .bin for your chip")
    version = _installed("esptool")
    missing = "" if version else ESPTOOL_HINT
    # esptool 5 names its commands with dashes; 4 with underscores.
    dash = version is not None and int(version.split(".")[0]) >= 5
    base = [sys.executable, "-m", "esptool", "--chip", from_image, "--port", port]
    commands = []
    if erase:
        commands.append(Command([*base, "erase-flash" if dash else "erase_flash"], tool_missing=missing))
    commands.append(Command([*base, "--baud", str(baud), "write-flash" if dash else "write_flash", "-z",
                             f"0x{CHIP_OFFSETS[from_image]:x}", str(image)], tool_missing=missing))
    return commands


def platformio_upload(project: Path, env: str, port: str | None) -> Command:
    """`pio run -e ENV -t upload` for the C++ firmware. The installed package's copy of the project
    (phyll/_firmware_cpp) may not be writable and is no place for build output: PlatformIO then
    builds in a cache folder (PLATFORMIO_WORKSPACE_DIR)."""
    pio = _platformio()
    argv = [*(pio or ["pio"]), "run", "-d", str(project), "-e", env, "-t", "upload"]
    if port:
        argv += ["--upload-port", port]
    env_vars = {}
    if project.name == "_firmware_cpp" or not os.access(project, os.W_OK):
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        env_vars["PLATFORMIO_WORKSPACE_DIR"] = str(Path(base) / "phyll" / "pio")
    return Command(argv, env_vars, "" if pio else PLATFORMIO_HINT)


def _platformio() -> list[str] | None:
    for name in ("pio", "platformio"):
        beside = Path(sys.executable).with_name(name)
        if beside.is_file() and os.access(beside, os.X_OK):
            return [str(beside)]
    for name in ("pio", "platformio"):
        if found := shutil.which(name):
            return [found]
    if importlib.util.find_spec("platformio") is not None:
        return [sys.executable, "-m", "platformio"]
    return None


def _installed(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
