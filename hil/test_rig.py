"""What every rig must do, whatever its physics: the same checks for sim://, emu:// and boards."""
from __future__ import annotations

import numpy as np

from phyll.data import load_builtin, stratified_split, Standardizer
from phyll.experiments.twin import probe_actuations
from phyll.network import Network, TrainConfig


def test_device_matches_its_rig_description(rig, device):
    for key in ("n_actuators", "n_sensors"):
        if key in rig.expect:
            assert getattr(device, key) == rig.expect[key], f"{rig.name}: {key}"
    if "encoder" in rig.expect:
        assert device.encoding.encoder == rig.expect["encoder"]
    assert isinstance(device.describe(), dict)


def test_measurements_have_the_right_shape_and_are_finite(device):
    actuation = probe_actuations(device, 33, np.random.default_rng(0))
    measured = device.forward(actuation)
    assert measured.shape == (33, device.n_sensors)
    assert measured.dtype == np.float32 and np.all(np.isfinite(measured))


def test_same_actuation_measures_the_same_within_noise(rig, device):
    actuation = probe_actuations(device, 64, np.random.default_rng(1))
    first, second = device.forward(actuation), device.forward(actuation)
    scale = np.mean(np.abs(first)) + 1e-12
    assert np.mean(np.abs(first - second)) / scale <= rig.limits["repeat_noise"]


def test_physics_responds_to_actuation(device):
    actuation = probe_actuations(device, 64, np.random.default_rng(2))
    repeat = np.mean(np.abs(device.forward(actuation) - device.forward(actuation)))
    spread = np.mean(np.std(device.forward(actuation), axis=0))
    assert spread > 2 * repeat / np.sqrt(2), "readings do not depend on the actuation"


def test_a_short_phyll_run_learns(rig, device):
    data = load_builtin("iris")
    train, test = stratified_split(data.labels, 0.3, seed=0)
    scaler = Standardizer.fit(data.features[train])
    net = Network(device, data.n_classes, data.features.shape[1],
                  TrainConfig(layers=1, epochs=rig.limits["train_epochs"], lr=5e-3, eval_every=0))
    net.fit(scaler.transform(data.features[train]), data.labels[train])
    accuracy = net.evaluate(scaler.transform(data.features[test]), data.labels[test])[-1]
    assert accuracy >= rig.limits["min_accuracy"], f"{rig.name}: {accuracy:.1f} % after a short run"
