"""The boards phyll can flash, and where their firmware is.

MicroPython boards are the board files of the firmware tree (`boards/NAME.py`, flashed as
board.py) or a user's own board file given by path; C++ boards are the PlatformIO environments of
firmware/cpp/platformio.ini. For each bundled board this says which MicroPython port it needs (a
board running another is refused) and how to put MicroPython on a bare one.
"""
from __future__ import annotations

import ast
import configparser
import re
from dataclasses import dataclass
from pathlib import Path

from ..emulator.errors import EmulatorError
from ..emulator.firmware import cpp_firmware_dir, firmware_dir
from .errors import FlashError


RP2_MICROPYTHON = (
    "put MicroPython on it first: hold BOOTSEL while plugging the board in, so its boot drive "
    "(RPI-RP2) appears, then `phyll flash --micropython RPI_PICO-<version>.uf2` (the UF2 from "
    "https://micropython.org/download/RPI_PICO/)")
ESP32_MICROPYTHON = (
    "put MicroPython on it first: `phyll flash --micropython ESP32_GENERIC-<version>.bin --port PORT` "
    "(esptool writes it at the chip's offset; pip install 'phyll[esp32]'; the .bin from "
    "https://micropython.org/download/ESP32_GENERIC/)")


@dataclass(frozen=True)
class MicroPythonBoard:
    """A board file and what it needs: `platform` is sys.platform of the MicroPython port it
    runs on (None: a user's board file, not checked)."""

    name: str
    file: Path
    platform: str | None
    install: str

    @property
    def board_id(self) -> str | None:
        """The BOARD its INFO will name (the file's module-level BOARD string), if it sets one."""
        return module_string(self.file, "BOARD")


# name -> (sys.platform on the board, how to put MicroPython on a bare one)
_BUNDLED = {
    "pico_acoustic": ("rp2", RP2_MICROPYTHON),
    "esp32_metasurface": ("esp32", ESP32_MICROPYTHON),
    "emu": ("linux", "start one with `phyll emulate --fs DIR`: an emulated board is MicroPython already"),
}


def micropython_board(name_or_path: str, tree: Path | None = None) -> MicroPythonBoard:
    tree = tree or firmware_dir()
    if name_or_path in _BUNDLED:
        platform, install = _BUNDLED[name_or_path]
        return MicroPythonBoard(name_or_path, tree / "boards" / f"{name_or_path}.py", platform, install)
    path = Path(name_or_path)
    if path.suffix == ".py" and path.is_file():
        return MicroPythonBoard(path.stem, path, None, "put MicroPython on it (micropython.org/download)")
    raise FlashError(f"unknown MicroPython board {name_or_path!r}: give one of {', '.join(_BUNDLED)} "
                     "or the path of your own board file (boards/*.py shows what one holds)")


def micropython_board_names() -> list[str]:
    return list(_BUNDLED)


@dataclass(frozen=True)
class CppBoard:
    """A PlatformIO environment of the C++ firmware and the INFO "board" it reports."""

    env: str
    board_id: str
    family: str  # "rp2" | "esp32": what its port's USB ID should say
    install: str


# env -> INFO "board" (src/boards/*.h kName), chip family, how a board takes an upload
_CPP = {
    "pico": ("rp2-pico", "rp2", "PlatformIO uploads through picotool; a bare or stuck Pico takes it in "
                                "BOOTSEL mode (hold BOOTSEL while plugging it in)"),
    "esp32dev": ("esp32-devkitc", "esp32", "PlatformIO uploads through esptool over the board's USB-UART bridge"),
}


def cpp_project() -> Path:
    """The C++ firmware's PlatformIO project (the emulator's C++ sources): pio builds it there."""
    try:
        folder = cpp_firmware_dir()
    except EmulatorError as exc:
        raise FlashError(str(exc)) from None
    if not (folder / "platformio.ini").is_file():
        raise FlashError(f"the C++ firmware's PlatformIO project has no platformio.ini in {folder}")
    return folder


def cpp_envs(project: Path | None = None) -> list[str]:
    ini = configparser.ConfigParser(interpolation=None)
    ini.read((project or cpp_project()) / "platformio.ini")
    return [section.split(":", 1)[1] for section in ini.sections() if section.startswith("env:")]


def cpp_board(env: str, project: Path | None = None) -> CppBoard:
    envs = cpp_envs(project)
    if env not in envs:
        raise FlashError(f"unknown C++ board {env!r}: platformio.ini has the environments {', '.join(envs)}")
    return CppBoard(env, *_CPP[env])


def firmware_name(tree: Path | None = None) -> str:
    """"phyll-mpy 0.1.0": the NAME and VERSION of the firmware tree's phyllfw package."""
    init = (tree or firmware_dir()) / "phyllfw" / "__init__.py"
    return f"{module_string(init, 'NAME')} {module_string(init, 'VERSION')}"


def cpp_firmware_name(project: Path | None = None) -> str:
    header = (project or cpp_project()) / "src" / "core" / "firmware_version.h"
    found = re.search(r'kFirmwareName\s*=\s*"([^"]+)"', header.read_text())
    if found is None:
        raise FlashError(f"{header} names no kFirmwareName")
    return found.group(1)


def module_string(path: Path, name: str) -> str | None:
    """The string a module assigns to `name` at its top level, read without running it."""
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
    return None
