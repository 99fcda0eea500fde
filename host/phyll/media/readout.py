"""The last stage of every sensor: an analogue-to-digital converter with a full scale."""
from __future__ import annotations

import numpy as np


def adc(values: np.ndarray, full_scale: float, bits: int) -> np.ndarray:
    """Clip `values` to [0, full_scale] and round them to the converter's 2**bits - 1 steps, in place.

    Returns `values`, still in the caller's units (a reading of full_scale stays full_scale).
    """
    levels = float(2**bits - 1)
    values *= levels / full_scale
    np.rint(values, out=values)
    np.clip(values, 0.0, levels, out=values)
    values *= full_scale / levels
    return values


def check_bits(name: str, bits: int, low: int, high: int) -> int:
    if not (isinstance(bits, (int, np.integer)) and low <= bits <= high):
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {bits!r}")
    return int(bits)
