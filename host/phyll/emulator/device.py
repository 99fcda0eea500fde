"""The host's view of an emulated device: the serial `Device`, on the emulator's pty, owning it.

Everything the trainer sees goes through the real link: protocol, firmware, pipelining,
quantisation. Closing the device closes the emulator (and its firmware process). A firmware
process that dies mid-run turns the link failure into a LinkError that says so.
"""
from __future__ import annotations

from urllib.parse import urlencode

from ..devices.serial_device import Device
from ..link import LINK_OPTION_NAMES, LinkOptions, open_port, split_link_options
from ..protocol import LinkError
from ..urls import DeviceURL
from .errors import EmulatorError
from .runner import Emulator, start_emulator
from .uart import BITS_PER_BYTE

EMULATOR_OPTIONS = ("baud", "firmware", "runtime", "max_batch")


class EmulatedDevice(Device):
    """A serial `Device` whose port is an `Emulator`'s pty; close() ends the emulator too."""

    def __init__(self, emulator: Emulator, url: str, options: LinkOptions) -> None:
        self.emulator = emulator
        self._opened = False  # HELLO failures are explained once, by __init__
        try:
            port = open_port(emulator.path, options)
        except LinkError as exc:
            # A firmware that ended at once (a medium it refuses) has hung its pty up: say why.
            ended = emulator.explain_exit()
            raise EmulatorError(f"cannot open the emulator's pty {emulator.path}: {exc}"
                                + (f"; {ended}" if ended else "")) from exc
        try:
            super().__init__(port, url, options)
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

    def _explain(self, exc: LinkError) -> LinkError:
        # Every request passes the link engine, which asks here before raising: a vanished
        # firmware process is named instead of the bare link failure it caused.
        if not self._opened or self.emulator.explain_exit() is None:
            return exc
        return LinkError(self._diagnose(exc, "vanished"))

    def _diagnose(self, exc: Exception, what: str) -> str:
        ended = self.emulator.explain_exit()
        where = f"emulated device {self.url} (port {self.emulator.path})"
        if ended:
            return f"{where} {what}: {ended}; link: {exc}"
        return f"{where} {what}: {exc}"


def open_emulated_device(spec: str, medium_options: dict | None = None, *, firmware: str = "micropython",
                         runtime: str = "auto", baud: int | None = None, max_batch: int = 0, url: str = "",
                         link: LinkOptions | None = None) -> EmulatedDevice:
    """Load medium `spec` with `medium_options`, start the firmware on it, open it as a Device.

    firmware: "micropython" (runtime: auto, micropython or cpython), "cpp" or "cpp-arm".

    link: the link options (timeout, retries, ...); with baud and no timeout of its own, the
    default timeouts grow by the frames' wire time.
    """
    medium_options = dict(medium_options or {})
    link = link or LinkOptions()
    emulator = start_emulator(spec, medium_options, firmware=firmware, runtime=runtime, baud=baud,
                              max_batch=max_batch)
    if baud is not None:
        medium = emulator.medium
        bytes_per_vector = 2 * (medium.n_actuators + medium.n_sensors)  # an upper bound both ways
        defaults = LinkOptions()
        wire = {}
        if link.per_vector == defaults.per_vector:
            wire["per_vector"] = defaults.per_vector + bytes_per_vector * BITS_PER_BYTE / baud
        if link.timeout == defaults.timeout:
            wire["timeout"] = defaults.timeout + 64 * BITS_PER_BYTE / baud
        link = link.with_settings(**wire)
    url = url or _url(spec, {**medium_options, "firmware": firmware if firmware != "micropython" else None,
                             "runtime": runtime if runtime != "auto" else None,
                             "baud": baud, "max_batch": max_batch or None})
    try:
        return EmulatedDevice(emulator, url, link)
    except BaseException:
        emulator.close()
        raise


def open_emulated_url(url: str | DeviceURL) -> EmulatedDevice:
    """`emu://MEDIUM?options#link-options`: the query's options are split by name -- the
    emulator's (EMULATOR_OPTIONS), and every other one goes to the medium, as a `sim://` URL
    would pass it; the fragment holds link options (docs/link.md)."""
    text = url if isinstance(url, str) else _unparse(url)
    parsed = DeviceURL.parse(text)
    if parsed.scheme != "emu":
        raise ValueError(f"not an emu:// URL: {text!r}")
    if not parsed.target:
        raise ValueError("emu:// URL names no medium; use e.g. emu://acoustic?seed=3")
    misplaced = sorted(LINK_OPTION_NAMES & set(parsed.options))
    if misplaced:
        raise ValueError(f"{misplaced} in {text!r} are link options: they go after '#', e.g. "
                         f"emu://{parsed.target}#{misplaced[0]}=...")
    _, link = split_link_options(text)
    emulator = {k: v for k, v in parsed.options.items() if k in EMULATOR_OPTIONS}
    medium = {k: v for k, v in parsed.options.items() if k not in EMULATOR_OPTIONS}
    return open_emulated_device(parsed.target, medium, **emulator, url=text, link=link)


def _url(spec: str, options: dict) -> str:
    query = urlencode({k: v for k, v in options.items() if v is not None})
    return f"emu://{spec}" + (f"?{query}" if query else "")


def _unparse(url: DeviceURL) -> str:
    query = urlencode(url.options)
    return f"{url.scheme}://{url.target}" + (f"?{query}" if query else "") + (f"#{url.fragment}" if url.fragment else "")
