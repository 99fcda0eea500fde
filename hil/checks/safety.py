"""Safety: what protects the hardware, through the host's own link (so over any transport).

    limits      the device clamps within the rig's safe range and has a watchdog, at most as
                long as the rig allows
    continuity  the device did not reset or reboot on its own during the run: between two
                STATUS readings its counters never fell, it counted every vector the host
                measured, and its uptime never went back
    watchdog    with a short watchdog configured, a silence after a drive trips it exactly once
                (it puts the actuators in their safe state and counts the trip), and the next
                drive works
    clamps      commands beyond the limits are clamped, counted, and measure like the limit
    reset       RESET zeroes the counters (a STATUS right after it reports frames_ok 1), keeps
                the configuration, and the device measures on
"""
from __future__ import annotations

import time

import numpy as np

from phyll import protocol as p
from phyll.experiments.twin import probe_actuations

from ..record import CheckContext, CheckFailed, NotApplicable
from ..session import MONOTONIC, RigSession
from . import Check
from .characterisation import repeat_noise

GROUP = "safety"
_TRIP_WAIT = 2.5  # silences of this many watchdog periods: long enough on a loaded machine
_CLAMP_NOISE = 6.0  # a clamped drive measures like the limit within this many noise stds


def limits(session: RigSession, ctx: CheckContext) -> None:
    """The device's actuator limits lie within the rig's safe range; its watchdog is on and short enough."""
    info = session.require_firmware("a watchdog and limits")
    safety = session.rig.safety
    encoding = info["encoding"]
    problems = []
    low_ok = ctx.measure("actuator_low", encoding["low"], low=safety["actuator_low"])
    high_ok = ctx.measure("actuator_high", encoding["high"], high=safety["actuator_high"])
    if not (low_ok and high_ok):
        problems.append(f"the device clamps drives to [{encoding['low']:g}, {encoding['high']:g}], outside the rig's "
                        f"safe range [{_bound(safety['actuator_low'])}, {_bound(safety['actuator_high'])}]")
    watchdog = session.device.configure()["watchdog_ms"]
    if not ctx.measure("watchdog_ms", watchdog, "ms", low=1, high=safety["watchdog_ms"]):
        problems.append("the watchdog is off (watchdog_ms 0)" if watchdog == 0 else
                        f"the watchdog waits {watchdog} ms, the rig allows at most {safety['watchdog_ms']} ms")
    if problems:
        raise CheckFailed("; ".join(problems))


def continuity(session: RigSession, ctx: CheckContext) -> None:
    """Between every two STATUS readings of the run, counters never fell and uptime never went back."""
    session.require_firmware("a STATUS history")
    session.read_status("safety.continuity")
    history = session.history
    events = []
    for before, after in zip(history, history[1:]):
        if before.epoch != after.epoch:
            continue  # a check reset the device on purpose in between
        fell = [f"{key} {before.status[key]} -> {after.status[key]}" for key in MONOTONIC
                if key in before.status and after.status.get(key, 0) < before.status[key]]
        counted = after.status["vectors"] - before.status["vectors"]
        measured = after.host_passes - before.host_passes
        if counted < measured and not fell:  # a reset hidden by traffic after it
            fell.append(f"STATUS vectors rose by {counted} while the host measured {measured} passes")
        uptime = (before.status.get("uptime_ms", 0), after.status.get("uptime_ms", 0))
        if uptime[1] < uptime[0]:
            events.append(f"rebooted between {before.after} and {after.after} (uptime {uptime[0]} -> {uptime[1]} ms)")
        elif fell:
            events.append(f"was reset between {before.after} and {after.after} ({', '.join(fell)})")
    ctx.measure("status_readings", len(history), "")
    if not ctx.measure("unexpected_resets", len(events), "", high=0):
        raise CheckFailed("reset mid-run: the device " + "; ".join(events))


def watchdog(session: RigSession, ctx: CheckContext) -> None:
    """A short watchdog trips once per silence after a drive, and the device drives again after it."""
    session.require_firmware("a watchdog")
    device = session.device
    test_ms = session.rig.run["watchdog_test_ms"]
    before = device.configure()["watchdog_ms"]
    drive = probe_actuations(device, 1, session.rng("watchdog"))
    try:
        device.configure(watchdog_ms=test_ms)
        trips = device.status()["watchdog_trips"]
        device.forward(drive)
        time.sleep(_TRIP_WAIT * test_ms / 1e3)
        first = device.status()["watchdog_trips"] - trips
        time.sleep(_TRIP_WAIT * test_ms / 1e3)  # the STATUS re-armed it: one more silence, one more trip
        second = device.status()["watchdog_trips"] - trips
        measured = device.forward(drive)
    finally:
        device.configure(watchdog_ms=before)
    ctx.measure("trips_after_one_silence", first, "", low=1, high=1)
    ctx.measure("trips_after_two_silences", second, "", low=2, high=2)
    if first != 1 or second != 2:
        raise CheckFailed(f"watchdog: configured to {test_ms} ms, a silence of {_TRIP_WAIT * test_ms:.0f} ms after a "
                          f"drive counted {first} trip(s) (expected 1) and a second silence {second - first} more "
                          "(expected 1): it does not put the actuators in their safe state once per silence")
    if not np.all(np.isfinite(measured)):
        raise CheckFailed("watchdog: the drive after a trip measured non-finite readings")


def clamps(session: RigSession, ctx: CheckContext) -> None:
    """Commands beyond the limits are clamped (counted in STATUS clamps) and measure like the limit."""
    info = session.require_firmware("clamping")
    device = session.device
    encoding = device.encoding
    if encoding.encoder == "bits":
        raise NotApplicable("binary elements take states, not levels: nothing can be driven past a limit")
    span = encoding.high - encoding.low
    base = probe_actuations(device, 8, session.rng("clamps"))
    at_limit, beyond = base.copy(), base.copy()
    at_limit[:, 0], beyond[:, 0] = encoding.high, encoding.high + 0.5 * span
    at_limit[:, -1], beyond[:, -1] = encoding.low, encoding.low - 0.5 * span
    status = device.status()["clamps"]
    limited = device.forward(np.repeat(at_limit, 4, axis=0)).reshape(8, 4, -1).mean(axis=1)
    pushed = device.forward(np.repeat(beyond, 4, axis=0)).reshape(8, 4, -1).mean(axis=1)
    counted = device.status()["clamps"] - status
    # What the device must clamp: codes outside its limits once the host has quantised (and
    # saturated to int16) the commands, as docs/protocol.md says the host does.
    code_low, code_high = p.code_limits(encoding.low, encoding.high, device.actuator_scale)
    expected = 4 * sum(int(np.sum((codes < code_low) | (codes > code_high)))
                       for codes in (p.quantize(at_limit, device.actuator_scale), p.quantize(beyond, device.actuator_scale)))
    if expected == 0:
        raise NotApplicable(f"the limits [{encoding.low:g}, {encoding.high:g}] are the ends of the int16 code range: "
                            "no command can reach the device beyond them")
    noise = np.maximum(repeat_noise(session), 1e-12) / 2.0  # std of a mean of 4 passes
    difference = float(np.max(np.abs(pushed - limited) / noise))
    ctx.measure("clamps_counted", counted, "codes", low=expected, high=expected)
    ctx.measure("beyond_vs_limit", difference, "x noise", high=_CLAMP_NOISE * np.sqrt(2.0))
    problems = []
    if counted != expected:
        problems.append(f"{expected} codes beyond [{encoding.low:g}, {encoding.high:g}] were sent, STATUS clamps "
                        f"counted {counted}")
    if difference > _CLAMP_NOISE * np.sqrt(2.0):
        problems.append(f"a drive beyond the limit measures unlike the limit ({difference:.1f} x the noise): the "
                        "device does not clamp it")
    if problems:
        raise CheckFailed("clamps: " + "; ".join(problems) + f" (device {info['firmware']})")


def reset(session: RigSession, ctx: CheckContext) -> None:
    """RESET zeroes the counters (frames_ok 1 right after, itself), keeps the configuration, and the device measures on."""
    session.require_firmware("RESET")
    device = session.device
    config = device.configure()
    device.forward(probe_actuations(device, 4, session.rng("reset")))
    session.expect_reset()
    device.reset()
    status = device.status()
    after = device.configure()
    nonzero = {key: status[key] for key in ("excites", "vectors", "crc_errors", "header_errors", "clamps",
                                            "watchdog_trips", "duplicates") if status.get(key)}
    ctx.measure("frames_ok_after_reset", status["frames_ok"], "", low=1, high=1)
    ctx.measure("counters_left_nonzero", len(nonzero), "", high=0)
    ctx.expect("configuration kept", after, config)
    problems = []
    if status["frames_ok"] != 1 or nonzero:
        problems.append(f"after RESET STATUS reports frames_ok {status['frames_ok']} (expected 1: the RESET itself)"
                        + (f" and {nonzero}" if nonzero else ""))
    if after != config:
        problems.append(f"RESET changed the configuration from {config} to {after}")
    measured = device.forward(probe_actuations(device, 4, session.rng("reset")))
    if not np.all(np.isfinite(measured)):
        problems.append("the device measured non-finite readings after RESET")
    if problems:
        raise CheckFailed("reset: " + "; ".join(problems))


def _bound(value) -> str:
    return "any" if value is None else f"{value:g}"


CHECKS = [Check(GROUP, "limits", limits), Check(GROUP, "continuity", continuity), Check(GROUP, "watchdog", watchdog),
          Check(GROUP, "clamps", clamps), Check(GROUP, "reset", reset, resets_device=True)]
