"""No forward carries more than network.FORWARD_VECTORS vectors: a large dataset is trained and
measured in blocks, so host memory grows with the batch, not with the data."""
import numpy as np
import pytest

from phyll import network
from phyll.data import load_csv
from phyll.devices import open_device
from phyll.network import TrainConfig
from phyll.training import SplitRun

QUIET_ACOUSTIC = "sim://acoustic?seed=1&noise=0&noise_floor=0"


class Recording:
    """A PhysicalTransform that passes everything on and remembers each forward's batch size."""

    def __init__(self, device) -> None:
        self.device = device
        self.n_actuators, self.n_sensors, self.encoding = device.n_actuators, device.n_sensors, device.encoding
        self.batches: list[int] = []

    def forward(self, actuation):
        self.batches.append(len(actuation))
        return self.device.forward(actuation)

    def describe(self):
        return self.device.describe()

    def close(self):
        self.device.close()


@pytest.fixture
def budget_of_40(monkeypatch):
    monkeypatch.setattr(network, "FORWARD_VECTORS", 40)


def test_training_and_evaluation_go_in_blocks_within_the_budget(blobs_csv, budget_of_40):
    data = load_csv(blobs_csv, "kind")  # 48 training rows, 12 test rows, 3 classes
    device = Recording(open_device(QUIET_ACOUSTIC))
    run = SplitRun(data, device, TrainConfig(epochs=30, lr=5e-3, eval_every=0), split_seed=0)
    assert run.network.batch_rows(48) == 20  # positive and negative passes of 20 rows: 40 vectors
    run.fit()
    assert max(device.batches) <= 40
    # 48 rows per epoch in 3 batches (20, 20, 8), 2 layers each; then the evaluation of 60 rows in
    # blocks of 13 rows (39 candidate vectors).
    assert device.batches[:6] == [40, 40, 40, 40, 16, 16]
    assert run.network.passes["train"] == 30 * 2 * 2 * 48
    assert run.results()["test_accuracy"] >= 90.0


def test_evaluation_blocks_are_the_same_in_training_and_after(blobs_csv, budget_of_40):
    data = load_csv(blobs_csv, "kind")
    run = SplitRun(data, open_device(QUIET_ACOUSTIC), TrainConfig(epochs=10, lr=5e-3, eval_every=0), 0)
    run.fit()
    features, _ = run.part("train")
    # Blocks of 13 rows, each one batch with its own label value: as if measured block by block.
    scores = run.network.goodness(features)
    by_hand = np.concatenate([run.network.goodness(features[i:i + 13]) for i in range(0, 48, 13)])
    assert np.array_equal(scores, by_hand)
    assert np.array_equal(run.network.predict_by_depth(features), run.network.latest["train"][1])
    assert np.array_equal(np.cumsum(scores, axis=1).argmax(axis=2), run.network.latest["train"][1])


def test_a_capped_full_batch_resumes_bit_for_bit(blobs_csv, tmp_path, budget_of_40):
    data = load_csv(blobs_csv, "kind")
    config = TrainConfig(epochs=8, eval_every=4, lr=2e-3)
    straight = SplitRun(data, open_device(QUIET_ACOUSTIC), config, split_seed=3)
    straight.fit()
    first = SplitRun(data, open_device(QUIET_ACOUSTIC), config, split_seed=3)
    first.fit(epochs=5)
    resumed = SplitRun.resume(first.save(tmp_path / "ckpt.npz"), open_device(QUIET_ACOUSTIC))
    resumed.fit()
    for a, b in zip(straight.network.layers, resumed.network.layers):
        assert np.array_equal(a.W, b.W)
    assert straight.network.history.evaluations == resumed.network.history.evaluations
