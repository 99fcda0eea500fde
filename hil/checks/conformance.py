"""Conformance: the device is the one the rig file describes, and meets the protocol contract.

`identity` compares INFO with the rig file (and so with its board file): firmware kind, version
and protocol, board, medium, counts, encoder, statics. Then every point of the protocol contract
(tests/contract/checks.py, docs/protocol.md) runs against the rig's own port, one check per point,
except REPL (it would leave the frame loop) and what needs a freshly booted device.
"""
from __future__ import annotations

from functools import partial

from ..record import CheckContext, CheckFailed, NotApplicable
from ..session import RigSession, contract_module
from . import Check

GROUP = "conformance"
# INFO runtime -> firmware kind of the rig file
_KIND = {"micropython": "micropython", "cpython": "micropython", "cpp": "cpp"}


def identity(session: RigSession, ctx: CheckContext) -> None:
    """INFO names the firmware, protocol, board, medium, counts, encoder and statics the rig file expects."""
    rig = session.rig
    info = session.info
    if info is None:  # a simulation: only its shape can be compared
        device = session.device
        info = {"n_actuators": device.n_actuators, "n_sensors": device.n_sensors,
                "encoding": device.encoding.to_dict()}
    expected = [
        ("firmware kind", _KIND.get(info.get("runtime", ""), info.get("runtime")), rig.firmware["kind"], "INFO runtime"),
        ("firmware version", info.get("firmware"), rig.firmware["version"], "INFO firmware"),
        ("protocol", info.get("protocol"), rig.firmware["protocol"] if "protocol" in info else None, "INFO protocol"),
        ("board", info.get("board"), rig.firmware.get("board"), "INFO board"),
        ("medium", info.get("medium"), rig.medium["kind"], "INFO medium"),
        ("actuators", info["n_actuators"], rig.medium["actuators"], "INFO n_actuators"),
        ("sensors", info["n_sensors"], rig.medium["sensors"], "INFO n_sensors"),
        ("encoder", info["encoding"]["encoder"], rig.medium["encoder"], "INFO encoding.encoder"),
        ("static elements", info.get("n_static", 0), rig.medium["static"], "INFO n_static"),
    ]
    wrong = []
    for name, got, want, where in expected:
        ctx.expect(name, got, want)
        if want is not None and got != want:
            wrong.append(f"{where} is {got!r}, the rig file expects {want!r}")
    if wrong:
        raise CheckFailed(f"not the device {rig.source} describes: " + "; ".join(wrong))


def _point(check, session: RigSession, ctx: CheckContext) -> None:
    devices = contract_module("devices")
    with session.raw_port() as dut:
        try:
            with dut.explained():
                check(dut)
        except devices.NotApplicable as exc:
            raise NotApplicable(str(exc)) from None
        except AssertionError as exc:
            raise CheckFailed(f"protocol contract point {check.__name__.removeprefix('check_')}: {exc}") from None
    ctx.expect("contract point", "met", "met")


def checks() -> list[Check]:
    contract = contract_module("checks")
    points = [Check(GROUP, c.__name__.removeprefix("check_"), _documented(c), resets_device=True)
              for c in contract.POINTS if c not in contract.LEAVES_FRAME_LOOP]
    return [Check(GROUP, "identity", identity), *points]


def _documented(check):
    run = partial(_point, check)
    run.__doc__ = f"protocol contract: {check.__doc__}"
    return run
