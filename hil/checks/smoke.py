"""Smoke: a short PhyLL run end to end, which must beat its own constant-medium control.

The run trains through the rig a network whose layers see the data only through the physics:
each layer's output is W P(h) + b, without the digital skip of h that phyll's default layer adds
(W [P(h), h] + b). With the skip, the digital part alone classifies easy data, so a rig whose
physics does nothing would pass (issue 15 measured a constant medium at the physics' accuracy on
the vowels). The control trains the same network, same split and seed, through a constant medium
of the rig's shape that always returns the rig's mean reading: whatever it learns, the physics
did not give it. The rig passes when it beats the control by envelope.smoke_margin points (and
reaches envelope.smoke_min_accuracy, if set).
"""
from __future__ import annotations

import numpy as np

from phyll.data import Standardizer, load_dataset, stratified_split
from phyll.experiments.twin import probe_actuations
from phyll.network import Network, PhysicalLayer, TrainConfig

from ..record import CheckContext, CheckFailed
from ..session import RigSession
from . import Check

GROUP = "smoke"
_TEST_FRACTION = 0.3
_LR = 5e-3
_LAYERS = 2


class PhysicsOnlyLayer(PhysicalLayer):
    """A PhysicalLayer without the skip: the h handed to W is zero, so z = W P(h) + b and W's h
    columns never learn (their gradient is h)."""

    def measure(self, h: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, measured = super().measure(h, labels)
        return np.zeros_like(h), measured


class ConstantMedium:
    """A physical transform of a rig's shape that measures `reading` whatever it is driven with."""

    def __init__(self, like, reading: np.ndarray) -> None:
        self.n_actuators, self.n_sensors, self.encoding = like.n_actuators, like.n_sensors, like.encoding
        self.reading = np.asarray(reading, np.float32)

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        return np.repeat(self.reading[None], len(actuation), axis=0)

    def describe(self) -> dict:
        return {"medium": "constant", "reading": self.reading.tolist()}

    def close(self) -> None:
        pass


def physics_only_network(transform, n_classes: int, n_features: int, config: TrainConfig) -> Network:
    network = Network(transform, n_classes, n_features, config)
    rng = np.random.default_rng(config.seed)
    network.layers = [PhysicsOnlyLayer(transform, n_classes, rng) for _ in range(config.layers)]
    return network


def smoke_run(session: RigSession, ctx: CheckContext) -> None:
    """A physics-only PhyLL run through the rig beats the same run through a constant medium by
    envelope.smoke_margin points of test accuracy."""
    rig, device = session.rig, session.device
    data = load_dataset(rig.run["smoke_dataset"])
    train, test = stratified_split(data.labels, _TEST_FRACTION, seed=rig.run["seed"])
    scaler = Standardizer.fit(data.features, rows=train)
    mean_reading = device.forward(probe_actuations(device, 64, session.rng("smoke"))).mean(axis=0)
    accuracy = {}
    for arm, transform in (("rig", device), ("constant_control", ConstantMedium(device, mean_reading))):
        config = TrainConfig(layers=_LAYERS, epochs=rig.run["smoke_epochs"], lr=_LR, eval_every=0, seed=rig.run["seed"])
        network = physics_only_network(transform, data.n_classes, data.features.shape[1], config)
        network.fit(scaler.transform(data.features, train), data.labels[train])
        accuracy[arm] = network.evaluate(scaler.transform(data.features, test), data.labels[test])[-1]
    margin = accuracy["rig"] - accuracy["constant_control"]
    envelope = rig.envelope
    ctx.data["smoke"] = accuracy
    reached = ctx.measure("test_accuracy", accuracy["rig"], "%", low=envelope["smoke_min_accuracy"],
                          note=f"{rig.run['smoke_dataset']}, {rig.run['smoke_epochs']} epochs, no digital skip")
    ctx.measure("control_accuracy", accuracy["constant_control"], "%", note="the same run through a constant medium")
    beats = ctx.measure("physics_margin", margin, "points", low=envelope["smoke_margin"])
    chance = 100.0 / data.n_classes
    if not beats:
        raise CheckFailed(f"the physics does not compute: {accuracy['rig']:.1f} % through the rig against "
                          f"{accuracy['constant_control']:.1f} % through a constant medium (chance {chance:.0f} %), "
                          f"a margin of {margin:+.1f} points where the rig needs {envelope['smoke_margin']:g}")
    if not reached:
        raise CheckFailed(f"the smoke run reaches {accuracy['rig']:.1f} %, the rig needs "
                          f"{envelope['smoke_min_accuracy']:g} %")


CHECKS = [Check(GROUP, "smoke_run", smoke_run)]
