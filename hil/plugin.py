"""pytest plugin for hardware-in-the-loop runs: `--rig FILE` (or PHYLL_RIG) picks the rig.

The suite's checks (hil/checks/) become one test each, `test_check[GROUP.CHECK]`, run against one
session opened on the rig for the whole pytest session: `-k timing` selects a group. JUnit XML
(`--junitxml`) gets the rig file, the device's description, its firmware and board, and the git
commit as testsuite properties; `--hil-report DIR` also writes the JSON record, plots and summary
(hil/report.py). Without a rig every HIL test is skipped with the reason, so the suite is safe to
collect anywhere. The device is closed at the end, whatever happens (a labgrid place released).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from .record import ERROR, FAIL, SKIP, TestRecord
from .rig import Rig
from .runner import run_check, station
from .session import RigSession

NO_RIG = "no rig configured: pass --rig hil/rigs/NAME.toml or set PHYLL_RIG"


def pytest_addoption(parser) -> None:
    group = parser.getgroup("phyll-hil")
    group.addoption("--rig", default=os.environ.get("PHYLL_RIG"),
                    help="rig file (TOML, hil/rig.py) of the device under test")
    group.addoption("--hil-report", type=Path, default=None,
                    help="folder for the HIL run's record.json, junit.xml, plots and summary")


def pytest_report_header(config) -> str:
    return f"phyll rig: {config.getoption('--rig') or '(none: HIL tests skip)'}"


@pytest.fixture(scope="session")
def rig(pytestconfig) -> Rig:
    path = pytestconfig.getoption("--rig")
    if not path:
        pytest.skip(NO_RIG)
    return Rig.load(path)


@pytest.fixture(scope="session")
def hil_record(pytestconfig, rig):
    """The run's TestRecord; written to --hil-report DIR at the end of the session."""
    record = TestRecord(rig.describe(), station())
    plot_data: dict = {}
    yield record, plot_data
    record.ended = time.time()
    folder = pytestconfig.getoption("--hil-report")
    if folder is not None and record.checks:
        from .report import write_reports

        write_reports(record, plot_data, folder)


@pytest.fixture(scope="session")
def rig_session(rig, hil_record, record_testsuite_property):
    session = RigSession(rig)
    try:
        described = session.describe()
        hil_record[0].device = json.loads(json.dumps(described, default=str))
        for name, value in (("rig", rig.name), ("rig_file", rig.source), ("device_url", rig.device_url),
                            ("device", json.dumps(hil_record[0].device, sort_keys=True)),
                            ("firmware", described.get("firmware", "")), ("board", described.get("board", "")),
                            ("git_commit", hil_record[0].station.get("git_commit") or "")):
            record_testsuite_property(name, value)
        yield session
    finally:
        session.close()


@pytest.fixture(scope="session")
def device(rig_session):
    return rig_session.device


def run_hil_check(rig_session, hil_record, check) -> None:
    """One check as a pytest test: a failure fails, NotApplicable skips, both with the message."""
    result, data = run_check(rig_session, check)
    record, plot_data = hil_record
    record.checks.append(result)
    plot_data[check.full_name] = data
    if result.outcome == SKIP:
        pytest.skip(result.message)
    if result.outcome in (FAIL, ERROR):
        pytest.fail(f"{check.full_name}: {result.message}", pytrace=False)
