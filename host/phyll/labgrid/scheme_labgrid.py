"""`labgrid://PLACE?coordinator=HOST:PORT&resource=NAME#link-options`: a rig on a labgrid place.

Opening it acquires the place (as `labgrid-client acquire` does, so the coordinator marks it as
this user's), waits for the exporter to publish the place's serial port (ser2net's rfc2217
accepter, started on acquire), and opens the serial `Device` on
`rfc2217://HOST:PORT?ign_set_control` with the link options after '#'. Closing the device
releases the place; so does a failure while opening, the end of the program, and SIGTERM or
SIGHUP in a program that left them at their defaults: a place is never left acquired by a
phyll that has ended, short of SIGKILL (then `labgrid-client -p PLACE release`).

    coordinator   HOST:PORT of the labgrid coordinator (default: LG_COORDINATOR, else 127.0.0.1:20408)
    resource      which serial port, when the place has several (the resource's name)
"""
from __future__ import annotations

import atexit
import signal
import threading
import time

from ..devices.serial_device import Device
from ..link import open_port, split_link_options
from ..protocol import LinkError
from ..urls import DeviceURL
from .client import LabgridClient, LabgridError

_OPTIONS = ("coordinator", "resource")
_CONNECT_ATTEMPTS = 20  # ser2net may listen a moment after labgrid says the port is published
_CONNECT_PAUSE_S = 0.25

_held: dict[int, "Reservation"] = {}
_lock = threading.Lock()
_hooks_installed = False


class Reservation:
    """One acquired place; release() is idempotent and safe to call from any exit path."""

    def __init__(self, client: LabgridClient, place: str) -> None:
        self.client, self.place = client, place
        client.acquire(place)
        _install_hooks()
        with _lock:
            _held[id(self)] = self

    def release(self) -> None:
        with _lock:
            if _held.pop(id(self), None) is None:
                return
        self.client.release(self.place)


class PlaceDevice(Device):
    """A serial Device on a labgrid place's port; close() also releases the place."""

    def __init__(self, port, url: str, options, reservation: Reservation, serial_url: str) -> None:
        self.reservation = reservation
        self.serial_url = serial_url
        super().__init__(port, url, options)

    def describe(self) -> dict:
        described = super().describe()
        described["labgrid"] = {"place": self.reservation.place, "coordinator": self.reservation.client.coordinator,
                                "serial": self.serial_url}
        return described

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.reservation.release()


def open(url: DeviceURL) -> PlaceDevice:  # noqa: A001 - handler modules expose open(), like pyserial
    place = url.target
    if not place:
        raise ValueError("labgrid:// URL names no place; use e.g. labgrid://acoustic-7")
    if "," in place:
        raise ValueError(f"labgrid://{place} names several places; a device is one place (phyll train --splits K "
                         "spreads its splits over several)")
    unknown = sorted(set(url.options) - set(_OPTIONS))
    if unknown:
        raise ValueError(f"labgrid://{place} takes the options {list(_OPTIONS)}, not {unknown}; link options go "
                         f"after '#': labgrid://{place}#timeout=5")
    text = f"labgrid://{place}" + _query(url.options) + (f"#{url.fragment}" if url.fragment else "")
    reservation = Reservation(LabgridClient(url.options.get("coordinator")), place)
    try:
        endpoint = reservation.client.serial_endpoint(place, url.options.get("resource"))
        _, options = split_link_options(text)
        port = _connect(endpoint.url, options)
        try:
            return PlaceDevice(port, text, options, reservation, endpoint.url)
        except BaseException:
            port.close()
            raise
    except BaseException:
        reservation.release()
        raise


def _connect(serial_url: str, options):
    for _ in range(_CONNECT_ATTEMPTS - 1):
        try:
            return open_port(serial_url, options)
        except LinkError:
            time.sleep(_CONNECT_PAUSE_S)
    return open_port(serial_url, options)  # the last attempt's error is the one to see


def _query(options: dict) -> str:
    return ("?" + "&".join(f"{k}={v}" for k, v in options.items())) if options else ""


def release_all() -> None:
    """Release every place this process holds (at exit, on SIGTERM)."""
    with _lock:
        held = list(_held.values())
    for reservation in held:
        try:
            reservation.release()
        except LabgridError:
            pass  # the coordinator is gone: nothing holds the place there any more either


def _install_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(release_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:  # a program with its own handler closes devices itself
            signal.signal(signum, _release_and_die)


def _release_and_die(signum, frame) -> None:
    release_all()
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


__all__ = ["PlaceDevice", "Reservation", "LabgridError", "open", "release_all"]
