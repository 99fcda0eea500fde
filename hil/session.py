"""A rig opened for the suite: its device, what the checks share, and the device's STATUS history.

The session opens the rig's device once (`phyll.devices.open_device`: a serial port, a pyserial
URL, `emu://`, `sim://`, or a labgrid place through `labgrid://PLACE`, acquired for the session
and released when it closes, whatever happens) and closes it at the end.

STATUS history: after every check the session reads the device's STATUS, beside the passes the
host measured by then. Between two readings counters only grow, the device counts at least the
vectors the host measured, and uptime only advances -- unless a check reset the device on purpose
(it says so with `expect_reset`). The safety group's continuity check reads that history to
catch a device that reset or rebooted on its own in the middle of a run.
"""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phyll.devices import open_device
from phyll.physical import PhysicalError

from .record import NotApplicable
from .rig import Rig

REPO = Path(__file__).resolve().parents[1]
# Counters a device's STATUS never lowers between two readings, unless it was reset.
MONOTONIC = ("frames_ok", "excites", "vectors", "crc_errors", "header_errors", "watchdog_trips")


@dataclass
class StatusReading:
    after: str  # the check it was read after ("open" for the first)
    status: dict
    epoch: int  # bumped by every reset a check made on purpose
    host_passes: int  # vectors the host had measured through its link by then


class RigSession:
    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.device = open_device(rig.device_url)
        self.cache: dict = {}  # what one check measured that another reuses (the noise floor)
        self.history: list[StatusReading] = []
        self._epoch = 0
        try:
            self.read_status("open")
        except BaseException:
            self.device.close()
            raise

    # -- what the device is -------------------------------------------------------------------

    @property
    def info(self) -> dict | None:
        """INFO of a device on a link; None for a simulation (sim://), which has no firmware."""
        return getattr(self.device, "info", None)

    def require_firmware(self, what: str) -> dict:
        if self.info is None:
            raise NotApplicable(f"{self.rig.device_url} is a simulation with no firmware: {what} needs a device "
                                "on a link (a serial port, emu://, labgrid://)")
        return self.info

    def rng(self, name: str) -> np.random.Generator:
        """A generator of its own for each check, from the rig's run.seed: runs repeat."""
        return np.random.default_rng([self.rig.run["seed"], *name.encode()])

    def describe(self) -> dict:
        try:
            return self.device.describe()
        except (PhysicalError, OSError, ValueError) as exc:
            return {"url": self.rig.device_url, "error": f"{type(exc).__name__}: {exc}"}

    # -- STATUS history -----------------------------------------------------------------------

    def read_status(self, after: str) -> None:
        if self.info is None:
            return
        self.history.append(StatusReading(after, self.device.status(), self._epoch, self.device.counters.passes))

    def expect_reset(self) -> None:
        """The calling check resets the device on purpose: counters may start again from here."""
        self._epoch += 1

    # -- the raw port, for the protocol contract's points ---------------------------------------

    @contextlib.contextmanager
    def raw_port(self) -> Iterator[object]:
        """The device's port as tests/contract's DeviceUnderTest, for its points.

        The session's device stays open and idle meanwhile (nothing is outstanding between two
        checks), so the raw client sees every byte the device sends. The points need a port with
        a file descriptor: a serial device or pty, not rfc2217:// (a labgrid place).
        """
        info = self.require_firmware("the protocol contract")
        port = self.device.link.port
        if hasattr(port, "plan"):  # link faults wrap the port: the contract speaks to the port beneath
            port = port.port
        if port.kind != "descriptor" or port.describe()["tcp"]:
            raise NotApplicable(f"the contract points need the device's own serial port with a file descriptor; "
                                f"{port.url} is reached over the network (run them on the host the rig "
                                "is plugged into, with a rig file naming its port)")
        devices = contract_module("devices")
        dut = devices.DeviceUnderTest(f"rig {self.rig.name}", port.url, baudrate=self.device.options.baudrate,
                                      link_buffer=None, boot_watchdog_ms=info["watchdog_ms"])
        try:
            yield dut
        finally:
            self.device.link.discard_input()

    def close(self) -> None:
        self.device.close()


def contract_module(name: str):
    """A module of tests/contract (the protocol contract's checks): they live beside the tests, in
    the source checkout, and import the test peer from tests/."""
    tests = str(REPO / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import importlib

    return importlib.import_module(f"contract.{name}")
