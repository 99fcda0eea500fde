"""Controls on every run (constant and noise media, logistic regression, the physics' contribution),
layers without the digital skip, and placing values on the actuators the physics hears."""
from __future__ import annotations

import json

import numpy as np
import pytest

from phyll.baseline import LogisticRegression
from phyll.cli import main
from phyll.data import load_csv
from phyll.devices import open_device
from phyll.devices.local import LocalDevice
from phyll.media import Medium
from phyll.media.controls import (ConstantMedium, NoiseMedium, SensorStatistics, StatisticsTap,
                                  probe_statistics)
from phyll.network import Network, TrainConfig
from phyll.physical import ActuatorEncoding
from phyll.placement import measure_placement, sensitive_placement, slot_sensitivity
from phyll.training import SplitRun

QUIET = "sim://acoustic?seed=1&noise=0&noise_floor=0"


def recorded(rows: int = 300, seed: int = 0) -> tuple[np.ndarray, SensorStatistics]:
    readings = np.random.default_rng(seed).gamma(2.0, 0.3, (rows, 5)) * np.arange(1, 6)
    statistics = SensorStatistics.empty(5)
    for block in np.array_split(readings, 7):  # in uneven batches, as training measures
        statistics.add(block)
    return readings, statistics


def test_statistics_merged_batch_by_batch_equal_the_whole():
    readings, statistics = recorded()
    assert statistics.count == 300
    np.testing.assert_allclose(statistics.mean, readings.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(statistics.std, readings.std(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(statistics.low, readings.min(axis=0))
    again = SensorStatistics.from_dict(json.loads(json.dumps(statistics.to_dict())))
    np.testing.assert_allclose(again.std, statistics.std, rtol=1e-12)


def test_constant_and_noise_media_ignore_their_input_and_keep_the_statistics():
    readings, statistics = recorded()
    encoding = ActuatorEncoding("minmax", 0.0, 1.0)
    drives = np.random.default_rng(1).uniform(0, 1, (4000, 8)).astype(np.float32)
    constant = ConstantMedium(8, encoding, statistics).forward(drives)
    np.testing.assert_allclose(constant, np.tile(readings.mean(axis=0), (4000, 1)), rtol=1e-6)
    noise = NoiseMedium(8, encoding, statistics, seed=3)
    first = noise.forward(drives)
    assert first.shape == (4000, 5) and np.all(first >= statistics.low - 1e-6)
    np.testing.assert_allclose(first.mean(axis=0), readings.mean(axis=0), rtol=0.05)
    np.testing.assert_allclose(first.std(axis=0), readings.std(axis=0), rtol=0.1)
    # the same drive twice reads differently; the same seed repeats the stream
    assert not np.array_equal(noise.forward(drives[:1]), noise.forward(drives[:1]))
    np.testing.assert_array_equal(NoiseMedium(8, encoding, statistics, seed=3).forward(drives), first)
    with pytest.raises(ValueError, match="needs the physics' readings first"):
        ConstantMedium(8, encoding, SensorStatistics.empty(5))


def test_tap_records_what_the_physics_read():
    device = open_device(QUIET)
    tap = StatisticsTap(device)
    drives = np.random.default_rng(0).uniform(0, 1, (64, 20)).astype(np.float32)
    readings = tap.forward(drives)
    np.testing.assert_allclose(tap.statistics.mean, readings.mean(axis=0), rtol=1e-6)
    probed = probe_statistics(device, passes=128)
    assert probed.count == 128 and np.all(probed.mean > 0)


def test_the_constant_control_scores_with_the_skip_and_cannot_without_it(blobs_csv):
    """With the skip a constant medium is a plain linear classifier on blobs; without it, W only
    sees the measurement, which is the same for every candidate label: chance at best."""
    data = load_csv(blobs_csv, "kind")
    found = {}
    for skip in (True, False):
        run = SplitRun(data, open_device(QUIET), TrainConfig(epochs=30, lr=5e-3, eval_every=0, skip=skip), 0)
        run.fit()
        found[skip] = {**run.controls(), "physics": run.results()}
    assert found[True]["constant"]["test_accuracy"] >= 90.0
    assert found[False]["constant"]["test_accuracy"] <= 100 / 3 + 1e-9
    assert found[False]["physics"]["test_accuracy"] >= 80.0  # the physics carries it alone
    for controls in found.values():
        assert controls["logistic_regression"]["test_accuracy"] >= 90.0
        assert controls["logistic_regression"]["parameters"] == 3 * (4 + 1)


def test_the_logistic_regression_is_scikit_learns():
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression as Reference

    x, y = load_wine(return_X_y=True)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    ours, theirs = LogisticRegression(3).fit(x[::2], y[::2]), Reference(max_iter=2000).fit(x[::2], y[::2])

    def objective(coef, intercept):  # scikit-learn's at C = 1
        scores = x[::2] @ coef.T + intercept
        top = scores.max(axis=1)
        log_norm = top + np.log(np.exp(scores - top[:, None]).sum(axis=1))
        return np.sum(log_norm - scores[np.arange(len(scores)), y[::2]]) + 0.5 * np.sum(coef**2)

    assert objective(ours.coef, ours.intercept) <= objective(theirs.coef_, theirs.intercept_) + 1e-6
    np.testing.assert_allclose(ours.coef, theirs.coef_, atol=5e-3)  # scikit-learn stops at tol 1e-4
    np.testing.assert_allclose(ours.intercept, theirs.intercept_, atol=5e-3)
    assert np.array_equal(ours.predict(x[1::2]), theirs.predict(x[1::2]))
    assert ours.parameters == 3 * 14


def test_a_layer_without_the_skip_sees_only_the_measurement():
    device = open_device(QUIET)
    network = Network(device, 3, 4, TrainConfig(layers=2, skip=False))
    assert [layer.W.shape for layer in network.layers] == [(20, 20)] * 2
    layer = network.layers[0]
    h = np.random.default_rng(0).standard_normal((5, 20)).astype(np.float32)
    measured = np.random.default_rng(1).uniform(0, 1, (5, 20)).astype(np.float32)
    np.testing.assert_allclose(layer.output(measured, h), measured @ layer.W.T + layer.b, rtol=1e-5)
    np.testing.assert_array_equal(layer.output(measured, h), layer.output(measured, 2 * h))


class HalfDeaf(Medium):
    """Hears actuators 4..7 only: readings are a fixed mix of them."""

    name = "half-deaf"

    def __init__(self) -> None:
        self.n_actuators, self.n_sensors = 8, 6
        self.encoding = ActuatorEncoding("minmax", 0.0, 1.0)
        self.mix = np.random.default_rng(0).uniform(0.5, 1.5, (4, 6)).astype(np.float32)

    def forward(self, actuation):
        return actuation[:, 4:] @ self.mix


def test_sensitive_placement_puts_the_first_values_on_the_heard_actuators():
    device = LocalDevice(HalfDeaf())
    sensitivity = slot_sensitivity(device)
    assert sensitivity[4:].min() > 100 * sensitivity[:4].max()
    placement = sensitive_placement(sensitivity)
    assert sorted(placement[4:]) == [0, 1, 2, 3] and sorted(placement[:4]) == [4, 5, 6, 7]
    kind_in_order, info = measure_placement("in-order", device)
    assert kind_in_order is None and info == {"kind": "in-order"}
    with pytest.raises(ValueError, match="unknown placement 'best'"):
        measure_placement("best", device)


def test_a_placed_network_drives_each_slot_with_its_value():
    device = LocalDevice(HalfDeaf())
    sent = []
    device.forward = lambda actuation: (sent.append(actuation.copy()), np.ones((len(actuation), 6), np.float32))[1]
    placement = np.array([4, 5, 6, 7, 0, 1, 2, 3])
    network = Network(device, 2, 3, TrainConfig(layers=1), placement=placement)
    h = network.embed(np.array([[0.1, 0.2, 0.3]], np.float32))
    network.layers[0].measure(h, np.array([1]))
    # h = [0, label 0.3 (the batch's largest |x|), 0.1, 0.2, 0.3, 0, 0, 0]: the label entries and
    # the first two features drive slots 4..7, the heard ones; min-max scaled by 0.3
    assert sent[0][0].tolist() == pytest.approx([1, 0, 0, 0, 0, 1, 1 / 3, 2 / 3], abs=1e-6)
    with pytest.raises(ValueError, match="a permutation of 0..7"):
        Network(device, 2, 3, TrainConfig(layers=1), placement=np.array([0, 0, 1, 2, 3, 4, 5, 6]))


def test_train_reports_controls_and_the_physics_contribution(blobs_csv, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--dataset", str(blobs_csv), "--label-column", "kind", "--device", QUIET,
                 "--epochs", "6", "--eval-every", "3", "--splits", "2", "--no-skip",
                 "--placement", "sensitive", "--out", str(out), "--quiet"])
    assert code == 0
    line = capsys.readouterr().out
    assert "controls: constant medium" in line and "physics contribution" in line
    summary = json.loads((out / "metrics.json").read_text())
    assert set(summary["controls"]) == {"constant", "noise", "logistic_regression"}
    per_split = [s["test_accuracy"] - s["controls"]["constant"]["test_accuracy"] for s in summary["splits"]]
    assert summary["physics_contribution"]["per_split"] == pytest.approx(per_split)
    assert summary["physics_contribution"]["mean"] == pytest.approx(np.mean(per_split))
    assert summary["config"]["skip"] is False and summary["config"]["placement"]["kind"] == "sensitive"
    split = json.loads((out / "split-00" / "metrics.json").read_text())
    assert [e["epoch"] for e in split["controls"]["noise"]["evaluations"]] == [3, 6]
    # the checkpoint keeps the placement and the statistics the controls were built from
    from phyll.checkpoint import load
    _, meta = load(out / "split-00" / "checkpoint.npz")
    assert meta["sensor_statistics"]["count"] == summary["physical_passes"]["train"] // 2 + \
        meta["passes"]["eval"] and sorted(meta["placement"]) == list(range(20))


def test_controls_off_and_auto_for_a_large_run(blobs_csv, tmp_path, monkeypatch):
    from phyll.cli import train_cmd

    for flags, wanted in ((["--controls", "off"], False), ([], False), (["--controls", "on"], True)):
        monkeypatch.setattr(train_cmd, "CONTROLS_AUTO_LIMIT", 100)  # 48 rows x 2 epochs x 2 layers > 100
        out = tmp_path / f"run{len(flags)}{wanted}"
        assert main(["train", "--dataset", str(blobs_csv), "--label-column", "kind", "--device", QUIET,
                     "--epochs", "2", "--out", str(out), "--quiet", *flags]) == 0
        assert ("controls" in json.loads((out / "metrics.json").read_text())) is wanted


def test_eval_reruns_the_controls_of_a_checkpoint(blobs_csv, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(blobs_csv), "--label-column", "kind", "--device", QUIET,
                 "--epochs", "8", "--eval-every", "0", "--out", str(out), "--quiet"]) == 0
    trained = json.loads((out / "split-00" / "metrics.json").read_text())
    capsys.readouterr()
    assert main(["eval", str(out / "split-00" / "checkpoint.npz"), "--controls",
                 "--json-out", str(tmp_path / "eval.json")]) == 0
    evaluated = json.loads((tmp_path / "eval.json").read_text())
    assert "physics contribution" in capsys.readouterr().out
    for name in ("constant", "noise", "logistic_regression"):  # same split, seed, statistics: same controls
        assert evaluated["controls"][name]["test_accuracy"] == trained["controls"][name]["test_accuracy"]
    assert evaluated["physics_contribution"] == pytest.approx(
        evaluated["test_accuracy"] - evaluated["controls"]["constant"]["test_accuracy"])
