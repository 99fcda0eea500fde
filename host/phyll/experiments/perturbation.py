"""The robustness experiment: perturb the physics mid-training, in situ PhyLL versus a stale twin,
over several seeds, beside the same experiment on the constant-medium control.

In situ: PhyLL trains on the medium; after `perturb_epoch` epochs the medium is changed (an object
moved in the room, a stirrer turned, a gain step) and training simply goes on, measuring the new
physics. Model-based: before training, passes are recorded and a digital twin is fitted; the
network trained on the twin is deployed on the physics before and after the same perturbation.

Each seed draws its own split, network and medium noise; a fresh medium is opened per seed from
the same URL. Curves are test accuracy per epoch, reported as the mean over seeds with a 95 %
t-interval. The control repeats both arms with the physics replaced by a constant medium of its
output statistics (recorded before the perturbation): a "gain" step scales the constant too, a
physical perturbation (redraw, stirrer) has nothing to act on. An in-situ advantage that shows
on the control as well is the digital skip's, not the physics'.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from scipy import stats

from ..checkpoint import replacing
from ..data import Dataset, Standardizer, stratified_split
from ..devices.local import LocalDevice
from ..media.controls import ConstantMedium, SensorStatistics, StatisticsTap
from ..media.imperfections import WithImperfections
from ..network import Network, TrainConfig
from ..placement import measure_placement
from ..plots import pyplot
from .twin import DigitalTwin, probe_actuations

ARMS = ("physics", "control")
# Within this many points of the pre-perturbation level counts as recovered.
RECOVERED_WITHIN = 1.0


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
    seeds: int = 5
    first_seed: int = 0
    placement: str = "in-order"

    def __post_init__(self) -> None:
        if self.perturb_epoch < self.window or self.recover_epochs < self.window:
            raise ValueError("perturb_epoch and recover_epochs must be at least `window` epochs")
        if self.seeds < 2:
            raise ValueError(f"an interval needs at least 2 seeds, got {self.seeds}")


def run(dataset: Dataset, open_medium: Callable[[], LocalDevice], config: TrainConfig,
        plan: PerturbationPlan) -> dict:
    """open_medium: a fresh in-process device of the same medium, once per seed."""
    seeds = [plan.first_seed + i for i in range(plan.seeds)]
    per_seed = {arm: [] for arm in ARMS}
    described = None
    for seed in seeds:
        device = open_medium()
        try:
            if getattr(device, "medium", None) is None or not hasattr(device.medium, "perturb"):
                raise ValueError("the perturbation experiment perturbs the medium between two epochs, so "
                                 "it needs an in-process medium (sim://NAME); for emu:// schedule one with "
                                 "?perturb_at_pass=N&perturb_size=X")
            kinds = ("gain",) + tuple(device.medium.perturbation_kinds)
            kind = plan.kind or kinds[-1]
            if kind not in kinds:
                raise ValueError(f"medium {device.medium.name!r} has no perturbation {kind!r}; it has {list(kinds)}")
            seeded = replace(config, seed=seed)
            data = _split(dataset, plan.test_fraction, seed)
            placement, _ = measure_placement(plan.placement, device, seed)
            physics, statistics = _arms(device, device.medium, data, seeded, plan, kind, placement, seed)
            per_seed["physics"].append(physics)
            described = described or device.describe()
            control = WithImperfections(ConstantMedium(device.n_actuators, device.encoding, statistics), seed=seed)
            per_seed["control"].append(_arms(LocalDevice(control, "control:constant"), control, data, seeded,
                                             plan, kind, placement, seed)[0])
        finally:
            device.close()
    return {
        "plan": {**asdict(plan), "kind": kind},
        "config": asdict(config),
        "seeds": seeds,
        "medium": described,
        **{arm: summarize(per_seed[arm], plan) for arm in ARMS},
        "per_seed": per_seed,
    }


def _split(dataset: Dataset, test_fraction: float, seed: int) -> dict:
    train_rows, test_rows = stratified_split(dataset.labels, test_fraction, seed)
    scaler = Standardizer.fit(dataset.features[train_rows])
    return {"train": (scaler.transform(dataset.features[train_rows]), dataset.labels[train_rows]),
            "test": (scaler.transform(dataset.features[test_rows]), dataset.labels[test_rows]),
            "classes": dataset.n_classes, "features": dataset.features.shape[1]}


def _test_accuracy(network: Network, data: dict) -> float:
    return float(network.evaluate(*data["test"])[-1])


def _arms(device, medium, data: dict, config: TrainConfig, plan: PerturbationPlan, kind: str,
          placement, seed: int) -> tuple[dict, SensorStatistics]:
    """Both arms on one medium: (their accuracies and curve, the readings' statistics before the
    perturbation)."""
    # Model-based: record, fit the twin, train on it -- all before the physics changes.
    probes = probe_actuations(device, plan.twin_passes, np.random.default_rng([seed, 99]))
    twin = DigitalTwin(probes, device.forward(probes), plan.twin, seed=seed, of=medium.name,
                       encoding=device.encoding)
    twin_net = Network(LocalDevice(twin), data["classes"], data["features"], config, placement)
    twin_net.fit(*data["train"], epochs=config.epochs)
    twin_net.attach(device)  # deploy: same weights, real physics
    twin_before = _test_accuracy(twin_net, data)

    # In situ: train, perturb, keep training.
    tap = StatisticsTap(device)
    network = Network(tap, data["classes"], data["features"], config, placement)
    curve, right_after, twin_after, statistics = [], None, None, None
    for epoch in range(1, max(config.epochs, plan.perturb_epoch + plan.recover_epochs) + 1):
        network.fit(*data["train"], epochs=epoch)
        curve.append(_test_accuracy(network, data))
        if epoch == plan.perturb_epoch:
            statistics = SensorStatistics.from_dict(tap.statistics.to_dict())
            if kind in ("gain",) + tuple(medium.perturbation_kinds):
                medium.perturb(kind, plan.size)
            right_after = _test_accuracy(network, data)
            twin_after = _test_accuracy(twin_net, data)
    before = float(np.mean(curve[plan.perturb_epoch - plan.window:plan.perturb_epoch]))
    return {"before": before, "right_after": right_after,
            "after": float(np.mean(curve[plan.perturb_epoch + plan.recover_epochs - plan.window:
                                         plan.perturb_epoch + plan.recover_epochs])),
            "recovery_epochs": recovery_epochs(curve, before, right_after, plan),
            "twin_before": twin_before, "twin_after": twin_after, "twin_r2": twin.r2,
            "curve": curve}, statistics


def recovery_epochs(curve: list[float], before: float, right_after: float, plan: PerturbationPlan) -> int | None:
    """Epochs of in-situ training after the perturbation until the accuracy, averaged over the
    epochs since it (at most `window`), is back within RECOVERED_WITHIN points of `before`: 0 if
    it never dropped further, None if it was not back by the end of the run."""
    if right_after >= before - RECOVERED_WITHIN:
        return 0
    after = curve[plan.perturb_epoch:]
    for k in range(1, len(after) + 1):
        if np.mean(after[max(0, k - plan.window):k]) >= before - RECOVERED_WITHIN:
            return k
    return None


def interval(values) -> dict:
    """Mean and 95 % t-interval over seeds."""
    values = np.asarray(values, dtype=float)
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    mean = float(values.mean())
    return {"mean": mean, "low": mean - half, "high": mean + half}


def summarize(runs: list[dict], plan: PerturbationPlan) -> dict:
    curves = np.asarray([r["curve"] for r in runs])
    recovered = [r["recovery_epochs"] for r in runs]
    summary = {key: interval([r[key] for r in runs])
               for key in ("before", "right_after", "after", "twin_before", "twin_after", "twin_r2")}
    summary["in_situ_gap_right_after"] = interval([r["right_after"] - r["twin_after"] for r in runs])
    summary["recovery_epochs"] = recovered
    summary["curve"] = [interval(curves[:, k]) for k in range(curves.shape[1])]
    return summary


def plot(result: dict, path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    p = result["plan"]["perturb_epoch"]
    for arm, colour, label in (("physics", "C0", "in situ, physics"), ("control", "C7", "in situ, constant medium")):
        curve = result[arm]["curve"]
        epochs = np.arange(1, len(curve) + 1)
        ax.plot(epochs, [c["mean"] for c in curve], color=colour,
                label=f"{label} (mean, 95 % interval; v: right after the perturbation)")
        ax.fill_between(epochs, [c["low"] for c in curve], [c["high"] for c in curve], color=colour, alpha=0.2)
        right_after = result[arm]["right_after"]
        ax.errorbar([p], [right_after["mean"]], yerr=[[right_after["mean"] - right_after["low"]],
                                                      [right_after["high"] - right_after["mean"]]],
                    fmt="v", color=colour, capsize=3)
        twin = result[arm]
        ax.errorbar([p - 2, p + 2], [twin["twin_before"]["mean"], twin["twin_after"]["mean"]],
                    yerr=[[twin["twin_before"]["mean"] - twin["twin_before"]["low"],
                           twin["twin_after"]["mean"] - twin["twin_after"]["low"]],
                          [twin["twin_before"]["high"] - twin["twin_before"]["mean"],
                           twin["twin_after"]["high"] - twin["twin_after"]["mean"]]],
                    fmt="s--", color=colour, mfc="white", capsize=3,
                    label=f"twin-trained, deployed ({label.split(', ')[1]})")
    ax.axvline(p, color="grey", linestyle=":", label=f"perturbation ({result['plan']['kind']}, {result['plan']['size']})")
    ax.set(xlabel="epoch", ylabel="test accuracy (%)",
           title=f"perturbation of {result['medium']['medium']}, {len(result['seeds'])} seeds")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8)
    fig.tight_layout()
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path
