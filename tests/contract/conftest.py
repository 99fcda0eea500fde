"""The contract suite's columns: each device implementation, started once per session.

    peer             tests/serial_peer.py, the CPython test double, on a pty
    emu-micropython  the MicroPython firmware on MicroPython's unix port (phyll.emulator)
    emu-cpython      the same firmware under CPython
    cpp              the C++ firmware's host build, phyll-cpp-host, on a pty
    board            the device of the rig file given by --rig (hil/rig.py); skipped without one
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # hil/ (rig files, --rig) is a folder beside tests/, not installed

from .devices import NotApplicable, cpp_host_device, emulated_device, peer_device, rig_device  # noqa: E402

COLUMNS = ("peer", "emu-micropython", "emu-cpython", "cpp", "board")


def pytest_addoption(parser, pluginmanager) -> None:
    # One --rig for the HIL and contract suites: hil.plugin registers it, and pytest loads a
    # plugin once however many suites ask, so running both together cannot clash.
    pluginmanager.import_plugin("hil.plugin")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "leaves_frame_loop: the check sends the device to its REPL; run last")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items) -> None:
    # A board cannot be restarted: what sends it to its REPL runs after everything else.
    items.sort(key=lambda item: item.get_closest_marker("leaves_frame_loop") is not None)


def _start(column: str, request):
    if column == "peer":
        return peer_device()
    if column.startswith("emu-"):
        return emulated_device(column.removeprefix("emu-"))
    if column == "cpp":
        return cpp_host_device(request.getfixturevalue("cpp_build") / "phyll-cpp-host")
    return rig_device(request.getfixturevalue("rig"))  # hil.plugin's: skips when no rig is given


@pytest.fixture(scope="session", params=COLUMNS)
def running_device(request):
    try:
        with _start(request.param, request) as device:
            yield device
    except NotApplicable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def dut(running_device):
    if running_device.spent:
        pytest.skip(running_device.spent)
    return running_device
