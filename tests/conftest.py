"""Shared fixtures: the paper's vowel data where it is present, small synthetic data everywhere,
and the C++ firmware's host build."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
VOWELS = REPO.parent / "shared" / "data" / "phyll-vowels" / "vowels.csv"
CPP_BUILD_SCRIPT = REPO / "firmware" / "cpp" / "test" / "build.py"


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


@pytest.fixture(scope="session")
def cpp_build(tmp_path_factory) -> Path:
    """firmware/cpp/test/build.py run once per session: its folder holds phyll_cpp_tests (the
    C++ harness) and phyll-cpp-host, under the sanitizers where the compiler has them. Skips,
    naming what is missing, only when there is no C++ compiler."""
    compiler = os.environ.get("CXX", "g++")
    if shutil.which(compiler) is None:
        pytest.skip(f"the C++ firmware checks need a C++ compiler ({compiler!r} is not on PATH)")
    out = tmp_path_factory.mktemp("firmware-cpp")
    result = subprocess.run([sys.executable, str(CPP_BUILD_SCRIPT), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    assert result.returncode == 0, f"firmware/cpp/test/build.py failed:\n{result.stdout[-6000:]}"
    return out
