"""Runs checks against a rig and keeps the record: what `phyll hil run` and the pytest plugin share.

`run_check` runs one check on an open session and returns its CheckRecord; `Suite` opens a rig,
runs its checks in order with a progress line per check, and returns the TestRecord.
"""
from __future__ import annotations

import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable

import phyll

from .checks import Check, select
from .record import ERROR, FAIL, PASS, SKIP, CheckContext, CheckRecord, NotApplicable, TestRecord
from .rig import Rig
from .session import REPO, RigSession

Progress = Callable[[str], None]


def run_check(session: RigSession, check: Check) -> tuple[CheckRecord, dict]:
    """One check's record and the arrays it left for the plots."""
    record = CheckRecord(check.group, check.name, check.doc, started=time.time())
    context = CheckContext(record)
    started = time.monotonic()
    if check.resets_device:
        session.expect_reset()
    try:
        check.run(session, context)
        if record.failed_measurements():
            record.outcome = FAIL
            record.message = "; ".join(f"{m.name} = {m.value} outside [{m.low}, {m.high}]"
                                       for m in record.failed_measurements())
    except NotApplicable as exc:
        record.outcome, record.message = SKIP, str(exc)
    except AssertionError as exc:
        record.outcome, record.message = FAIL, str(exc)
    except Exception as exc:  # a check that cannot run is reported, and the suite goes on
        record.outcome = ERROR
        record.message = f"{type(exc).__name__}: {exc}"
        record.measurements.append(_traceback_note(exc))
    record.duration_s = time.monotonic() - started
    try:
        session.read_status(check.full_name)
    except Exception as exc:  # the device stopped answering: this check's record says so
        if record.outcome in (PASS, SKIP):
            record.outcome, record.message = ERROR, f"STATUS after the check failed: {type(exc).__name__}: {exc}"
    return record, context.data


def station() -> dict:
    """What ran the suite: the git commit of the checkout, phyll's version, the host."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True,
                                    timeout=10).stdout.strip()) if commit else None
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"git_commit": commit, "git_dirty": dirty, "phyll_version": phyll.__version__,
            "python": sys.version.split()[0], "host": platform.node()}


class Suite:
    """The checks of `groups` (all when None) against one rig."""

    def __init__(self, rig: Rig, groups: list[str] | None = None, progress: Progress | None = None) -> None:
        self.rig = rig
        self.checks = select(groups)
        self.progress = progress or (lambda line: None)
        self.plot_data: dict[str, dict] = {}
        self.session: RigSession | None = None  # open while run() runs

    def run(self) -> TestRecord:
        record = TestRecord(self.rig.describe(), station())
        self.progress(f"{self.rig.name}: opening {self.rig.device_url}")
        try:
            session = self.session = RigSession(self.rig)
        except Exception as exc:
            record.checks.append(CheckRecord("conformance", "open", "the rig's device opens", outcome=ERROR,
                                             message=f"cannot open {self.rig.device_url}: {type(exc).__name__}: {exc}"))
            record.ended = time.time()
            self.progress(f"{self.rig.name}: {record.checks[0].message}")
            return record
        try:
            record.device = _jsonable(session.describe())
            for index, check in enumerate(self.checks, 1):
                self.progress(f"{self.rig.name}: [{index}/{len(self.checks)}] {check.full_name} ...")
                result, data = run_check(session, check)
                record.checks.append(result)
                self.plot_data[check.full_name] = data
                self.progress(f"{self.rig.name}: [{index}/{len(self.checks)}] {check.full_name} {result.outcome} "
                              f"({result.duration_s:.1f} s){': ' + result.message if result.outcome != PASS else ''}")
            record.device = _jsonable(session.describe())  # the counters as the run left them
        finally:
            session.close()
            self.session = None
            record.ended = time.time()
        return record


def _traceback_note(exc: BaseException):
    from .record import Measurement

    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return Measurement("traceback", "".join(lines[-6:]), outcome="UNSET")


def _jsonable(value):
    from phyll.training import json_safe

    return json_safe(value)
