"""Rig farms on labgrid: a local coordinator and exporter with two emulated rigs as places.

labgrid is an optional extra with its own pyserial fork, so these tests run where it is installed
(CI's labgrid venv, .ci/run) and skip, saying why, elsewhere. rfc2217 through pyserial is slow
(~0.1 MB/s): the runs here are short.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # hil/ is a folder of the checkout, not installed

from hil.local_farm import LocalFarm, missing_reason  # noqa: E402
from phyll.devices import open_device  # noqa: E402
from phyll.labgrid import LabgridError  # noqa: E402

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))

PLACES = {"phyll-rig-a": ["--medium", "acoustic", "--seed", "3", "latency=0.0005"],
          "phyll-rig-b": ["--medium", "acoustic", "--seed", "4", "latency=0.0005"]}
PHYLL = [sys.executable, "-c", "import sys; from phyll.cli import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def farm():
    with LocalFarm(PLACES) as running:
        yield running


@pytest.fixture
def lg_env(farm, monkeypatch):
    monkeypatch.setenv("LG_COORDINATOR", farm.coordinator)
    return {**os.environ, "LG_COORDINATOR": farm.coordinator}


def acquired_by(farm, place: str) -> str | None:
    shown = farm.client.call(place, "show")
    line = next(line for line in shown.splitlines() if line.strip().startswith("acquired:"))
    value = line.split(":", 1)[1].strip()
    return None if value == "None" else value


def test_a_place_is_acquired_opened_over_rfc2217_and_released(farm, lg_env):
    device = open_device("labgrid://phyll-rig-a#timeout=5")
    try:
        assert acquired_by(farm, "phyll-rig-a")
        described = device.describe()
        assert described["labgrid"]["place"] == "phyll-rig-a"
        assert described["labgrid"]["serial"].startswith("rfc2217://127.0.0.1:")
        assert described["link"]["transport"] == "chunked" and described["board"] == "unix"
        readings = device.forward(device.encoding.encode(
            __import__("numpy").random.default_rng(0).standard_normal((64, 20)).astype("float32")))
        assert readings.shape == (64, 20)
        with pytest.raises(LabgridError, match="already acquired"):
            open_device("labgrid://phyll-rig-a")
    finally:
        device.close()
    assert acquired_by(farm, "phyll-rig-a") is None


def test_a_failure_after_acquiring_releases_the_place(farm, lg_env):
    with pytest.raises(ValueError, match="retries"):
        open_device("labgrid://phyll-rig-b#retries=-1")  # refused once the place is held
    assert acquired_by(farm, "phyll-rig-b") is None
    with pytest.raises(LabgridError, match="nosuchplace"):
        open_device("labgrid://nosuchplace")


def test_sigterm_releases_the_place(farm, lg_env):
    child = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom phyll.devices import open_device\n"
                              "d = open_device('labgrid://phyll-rig-b'); print('open', flush=True); time.sleep(60)"],
                             stdout=subprocess.PIPE, text=True, env=lg_env)
    try:
        assert child.stdout.readline().strip() == "open"
        assert acquired_by(farm, "phyll-rig-b")
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == -signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert acquired_by(farm, "phyll-rig-b") is None


def test_phyll_hil_run_on_both_places_in_parallel(farm, lg_env, tmp_path):
    rigs = [str(REPO / "hil" / "rigs" / f"farm-acoustic-{x}.toml") for x in "ab"]
    started = time.monotonic()
    result = subprocess.run([*PHYLL, "hil", "run", "--rig", rigs[0], "--rig", rigs[1], "--report", str(tmp_path),
                             "--only", "conformance,timing,safety"],
                            cwd=REPO, env=lg_env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr + farm.log
    assert "2 of 2 rigs passed" in result.stdout
    for x in "ab":
        record = json.loads((tmp_path / f"farm-acoustic-{x}" / "record.json").read_text())
        assert record["outcome"] == "PASS" and record["device"]["labgrid"]["place"] == f"phyll-rig-{x}"
        skipped = [c for g in record["groups"] for c in g["checks"] if c["outcome"] == "SKIP"]
        assert skipped and all("reached over the network" in c["message"] for c in skipped)  # contract points
        assert 'name="device_url" value="labgrid://phyll-rig-' in (tmp_path / f"farm-acoustic-{x}" / "junit.xml").read_text()
    # both progress streams came through, interleaved: the rigs ran at the same time
    lines = result.stdout.splitlines()
    first = {x: next(i for i, line in enumerate(lines) if f"phyll-rig-{x}" in line and "[1/" in line) for x in "ab"}
    last = {x: max(i for i, line in enumerate(lines) if f"phyll-rig-{x}" in line and "safety.reset" in line) for x in "ab"}
    assert first["a"] < last["b"] and first["b"] < last["a"], result.stdout
    assert acquired_by(farm, "phyll-rig-a") is None and acquired_by(farm, "phyll-rig-b") is None
    print(f"phyll hil run on two places: {time.monotonic() - started:.1f} s")


def test_train_spreads_its_splits_over_two_places(farm, lg_env, tmp_path):
    result = subprocess.run([*PHYLL, "train", "--dataset", "builtin:iris", "--device", "labgrid://phyll-rig-a,phyll-rig-b",
                             "--splits", "4", "--epochs", "2", "--layers", "1", "--controls", "off", "--out", str(tmp_path)],
                            cwd=REPO, env=lg_env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr + farm.log
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["status"] == "completed" and [s["seed"] for s in summary["splits"]] == [0, 1, 2, 3]
    assert summary["places"] == {"0": "phyll-rig-a", "1": "phyll-rig-a", "2": "phyll-rig-b", "3": "phyll-rig-b"}
    assert set(summary["devices"]) == {"phyll-rig-a", "phyll-rig-b"}
    for seed in range(4):
        split = json.loads((tmp_path / f"split-{seed:02d}" / "metrics.json").read_text())
        assert split["seed"] == seed and (tmp_path / f"split-{seed:02d}" / "checkpoint.npz").is_file()
    assert "seeds 0..1 on labgrid place phyll-rig-a" in result.stderr
    assert "seeds 2..3 on labgrid place phyll-rig-b" in result.stderr
    assert acquired_by(farm, "phyll-rig-a") is None and acquired_by(farm, "phyll-rig-b") is None
