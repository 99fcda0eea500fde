"""The suite: five groups of checks, in the order they run, so a failure says what is wrong.

    conformance       the rig's device is what its rig file says, and speaks the protocol contract
    timing            how long a pass takes, how steadily, how many per second; a clean link
    characterisation  noise per channel, dead or stuck actuators and sensors, linearity,
                      crosstalk, drift
    safety            limits within the rig's, no reset or reboot of its own, the watchdog,
                      clamping, RESET
    smoke             a short PhyLL run that must beat its own constant-medium control

A check is a plain function of a RigSession and a CheckContext (hil/record.py): it measures into
the context and raises CheckFailed (an AssertionError) or NotApplicable. `phyll hil run` and the
pytest plugin run the same functions (hil/runner.py).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    group: str
    name: str
    run: Callable
    resets_device: bool = False  # it resets the device on purpose (the STATUS history starts anew)

    @property
    def full_name(self) -> str:
        return f"{self.group}.{self.name}"

    @property
    def doc(self) -> str:
        return " ".join((self.run.__doc__ or "").split())


GROUP_NAMES = ("conformance", "timing", "characterisation", "safety", "smoke")


def all_checks() -> list[Check]:
    from . import characterisation, conformance, safety, smoke, timing

    return [*conformance.checks(), *timing.CHECKS, *characterisation.CHECKS, *safety.CHECKS, *smoke.CHECKS]


def select(only: list[str] | None) -> list[Check]:
    """The checks named by `only` -- groups (`timing`) or single checks (`safety.watchdog`) -- in
    suite order; all when None. A name that is neither is a ValueError listing the groups."""
    checks = all_checks()
    if only is None:
        return checks
    known = set(GROUP_NAMES) | {check.full_name for check in checks}
    unknown = sorted(set(only) - known)
    if unknown:
        raise ValueError(f"unknown group or check {unknown[0]!r}; the groups are {', '.join(GROUP_NAMES)} "
                         "(or GROUP.CHECK, e.g. safety.watchdog)")
    return [check for check in checks if check.group in only or check.full_name in only]
