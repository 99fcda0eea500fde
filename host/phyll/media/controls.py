"""Control media: stand-ins for the physics that compute nothing from their input.

A physical layer computes z = W [P(h), h] + b. On an easy task the skip h alone is a linear
classifier, so a network can score as well with any P. Trained beside the physics, on the same
split and seed, these media say how much of a result the physics earns:

- `ConstantMedium`: every pass reads the same values, the physics' per-sensor mean;
- `NoiseMedium`: every pass reads fresh Gaussian noise with the physics' per-sensor mean and
  spread, clipped to the range the physics gave -- output statistics like the physics', no input.

Both take the shape and encoding of the system they stand in for, so a network built for the
rig runs on them unchanged. `SensorStatistics` is what they are built from; `StatisticsTap`
collects it from the passes a training run makes anyway (no extra measurement), and
`probe_statistics` measures it when there is no run to watch (a rig check, an old checkpoint).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..physical import ActuatorEncoding, PhysicalTransform
from .base import Medium
from .twin import probe_actuations

CONTROL_NAMES = ("constant", "noise")


@dataclass
class SensorStatistics:
    """Running per-sensor count, mean, sum of squared deviations, minimum and maximum."""

    count: int
    mean: np.ndarray
    squares: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def empty(cls, n_sensors: int) -> "SensorStatistics":
        return cls(0, np.zeros(n_sensors), np.zeros(n_sensors), np.full(n_sensors, np.inf),
                   np.full(n_sensors, -np.inf))

    def add(self, readings: np.ndarray) -> None:
        """Merge a batch (B, n_sensors) in (Chan et al.'s pairwise update: exact, one pass)."""
        readings = np.asarray(readings, dtype=np.float64)
        n = readings.shape[0]
        if n == 0:
            return
        batch_mean = readings.mean(axis=0)
        batch_squares = ((readings - batch_mean) ** 2).sum(axis=0)
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.squares = self.squares + batch_squares + delta**2 * (self.count * n / total)
        self.count = total
        self.low = np.minimum(self.low, readings.min(axis=0))
        self.high = np.maximum(self.high, readings.max(axis=0))

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.squares / max(self.count, 1))

    def to_dict(self) -> dict:
        return {"count": int(self.count), "mean": self.mean.tolist(), "std": self.std.tolist(),
                "low": self.low.tolist(), "high": self.high.tolist()}

    @classmethod
    def from_dict(cls, stored: dict) -> "SensorStatistics":
        count = int(stored["count"])
        std = np.asarray(stored["std"], dtype=np.float64)
        return cls(count, np.asarray(stored["mean"], dtype=np.float64), std**2 * count,
                   np.asarray(stored["low"], dtype=np.float64), np.asarray(stored["high"], dtype=np.float64))


class _Control(Medium):
    def __init__(self, n_actuators: int, encoding: ActuatorEncoding, statistics: SensorStatistics) -> None:
        if statistics.count == 0:
            raise ValueError(f"the {self.name} control needs the physics' readings first; none were recorded")
        self.n_actuators = int(n_actuators)
        self.n_sensors = int(statistics.mean.shape[0])
        self.encoding = encoding
        self.statistics = statistics

    def describe(self) -> dict:
        return {**super().describe(), "control": True, "statistics_from_passes": self.statistics.count}


class ConstantMedium(_Control):
    """Reads the physics' per-sensor mean, whatever it is sent."""

    name = "constant"

    def __init__(self, n_actuators: int, encoding: ActuatorEncoding, statistics: SensorStatistics) -> None:
        super().__init__(n_actuators, encoding, statistics)
        self._level = statistics.mean.astype(np.float32)

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self._level, (actuation.shape[0], self.n_sensors)).copy()


class NoiseMedium(_Control):
    """Reads N(mean, std) per sensor, clipped to the physics' [min, max], whatever it is sent."""

    name = "noise"

    def __init__(self, n_actuators: int, encoding: ActuatorEncoding, statistics: SensorStatistics,
                 seed: int = 0) -> None:
        super().__init__(n_actuators, encoding, statistics)
        self._mean, self._std = statistics.mean.astype(np.float32), statistics.std.astype(np.float32)
        self._low, self._high = statistics.low.astype(np.float32), statistics.high.astype(np.float32)
        self._rng = np.random.default_rng([seed, 31])

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        noise = self._rng.standard_normal((actuation.shape[0], self.n_sensors), np.float32)
        noise *= self._std
        noise += self._mean
        return np.clip(noise, self._low, self._high, out=noise)


def control_media(transform: PhysicalTransform, statistics: SensorStatistics, seed: int = 0) -> dict[str, Medium]:
    """{"constant": ..., "noise": ...} standing in for `transform`, built from its statistics."""
    return {"constant": ConstantMedium(transform.n_actuators, transform.encoding, statistics),
            "noise": NoiseMedium(transform.n_actuators, transform.encoding, statistics, seed)}


class StatisticsTap:
    """A PhysicalTransform that passes everything to `inner` and adds its readings to `statistics`."""

    def __init__(self, inner: PhysicalTransform, statistics: SensorStatistics | None = None) -> None:
        self.inner = inner
        self.n_actuators, self.n_sensors = inner.n_actuators, inner.n_sensors
        self.encoding = inner.encoding
        self.statistics = statistics or SensorStatistics.empty(inner.n_sensors)

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        readings = self.inner.forward(actuation)
        self.statistics.add(readings)
        return readings

    def describe(self) -> dict:
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()


def probe_statistics(transform: PhysicalTransform, passes: int = 256, seed: int = 0) -> SensorStatistics:
    """Measure `passes` drives shaped like the trainer's (its encoder on random activations)."""
    drives = probe_actuations(transform, passes, np.random.default_rng([seed, 32]))
    statistics = SensorStatistics.empty(transform.n_sensors)
    statistics.add(transform.forward(drives))
    return statistics
