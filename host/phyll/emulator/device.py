"""The host's view of an emulated device: the serial `Device`, on the emulator's pty, owning it.

Everything the trainer sees goes through the real link: protocol, firmware, pipelining,
quantisation. Closing the device closes the emulator (and its firmware process). A firmware
process that dies mid-run turns the link failure into a LinkError that says so.
"""
from __future__ import annotations

from urllib.parse import urlencode

import serial

from ..devices.serial_device import Device
from ..protocol import LinkError
from ..urls import DeviceURL
from .errors import EmulatorError
from .runner import Emulator, start_emulator
from .uart import BITS_PER_BYTE

# Without baud= the pty is the wire; these are serial Device defaults, plus the wire time below.
DEFAULT_TIMEOUT_S = 2.0
DEFAULT_PER_VECTOR_S = 0.02
EMULATOR_OPTIONS = ("baud", "runtime", "max_batch")
DEVICE_OPTIONS = ("timeout", "per_vector", "retries", "in_flight")


class EmulatedDevice(Device):
    """A serial `Device` whose port is an `Emulator`'s pty; close() ends the emulator too."""

    def __init__(self, emulator: Emulator, url: str, **options) -> None:
        self.emulator = emulator
        self._opened = False  # HELLO failures are explained once, by __init__
        try:
            port = serial.serial_for_url(emulator.path, timeout=0, do_not_open=True)
            port.open()
        except (OSError, serial.SerialException) as exc:
            raise EmulatorError(f"cannot open the emulator's pty {emulator.path}: {exc}") from exc
        try:
            super().__init__(port, url, **options)
        except LinkError as exc:
            port.close()
            raise EmulatorError(self._diagnose(exc, "did not answer HELLO")) from exc
        except BaseException:
            port.close()
            raise
        self._opened = True

    def describe(self) -> dict:
        described = super().describe()
        described.update(kind="emulated", port=self.emulator.path, emulator=self.emulator.describe())
        return described

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.emulator.close()

    def _exchange(self, requests, on_reply=None, begun=(), received=b""):
        # The one place every request passes (the express lane hands its failures over to it):
        # a vanished firmware process is named here.
        try:
            return super()._exchange(requests, on_reply, begun, received)
        except LinkError as exc:
            if not self._opened or self.emulator.explain_exit() is None:
                raise
            raise LinkError(self._diagnose(exc, "vanished")) from exc

    def _diagnose(self, exc: Exception, what: str) -> str:
        ended = self.emulator.explain_exit()
        where = f"emulated device {self.url} (port {self.emulator.path})"
        if ended:
            return f"{where} {what}: {ended}; link: {exc}"
        return f"{where} {what}: {exc}"


def open_emulated_device(spec: str, medium_options: dict | None = None, *, runtime: str = "auto",
                         baud: int | None = None, max_batch: int = 0, url: str = "",
                         **device_options) -> EmulatedDevice:
    """Load medium `spec` with `medium_options`, start the firmware on it, open it as a Device.

    device_options: the serial Device's timeout, per_vector, retries, in_flight; with baud the
    defaults of timeout and per_vector add the wire time of the frames.
    """
    medium_options = dict(medium_options or {})
    emulator = start_emulator(spec, medium_options, runtime=runtime, baud=baud, max_batch=max_batch)
    if baud is not None:
        medium = emulator.medium
        bytes_per_vector = 2 * (medium.n_actuators + medium.n_sensors)  # an upper bound both ways
        device_options.setdefault("per_vector", DEFAULT_PER_VECTOR_S + bytes_per_vector * BITS_PER_BYTE / baud)
        device_options.setdefault("timeout", DEFAULT_TIMEOUT_S + 64 * BITS_PER_BYTE / baud)
    url = url or _url(spec, {**medium_options, "runtime": runtime if runtime != "auto" else None,
                             "baud": baud, "max_batch": max_batch or None})
    try:
        return EmulatedDevice(emulator, url, **device_options)
    except BaseException:
        emulator.close()
        raise


def open_emulated_url(url: str | DeviceURL, **device_options) -> EmulatedDevice:
    """`emu://MEDIUM?options`: the URL's options are split by name -- the emulator's
    (EMULATOR_OPTIONS), the serial Device's (DEVICE_OPTIONS, which `device_options` may also
    give), and every other one goes to the medium, as a `sim://` URL would pass it."""
    parsed = url if isinstance(url, DeviceURL) else DeviceURL.parse(url)
    if parsed.scheme != "emu":
        raise ValueError(f"not an emu:// URL: {url!r}")
    if not parsed.target:
        raise ValueError("emu:// URL names no medium; use e.g. emu://acoustic?seed=3")
    options = parsed.options
    emulator = {k: v for k, v in options.items() if k in EMULATOR_OPTIONS}
    device = {**{k: v for k, v in options.items() if k in DEVICE_OPTIONS}, **device_options}
    medium = {k: v for k, v in options.items() if k not in EMULATOR_OPTIONS + DEVICE_OPTIONS}
    return open_emulated_device(parsed.target, medium, **emulator, **device)


def _url(spec: str, options: dict) -> str:
    query = urlencode({k: v for k, v in options.items() if v is not None})
    return f"emu://{spec}" + (f"?{query}" if query else "")
