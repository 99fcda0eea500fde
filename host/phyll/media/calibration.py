"""Recorded passes of a rig, and the statistics a medium is calibrated against.

Recordings are two CSV files of equal rows: each row of x the drive sent, the same row of y what
the sensors read (the paper's `x_data.csv`, `y_data.csv`). `recording_statistics(x, y)` computes,
from any such pair (recorded or simulated), the numbers docs/media.md compares the rig and
`sim://acoustic` on; tests/test_acoustic_calibration.py holds them to stated tolerances.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

# An output is live when its mean is at least this share of the loudest output's mean: on the
# paper's rig the 12 live outputs read 0.074 to 0.83, the 8 quiet ones at most 0.005.
LIVE_SHARE = 0.02
# A drive entry matters when some live output's standardised linear coefficient on it is at
# least this share of that output's largest.
DRIVE_SHARE = 0.1
HELD_OUT = 0.2


def load_recordings(x_path: str | Path, y_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) as float64 arrays of the same rows. A first row that is all zeros in both files is
    a header row (the paper's code skips it): no rig reads exactly 0 on every sensor."""
    arrays = []
    for path in (Path(x_path), Path(y_path)):
        if not path.is_file():
            raise ValueError(f"recordings file {path} does not exist")
        try:
            arrays.append(np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2))
        except ValueError as exc:
            raise ValueError(f"recordings file {path} is not a CSV of numbers: {exc}") from None
    x, y = arrays
    if len(x) != len(y):
        raise ValueError(f"{x_path} has {len(x)} rows but {y_path} has {len(y)}; each drive needs its reading")
    if len(x) and not x[0].any() and not y[0].any():
        x, y = x[1:], y[1:]
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError(f"recordings {x_path}, {y_path} hold NaN or inf")
    return x, y


def held_out_split(rows: int) -> int:
    """Rows fitted on; the rest (the last HELD_OUT share, in recording order) are held out."""
    return rows - max(int(round(rows * HELD_OUT)), 1)


def linear_r2(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(held-out R^2 per output of an affine fit y ~ x, the fit's coefficients (drives + 1, outputs))."""
    fit = held_out_split(len(x))
    design = np.c_[x, np.ones(len(x))]
    coef, *_ = np.linalg.lstsq(design[:fit], y[:fit], rcond=None)
    residual = y[fit:] - design[fit:] @ coef
    return 1.0 - residual.var(axis=0) / y[fit:].var(axis=0), coef


def magnitude_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Held-out (prediction, residual) of y = |complex affine in x|: y^2 is then a quadratic form
    in x, fitted by least squares. What it leaves is noise (and whatever the rig does beyond)."""
    fit = held_out_split(len(x))
    i, j = np.triu_indices(x.shape[1])
    design = np.c_[np.ones(len(x)), x, x[:, i] * x[:, j]]
    coef, *_ = np.linalg.lstsq(design[:fit], y[:fit] ** 2, rcond=None)
    predicted = np.sqrt(np.clip(design[fit:] @ coef, 0.0, None))
    return predicted, y[fit:] - predicted


def recording_statistics(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The statistics of docs/media.md's calibration table, from drives x (N, A) and readings y (N, S)."""
    means = y.mean(axis=0)
    live = means >= LIVE_SHARE * means.max()
    r2, coef = linear_r2(x, y)
    weights = np.abs(coef[:-1][:, live]) * x.std(axis=0)[:, None]
    drives = int(np.sum(weights.max(axis=1) >= DRIVE_SHARE * weights.max(axis=0).max()))
    predicted, residual = magnitude_fit(x, y)
    noise = residual.std(axis=0) / means
    growth = []
    for k in np.flatnonzero(live):  # noise of the loudest fifth of readings over the quietest's
        low, high = np.quantile(predicted[:, k], [0.2, 0.8])
        growth.append(residual[predicted[:, k] >= high, k].std() / residual[predicted[:, k] <= low, k].std())
    quiet = means[~live]
    return {
        "drive_low": float(x.min()), "drive_high": float(x.max()),
        "live_outputs": int(live.sum()), "live_drives": drives,
        "quiet_level": float(np.median(quiet) / np.median(means[live])) if quiet.size else 0.0,
        "live_spread": float(np.median(y[:, live].std(axis=0) / means[live])),
        "level_range": float(means[live].max() / means[live].min()),
        "linear_r2_live": float(np.median(r2[live])), "linear_r2_all": float(np.median(r2)),
        "noise_live": float(np.median(noise[live])),
        "noise_growth": float(np.median(growth)),
    }


# name: (what it is, tolerance) -- docs/media.md's table; None: reported, not calibrated.
STATISTICS = {
    "drive_low": ("smallest drive entry", 0.01),
    "drive_high": ("largest drive entry", 0.01),
    "live_outputs": (f"outputs whose mean is >= {LIVE_SHARE:.0%} of the loudest's", 1),
    "live_drives": ("drive entries a live output's linear fit leans on", 1),
    "quiet_level": ("median quiet output mean / median live output mean", 0.004),
    "live_spread": ("median std / mean of a live output (uniform drives)", 0.12),
    "level_range": ("loudest / quietest live output mean", None),
    "linear_r2_live": ("held-out R^2 of a linear fit, median over live outputs", 0.03),
    "linear_r2_all": ("held-out R^2 of a linear fit, median over all outputs", 0.06),
    "noise_live": ("residual of a |complex affine| fit / output mean, median over live outputs", 0.01),
    "noise_growth": ("residual std of the loudest fifth / the quietest fifth (1: additive)", 0.3),
}
