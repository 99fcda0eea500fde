"""The robustness experiment: perturb the physics mid-training, in situ PhyLL versus a stale twin.

In situ: PhyLL trains on the medium; at `perturb_epoch` the medium is changed (an object moved
in the room, a stirrer turned, a gain step) and training simply goes on, measuring the new
physics. Model-based: before training, passes are recorded and a digital twin is fitted; the
network trained on the twin is deployed on the physics before and after the same perturbation.

Accuracies around the perturbation are averaged over `window` epochs, because a 20 % test split
of a small dataset moves by a whole sample (~2 points) from one epoch to the next.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..data import Dataset, Standardizer, stratified_split
from ..devices.local import LocalDevice
from ..network import Network, TrainConfig
from ..plots import pyplot
from .twin import DigitalTwin, probe_actuations


@dataclass
class PerturbationPlan:
    perturb_epoch: int = 60
    kind: str = ""            # "" = the medium's first physical perturbation kind
    size: float = 0.5
    recover_epochs: int = 20
    window: int = 5
    twin: str = "mlp"
    twin_passes: int = 3000
    test_fraction: float = 0.2
    split_seed: int = 0

    def __post_init__(self) -> None:
        if self.perturb_epoch < self.window or self.recover_epochs < self.window:
            raise ValueError("perturb_epoch and recover_epochs must be at least `window` epochs")


def _test_accuracy(network: Network, x: np.ndarray, y: np.ndarray) -> float:
    return float(network.evaluate(x, y)[-1])


def run(dataset: Dataset, device: LocalDevice, config: TrainConfig, plan: PerturbationPlan) -> dict:
    medium = getattr(device, "medium", None)
    if medium is None or not hasattr(medium, "perturb"):
        raise ValueError("the perturbation experiment perturbs the medium between two epochs, so it "
                         "needs an in-process medium (sim://NAME); for emu:// schedule one with "
                         "?perturb_at_pass=N&perturb_size=X")
    kind = plan.kind or (medium.perturbation_kinds[0] if medium.perturbation_kinds else "gain")
    train_rows, test_rows = stratified_split(dataset.labels, plan.test_fraction, plan.split_seed)
    scaler = Standardizer.fit(dataset.features[train_rows])
    x_train, y_train = scaler.transform(dataset.features[train_rows]), dataset.labels[train_rows]
    x_test, y_test = scaler.transform(dataset.features[test_rows]), dataset.labels[test_rows]
    n_features = dataset.features.shape[1]

    # Model-based: record, fit the twin, train on it -- all before the physics changes.
    rng = np.random.default_rng([plan.split_seed, 99])
    probes = probe_actuations(device, plan.twin_passes, rng)
    twin = DigitalTwin(probes, device.forward(probes), plan.twin, seed=plan.split_seed,
                       of=medium.name, encoding=device.encoding)
    twin_net = Network(LocalDevice(twin), dataset.n_classes, n_features, config)
    twin_net.fit(x_train, y_train, epochs=config.epochs)
    twin_net.attach(device)  # deploy: same weights, real physics
    twin_before = _test_accuracy(twin_net, x_test, y_test)

    # In situ: train, perturb, keep training.
    network = Network(device, dataset.n_classes, n_features, config)
    curve = []
    last_epoch = max(config.epochs, plan.perturb_epoch + plan.recover_epochs)
    right_after = twin_after = None
    for epoch in range(1, last_epoch + 1):
        network.fit(x_train, y_train, epochs=epoch)
        curve.append(_test_accuracy(network, x_test, y_test))
        if epoch == plan.perturb_epoch:
            medium.perturb(kind, plan.size)
            right_after = _test_accuracy(network, x_test, y_test)
            twin_after = _test_accuracy(twin_net, x_test, y_test)
    acc = np.asarray(curve)
    p, w = plan.perturb_epoch, plan.window
    before = float(acc[p - w:p].mean())
    after_n = float(acc[p + plan.recover_epochs - w:p + plan.recover_epochs].mean())
    smoothed = np.convolve(acc, np.ones(w) / w, mode="valid")  # smoothed[i] = mean(acc[i:i+w])
    recovered = [e for e in range(p + w, last_epoch + 1) if smoothed[e - w] >= before - 2.0]
    return {
        "plan": {**asdict(plan), "kind": kind},
        "config": asdict(config),
        "medium": device.describe(),
        "twin": {"kind": plan.twin, "held_out_r2": twin.r2, "recorded_passes": plan.twin_passes},
        "phyll": {"before": before, "right_after": right_after, "after": after_n,
                  "recover_epochs": plan.recover_epochs,
                  "recovered_within_2_points_at_epoch": recovered[0] if recovered else None,
                  "curve": acc.tolist()},
        "twin_model": {"before": twin_before, "right_after": twin_after, "after": twin_after},
        "physical_passes": network.passes,
    }


def plot(result: dict, path: Path) -> Path:
    plt = pyplot()
    curve = np.asarray(result["phyll"]["curve"])
    epochs = np.arange(1, len(curve) + 1)
    p = result["plan"]["perturb_epoch"]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(epochs, curve, label="PhyLL in situ (test)")
    ax.plot([p], [result["phyll"]["right_after"]], "v", color="C3",
            label="PhyLL right after the perturbation")
    twin = result["twin_model"]
    ax.hlines(twin["before"], 1, p, colors="C1", linestyles="--", label="twin-trained, deployed")
    ax.hlines(twin["after"], p, len(curve), colors="C1", linestyles="--")
    ax.axvline(p, color="grey", linestyle=":", label=f"perturbation ({result['plan']['kind']}, {result['plan']['size']})")
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", title=f"perturbation of {result['medium']['medium']}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
