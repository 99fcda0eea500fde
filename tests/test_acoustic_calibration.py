"""sim://acoustic against the paper's recorded cavity, statistic by statistic (docs/media.md).

The recordings live in ../shared/data/phyll-acoustic (10,000 drives and readings); where they are
missing the comparison is skipped, saying where they were looked for. The statistics themselves
are tested on media whose answer is known, so a broken statistic cannot pass the comparison.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from phyll.media import load_medium
from phyll.media.calibration import STATISTICS, load_recordings, recording_statistics

RECORDINGS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "phyll-acoustic"
SEEDS = range(5)


def simulated_statistics(rows: int = 10000, **options) -> list[dict]:
    """Each seed's medium driven like the rig: entries uniform in [0, 1] (scaled to unit norm on
    average for a medium whose drives have unit norm)."""
    found = []
    for seed in SEEDS:
        medium = load_medium("acoustic", seed=seed, **options)
        x = np.random.default_rng([seed, 7]).uniform(0, 1, (rows, medium.n_actuators)).astype(np.float32)
        if medium.encoding.encoder == "l2":
            x /= np.sqrt(medium.n_actuators / 3)
        found.append(recording_statistics(x.astype(np.float64), medium.forward(x).astype(np.float64)))
    return found


@pytest.fixture(scope="module")
def recorded():
    if not (RECORDINGS / "x_data.csv").is_file():
        pytest.skip(f"the paper's acoustic recordings are not at {RECORDINGS} (x_data.csv, y_data.csv "
                    "live in the shared data folder beside the checkout)")
    return recording_statistics(*load_recordings(RECORDINGS / "x_data.csv", RECORDINGS / "y_data.csv"))


@pytest.fixture(scope="module")
def simulated():
    return simulated_statistics()


CALIBRATED = [name for name, (_, tolerance) in STATISTICS.items() if tolerance is not None]


@pytest.mark.parametrize("name", CALIBRATED)
def test_default_medium_matches_the_recorded_rig(name, recorded, simulated):
    tolerance = STATISTICS[name][1]
    median = float(np.median([found[name] for found in simulated]))
    assert abs(median - recorded[name]) <= tolerance, (
        f"{name} ({STATISTICS[name][0]}): rig {recorded[name]:.4g}, sim://acoustic seeds 0-4 "
        f"median {median:.4g}, tolerance {tolerance}")


def test_the_idealised_cavity_is_not_the_rig(recorded):
    """The comparison tells media apart: the idealised cavity misses the rig where it should."""
    ideal = simulated_statistics(rows=4000, ideal=True)
    median = {name: float(np.median([found[name] for found in ideal])) for name in STATISTICS}
    assert median["live_outputs"] == 20 and recorded["live_outputs"] == 12
    assert median["noise_growth"] - recorded["noise_growth"] > STATISTICS["noise_growth"][1]  # multiplicative


def test_statistics_of_a_known_medium():
    """An exactly |affine| response: 2 live outputs (means 0.85 and 0.8) with additive noise of 2 %
    of their mean, and a quiet one (mean 0.0025); drive 2 is never heard."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (6000, 4))
    gains = np.array([[1.0, 0.5, 0.001], [0.2, 1.0, 0.0], [0.0, 0.0, 0.0], [0.1, -0.3, 0.002]])
    field = x @ gains + np.array([0.2, 0.2, 0.001])
    y = np.abs(field) + 0.02 * rng.standard_normal(field.shape) * np.array([0.85, 0.8, 0.0])
    found = recording_statistics(x, y)
    assert (found["live_outputs"], found["live_drives"]) == (2, 3)
    assert found["quiet_level"] == pytest.approx(0.0025 / 0.825, rel=0.05)
    assert found["noise_live"] == pytest.approx(0.02, rel=0.1)
    assert found["noise_growth"] == pytest.approx(1.0, abs=0.15)
    assert found["linear_r2_live"] > 0.9


def test_recordings_skip_a_zero_header_row_and_name_a_bad_file(tmp_path):
    (tmp_path / "x.csv").write_text("0,0\n0.5,0.25\n1,0\n")
    (tmp_path / "y.csv").write_text("0\n0.3\n0.9\n")
    x, y = load_recordings(tmp_path / "x.csv", tmp_path / "y.csv")
    assert x.shape == (2, 2) and y[:, 0].tolist() == [0.3, 0.9]
    (tmp_path / "bad.csv").write_text("0.1\nabc\n0.3\n")
    with pytest.raises(ValueError, match="bad.csv is not a CSV of numbers"):
        load_recordings(tmp_path / "x.csv", tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="has 3 rows but .* has 2"):
        (tmp_path / "short.csv").write_text("0.1\n0.2\n")
        load_recordings(tmp_path / "x.csv", tmp_path / "short.csv")
