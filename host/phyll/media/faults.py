"""Rig faults: what breaks on a real rig, injected into any medium to rehearse finding it.

The hardware-in-the-loop suite (hil/, docs/hil.md) must tell a healthy rig from a broken one;
these options break a medium the ways rigs break, so every check can be shown to fail on its
fault. Every built-in medium (and any medium through `WithImperfections`) takes them beside the
imperfections, also through `emu://`, where the firmware then serves the broken medium:

    dead_actuators=LIST   actuators whose drive never reaches the medium: they act as if driven
                          at 0 (silence, an element off), whatever they are sent
    stuck_actuators=LIST  actuators stuck at `stuck_value` (default: the encoding's high limit)
    dead_sensors=LIST     sensors that read 0
    stuck_sensors=LIST    sensors that repeat their first reading for ever
    noisy_sensors=LIST    sensors with extra multiplicative noise of `sensor_noise` (default 0.2)
    crosstalk=A>B         sensor B picks up `crosstalk_level` (default 0.9) of sensor A:
                          B reads (1 - level) * B + level * A
    sensor_clip=X         every reading clipped to [-X, X] (an amplifier or converter range set too low)
    drift_ramp=R          every sensor's gain moves by R (a fraction) per hour of wall-clock time,
                          linearly from the first measurement (a rig warming up)
    latency_jitter=SEC    each measurement call waits a further uniform [0, SEC) seconds

LIST is one index (`3`), several (`3,7`), a range (`0-19`) or `all`. Random parts (the extra noise,
the jitter) draw from their own stream of the medium's seed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

FAULT_OPTIONS = ("dead_actuators", "stuck_actuators", "stuck_value", "dead_sensors", "stuck_sensors",
                 "noisy_sensors", "sensor_noise", "crosstalk", "crosstalk_level", "sensor_clip",
                 "drift_ramp", "latency_jitter")
_STREAM_FAULTS = 23  # rng stream beside a medium's own and the imperfections' (20-22)
_SECONDS_PER_HOUR = 3600.0


def parse_channels(value, count: int, option: str) -> np.ndarray:
    """`3`, `"3,7"`, `"0-19"` or `"all"` -> sorted indices in [0, count)."""
    text = str(value).strip()
    if text == "all":
        return np.arange(count)
    chosen: set[int] = set()
    try:
        for part in text.split(","):
            first, dash, last = part.strip().partition("-")
            low, high = int(first), int(last) if dash else int(first)
            chosen.update(range(low, high + 1))
    except ValueError:
        raise ValueError(f"{option}={value!r} must be an index, indices like 3,7, a range like 0-19, or all") from None
    outside = sorted(i for i in chosen if not 0 <= i < count)
    if outside or not chosen:
        raise ValueError(f"{option}={value!r} names {outside or 'nothing'}; the medium has indices 0..{count - 1}")
    return np.array(sorted(chosen))


@dataclass
class RigFaults:
    """The faults of one medium, checked once; `drive` and `read` apply them around a measurement."""

    dead_actuators: np.ndarray
    stuck_actuators: np.ndarray
    stuck_value: float
    dead_sensors: np.ndarray
    stuck_sensors: np.ndarray
    noisy_sensors: np.ndarray
    sensor_noise: float
    crosstalk: tuple[int, int] | None
    crosstalk_level: float
    sensor_clip: float | None
    drift_ramp: float
    latency_jitter: float
    rng: np.random.Generator
    options: dict = field(default_factory=dict)
    _stuck_readings: np.ndarray | None = None
    _started: float | None = None

    @classmethod
    def build(cls, options: dict, n_actuators: int, n_sensors: int, high: float, seed: int) -> "RigFaults | None":
        """None when no fault is asked for (the medium then pays nothing)."""
        if not options:
            return None
        unknown = sorted(set(options) - set(FAULT_OPTIONS))
        if unknown:
            raise ValueError(f"unknown fault option(s) {unknown}; faults are {list(FAULT_OPTIONS)}")

        def channels(name: str, count: int) -> np.ndarray:
            return parse_channels(options[name], count, name) if name in options else np.array([], int)

        def number(name: str, default: float, minimum: float | None = 0.0) -> float:
            value = options.get(name, default)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) \
                    or (minimum is not None and value < minimum):
                raise ValueError(f"{name} must be a number{f' >= {minimum:g}' if minimum is not None else ''}, "
                                 f"got {value!r}")
            return float(value)

        crosstalk = None
        if "crosstalk" in options:
            source, arrow, target = str(options["crosstalk"]).partition(">")
            if not arrow:
                raise ValueError(f"crosstalk={options['crosstalk']!r} must name two sensors as A>B "
                                 "(sensor B picks up sensor A)")
            (a,), (b,) = parse_channels(source, n_sensors, "crosstalk"), parse_channels(target, n_sensors, "crosstalk")
            crosstalk = (int(a), int(b))
        clip = number("sensor_clip", 0.0) if "sensor_clip" in options else None
        if clip == 0.0:
            raise ValueError("sensor_clip must be a number > 0")
        return cls(dead_actuators=channels("dead_actuators", n_actuators),
                   stuck_actuators=channels("stuck_actuators", n_actuators),
                   stuck_value=float(options.get("stuck_value", high)),
                   dead_sensors=channels("dead_sensors", n_sensors),
                   stuck_sensors=channels("stuck_sensors", n_sensors),
                   noisy_sensors=channels("noisy_sensors", n_sensors),
                   sensor_noise=number("sensor_noise", 0.2),
                   crosstalk=crosstalk, crosstalk_level=number("crosstalk_level", 0.9),
                   sensor_clip=clip, drift_ramp=number("drift_ramp", 0.0, minimum=None),
                   latency_jitter=number("latency_jitter", 0.0),
                   rng=np.random.default_rng([seed, _STREAM_FAULTS]), options=dict(options))

    def drive(self, actuation: np.ndarray) -> np.ndarray:
        """The actuation the medium really gets."""
        if not (self.dead_actuators.size or self.stuck_actuators.size):
            return actuation
        actuation = np.array(actuation, np.float32)
        actuation[:, self.dead_actuators] = 0.0
        actuation[:, self.stuck_actuators] = self.stuck_value
        return actuation

    def read(self, readings: np.ndarray) -> np.ndarray:
        """The readings the rig reports, after its broken parts."""
        now = time.monotonic()
        if self._started is None:
            self._started = now
        readings = np.array(readings, np.float32)
        if self.drift_ramp:
            readings *= np.float32(1.0 + self.drift_ramp * (now - self._started) / _SECONDS_PER_HOUR)
        if self.crosstalk is not None:
            a, b = self.crosstalk
            readings[:, b] = (1.0 - self.crosstalk_level) * readings[:, b] + self.crosstalk_level * readings[:, a]
        if self.noisy_sensors.size:
            noise = self.rng.standard_normal((readings.shape[0], self.noisy_sensors.size), np.float32)
            readings[:, self.noisy_sensors] *= 1.0 + self.sensor_noise * noise
        readings[:, self.dead_sensors] = 0.0
        if self.stuck_sensors.size and readings.shape[0]:
            if self._stuck_readings is None:
                self._stuck_readings = readings[0, self.stuck_sensors].copy()
            readings[:, self.stuck_sensors] = self._stuck_readings
        if self.sensor_clip is not None:
            np.clip(readings, -self.sensor_clip, self.sensor_clip, out=readings)
        return readings

    def delay(self) -> float:
        """Seconds a measurement call waits beyond the medium's own pace."""
        return float(self.rng.uniform(0.0, self.latency_jitter)) if self.latency_jitter else 0.0

    def describe(self) -> dict:
        return dict(self.options)
