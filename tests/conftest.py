"""Shared fixtures: the paper's vowel data where it is present, small synthetic data everywhere."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
VOWELS = REPO.parent / "shared" / "data" / "phyll-vowels" / "vowels.csv"


@pytest.fixture
def vowels_csv() -> Path:
    if not VOWELS.is_file():
        pytest.skip(f"the PhyLL vowel data is not at {VOWELS} (it lives in ../shared beside the checkout)")
    return VOWELS


@pytest.fixture
def blobs_csv(tmp_path) -> Path:
    """Three well separated classes, 4 features, with a text id column that must be ignored."""
    rng = np.random.default_rng(7)
    centres = np.array([[2, 0, 0, 1], [0, 2, 0, -1], [0, 0, 2, 0]], dtype=float)
    lines = ["id,f1,f2,f3,f4,kind"]
    for i in range(60):
        cls = i % 3
        x = centres[cls] + 0.3 * rng.standard_normal(4)
        lines.append(f"s{i}," + ",".join(f"{v:.4f}" for v in x) + f",{'abc'[cls]}")
    path = tmp_path / "blobs.csv"
    path.write_text("\n".join(lines) + "\n")
    return path
