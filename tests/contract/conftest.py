"""The contract suite's columns: each device implementation, started once per session.

    peer             tests/serial_peer.py, the CPython test double, on a pty
    emu-micropython  the MicroPython firmware on MicroPython's unix port (phyll.emulator)
    emu-cpython      the same firmware under CPython
    cpp              the C++ firmware's host build, phyll-cpp-host, on a pty (a linear test medium)
    emu-cpp          the same host build as an emulated device: the acoustic medium over the medium channel
    emu-cpp-arm      the C++ firmware's Cortex-M3 image under qemu-system-arm (mps2-an385), likewise
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

# Column name -> its device, started from the fixture request (for the fixtures it needs).
COLUMNS = {
    "peer": lambda request: peer_device(),
    "emu-micropython": lambda request: emulated_device("micropython"),
    "emu-cpython": lambda request: emulated_device("cpython"),
    "cpp": lambda request: cpp_host_device(request.getfixturevalue("cpp_build") / "phyll-cpp-host"),
    "emu-cpp": lambda request: emulated_device(firmware="cpp"),
    "emu-cpp-arm": lambda request: emulated_device(firmware="cpp-arm"),
    "board": lambda request: rig_device(request.getfixturevalue("rig")),  # hil.plugin's: skips without a rig
}


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


@pytest.fixture(scope="session", params=list(COLUMNS))
def running_device(request):
    try:
        with COLUMNS[request.param](request) as device:
            yield device
    except NotApplicable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def dut(running_device):
    if running_device.spent:
        pytest.skip(running_device.spent)
    return running_device
