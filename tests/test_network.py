import json

import numpy as np
import pytest

from phyll.data import load_csv
from phyll.devices import open_device
from phyll.devices.local import LocalDevice
from phyll.media.acoustic import AcousticCavity
from phyll.network import Network, TrainConfig
from phyll.physical import PhysicalError
from phyll.training import SplitRun, TrainingInterrupted


def quiet_device():
    return open_device("sim://acoustic?noise=0&noise_floor=0&seed=1")


def test_layer_widths_follow_the_medium(blobs_csv):
    data = load_csv(blobs_csv, "kind")
    net = Network(quiet_device(), data.n_classes, 4, TrainConfig(layers=3))
    assert [layer.W.shape for layer in net.layers] == [(20, 40)] * 3
    h = net.embed(data.features)
    assert h.shape == (60, 20) and np.all(h[:, :3] == 0) and np.allclose(h[:, 3:7], data.features)


def test_too_wide_data_is_refused_before_training():
    with pytest.raises(ValueError, match="18 features \\+ 3 label entries = 21 input values"):
        Network(quiet_device(), 3, 18)


def test_training_learns_and_counts_passes(blobs_csv):
    data = load_csv(blobs_csv, "kind")
    run = SplitRun(data, quiet_device(), TrainConfig(epochs=30, lr=5e-3, eval_every=0), split_seed=0)
    run.fit()
    result = run.results()
    assert result["test_accuracy"] >= 90.0
    n_train, n_test = len(run.train_rows), len(run.test_rows)
    assert run.network.passes["train"] == 30 * 2 * 2 * n_train  # epochs x (pos+neg) x layers x rows
    # one evaluation at the last epoch (C labels x layers per row), reused by results()
    assert run.network.passes["eval"] == 3 * 2 * (n_train + n_test)


def _train(run, epochs):
    run.fit(epochs=epochs)
    return run


def test_resume_equals_uninterrupted_bit_for_bit(blobs_csv, tmp_path):
    data = load_csv(blobs_csv, "kind")
    config = TrainConfig(epochs=12, eval_every=4, lr=2e-3)
    straight = _train(SplitRun(data, quiet_device(), config, split_seed=5), 12)

    first = _train(SplitRun(data, quiet_device(), config, split_seed=5), 7)
    path = first.save(tmp_path / "ckpt.npz")
    resumed = SplitRun.resume(path, quiet_device())
    assert resumed.network.epoch == 7
    resumed.fit()

    for a, b in zip(straight.network.layers, resumed.network.layers):
        assert np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b)
        assert np.array_equal(a.adam.m_W, b.adam.m_W) and np.array_equal(a.adam.v_b, b.adam.v_b)
    assert straight.network.history.loss == resumed.network.history.loss
    assert straight.network.history.evaluations == resumed.network.history.evaluations
    assert straight.network.passes == resumed.network.passes


class FailingCavity(AcousticCavity):
    """Works for `budget` vectors, then the 'rig' disappears."""

    def __init__(self, budget: int) -> None:
        super().__init__(noise=0.0, noise_floor=0.0, seed=1)
        self.budget = budget

    def forward(self, actuation):
        self.budget -= len(actuation)
        if self.budget < 0:
            raise OSError("USB device vanished")
        return super().forward(actuation)


def test_physics_failure_saves_a_resumable_checkpoint(blobs_csv, tmp_path):
    data = load_csv(blobs_csv, "kind")
    config = TrainConfig(epochs=10, eval_every=0)
    n_train = 48
    budget = 3 * 2 * 2 * n_train + n_train  # dies inside epoch 4
    run = SplitRun(data, LocalDevice(FailingCavity(budget)), config, split_seed=2)
    with pytest.raises(TrainingInterrupted, match="epoch 3 .*USB device vanished") as info:
        run.fit(out_dir=tmp_path)
    saved = info.value.checkpoint_path
    assert saved.is_file()

    reference = SplitRun(data, quiet_device(), config, split_seed=2)
    reference.fit(epochs=3)
    resumed = SplitRun.resume(saved, quiet_device())
    assert resumed.network.epoch == 3
    for a, b in zip(reference.network.layers, resumed.network.layers):
        assert np.array_equal(a.W, b.W)
    meta = json.loads(str(np.load(saved)["__meta__"]))
    assert meta["dataset"]["label_column"] == "kind"


def test_medium_faults_are_named():
    class Broken(AcousticCavity):
        name = "broken-box"

        def forward(self, actuation):
            return np.full((len(actuation), 3), np.nan)

    with pytest.raises(PhysicalError, match="broken-box.*shape"):
        LocalDevice(Broken()).forward(np.zeros((2, 20), np.float32))
