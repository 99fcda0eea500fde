"""Smoke: a short PhyLL run end to end, which must beat its own constant-medium control.

The run trains through the rig a network whose layers see the data only through the physics
(`TrainConfig(skip=False)`: z = W P(h) + b, without the digital skip of h that phyll's default
layer adds). With the skip, the digital part alone classifies easy data, so a rig whose physics
does nothing would pass (issue 15 measured a constant medium at the physics' accuracy on the
vowels). The control trains the same network, same split and seed, through a constant medium of
the rig's shape reading the rig's mean (phyll.media.controls, from 256 probe passes): whatever it
learns, the physics did not give it. The rig passes when it beats the control by
envelope.smoke_margin points (and reaches envelope.smoke_min_accuracy, if set).
"""
from __future__ import annotations

from phyll.data import Standardizer, load_dataset, stratified_split
from phyll.media.controls import ConstantMedium, probe_statistics
from phyll.network import Network, TrainConfig

from ..record import CheckContext, CheckFailed
from ..session import RigSession
from . import Check

GROUP = "smoke"
_TEST_FRACTION = 0.3
_LR = 5e-3
_LAYERS = 2


def smoke_run(session: RigSession, ctx: CheckContext) -> None:
    """A physics-only PhyLL run through the rig beats the same run through a constant medium by
    envelope.smoke_margin points of test accuracy."""
    rig, device = session.rig, session.device
    data = load_dataset(rig.run["smoke_dataset"])
    train, test = stratified_split(data.labels, _TEST_FRACTION, seed=rig.run["seed"])
    scaler = Standardizer.fit(data.features, rows=train)
    control = ConstantMedium(device.n_actuators, device.encoding,
                             probe_statistics(device, seed=rig.run["seed"]))
    accuracy = {}
    for arm, transform in (("rig", device), ("constant_control", control)):
        config = TrainConfig(layers=_LAYERS, epochs=rig.run["smoke_epochs"], lr=_LR, eval_every=0,
                             seed=rig.run["seed"], skip=False)
        network = Network(transform, data.n_classes, data.features.shape[1], config)
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
