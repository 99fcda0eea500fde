"""pytest plugin for hardware-in-the-loop runs: `--rig FILE` (or PHYLL_RIG) picks the rig.

Without a rig every HIL test is skipped with the reason, so the suite is safe to collect
anywhere. The device is opened once per session and closed at the end, whatever happens.
"""
from __future__ import annotations

import os

import pytest

from phyll.devices import open_device

from .rig import Rig

NO_RIG = "no rig configured: pass --rig hil/rigs/NAME.json or set PHYLL_RIG"


def pytest_addoption(parser) -> None:
    group = parser.getgroup("phyll-hil")
    group.addoption("--rig", default=os.environ.get("PHYLL_RIG"),
                    help="rig description (JSON) of the device under test")


def pytest_report_header(config) -> str:
    return f"phyll rig: {config.getoption('--rig') or '(none: HIL tests skip)'}"


@pytest.fixture(scope="session")
def rig(pytestconfig) -> Rig:
    path = pytestconfig.getoption("--rig")
    if not path:
        pytest.skip(NO_RIG)
    return Rig.load(path)


@pytest.fixture(scope="session")
def device(rig):
    opened = open_device(rig.url)
    try:
        yield opened
    finally:
        opened.close()
