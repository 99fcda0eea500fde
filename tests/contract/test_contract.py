"""Every point of docs/protocol.md (checks.POINTS) and every device expectation of
docs/protocol-vectors.json, against every device column (conftest.COLUMNS)."""
from __future__ import annotations

import json

import pytest

import protocol_vectors

from .checks import LEAVES_FRAME_LOOP, POINTS, check_vector, vector_leaves_frame_loop
from .devices import DeviceUnderTest, NotApplicable, shaped_peer

CASES = json.loads(protocol_vectors.VECTORS_PATH.read_text())
DEVICE_CASES = [c for c in CASES if "reply" in c or "error" in c]


def run(check, dut: DeviceUnderTest, *args) -> None:
    """A check's verdict as pytest's: NotApplicable skips; a failure says if the device ended."""
    try:
        with dut.explained():
            check(dut, *args)
    except NotApplicable as exc:
        pytest.skip(str(exc))


def _point(check):
    marks = [pytest.mark.leaves_frame_loop] if check in LEAVES_FRAME_LOOP else []
    return pytest.param(check, marks=marks, id=check.__name__.removeprefix("check_"))


def _vector(case):
    marks = [pytest.mark.leaves_frame_loop] if vector_leaves_frame_loop(case) else []
    return pytest.param(case, marks=marks, id=case["name"])


@pytest.mark.parametrize("check", [_point(c) for c in POINTS])
def test_point(dut, check):
    run(check, dut)


@pytest.mark.parametrize("case", [_vector(c) for c in DEVICE_CASES])
def test_vector(dut, case):
    if dut.reshape is not None and case.get("device"):
        with dut.reshape(case["device"]) as shaped:
            run(check_vector, shaped, case)
        return
    run(check_vector, dut, case)
