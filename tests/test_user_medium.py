"""A lab's own medium, defined right here, trains through both sim:// and emu:// unchanged."""
import json

import numpy as np
import pytest

from phyll.cli import main
from phyll.media import Medium
from phyll.physical import ActuatorEncoding


class SpeckleBox(Medium):
    """A toy rig: intensities of a fixed random complex mixing of 12 drive amplitudes."""

    name = "speckle-box"

    def __init__(self, seed: int = 0, outputs: int = 10) -> None:
        rng = np.random.default_rng(seed)
        self.n_actuators, self.n_sensors = 12, outputs
        self.encoding = ActuatorEncoding("l2", -1.0, 1.0)
        self.sensor_full_scale = 4.0
        self.mixing = (rng.standard_normal((12, outputs)) + 1j * rng.standard_normal((12, outputs))) / 4

    def forward(self, actuation):
        return (np.abs(actuation @ self.mixing) ** 2).astype(np.float32)


@pytest.mark.parametrize("scheme", ["sim", "emu"])
def test_user_medium_trains_through_sim_and_emu(scheme, blobs_csv, tmp_path, capsys):
    summary = tmp_path / "summary.json"
    code = main(["train", "--dataset", str(blobs_csv), "--label-column", "kind",
                 "--device", f"{scheme}://{__name__}:SpeckleBox?seed=4", "--epochs", "30",
                 "--lr", "3e-3", "--quiet", "--json-out", str(summary)])
    assert code == 0, capsys.readouterr().err
    result = json.loads(summary.read_text())
    assert result["device"]["medium"] == "speckle-box"
    assert result["test_accuracy"] >= 80.0
    if scheme == "emu":
        assert result["device"]["runtime"] in ("micropython", "cpython")
