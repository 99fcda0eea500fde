"""The test record of one run, in the spirit of OpenHTF's: every measurement with its limits and
verdict, grouped by check and by group, with what was tested and when.

A check measures values (`CheckContext.measure`); a value outside its limits fails the check,
and so does an AssertionError the check raises (`CheckFailed`). A check that cannot apply to
this rig raises `NotApplicable` and is skipped with the reason. The record is plain data:
`as_dict()` is what record.json holds.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

PASS, FAIL, SKIP, ERROR = "PASS", "FAIL", "SKIP", "ERROR"


class NotApplicable(Exception):
    """The check cannot apply to this rig; the message says why."""


class CheckFailed(AssertionError):
    """The rig failed the check; the message says what is wrong with it."""


@dataclass
class Measurement:
    name: str
    value: float | str | None
    units: str = ""
    low: float | None = None
    high: float | None = None
    outcome: str = PASS  # PASS, or FAIL when outside [low, high]; UNSET when it has no limit
    note: str = ""


@dataclass
class CheckRecord:
    group: str
    name: str
    doc: str
    outcome: str = PASS
    message: str = ""
    started: float = 0.0
    duration_s: float = 0.0
    measurements: list[Measurement] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.group}.{self.name}"

    def failed_measurements(self) -> list[Measurement]:
        return [m for m in self.measurements if m.outcome == FAIL]


class CheckContext:
    """What a check writes its measurements into."""

    def __init__(self, record: CheckRecord) -> None:
        self.record = record
        self.data: dict = {}  # arrays for the plots (not in the JSON record)

    def measure(self, name: str, value, units: str = "", low: float | None = None, high: float | None = None,
                note: str = "") -> bool:
        """Record a value; True when it is within its limits (a limit of None is no limit)."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
            inside = math.isfinite(value) and (low is None or value >= low) and (high is None or value <= high)
        else:
            inside = True
        outcome = ("UNSET" if low is None and high is None else PASS) if inside else FAIL
        self.record.measurements.append(Measurement(name, value, units, low, high, outcome, note))
        return inside

    def expect(self, name: str, got, want) -> bool:
        """Record a value that must equal `want` (None: anything, recorded only)."""
        matches = want is None or got == want
        outcome = "UNSET" if want is None else PASS if matches else FAIL
        note = "" if want is None else f"expected {want!r}"
        self.record.measurements.append(Measurement(name, got if isinstance(got, (int, float, str)) or got is None
                                                    else repr(got), outcome=outcome, note=note))
        return matches


@dataclass
class TestRecord:
    rig: dict
    station: dict  # where and what: git commit, phyll version, host
    device: dict = field(default_factory=dict)
    checks: list[CheckRecord] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    ended: float = 0.0

    @property
    def outcome(self) -> str:
        outcomes = {check.outcome for check in self.checks}
        return FAIL if outcomes & {FAIL, ERROR} else PASS

    def groups(self) -> dict[str, list[CheckRecord]]:
        grouped: dict[str, list[CheckRecord]] = {}
        for check in self.checks:
            grouped.setdefault(check.group, []).append(check)
        return grouped

    def group_outcome(self, group: str) -> str:
        outcomes = {check.outcome for check in self.groups()[group]}
        if outcomes & {FAIL, ERROR}:
            return FAIL
        return SKIP if outcomes == {SKIP} else PASS

    def as_dict(self) -> dict:
        return {"outcome": self.outcome, "rig": self.rig, "station": self.station, "device": self.device,
                "started": self.started, "ended": self.ended,
                "groups": [{"name": name, "outcome": self.group_outcome(name),
                            "checks": [asdict(check) for check in checks]}
                           for name, checks in self.groups().items()]}
