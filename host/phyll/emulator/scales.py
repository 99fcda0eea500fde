"""int16 scales of an emulated device: physical value = code x scale, both ways.

Actuators: `max(|low|, |high|) / 32767` (docs/protocol.md), so the limits are exact codes and a
command keeps ~15 bits; the "bits" encoder sends element states, scale 1.

Sensors: `full_scale / 32767`, so every reading in [-full_scale, full_scale] is a code without
clipping, at the finest step that allows. The full scale is, in this order,
1. the medium's declared `sensor_full_scale` (class attribute of `Medium`, None when unknown),
2. its `full_scale` attribute (the range of the acoustic medium's ADC, which clips there),
3. probed: the largest |reading| over random actuations shaped like the trainer's encoder plus
   one-hot and constant drives, times PROBE_HEADROOM = 4 (drift, gain steps and drives the probe
   missed). Probing runs on a second instance of the medium, so the served one starts untouched.
Readings that still saturate are counted by the medium server (`describe()["emulator"]`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..media import Medium
from ..physical import ActuatorEncoding
from .errors import EmulatorError

CODE_MAX = 32767
PROBE_VECTORS = 512
PROBE_HEADROOM = 4.0


@dataclass(frozen=True)
class Scales:
    actuator: float
    sensor: float
    full_scale: float
    source: str  # how full_scale was found: "sensor_full_scale", "full_scale" or "probed"


def actuator_scale(encoding: ActuatorEncoding) -> float:
    if encoding.encoder == "bits":
        return 1.0
    return max(abs(encoding.low), abs(encoding.high)) / CODE_MAX


def declared_full_scale(medium: Medium) -> tuple[float, str] | None:
    for attribute in ("sensor_full_scale", "full_scale"):
        value = getattr(medium, attribute, None)
        if value is None:
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise EmulatorError(f"medium {medium.name!r} declares {attribute}={value!r}; "
                                "expected a positive number") from None
        if not (math.isfinite(value) and value > 0):
            raise EmulatorError(f"medium {medium.name!r} declares {attribute}={value}; expected > 0")
        return value, attribute
    return None


def probe_actuations(encoding: ActuatorEncoding, n_actuators: int, seed: int = 0) -> np.ndarray:
    """Drives like the trainer's (its encoder on random inputs), then one-hot and constant ones."""
    rng = np.random.default_rng(seed)
    values = encoding.values_for(n_actuators)
    inputs = rng.standard_normal((PROBE_VECTORS, values)).astype(np.float32)
    rows = [encoding.encode(inputs)]  # the trainer's own encoder: the probe sees what training sends
    if encoding.encoder == "bits":
        rows += [np.zeros((1, n_actuators)), np.ones((1, n_actuators))]
    else:
        eye = np.eye(n_actuators)
        rows += [encoding.high * eye, encoding.low * eye,
                 np.full((1, n_actuators), encoding.high), np.full((1, n_actuators), encoding.low)]
    return np.ascontiguousarray(np.vstack(rows), dtype=np.float32)


def probe_full_scale(medium: Medium) -> float:
    actuation = probe_actuations(medium.encoding, medium.n_actuators)
    try:
        readings = np.asarray(medium.forward(actuation), dtype=np.float64)
    except Exception as exc:
        raise EmulatorError(f"probing medium {medium.name!r} for its sensor range failed: "
                            f"{type(exc).__name__}: {exc}") from exc
    if readings.shape != (actuation.shape[0], medium.n_sensors) or not np.all(np.isfinite(readings)):
        raise EmulatorError(f"probing medium {medium.name!r} gave readings of shape {readings.shape} "
                            f"(expected {(actuation.shape[0], medium.n_sensors)}, all finite)")
    peak = float(np.max(np.abs(readings)))
    if peak == 0.0:
        raise EmulatorError(f"medium {medium.name!r} read 0 on every sensor for every probe drive; "
                            "declare its sensor_full_scale")
    return PROBE_HEADROOM * peak


def derive_scales(medium: Medium, probe: Medium | None = None) -> Scales:
    """Scales for `medium`; `probe` (a twin instance) is measured if nothing is declared."""
    declared = declared_full_scale(medium)
    if declared is not None:
        full_scale, source = declared
    else:
        full_scale, source = probe_full_scale(probe if probe is not None else medium), "probed"
    return Scales(actuator_scale(medium.encoding), full_scale / CODE_MAX, full_scale, source)
