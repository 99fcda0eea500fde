"""Timing: how long one pass takes and how steadily, how many passes a second, and a clean link.

Round trips are one-pass forwards timed on the monotonic clock, as the trainer's evaluation of a
single row would see them; throughput is a forward of many passes, which the device's max_batch
splits into pipelined EXCITEs. The link's own counters (re-sends, damaged frames, timeouts) show
a cable or a port that corrupts bytes even when the link engine recovers from it.
"""
from __future__ import annotations

import time

import numpy as np

from phyll.experiments.twin import probe_actuations

from ..record import CheckContext, CheckFailed, NotApplicable
from ..session import RigSession
from . import Check

GROUP = "timing"
# Host link counters that mean the link damaged or lost something (docs/link.md).
# Passes link_errors sends itself, so a check run alone still has traffic to judge.
_BURST_PASSES = 256
LINK_ERRORS = ("retries", "crc_errors", "bad_crc_replies", "truncated_replies", "lost_replies", "timeouts",
               "header_errors")
DAMAGE = ("crc_errors", "bad_crc_replies", "truncated_replies", "header_errors")  # frames damaged on the wire


def round_trips(session: RigSession) -> np.ndarray:
    """Seconds per one-pass forward, run.latency_samples of them (measured once per session)."""
    if "round_trips" not in session.cache:
        device = session.device
        drives = probe_actuations(device, session.rig.run["latency_samples"], session.rng("latency"))
        device.forward(drives[:1])  # the first pass may pay for set-up (a medium's first call)
        times = np.empty(len(drives))
        for i in range(len(drives)):
            started = time.monotonic()
            device.forward(drives[i:i + 1])
            times[i] = time.monotonic() - started
        session.cache["round_trips"] = times
    return session.cache["round_trips"]


def latency(session: RigSession, ctx: CheckContext) -> None:
    """p50 and p99 of a one-pass round trip are within the rig's envelope."""
    times_ms = 1e3 * round_trips(session)
    ctx.data["round_trips_ms"] = times_ms
    envelope = session.rig.envelope
    p50, p99 = np.percentile(times_ms, [50, 99])
    ok_50 = ctx.measure("latency_p50", p50, "ms", high=envelope["latency_p50_ms"])
    ok_99 = ctx.measure("latency_p99", p99, "ms", high=envelope["latency_p99_ms"])
    if not (ok_50 and ok_99):
        raise CheckFailed(f"slow replies: a one-pass round trip takes {p50:.2f} ms (p50) and {p99:.2f} ms (p99), "
                          f"the envelope allows {_limit(envelope['latency_p50_ms'])} and "
                          f"{_limit(envelope['latency_p99_ms'])} ms")


def jitter(session: RigSession, ctx: CheckContext) -> None:
    """The spread of one-pass round trips (p99 - p50) is within the rig's envelope."""
    times_ms = 1e3 * round_trips(session)
    p50, p99 = np.percentile(times_ms, [50, 99])
    limit = session.rig.envelope["jitter_ms"]
    ctx.measure("jitter_std", float(np.std(times_ms)), "ms")
    if not ctx.measure("jitter_p99_minus_p50", p99 - p50, "ms", high=limit):
        raise CheckFailed(f"jittery replies: one-pass round trips spread {p99 - p50:.2f} ms from p50 to p99 "
                          f"(std {np.std(times_ms):.2f} ms), the envelope allows {limit:g} ms")


def throughput(session: RigSession, ctx: CheckContext) -> None:
    """Passes per second of a long forward, split into max_batch EXCITEs, reach the rig's minimum."""
    device = session.device
    passes = session.rig.run["throughput_passes"]
    drives = probe_actuations(device, passes, session.rng("throughput"))
    device.forward(drives[:getattr(device, "max_batch", 1)])  # warm: frame buffers, the medium's first call
    started = time.monotonic()
    device.forward(drives)
    rate = passes / (time.monotonic() - started)
    minimum = session.rig.envelope["min_passes_per_s"]
    ctx.measure("max_batch", float(getattr(device, "max_batch", 0)), "vectors")
    if not ctx.measure("passes_per_s", rate, "1/s", low=minimum):
        raise CheckFailed(f"slow device: {rate:.0f} passes/s over {passes} passes, the envelope needs {minimum:g}")


def link_errors(session: RigSession, ctx: CheckContext) -> None:
    """The link needed no re-sends and damaged no frames (at most envelope.link_errors) over the
    session's traffic so far and a burst of its own."""
    counters = getattr(session.device, "counters", None)
    if counters is None:
        raise NotApplicable(f"{session.rig.device_url} has no link (a simulation)")
    device = session.device
    device.forward(probe_actuations(device, _BURST_PASSES, session.rng("link")))
    for _ in range(32):
        device.ping(b"phyll hil")
    counts = counters.as_dict()
    for name in LINK_ERRORS:
        ctx.measure(name, counts.get(name, 0), "")
    total = sum(counts.get(name, 0) for name in LINK_ERRORS)
    allowed = session.rig.envelope["link_errors"]
    if not ctx.measure("link_errors", total, "", high=allowed):
        raise CheckFailed("; ".join(_link_problems(counts)) + f" ({counts['retries']} re-sends in {counts['requests']} "
                          f"requests, {counts['bytes_out']} bytes out, {counts['bytes_in']} in); the envelope "
                          f"allows {allowed} link errors")


def _link_problems(counts: dict) -> list[str]:
    """What the link counters say went wrong, in words."""
    damaged = {name.replace("_", " "): counts[name] for name in DAMAGE if counts.get(name)}
    problems = []
    if damaged:
        problems.append("link corruption: " + ", ".join(f"{value} {name}" for name, value in damaged.items()))
    if counts.get("timeouts"):
        problems.append(f"{counts['timeouts']} replies came later than the host's timeout")
    if counts.get("lost_replies"):
        problems.append(f"{counts['lost_replies']} replies lost")
    return problems or [f"{counts['retries']} re-sends"]


def _limit(value) -> str:
    return "any" if value is None else f"{value:g}"


CHECKS = [Check(GROUP, "latency", latency), Check(GROUP, "jitter", jitter), Check(GROUP, "throughput", throughput),
          Check(GROUP, "link_errors", link_errors)]
