"""One emulated device: the firmware process, its pty, its medium server and optional UART pace.

    firmware (micropython boards/emu.py FD FD) <- stdin/stdout: master of a raw pty
        |  medium channel: a socketpair                         slave of that pty -> `path`
    MediumServer thread here (numpy medium)                     (or, with baud=, a UartRelay to
        +  control socket: the REPL hand-over                    a second pty whose slave is `path`)

The firmware process is the MicroPython firmware's interpreter, the C++ firmware's host build
(phyll-cpp-host --medium-fd FD), or qemu-system-arm running its ARM image, whose UART0 is the
pty and UART1 the medium channel (firmware.py). The C++ firmware has no REPL: no control socket.

The host opens `path` like any serial port. The emulator keeps one slave descriptor open for its
whole life, so hosts may come and go (`phyll emulate`); the firmware ends when that descriptor is
closed (it sees the link hang up) and is terminated, then killed, if it does not. Nothing outlives
the emulator: `close()` is idempotent, runs at interpreter exit, and -- unless the program set its
own SIGTERM handler -- on SIGTERM. If this process dies without any of that (SIGKILL), the
firmware still ends: its pty hangs up when the kernel closes our descriptors.

The firmware reads the pty master non-blocking (its inter-byte timeout needs that, and the unix
port has no fcntl to set it). When a host sends REPL, the board asks over the control socket for
a blocking link, which its REPL needs; the emulator keeps a copy of the master until then (or
until the firmware ends) to clear the flag on the open file both share (_hand_over_to_repl).
"""
from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import tempfile
import threading
import tty
import weakref

from ..media import Medium, load_medium
from .errors import EmulatorError
from .firmware import select_runtime
from .medium_server import MediumServer
from .scales import Scales, declared_full_scale, derive_scales
from .uart import UartRelay

_GRACE_S = 0.5  # how long the firmware gets to leave by itself at each step of close()
_STDERR_TAIL = 2000

_live: "weakref.WeakSet[Emulator]" = weakref.WeakSet()
_lock = threading.RLock()  # re-entrant: the SIGTERM handler may run while this thread holds it
_hooks_installed = False


class Emulator:
    """The firmware serving `medium` on a pty. Owns the medium: close() closes it.

    firmware: "micropython" | "cpp" | "cpp-arm"; runtime: the MicroPython firmware's interpreter,
    "auto" | "micropython" | "cpython"; baud: UART pace (None = as fast as the pty);
    max_batch: vectors per EXCITE the device advertises (0 = the protocol bound);
    probe: a twin of `medium` measured when the medium declares no sensor full scale.
    """

    def __init__(self, medium: Medium, *, firmware: str = "micropython", runtime: str = "auto",
                 baud: int | None = None, max_batch: int = 0, probe: Medium | None = None) -> None:
        self.medium = medium
        self.baud = baud
        self.path = ""
        self.process: subprocess.Popen | None = None
        self.server: MediumServer | None = None
        self.relay: UartRelay | None = None
        self._keep_fd = -1  # a slave descriptor held open so the link stays up between hosts
        self._channel: socket.socket | None = None
        self._control: socket.socket | None = None
        self._master = -1  # our copy of the firmware's pty master, until the REPL hand-over
        self._repl = threading.Event()
        self._control_thread: threading.Thread | None = None
        self._stderr = None
        self._closed = False
        try:
            if baud is not None and (not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0):
                raise EmulatorError(f"baud must be a positive integer, got {baud!r}")
            if not isinstance(max_batch, int) or max_batch < 0:
                raise EmulatorError(f"max_batch must be an integer >= 0, got {max_batch!r}")
            self.runtime = select_runtime(runtime, firmware)
            self.scales: Scales = derive_scales(medium, probe)
            self.description = {
                "medium": medium.name, "n_actuators": int(medium.n_actuators),
                "n_sensors": int(medium.n_sensors), "encoding": medium.encoding.to_dict(),
                "actuator_scale": self.scales.actuator, "sensor_scale": self.scales.sensor,
                "max_batch": max_batch,
            }
            if medium.firmware_hal:
                self.description["hal"] = medium.firmware_hal
            self._stderr = tempfile.TemporaryFile()
            _install_hooks()
            _live.add(self)
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        master, slave = os.openpty()
        try:
            # Named now: a firmware that ends at once (a medium it refuses) hangs the pty up, and
            # a hung-up slave can no longer be asked its name.
            path = os.ttyname(slave)
            tty.setraw(slave)
            # Non-blocking reads make the firmware's inter-byte timeout work (the unix port has
            # no fcntl of its own); the flag lives on the open file the child inherits.
            os.set_blocking(master, False)
            self._channel, device_end = socket.socketpair()
            with device_end:
                if self.runtime.hands_over_repl:
                    self._control, device_control = socket.socketpair()
                    with device_control:
                        self._spawn(master, device_end.fileno(), device_control.fileno())
                    self._master = os.dup(master)
                else:
                    self._spawn(master, device_end.fileno())
        except BaseException:
            os.close(slave)
            raise
        finally:
            os.close(master)
        self._keep_fd = slave  # close() owns it from here
        if self._control is not None:
            self._control_thread = threading.Thread(target=self._hand_over_to_repl, name="phyll-emu-control",
                                                    daemon=True)
            self._control_thread.start()
        self.server = MediumServer(self.medium, self._channel, self.description)
        self.server.start()
        if self.baud is not None:
            host_master, host_slave = os.openpty()
            tty.setraw(host_slave)
            # The relay owns the firmware's slave and the host's master; we keep the host's slave.
            self.relay = UartRelay(slave, host_master, self.baud)
            self._keep_fd = host_slave
            self.relay.start()
        self.path = path if self.relay is None else os.ttyname(self._keep_fd)

    def _spawn(self, master: int, channel_fd: int, control_fd: int = -1) -> None:
        fds = (channel_fd,) if control_fd < 0 else (channel_fd, control_fd)
        self.process = subprocess.Popen(
            self.runtime.argv(channel_fd, control_fd), cwd=self.runtime.cwd, stdin=master, stdout=master,
            stderr=self._stderr, pass_fds=fds,
            start_new_session=True)  # a terminal's Ctrl-C is the host's to handle

    def _hand_over_to_repl(self) -> None:
        """Answer the board's one request, "R" (it left its frame loop for the REPL), by making
        the link blocking; then, or when the firmware ends without asking, drop our master copy
        (held on, it would keep hosts from seeing the link hang up when the firmware is gone)."""
        assert self._control is not None
        try:
            if self._control.recv(1) == b"R":
                os.set_blocking(self._master, True)
                self._repl.set()
                self._control.sendall(b"K")
        except OSError:
            pass  # the firmware ended mid-request: nothing to hand over
        finally:
            os.close(self._master)
            self._master = -1

    # -- state --------------------------------------------------------------------------------

    @property
    def at_repl(self) -> bool:
        """True once a host sent REPL: the firmware left its frame loop and the link is its REPL's
        (MicroPython's; under CPython the link stays open, unanswered)."""
        return self._repl.is_set()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def exit_status(self, wait: float = 0.0) -> str | None:
        """None while the firmware runs, else how it ended (e.g. "was killed by SIGKILL")."""
        if self.process is None:
            return "never started"
        try:
            code = self.process.wait(wait) if wait > 0 else self.process.poll()
        except subprocess.TimeoutExpired:
            return None
        if code is None:
            return None
        if code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"

    def stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - _STDERR_TAIL))
            return self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def explain_exit(self, wait: float = 0.5) -> str | None:
        """A sentence on the firmware's end, with its last stderr lines; None if it runs."""
        status = self.exit_status(wait)
        if status is None:
            return None
        text = f"its firmware process (pid {self.pid}, {self.runtime.name}) {status}"
        tail = self.stderr_tail()
        return f"{text}; firmware stderr: {tail}" if tail else text

    def describe(self) -> dict:
        described = {
            "runtime": self.runtime.name, "program": self.runtime.program, "pid": self.pid,
            "firmware": str(self.runtime.firmware), "path": self.path, "baud": self.baud,
            "scales": {"actuator": self.scales.actuator, "sensor": self.scales.sensor,
                       "sensor_full_scale": self.scales.full_scale, "full_scale_from": self.scales.source},
            "medium": self.medium.describe(),
        }
        if self.server is not None:
            described["medium_server"] = self.server.counters()
        if self.relay is not None:
            described["uart"] = self.relay.counters()
        return described

    # -- shutdown -----------------------------------------------------------------------------

    def close(self) -> None:
        with _lock:
            if self._closed:
                return
            self._closed = True
        _live.discard(self)
        try:
            self._stop_firmware()
        finally:
            if self.server is not None:
                self.server.join(_GRACE_S)
            if self._control_thread is not None:
                self._control_thread.join(_GRACE_S)  # the firmware is gone: its socket has closed
            if self._channel is not None:
                self._channel.close()
            if self._control is not None:
                self._control.close()
            if self._stderr is not None:
                self._stderr.close()
            self.medium.close()

    def _stop_firmware(self) -> None:
        if self.relay is not None:
            self.relay.stop()  # closes the firmware's slave: the firmware sees its link hang up
        if self._keep_fd >= 0:
            os.close(self._keep_fd)
            self._keep_fd = -1
        if self.process is None:
            return
        # Normally the firmware saw the hang-up and is leaving. If a host still holds the port
        # (close_all at exit, `phyll emulate` stopped while serving) it cannot see one: end it.
        # QEMU never leaves by itself: it is ended at once.
        if self.exit_status(_GRACE_S if self.runtime.ends_on_hangup else 0) is None:
            self.process.terminate()
            if self.exit_status(_GRACE_S) is None:
                self.process.kill()
        self.process.wait()

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def start_with_medium(spec: str, medium_options: dict | None, start):
    """Load medium `spec` and return start(medium, probe), which owns the medium (and closes it
    if it fails). When the medium declares no sensor full scale, `probe` is a twin loaded with
    the same options, measured instead, so the served medium starts untouched (see scales.py)."""
    options = dict(medium_options or {})
    medium = load_medium(spec, **options)
    probe = None
    try:
        if declared_full_scale(medium) is None:
            probe = load_medium(spec, **options)
    except BaseException:
        medium.close()
        raise
    try:
        return start(medium, probe)
    finally:
        if probe is not None:
            probe.close()


def start_emulator(spec: str, medium_options: dict | None = None, **emulator_options) -> Emulator:
    """Load medium `spec` and start an Emulator owning it (options as for Emulator)."""
    return start_with_medium(spec, medium_options,
                             lambda medium, probe: Emulator(medium, probe=probe, **emulator_options))


def close_all() -> None:
    """Close every emulator still open in this process (atexit, SIGTERM)."""
    for emulator in list(_live):
        emulator.close()


def _on_sigterm(signum, frame) -> None:
    close_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # end as SIGTERM asked, now that no child is left


def _install_hooks() -> None:
    """atexit always; SIGTERM only from the main thread and only if nobody else handles it."""
    global _hooks_installed
    with _lock:
        if _hooks_installed:
            return
        _hooks_installed = True
    atexit.register(close_all)
    if threading.current_thread() is threading.main_thread() \
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
