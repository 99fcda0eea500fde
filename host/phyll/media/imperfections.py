"""What makes a rig differ from its model, shared by every medium: drift, heat, knocks and pace.

A medium that derives from `ImperfectMedium` takes these options next to its own (URL query or
keyword arguments); all are off by default:

    drift=S              each sensor's gain wanders as an AR(1) process with stationary std S
                         (0.015 reproduces the +-1.5 % wander of the paper's acoustic rig)
    drift_tau=T          the wander's correlation time in passes (default 1000)
    temperature=DT       a temperature offset in kelvin (media with a thermal model only),
                         in effect from the first measurement
    temperature_drift=R  kelvin per 1000 passes, a linear ramp, followed in steps of 0.01 K and
                         held within one forward call (a batch is short against thermal drift)
    perturb_at_pass=N    apply perturb(perturb_kind, perturb_size) just before measurement N
    perturb_kind=K       default: the medium's first physical perturbation kind
    perturb_size=X       the perturbation's size, in the units of its kind (see `perturb`)
    latency=SEC          seconds per measurement: forward() sleeps until the batch took B*SEC,
                         so a rig's pace (acoustic 0.2-1 s, metasurface 10-100 ms, optics
                         3-20 ms) can be reproduced, or scaled down for a quicker rehearsal

A pass is one measurement, one row of a batch, counted as the rig would count it. Rig faults
(dead or stuck actuators and sensors, a noisy channel, crosstalk, clipping, a drift ramp,
jitter: phyll.media.faults) are taken here too, for rehearsing the HIL suite (docs/hil.md).
Perturbation kinds: "gain" (every medium: a sudden gain step of `size` dB) plus each medium's
physical ones, listed in its `perturbation_kinds`.
"""
from __future__ import annotations

import inspect
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np

from .base import Medium
from .faults import FAULT_OPTIONS, RigFaults

_STREAM_DRIFT, _STREAM_PERTURB, _STREAM_WRAPPER_NOISE = 20, 21, 22  # rng streams beside a medium's own
# A ramp moves the model in steps of 0.01 K: a mode then moves by 1.75e-5 of its frequency, far
# inside its width, and the model is rebuilt every few passes rather than every pass.
_TEMPERATURE_STEP_K = 0.01


@dataclass(frozen=True)
class Imperfections:
    """The imperfection settings of one medium, checked once."""

    drift: float = 0.0
    drift_tau: float = 1000.0
    temperature: float = 0.0
    temperature_drift: float = 0.0
    perturb_at_pass: int | None = None
    perturb_kind: str | None = None
    perturb_size: float | None = None
    latency: float = 0.0

    def __post_init__(self) -> None:
        for name in ("drift", "latency"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.drift_tau <= 0:
            raise ValueError(f"drift_tau (passes) must be > 0, got {self.drift_tau}")
        if self.perturb_at_pass is not None:
            if not isinstance(self.perturb_at_pass, int) or self.perturb_at_pass < 0:
                raise ValueError(f"perturb_at_pass must be a pass number >= 0, got {self.perturb_at_pass!r}")
            if self.perturb_size is None:
                raise ValueError("perturb_at_pass needs perturb_size (e.g. 0.1 for a redraw, 2 for +2 dB)")
        elif self.perturb_kind is not None or self.perturb_size is not None:
            raise ValueError("perturb_kind/perturb_size only take effect with perturb_at_pass=N")

    @classmethod
    def option_names(cls) -> list[str]:
        """Every shared option: these settings, then the rig faults (phyll.media.faults)."""
        return [f.name for f in fields(cls)] + list(FAULT_OPTIONS)

    @property
    def thermal(self) -> bool:
        return self.temperature != 0 or self.temperature_drift != 0


class ImperfectMedium(Medium):
    """A medium with the shared imperfections. Subclasses implement `_measure(actuation, gain)`
    and call `_init_imperfections(seed, options)` in `__init__` once n_sensors is set -- before
    any expensive set-up, so a misspelt option fails at once.

    Physical perturbations: list their kinds in `perturbation_kinds` and implement
    `_apply_perturbation(kind, size, rng)`; a thermal model: set `has_thermal_model` and implement
    `_apply_temperature(delta_kelvin)`.
    """

    perturbation_kinds: tuple[str, ...] = ()
    has_thermal_model = False

    def _measure(self, actuation: np.ndarray, gain: np.ndarray) -> np.ndarray:
        """Measure a batch at sensor gains `gain` (B, n_sensors), applied where the rig's gain acts."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _measure()")

    def _apply_perturbation(self, kind: str, size: float, rng: np.random.Generator) -> None:
        raise NotImplementedError(f"{type(self).__name__} lists perturbation {kind!r} but does not apply it")

    def _apply_temperature(self, delta_kelvin: float) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no thermal model")

    def _init_imperfections(self, seed: int, options: dict) -> None:
        unknown = sorted(set(options) - set(Imperfections.option_names()))
        if unknown:
            raise ValueError(f"medium {self.name!r} has no option(s) {unknown}; it accepts "
                             f"{self.option_names()}")
        faults = {key: value for key, value in options.items() if key in FAULT_OPTIONS}
        self.imperfections = settings = Imperfections(**{k: v for k, v in options.items() if k not in faults})
        if settings.thermal and not self.has_thermal_model:
            raise ValueError(f"medium {self.name!r} has no thermal model: drop temperature/"
                             "temperature_drift (the acoustic medium has one)")
        if settings.perturb_at_pass is not None:
            self._check_kind(settings.perturb_kind or self._default_kind())
        self.passes = 0
        self._seed = seed
        self._gain_step = 1.0
        self._perturbations: list[dict] = []
        self._temperature_base = settings.temperature
        self._temperature_now = 0.0  # what the model has; the first measurement applies the base
        self._drift_rng = np.random.default_rng([seed, _STREAM_DRIFT])
        self._drift_rho = float(np.exp(-1.0 / settings.drift_tau))
        self._drift_state = settings.drift * self._drift_rng.standard_normal(self.n_sensors)
        self.faults = RigFaults.build(faults, self.n_actuators, self.n_sensors, self.encoding.high, seed)

    def option_names(self) -> list[str]:
        own = [name for name, p in inspect.signature(type(self).__init__).parameters.items()
               if name != "self" and p.kind is not p.VAR_KEYWORD]
        return own + Imperfections.option_names()

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        started = time.monotonic()
        if self.faults is not None:
            actuation = self.faults.drive(actuation)
        out = np.empty((actuation.shape[0], self.n_sensors), np.float32)
        start = 0
        for stop in self._chunk_ends(actuation.shape[0]):
            self._events_before_pass()
            out[start:stop] = self._measure(actuation[start:stop], self._gains(stop - start))
            self.passes += stop - start
            start = stop
        if self.faults is not None:
            out = self.faults.read(out)
            started += self.faults.delay()  # a later start: the pace waits that much longer
        self._keep_pace(started, actuation.shape[0])
        return out

    def perturb(self, kind: str, size: float, seed: int | Sequence[int] | None = None) -> None:
        """Change the medium now, between two measurements.

        kind "gain": every sensor's gain steps by `size` dB. Physical kinds: see the medium's
        `perturbation_kinds` and its documentation. Without a seed, the n-th perturbation of a
        medium draws from stream n of the medium's seed, so runs repeat.
        """
        self._check_kind(kind)
        if seed is None:
            seed = [self._seed, _STREAM_PERTURB, len(self._perturbations)]
        if kind == "gain":
            self._gain_step *= 10.0 ** (float(size) / 20.0)
        else:
            self._apply_perturbation(kind, float(size), np.random.default_rng(seed))
        self._perturbations.append({"pass": self.passes, "kind": kind, "size": float(size)})

    def set_temperature(self, delta_kelvin: float) -> None:
        """Set the temperature offset now; a temperature_drift ramp continues from it."""
        if not self.has_thermal_model:
            raise ValueError(f"medium {self.name!r} has no thermal model")
        ramp = self.imperfections.temperature_drift * self.passes / 1000.0
        self._temperature_base = float(delta_kelvin) - ramp
        self._set_temperature_now(float(delta_kelvin))

    def describe(self) -> dict:
        return {**super().describe(), "imperfections": asdict(self.imperfections),
                "passes": self.passes, "temperature_k": self._temperature_now,
                "gain_step_db": 20.0 * float(np.log10(self._gain_step)),
                "perturbations": list(self._perturbations),
                **({"faults": self.faults.describe()} if self.faults is not None else {})}

    def _default_kind(self) -> str:
        return self.perturbation_kinds[0] if self.perturbation_kinds else "gain"

    def _check_kind(self, kind: str) -> None:
        kinds = ("gain",) + tuple(self.perturbation_kinds)
        if kind not in kinds:
            raise ValueError(f"medium {self.name!r} has no perturbation {kind!r}; it has {list(kinds)}")

    def _chunk_ends(self, batch: int) -> list[int]:
        """Split a batch where a scheduled perturbation falls inside it."""
        at = self.imperfections.perturb_at_pass
        if at is not None and self.passes < at < self.passes + batch:
            return [at - self.passes, batch]
        return [batch]

    def _events_before_pass(self) -> None:
        settings = self.imperfections
        if settings.perturb_at_pass == self.passes and settings.perturb_size is not None:
            self.perturb(settings.perturb_kind or self._default_kind(), settings.perturb_size)
        if self.has_thermal_model:
            self._set_temperature_now(self._temperature_base
                                      + settings.temperature_drift * self.passes / 1000.0)

    def _set_temperature_now(self, delta_kelvin: float) -> None:
        delta_kelvin = round(delta_kelvin / _TEMPERATURE_STEP_K) * _TEMPERATURE_STEP_K
        if delta_kelvin != self._temperature_now:
            self._apply_temperature(delta_kelvin)
            self._temperature_now = delta_kelvin

    def _gains(self, batch: int) -> np.ndarray:
        """Per-measurement sensor gains (batch, n_sensors): the gain steps times the AR(1) wander."""
        drift = self.imperfections.drift
        if not drift:
            return np.full((batch, self.n_sensors), self._gain_step, np.float32)
        rho = self._drift_rho
        wander = self._drift_rng.standard_normal((batch, self.n_sensors))
        wander *= drift * np.sqrt(1.0 - rho * rho)
        state = self._drift_state
        for row in wander:  # the AR(1) recursion, in place: innovation -> wander
            row += rho * state
            state = row
        self._drift_state = state.copy()
        return (self._gain_step * (1.0 + wander)).astype(np.float32)

    def _keep_pace(self, started: float, batch: int) -> None:
        remaining = self.imperfections.latency * batch - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)


class WithImperfections(ImperfectMedium):
    """Any medium -- a lab's own, say -- with the shared imperfections applied to its readings.

    The gain multiplies what the inner medium returns, and `noise` adds multiplicative
    measurement noise: reading * gain * (1 + noise * xi). Built-in media apply both inside their
    own sensor model instead (before the converter), so prefer their options where they exist.
    """

    def __init__(self, medium: Medium, seed: int = 0, noise: float = 0.0, **imperfections) -> None:
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.inner = medium
        self.name = medium.name
        self.n_actuators, self.n_sensors = medium.n_actuators, medium.n_sensors
        self.encoding = medium.encoding
        self.noise = float(noise)
        self._noise_rng = np.random.default_rng([seed, _STREAM_WRAPPER_NOISE])
        self._init_imperfections(seed, imperfections)

    def _measure(self, actuation: np.ndarray, gain: np.ndarray) -> np.ndarray:
        reading = np.asarray(self.inner.forward(actuation), np.float32) * gain
        if self.noise:
            reading *= 1.0 + self.noise * self._noise_rng.standard_normal(reading.shape, np.float32)
        return reading

    def describe(self) -> dict:
        return {**self.inner.describe(), **super().describe(), "noise_added": self.noise}

    def close(self) -> None:
        self.inner.close()

