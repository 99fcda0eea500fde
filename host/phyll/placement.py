"""Which value of a layer's input drives which actuator: in order, or the labels on the slots the
physics hears best.

A rig need not hear every actuator: the paper's acoustic cavity answers to 12 of its 20 drive
entries (the other tones fall outside the microphones' band). In order, label entries 3 and 4 of
the vowels land on two it does not hear, so without the digital skip a network cannot tell those
labels apart. `sensitive` measures the rig once (probe passes shaped like training's), ranks the
actuator slots by how much of the readings a linear fit attributes to them, and puts value i
(labels first, then the features) on the i-th most sensitive slot.
"""
from __future__ import annotations

import numpy as np

from .media.twin import probe_actuations
from .physical import PhysicalTransform

PLACEMENTS = ("in-order", "sensitive")
PROBE_PASSES = 256


def slot_sensitivity(transform: PhysicalTransform, passes: int = PROBE_PASSES, seed: int = 0) -> np.ndarray:
    """Per actuator slot (one per value; a "bits" value drives several elements): the norm over
    sensors of the standardised linear coefficients of the readings on the slot's commands."""
    encoding = transform.encoding
    values = encoding.values_for(transform.n_actuators)
    if passes < values + 2:
        raise ValueError(f"a sensitivity fit over {values} slots needs at least {values + 2} passes, got {passes}")
    drives = probe_actuations(transform, passes, np.random.default_rng([seed, 41]))
    readings = np.asarray(transform.forward(drives), dtype=np.float64)
    x = drives.astype(np.float64)
    x_std, y_std = x.std(axis=0), readings.std(axis=0)
    design = np.c_[(x - x.mean(axis=0)) / np.where(x_std > 0, x_std, 1.0), np.ones(passes)]
    coef, *_ = np.linalg.lstsq(design, readings - readings.mean(axis=0), rcond=None)
    standardised = coef[:-1] / np.where(y_std > 0, y_std, np.inf)  # (actuators, sensors)
    per_actuator = np.sqrt(np.sum(standardised**2, axis=1))
    return per_actuator.reshape(values, -1).sum(axis=1)


def sensitive_placement(sensitivity: np.ndarray) -> np.ndarray:
    """placement[j] = the value that drives slot j: value i on the i-th most sensitive slot
    (ties keep slot order)."""
    ranked = np.argsort(-np.asarray(sensitivity), kind="stable")
    placement = np.empty(len(ranked), dtype=np.intp)
    placement[ranked] = np.arange(len(ranked))
    return placement


def measure_placement(kind: str, transform: PhysicalTransform, seed: int = 0) -> tuple[np.ndarray | None, dict]:
    """(placement or None for in order, what to record of it)."""
    if kind not in PLACEMENTS:
        raise ValueError(f"unknown placement {kind!r}; choose from {', '.join(PLACEMENTS)}")
    if kind == "in-order":
        return None, {"kind": kind}
    sensitivity = slot_sensitivity(transform, seed=seed)
    return sensitive_placement(sensitivity), {"kind": kind, "probe_passes": PROBE_PASSES,
                                              "sensitivity": sensitivity.round(4).tolist()}
