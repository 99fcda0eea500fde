"""Characterisation: the physics itself, channel by channel.

    noise_floor   repeat noise per sensor: the std of identical passes (run.probes drives, each
                  repeated run.repeats times), against envelope.noise_floor
    response      every actuator moves some sensor, and every sensor moves with some actuator,
                  by more than envelope.min_response times the noise: a dead or stuck actuator
                  or element, a dead or stuck sensor, is named
    linearity     held-out R^2 of a linear fit of each sensor to the drives (random drives shaped
                  like the trainer's), against envelope.min_linearity
    crosstalk     the largest |correlation| of two sensors across those drives: two channels
                  that read the same thing (a short, a leak) exceed envelope.max_crosstalk
    drift         the gain of each sensor followed for run.drift_s: its slope per hour, against
                  envelope.drift_per_hour, judged only where the slope is significant (3 sigma)

Sensors and actuators the rig file lists as silent (medium.silent_sensors, silent_actuators) do
nothing by design (a drive tone no microphone hears, an output at the noise floor) and are left
out of response, linearity and crosstalk.
"""
from __future__ import annotations

import time

import numpy as np

from phyll.experiments.twin import probe_actuations

from ..record import CheckContext, CheckFailed
from ..session import RigSession
from . import Check

GROUP = "characterisation"
_TINY = 1e-12
_SIGMAS = 3.0  # a drift slope counts once it is this many standard errors from zero
_MIN_READINGS = 6  # drift readings at least, however short run.drift_s is: a slope and its error need a few


def live_sensors(session: RigSession) -> np.ndarray:
    silent = set(session.rig.medium["silent_sensors"])
    return np.array([j for j in range(session.device.n_sensors) if j not in silent], int)


def repeat_noise(session: RigSession) -> np.ndarray:
    """Per sensor: the pooled std of repeated identical passes (measured once per session)."""
    if "noise" not in session.cache:
        run = session.rig.run
        drives = probe_actuations(session.device, run["probes"], session.rng("noise"))
        readings = session.device.forward(np.repeat(drives, run["repeats"], axis=0))
        readings = readings.reshape(run["probes"], run["repeats"], -1).astype(np.float64)
        session.cache["noise"] = np.sqrt(np.mean(np.var(readings, axis=1, ddof=1), axis=0))
        session.cache["signal"] = np.sqrt(np.mean(readings ** 2, axis=(0, 1)))
        # How far each sensor's mean reading moves from drive to drive, in standard errors of a
        # mean of `repeats` passes: ~1 for a sensor that reads noise only, large for a live one.
        means = readings.mean(axis=1)
        session.cache["drive_spread"] = np.std(means, axis=0, ddof=1) / np.maximum(
            session.cache["noise"] / np.sqrt(run["repeats"]), _TINY)
        session.cache["constant"] = np.ptp(readings, axis=(0, 1)) == 0
    return session.cache["noise"]


def noise_floor(session: RigSession, ctx: CheckContext) -> None:
    """Repeat noise per sensor (std of identical passes) is within envelope.noise_floor."""
    noise = repeat_noise(session)
    signal = session.cache["signal"]
    limits = _per_channel(session.rig.envelope["noise_floor"], len(noise))
    ctx.data.update(noise=noise, noise_limit=limits, signal=signal)
    loud = []
    for j, (value, limit) in enumerate(zip(noise, limits)):
        relative = f"{100 * value / max(signal[j], _TINY):.1f} % of its rms reading"
        if not ctx.measure(f"noise_floor.s{j:02d}", value, "sensor units", high=limit, note=relative):
            loud.append(f"sensor {j} ({value:.3g}, {relative})")
    if loud:
        raise CheckFailed(f"noisy channel: repeat noise above the envelope's {_describe(limits)} on "
                          + ", ".join(loud))


def response(session: RigSession, ctx: CheckContext) -> None:
    """Each actuator, driven low then high on run.probes random drives, moves some sensor by more
    than envelope.min_response times its noise; each sensor's mean reading moves from drive to
    drive by more than envelope.min_response standard errors, and no sensor reads one value."""
    device, run = session.device, session.rig.run
    noise = np.maximum(repeat_noise(session), _TINY)
    live = live_sensors(session)
    low, high = _drive_levels(device)
    base = probe_actuations(device, run["probes"], session.rng("response"))
    n_act = device.n_actuators
    # For actuator i: every base drive with i set low, then with i set high; all in one forward.
    drives = np.repeat(base[None], 2 * n_act, axis=0)  # (2 n_act, probes, n_act)
    for i in range(n_act):
        drives[2 * i, :, i], drives[2 * i + 1, :, i] = low, high
    readings = device.forward(drives.reshape(-1, n_act)).reshape(n_act, 2, run["probes"], -1)
    # Effect of each actuator on each sensor in units of the noise of a difference of two passes:
    # about 1 where nothing changes but the noise, large where the actuator acts.
    effect = np.sqrt(np.mean(np.diff(readings, axis=1)[:, 0] ** 2, axis=1)) / (np.sqrt(2.0) * noise)  # (act, sens)
    by_actuator = effect[:, live].max(axis=1) if live.size else np.zeros(n_act)  # the sensor it moves most
    by_sensor = session.cache["drive_spread"]
    constant = session.cache["constant"] & (np.ptp(readings.reshape(-1, device.n_sensors), axis=0) == 0)
    ctx.data.update(effect=effect, by_actuator=by_actuator, by_sensor=by_sensor, live=live)
    threshold = session.rig.envelope["min_response"]
    problems = []
    idle = set(session.rig.medium["silent_actuators"])
    for i, value in enumerate(by_actuator):
        if i in idle:
            continue
        if not ctx.measure(f"response.actuator{i:02d}", value, "x noise", low=threshold):
            problems.append(f"actuator {i} moves no sensor (dead, or stuck at one value): driving it from {low:g} "
                            f"to {high:g} changes the readings by {value:.2f} x their noise")
    for j in live:
        if constant[j]:
            ctx.measure(f"response.sensor{j:02d}", 0.0, "x noise", low=threshold)
            problems.append(f"sensor {j} reads {float(readings[..., j].flat[0]):.4g} whatever the drive (dead or stuck)")
        elif not ctx.measure(f"response.sensor{j:02d}", by_sensor[j], "x noise", low=threshold):
            problems.append(f"sensor {j} moves only {by_sensor[j]:.2f} standard errors from drive to drive "
                            "(dead, or reading noise only)")
    if problems:
        raise CheckFailed("; ".join(problems))


def fit_data(session: RigSession) -> tuple[np.ndarray, np.ndarray]:
    """Random trainer-shaped drives and their readings, for linearity and crosstalk (once)."""
    if "fit" not in session.cache:
        device = session.device
        count = session.rig.run["fit_drives"] or 6 * device.n_actuators
        drives = probe_actuations(device, count, session.rng("fit"))
        session.cache["fit"] = (drives, device.forward(drives).astype(np.float64))
    return session.cache["fit"]


def linearity(session: RigSession, ctx: CheckContext) -> None:
    """Held-out R^2 of a linear fit of each sensor to the drives is at least envelope.min_linearity."""
    drives, readings = fit_data(session)
    held = max(len(drives) // 4, 2)
    design = np.c_[drives, np.ones(len(drives))]
    coef, *_ = np.linalg.lstsq(design[:-held], readings[:-held], rcond=None)
    truth = readings[-held:]
    residual = np.sum((truth - design[-held:] @ coef) ** 2, axis=0)
    total = np.maximum(np.sum((truth - truth.mean(0)) ** 2, axis=0), _TINY)
    r2 = 1.0 - residual / total
    scale = np.maximum(readings.std(axis=0), _TINY)
    ctx.data.update(r2=r2, sensitivity=np.abs(coef[:-1]) / scale)  # (actuators, sensors)
    live = live_sensors(session)
    limits = _per_channel(session.rig.envelope["min_linearity"], len(r2))
    bent = [f"sensor {j} (R^2 {r2[j]:.2f})" for j in live
            if not ctx.measure(f"linearity.s{j:02d}", r2[j], "R^2", low=limits[j])]
    if bent:
        raise CheckFailed(f"non-linear response (clipping or saturation?): a linear fit explains less than "
                          f"{_describe(limits)} of {', '.join(bent)}")


def crosstalk(session: RigSession, ctx: CheckContext) -> None:
    """No two sensors read the same thing: |correlation| across drives at most envelope.max_crosstalk."""
    _, readings = fit_data(session)
    live = live_sensors(session)
    varying = live[readings[:, live].std(axis=0) > _TINY]  # a constant channel is response's to name
    if varying.size < 2:
        ctx.measure("max_correlation", 0.0, "")
        return
    corr = np.corrcoef(readings[:, varying].T)
    np.fill_diagonal(corr, 0.0)
    a, b = np.unravel_index(np.argmax(np.abs(corr)), corr.shape)
    worst = float(abs(corr[a, b]))
    full = np.zeros((readings.shape[1],) * 2)
    full[np.ix_(varying, varying)] = corr
    ctx.data["correlation"] = full
    limit = session.rig.envelope["max_crosstalk"]
    if not ctx.measure("max_correlation", worst, "", high=limit, note=f"sensors {varying[a]} and {varying[b]}"):
        raise CheckFailed(f"crosstalk: sensors {varying[a]} and {varying[b]} read the same thing across drives "
                          f"(|correlation| {worst:.4f} > {limit:g})")


def drift(session: RigSession, ctx: CheckContext) -> None:
    """Each sensor's gain, followed for run.drift_s on a fixed set of drives, moves by at most
    envelope.drift_per_hour (a slope counts once it is 3 standard errors from zero)."""
    device, run = session.device, session.rig.run
    reference = probe_actuations(device, run["probes"], session.rng("drift"))
    started = time.monotonic()
    times, levels = [], []
    while True:
        now = time.monotonic() - started
        times.append(now)
        levels.append(device.forward(reference).astype(np.float64).mean(axis=0))
        if now >= run["drift_s"] and len(times) >= _MIN_READINGS:
            break
        time.sleep(max(0.0, run["drift_every_s"] - (time.monotonic() - started - now)))
    times_h, levels = np.array(times) / 3600.0, np.array(levels)
    gain = levels / np.where(np.abs(levels[0]) > _TINY, levels[0], 1.0)
    slopes, errors = _slopes(times_h, gain)
    ctx.data.update(drift_times_s=np.array(times), drift_gain=gain)
    limit = session.rig.envelope["drift_per_hour"]
    live = live_sensors(session)
    drifting = []
    for j in live:
        significant = max(abs(slopes[j]) - _SIGMAS * errors[j], 0.0)
        ctx.measure(f"drift.s{j:02d}", slopes[j], "per hour", note=f"standard error {errors[j]:.3g}")
        if limit is not None and significant > limit:
            drifting.append(f"sensor {j} {100 * slopes[j]:+.1f} %/h (+-{100 * errors[j]:.1f})")
    worst = max((max(abs(slopes[j]) - _SIGMAS * errors[j], 0.0) for j in live), default=0.0)
    ctx.measure("drift_significant_max", worst, "per hour", high=limit,
                note=f"followed for {times[-1]:.1f} s in {len(times)} readings")
    if drifting:
        raise CheckFailed(f"drift: gain ramps beyond the envelope's {100 * limit:g} %/h over {times[-1]:.1f} s: "
                          + ", ".join(drifting))


def _slopes(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope of each column of y against t, and its standard error."""
    dt = t - t.mean()
    sxx = max(float(np.sum(dt ** 2)), _TINY)
    slopes = dt @ (y - y.mean(axis=0)) / sxx
    residual = y - y.mean(axis=0) - np.outer(dt, slopes)
    dof = max(len(t) - 2, 1)
    return slopes, np.sqrt(np.sum(residual ** 2, axis=0) / dof / sxx)


def _drive_levels(device) -> tuple[float, float]:
    """The two levels an actuator is driven at to see whether it acts: off and on for binary
    elements, else the encoding's limits (0 and high when 0 lies inside them: silence and full)."""
    encoding = device.encoding
    if encoding.encoder == "bits":
        return 0.0, 1.0
    low = 0.0 if encoding.low < 0.0 < encoding.high else encoding.low
    return low, encoding.high


def _per_channel(limit, count: int) -> list:
    return list(limit) if isinstance(limit, list) else [limit] * count


def _describe(limits: list) -> str:
    values = sorted({v for v in limits if v is not None})
    return "per-channel limits" if len(values) > 1 else (f"{values[0]:g}" if values else "none")


CHECKS = [Check(GROUP, "noise_floor", noise_floor), Check(GROUP, "response", response),
          Check(GROUP, "linearity", linearity), Check(GROUP, "crosstalk", crosstalk), Check(GROUP, "drift", drift)]
