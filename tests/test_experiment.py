import json

import numpy as np
import pytest

from phyll.cli import main
from phyll.devices import open_device
from phyll.experiments.perturbation import PerturbationPlan, recovery_epochs
from phyll.experiments.twin import DigitalTwin, probe_actuations


def test_twin_learns_the_medium_and_goes_stale_when_it_changes():
    device = open_device("sim://acoustic?seed=4&ideal=true")
    rng = np.random.default_rng(0)
    probes = probe_actuations(device, 2000, rng)
    assert probes.shape == (2000, 20) and np.allclose(np.linalg.norm(probes, axis=1), 1, atol=1e-5)
    linear = DigitalTwin(probes, device.forward(probes), "linear")
    twin = DigitalTwin(probes, device.forward(probes), "mlp")
    # signed drives (a tone's sign is its phase) make |Hx + b| nearly even in x: no linear model
    # captures it, a small MLP does, though not perfectly
    assert linear.r2 < 0.5 < 0.8 < twin.r2 < 0.999
    fresh = probe_actuations(device, 500, rng)
    error_before = np.mean((twin.forward(fresh) - device.forward(fresh)) ** 2)
    device.medium.perturb("redraw", 1.0)
    error_after = np.mean((twin.forward(fresh) - device.forward(fresh)) ** 2)
    assert error_after > 3 * error_before


def test_a_linear_twin_explains_the_rig_model_as_it_does_the_rig():
    """Drives in [0, 1] keep |Hx + b| away from 0: nearly linear, like the paper's rig (R^2 0.96)."""
    device = open_device("sim://acoustic?seed=4")
    probes = probe_actuations(device, 2000, np.random.default_rng(0))
    assert probes.min() == 0.0 and probes.max() == 1.0
    assert DigitalTwin(probes, device.forward(probes), "linear").r2 > 0.9


def test_perturbation_experiment_writes_json_and_plot(tmp_path, capsys):
    out = tmp_path / "exp"
    code = main(["experiment", "perturbation", "--dataset", "builtin:iris", "--epochs", "12",
                 "--perturb-epoch", "6", "--recover-epochs", "6", "--window", "3", "--twin", "linear",
                 "--twin-passes", "500", "--lr", "5e-3", "--perturb-size", "1.0", "--seeds", "2",
                 "--out", str(out)])
    assert code == 0
    result = json.loads((out / "perturbation.json").read_text())
    assert result["seeds"] == [0, 1] and result["plan"]["kind"] == "redraw"
    for arm in ("physics", "control"):
        assert len(result[arm]["curve"]) == 12 and len(result["per_seed"][arm]) == 2
        for key in ("before", "right_after", "after", "twin_before", "twin_after"):
            found = result[arm][key]
            assert 0 <= found["low"] <= found["mean"] <= found["high"] or found["low"] < 0 <= found["mean"]
            assert found["mean"] == pytest.approx(np.mean([s[key] for s in result["per_seed"][arm]]))
    # a redraw has nothing to act on in a constant medium: its deployed twin scores as before
    for run in result["per_seed"]["control"]:
        assert run["twin_after"] == run["twin_before"]
    assert result["medium"]["perturbations"][0]["kind"] == "redraw"
    assert (out / "perturbation.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "physics: before" in printed and "constant medium (control): before" in printed


def test_recovery_counts_epochs_after_the_perturbation():
    plan = PerturbationPlan(perturb_epoch=5, recover_epochs=5, window=2)
    flat = [90.0] * 10
    assert recovery_epochs(flat, 90.0, 90.0, plan) == 0  # never dropped: nothing to recover from
    dip = [90.0] * 5 + [70.0, 85.0, 90.0, 90.0, 90.0]
    assert recovery_epochs(dip, 90.0, 70.0, plan) == 4  # the last 2 epochs average 87.5 after 3, 90 after 4
    assert recovery_epochs([90.0] * 5 + [70.0] * 5, 90.0, 70.0, plan) is None


def test_experiment_refuses_a_medium_it_cannot_perturb(tmp_path, capsys):
    code = main(["experiment", "perturbation", "--dataset", "builtin:iris", "--perturb-kind", "melt",
                 "--epochs", "10", "--perturb-epoch", "5", "--recover-epochs", "5", "--window", "2",
                 "--twin", "linear", "--twin-passes", "200", "--out", str(tmp_path)])
    assert code == 2
    assert "no perturbation 'melt'" in capsys.readouterr().err
