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
from .data import DataError, Dataset, Standardizer, load_dataset, stratified_split
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
                 split_seed: int, test_fraction: float = 0.2, device_url: str | None = None) -> None:
        self.dataset = dataset
        self.transform = transform
        self.device_url = device_url  # reopens `transform`; None: the url its describe() gives
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
            how = (f"phyll train --resume {path} (it reopens {self.device_url}; --device URL to use another)"
                   if self.device_url else f"phyll train --resume {path} --device URL (the checkpoint names no device)")
            raise TrainingInterrupted(
                f"training stopped at epoch {self.network.epoch} ({reason}); "
                f"checkpoint of the last completed epoch saved to {path}; continue with: {how}", path) from exc

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
        described = json_safe(self.transform.describe())
        if self.device_url is None:
            self.device_url = described.get("url") or None
        meta.update({
            "dataset": {"source": self.dataset.source, "label_column": self.dataset.label_column,
                        "class_names": self.dataset.class_names,
                        "feature_names": self.dataset.feature_names},
            "split": {"seed": self.split_seed, "test_fraction": self.test_fraction},
            "device_url": self.device_url,
            "device": described,
        })
        return checkpoint.save(path, arrays, meta)

    @classmethod
    def resume(cls, path: str | Path, transform: PhysicalTransform, dataset: Dataset | None = None,
               device_url: str | None = None) -> "SplitRun":
        """Rebuild a run from a checkpoint: same data, split, scaler, weights, moments and RNG.

        dataset: the one the checkpoint names unless given (the same data, moved elsewhere).
        """
        arrays, meta = checkpoint.load(path)
        dataset = trained_dataset(meta, path) if dataset is None else dataset
        _check_same_data(dataset, meta, path)
        run = cls(dataset, transform, TrainConfig(**meta["config"]), meta["split"]["seed"],
                  meta["split"]["test_fraction"], device_url)
        run.scaler = Standardizer.from_arrays(arrays)
        stored, built = arrays["layer0.W"].shape, run.network.layers[0].W.shape
        if stored != built:  # W is (values, sensors + values)
            raise ValueError(
                f"checkpoint {path} was trained on a system taking {stored[0]} values and giving "
                f"{stored[1] - stored[0]} sensor readings per pass, but {device_url or 'this device'} "
                f"takes {built[0]} and gives {built[1] - built[0]}")
        run.network.load_state(arrays, meta)
        return run


def trained_dataset(meta: dict, path: str | Path, source: str | None = None,
                    label_column: str | None = None) -> Dataset:
    """The dataset checkpoint `path` was trained on, or `source` in its place (same classes and
    features): loaded and checked before any device is opened."""
    trained = meta["dataset"]
    source = source or trained["source"]
    if source == trained["source"] and not source.startswith("builtin:") and not Path(source).is_file():
        raise DataError(f"checkpoint {path} was trained on dataset {source}, which does not exist "
                        "(moved or deleted?); give its new place with --dataset PATH")
    dataset = load_dataset(source, label_column or trained["label_column"])
    _check_same_data(dataset, meta, path)
    return dataset


def _check_same_data(dataset: Dataset, meta: dict, path: str | Path) -> None:
    trained = meta["dataset"]
    for what in ("class_names", "feature_names"):
        if getattr(dataset, what) != trained[what]:
            raise DataError(f"dataset {dataset.source} has {what} {getattr(dataset, what)}, but checkpoint "
                            f"{path} was trained on {trained[what]}")


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
