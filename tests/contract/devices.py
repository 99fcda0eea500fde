"""The devices under test: one running implementation of docs/protocol.md each, behind a port.

A column is a context manager yielding a `DeviceUnderTest`; the checks see nothing else of it:
its port, what is known about its medium (`model`) and link (`link_buffer`), and whether the
suite can start a new instance of it (`restart`) -- a board it cannot.
"""
from __future__ import annotations

import os
import subprocess
import tty
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np

from phyll import protocol as p
from phyll.physical import ActuatorEncoding
from phyll.urls import DeviceURL

from serial_peer import PeerDevice, PeerServer, serve_pty

from .client import RawClient

REPO = Path(__file__).resolve().parents[2]
FIRMWARE_DIR = REPO / "firmware" / "micropython"
# What a Linux pty buffers per direction (measured: 22048 bytes); every column but a board's
# is a pty, so a device behind one that is handed more than this cannot write it all.
PTY_BUFFER = 22048
# Watchdog of an instance the suite starts for the arming check, where the column can set it.
FRESH_WATCHDOG_MS = 200
CONNECT_ATTEMPTS = 3

# The emulated board's medium: small, noisy (a re-run never repeats a reading bit for bit) and
# served over the medium channel, so the firmware takes its read-ahead path (split HAL).
EMU_MEDIUM = ("acoustic", {"speakers": 2, "microphones": 2, "tones": 2, "seed": 3})
# The ARM image's medium: the loopback its firmware computes itself ("hal": "loopback"), whose
# MEASURE is known exactly. Under QEMU each byte a UART receives costs a main-loop round trip
# (~16-25 KB/s), so a 16 KB reply over the medium UART takes ~0.7 s: longer than the 0.5 s of
# quiet after which the unread-reply point stops listening for replies. The ARM image's medium
# channel is trained through in tests/test_firmware_arm.py instead.
EMU_ARM_MEDIUM = ("loopback", {"width": 4})
# phyll-cpp-host's linear medium (firmware/cpp/host/linear_medium_hal.h): 8 sensors, so a
# max_batch MEASURE is ~16 KB and in_flight of them overflow a pty.
CPP_SENSORS = 8
CPP_OPTIONS = ("--actuators", "4", "--sensors", str(CPP_SENSORS), "--static", "6")
CPP_ACTUATOR_SCALE = 2.0 ** -15
CPP_SENSOR_SCALE = 2.0 ** -8


class NotApplicable(Exception):
    """A point that does not apply to this device; the reason becomes the test's skip reason."""


@dataclass
class DeviceUnderTest:
    """A running device as the checks see it.

    model: applied codes (batch, n_actuators) -> the MEASURE codes this device must answer, when
    its medium is known exactly; link_buffer: bytes its link holds towards the host, if known;
    restart: a new instance of the same implementation, from boot (None: a board);
    boot_watchdog_ms: the watchdog such a new instance boots with; reshape: an instance shaped
    like a protocol-vectors.json "device", where the implementation can be shaped at will.
    """

    name: str
    url: str
    baudrate: int = 115200
    model: Callable[[np.ndarray], np.ndarray] | None = None
    link_buffer: int | None = PTY_BUFFER
    restart: Callable[[], AbstractContextManager["DeviceUnderTest"]] | None = None
    boot_watchdog_ms: int | None = None
    reshape: Callable[[dict], AbstractContextManager["DeviceUnderTest"]] | None = None
    ended: Callable[[], str | None] = lambda: None  # how the device's process ended, if it did
    spent: str = ""  # why this instance no longer serves frames (it left for its REPL)

    def open(self) -> RawClient:
        """The port, with nothing sent yet (not even HELLO)."""
        return RawClient.open(self.url, self.baudrate)

    def connect(self) -> RawClient:
        """The port with a session started: drained of what an earlier check left, then HELLO
        (which also empties the device's reply cache)."""
        link = self.open()
        try:
            _start_session(link)
        except BaseException:
            link.close()
            raise
        return link

    @contextmanager
    def explained(self) -> Iterator[None]:
        """A failure inside says how the device ended, if it did (exited, crashed)."""
        try:
            yield
        except AssertionError as exc:
            ended = self.ended()
            if ended:
                raise AssertionError(f"{exc}\n({self.name}: {ended})") from exc
            raise

    @contextmanager
    def spendable(self) -> Iterator["DeviceUnderTest"]:
        """An instance a check may make leave its frame loop: a new one where the suite can
        start one, else this one, which is then marked spent."""
        if self.restart is not None:
            with self.restart() as fresh, fresh.explained():
                yield fresh
            return
        try:
            yield self
        finally:
            self.spent = f"{self.name} left its frame loop for its REPL earlier in this session"


def _start_session(link: RawClient) -> None:
    for attempt in range(CONNECT_ATTEMPTS):
        link.drain()
        try:
            link.hello()
            return
        except AssertionError:
            # A partial frame an earlier check left may swallow our HELLO until the device's
            # inter-byte timeout drops it; the next attempt gets through.
            if attempt == CONNECT_ATTEMPTS - 1 or link.closed:
                raise


def read_info(device: DeviceUnderTest) -> dict:
    with device.connect() as link:
        return link.info


# -------------------------------------------------------------------------------------------------
# the CPython test double


def contract_peer(cls: type[PeerDevice] = PeerDevice, **options) -> PeerDevice:
    """The test peer shaped for the suite: 5 actuators with limits that clamp at both ends,
    3 sensors, the protocol's max_batch (so in_flight MEASUREs overflow a pty), 6 statics."""
    shape = {"n_actuators": 5, "n_sensors": 3, "encoding": ActuatorEncoding("minmax", -0.25, 0.75),
             "actuator_scale": 1.0 / 32767, "max_batch": p.max_batch_bound(5, 3, "int16"), "n_static": 6}
    return cls(**{**shape, **options})


@contextmanager
def peer_device(make: Callable[..., PeerDevice] = contract_peer, server: type[PeerServer] = PeerServer,
                name: str = "peer") -> Iterator[DeviceUnderTest]:
    """`make()` served on a pty by `server` (tests/serial_peer.py, or a broken variant)."""
    device = make()
    peer, path, slave = serve_pty(device, server=server)
    try:
        yield DeviceUnderTest(name, path, model=device.expected_codes,
                              restart=partial(peer_device, partial(make, watchdog_ms=FRESH_WATCHDOG_MS), server, name),
                              boot_watchdog_ms=device.config["watchdog_ms"],
                              reshape=partial(shaped_peer, cls=type(device), server=server),
                              ended=lambda: None if peer.serving else "its serving thread ended")
    finally:
        peer.stop()
        os.close(slave)


@contextmanager
def shaped_peer(spec: dict, cls: type[PeerDevice] = PeerDevice,
                server: type[PeerServer] = PeerServer) -> Iterator[DeviceUnderTest]:
    """A test peer (of class `cls`) shaped like a protocol-vectors.json "device"."""
    make = partial(cls, spec["n_actuators"], spec["n_sensors"], ActuatorEncoding(**spec["encoding"]),
                   actuator_scale=spec["actuator_scale"], sensor_scale=spec["sensor_scale"],
                   max_batch=spec["max_batch"], n_static=spec["n_static"])
    with peer_device(make, server, name=f"{cls.__name__} shaped like the vector's device") as device:
        yield device


# -------------------------------------------------------------------------------------------------
# the MicroPython firmware, emulated (phyll.emulator) under MicroPython or CPython


@contextmanager
def _checkout_firmware() -> Iterator[None]:
    """This checkout's firmware/micropython, also where phyll is installed from a wheel (which
    ships a copy), unless PHYLL_FIRMWARE_DIR names another on purpose."""
    if os.environ.get("PHYLL_FIRMWARE_DIR"):
        yield
        return
    os.environ["PHYLL_FIRMWARE_DIR"] = str(FIRMWARE_DIR)
    try:
        yield
    finally:
        del os.environ["PHYLL_FIRMWARE_DIR"]


@contextmanager
def emulated_device(runtime: str = "auto", boot_watchdog_ms: int | None = None,
                    firmware: str = "micropython") -> Iterator[DeviceUnderTest]:
    """The MicroPython firmware under `runtime`, or (firmware "cpp", "cpp-arm") the C++ firmware's
    host build or its ARM image under QEMU, each behind the emulator's medium channel.
    boot_watchdog_ms: what the board file sets, if known; else read from INFO once started (a
    restarted instance must hear nothing before its check speaks)."""
    from phyll.emulator import start_emulator  # only the emu columns need the emulator
    from phyll.emulator.errors import EmulatorError

    spec, options = EMU_ARM_MEDIUM if firmware == "cpp-arm" else EMU_MEDIUM
    name = f"emu-{runtime}" if firmware == "micropython" else f"emu-{firmware}"
    try:
        with _checkout_firmware():
            emulator = start_emulator(spec, options, firmware=firmware, runtime=runtime)
    except EmulatorError as exc:
        raise NotApplicable(f"cannot start the emulated device {name}: {exc}") from None
    try:
        device = DeviceUnderTest(name, emulator.path, ended=lambda: emulator.explain_exit(0),
                                 boot_watchdog_ms=boot_watchdog_ms,
                                 model=loopback_model if spec == "loopback" else None)
        if boot_watchdog_ms is None:
            device.boot_watchdog_ms = read_info(device)["watchdog_ms"]
        device.restart = partial(emulated_device, runtime, device.boot_watchdog_ms, firmware)
        yield device
    finally:
        emulator.close()


def loopback_model(codes: np.ndarray) -> np.ndarray:
    """The loopback medium: sensor j reads back actuator j's applied (clamped) code."""
    return codes.astype(np.int16)


# -------------------------------------------------------------------------------------------------
# the C++ firmware's host build


def cpp_linear_model(n_sensors: int, codes: np.ndarray) -> np.ndarray:
    """firmware/cpp/host/linear_medium_hal.h with every static element off."""
    j, i = np.meshgrid(np.arange(n_sensors), np.arange(codes.shape[1]), indexing="ij")
    weights = ((3 * i + 5 * j) % 7 - 3) / 4.0
    values = (codes.astype(np.float64) * CPP_ACTUATOR_SCALE) @ weights.T
    return np.clip(np.rint(values / CPP_SENSOR_SCALE), p.INT16_MIN, p.INT16_MAX).astype(np.int16)


@contextmanager
def cpp_host_device(executable: Path, watchdog_ms: int = 2000) -> Iterator[DeviceUnderTest]:
    master, slave = os.openpty()
    tty.setraw(slave)
    options = [*CPP_OPTIONS, "--watchdog-ms", str(watchdog_ms)]
    try:
        process = subprocess.Popen([str(executable), *options], stdin=master, stdout=master,
                                   start_new_session=True)
    except BaseException:
        os.close(slave)
        raise
    finally:
        os.close(master)

    def ended() -> str | None:
        code = process.poll()
        return None if code is None else f"phyll-cpp-host exited with {code}"

    try:
        yield DeviceUnderTest("cpp", os.ttyname(slave), model=partial(cpp_linear_model, CPP_SENSORS),
                              restart=partial(cpp_host_device, executable, FRESH_WATCHDOG_MS),
                              boot_watchdog_ms=watchdog_ms, ended=ended)
    finally:
        os.close(slave)  # the firmware sees the hang-up and ends
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError("phyll-cpp-host still ran 10 s after its port hung up") from None
    # A sanitizer report makes the exit status non-zero.
    assert code == 0, f"phyll-cpp-host ended with status {code}"


# -------------------------------------------------------------------------------------------------
# a board named by a rig file (hil/rig.py)


@contextmanager
def rig_device(rig) -> Iterator[DeviceUnderTest]:
    """The rig's device: a serial port (a path or `serial://PATH`, link options such as
    `#baudrate=921600` after the hash as for phyll.link) or `emu://MEDIUM?options` (an emulated
    board, handy to try a rig file)."""
    url = DeviceURL.parse(rig.url)
    if url.scheme == "emu":
        with _emulated_rig(rig, url) as device:
            yield device
        return
    if url.scheme == "sim":
        raise NotApplicable(f"rig {rig.source}: {rig.url} is a simulation with no wire; the contract "
                            "suite checks a device over a serial port (a path, serial://PATH, or emu://)")
    port = url.target if url.scheme == "serial" else rig.url.partition("#")[0]
    baudrate = dict(parse_qsl(url.fragment)).get("baudrate", "115200")
    yield DeviceUnderTest(f"board {rig.name}", port, baudrate=int(baudrate), link_buffer=None)


@contextmanager
def _emulated_rig(rig, url: DeviceURL) -> Iterator[DeviceUnderTest]:
    from phyll.emulator import start_emulator
    from phyll.emulator.device import EMULATOR_OPTIONS

    medium = {k: v for k, v in url.options.items() if k not in EMULATOR_OPTIONS}
    emulator = start_emulator(url.target, medium, **{k: v for k, v in url.options.items() if k in EMULATOR_OPTIONS})
    try:
        # Treated as a board: the suite does not restart it, nor count on its link's buffer.
        yield DeviceUnderTest(f"board {rig.name}", emulator.path, link_buffer=None,
                              ended=lambda: emulator.explain_exit(0))
    finally:
        emulator.close()
