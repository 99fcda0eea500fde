"""One training run on one data split: data -> network -> fit -> metrics, checkpoint and plots.

The CLI and the experiments call this; it knows the network and the data, never how the physics
is reached (that is the PhysicalTransform it is handed).
"""
from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np

from . import checkpoint
from .data import Dataset, Standardizer, load_dataset, stratified_split
from .network import Network, TrainConfig
from .physical import PhysicalTransform

INTERRUPTED_NAME = "checkpoint-interrupted.npz"


class TrainingInterrupted(RuntimeError):
    """Training stopped (the physics failed or the user pressed Ctrl-C); a checkpoint was saved."""

    def __init__(self, message: str, checkpoint_path: Path) -> None:
        super().__init__(message)
        self.checkpoint_path = checkpoint_path


class SplitRun:
    """A network plus the split and standardisation it is trained and tested on."""

    def __init__(self, dataset: Dataset, transform: PhysicalTransform, config: TrainConfig,
                 split_seed: int, test_fraction: float = 0.2) -> None:
        self.dataset = dataset
        self.transform = transform
        self.split_seed = split_seed
        self.test_fraction = test_fraction
        self.train_rows, self.test_rows = stratified_split(dataset.labels, test_fraction, split_seed)
        self.scaler = Standardizer.fit(dataset.features[self.train_rows])
        self.network = Network(transform, dataset.n_classes, dataset.features.shape[1], config)

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        rows = self.train_rows if name == "train" else self.test_rows
        return self.scaler.transform(self.dataset.features[rows]), self.dataset.labels[rows]

    def fit(self, out_dir: Path | None = None, callbacks=(), epochs: int | None = None) -> None:
        evaluate_on = {"train": self.part("train"), "test": self.part("test")}
        try:
            self.network.fit(*evaluate_on["train"], epochs=epochs, evaluate_on=evaluate_on,
                             callbacks=callbacks)
        except (Exception, KeyboardInterrupt) as exc:
            path = self.save((out_dir or Path.cwd()) / INTERRUPTED_NAME)
            reason = "interrupted by the user" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            raise TrainingInterrupted(
                f"training stopped at epoch {self.network.epoch} ({reason}); "
                f"checkpoint of the last completed epoch saved to {path}; "
                f"continue with: phyll train --resume {path}", path) from exc

    def predictions(self, name: str) -> np.ndarray:
        """Final predictions on a part; reuses the measurement fit() made at this epoch if any."""
        epoch, by_depth = self.network.latest.get(name, (-1, None))
        if epoch != self.network.epoch:
            by_depth = self.network.predict_by_depth(self.part(name)[0])
            self.network.latest[name] = (self.network.epoch, by_depth)
        return by_depth[:, -1]

    def results(self) -> dict:
        train_y, test_y = self.part("train")[1], self.part("test")[1]
        train_acc = 100.0 * float(np.mean(self.predictions("train") == train_y))
        predicted = self.predictions("test")
        test_acc = 100.0 * float(np.mean(predicted == test_y))
        confusion = np.zeros((self.dataset.n_classes,) * 2, dtype=np.int64)
        np.add.at(confusion, (test_y, predicted), 1)
        return {"seed": self.split_seed, "train_accuracy": train_acc, "test_accuracy": test_acc,
                "confusion": confusion.tolist(), "epochs": self.network.epoch,
                "physical_passes": dict(self.network.passes)}

    def save(self, path: Path) -> Path:
        arrays, meta = self.network.state()
        arrays.update(self.scaler.to_arrays())
        meta.update({
            "dataset": {"source": self.dataset.source, "label_column": self.dataset.label_column,
                        "class_names": self.dataset.class_names,
                        "feature_names": self.dataset.feature_names},
            "split": {"seed": self.split_seed, "test_fraction": self.test_fraction},
            "device": json_safe(self.transform.describe()),
        })
        return checkpoint.save(path, arrays, meta)

    @classmethod
    def resume(cls, path: str | Path, transform: PhysicalTransform) -> "SplitRun":
        """Rebuild a run from a checkpoint: same data, split, scaler, weights, moments and RNG."""
        arrays, meta = checkpoint.load(path)
        data = meta["dataset"]
        dataset = load_dataset(data["source"], data["label_column"])
        if dataset.class_names != data["class_names"] or dataset.feature_names != data["feature_names"]:
            raise ValueError(f"dataset {data['source']} no longer has the classes/features "
                             f"the checkpoint {path} was trained on")
        run = cls(dataset, transform, TrainConfig(**meta["config"]), meta["split"]["seed"],
                  meta["split"]["test_fraction"])
        run.scaler = Standardizer.from_arrays(arrays)
        run.network.load_state(arrays, meta)
        return run


def summarize(splits: list[dict], device: dict) -> dict:
    test = [s["test_accuracy"] for s in splits]
    return {
        "test_accuracy": float(np.mean(test)),
        "test_accuracy_std": float(np.std(test)),
        "test_accuracy_min": float(np.min(test)),
        "train_accuracy": float(np.mean([s["train_accuracy"] for s in splits])),
        "splits": splits,
        "physical_passes": {key: int(sum(s["physical_passes"][key] for s in splits))
                            for key in ("train", "eval")},
        "device": json_safe(device),
    }


def config_dict(config: TrainConfig) -> dict:
    return asdict(config)


def json_safe(value):
    """Device descriptions may carry numpy scalars or NaN percentiles; JSON wants plain values."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
