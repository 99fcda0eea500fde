"""One training run on one data split: data -> network -> fit -> metrics, checkpoint and plots.

The CLI and the experiments call this; it knows the network and the data, never how the physics
is reached (that is the PhysicalTransform it is handed).
"""
from __future__ import annotations

import math
import shlex
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import checkpoint
from .baseline import LogisticRegression
from .data import DataError, Dataset, Standardizer, load_dataset, stratified_split
from .media.controls import SensorStatistics, StatisticsTap, control_media, probe_statistics
from .network import ConfigError, Network, TrainConfig
from .physical import PhysicalTransform

INTERRUPTED_NAME = "checkpoint-interrupted.npz"


# What a checkpoint's metadata must hold for eval and resume (older or foreign files may not).
_CHECKPOINT_KEYS = ("config", "epoch", "n_classes", "n_features", "rng", "history", "passes",
                    "dataset", "split")


class StopRequested(BaseException):
    """A signal (SIGTERM from a scheduler, systemd or `docker stop`; SIGHUP from a closed
    terminal) asked the run to stop. Raised from the signal handler wherever the main thread is,
    and, like KeyboardInterrupt, no `except Exception` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class TrainingInterrupted(RuntimeError):
    """Training stopped (the physics failed, Ctrl-C, a signal); a checkpoint of the last
    completed epoch was saved to `checkpoint_path` (None if even that failed).

    signum: the signal that stopped it (SIGINT for Ctrl-C); None when something failed.
    """

    def __init__(self, message: str, checkpoint_path: Path | None, epoch: int,
                 signum: int | None = None) -> None:
        super().__init__(message)
        self.checkpoint_path = checkpoint_path
        self.epoch = epoch
        self.signum = signum


def stop_signal(exc: BaseException) -> int | None:
    """The signal behind a stop (Ctrl-C is SIGINT), or None for a failure."""
    if isinstance(exc, StopRequested):
        return exc.signum
    return signal.SIGINT if isinstance(exc, KeyboardInterrupt) else None


class SplitRun:
    """A network plus the split and standardisation it is trained and tested on.

    The network measures through a StatisticsTap: the readings' per-sensor statistics, which the
    control media are built from, come from the passes training makes anyway.
    """

    def __init__(self, dataset: Dataset, transform: PhysicalTransform, config: TrainConfig,
                 split_seed: int, test_fraction: float = 0.2, device_url: str | None = None,
                 placement: np.ndarray | None = None) -> None:
        self.dataset = dataset
        self.transform = transform
        self.device_url = device_url  # reopens `transform`; None: the url its describe() gives
        self.split_seed = split_seed
        self.test_fraction = test_fraction
        self.train_rows, self.test_rows = stratified_split(dataset.labels, test_fraction, split_seed)
        self.scaler = Standardizer.fit(dataset.features, rows=self.train_rows)
        self.tap = StatisticsTap(transform)
        self.network = Network(self.tap, dataset.n_classes, dataset.features.shape[1], config, placement)

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        rows = self.train_rows if name == "train" else self.test_rows
        return self.scaler.transform(self.dataset.features, rows), self.dataset.labels[rows]

    def fit(self, out_dir: Path | None = None, callbacks=(), epochs: int | None = None,
            resume_flags: tuple[str, ...] = ()) -> None:
        """Train; whatever stops it (a failure, Ctrl-C, StopRequested) saves the last completed
        epoch to out_dir/checkpoint-interrupted.npz and raises TrainingInterrupted, whose
        message ends with the command that continues (plus `resume_flags`)."""
        evaluate_on = {"train": self.part("train"), "test": self.part("test")}
        try:
            self.network.fit(*evaluate_on["train"], epochs=epochs, evaluate_on=evaluate_on,
                             callbacks=callbacks)
        except (Exception, KeyboardInterrupt, StopRequested) as exc:
            raise self.interrupted(exc, out_dir, resume_flags) from exc

    def interrupted(self, exc: BaseException, out_dir: Path | None,
                    resume_flags: tuple[str, ...] = ()) -> TrainingInterrupted:
        """Save the network as it is to out_dir/checkpoint-interrupted.npz (the current folder
        if None) and say how `exc` stopped it and how to continue."""
        signum = stop_signal(exc)
        reason = ("interrupted by the user" if signum == signal.SIGINT
                  else f"stopped by {exc}" if signum else f"{type(exc).__name__}: {exc}")
        epoch = self.network.epoch
        try:
            path = self.save((out_dir or Path.cwd()) / INTERRUPTED_NAME)
        except OSError as save_error:
            return TrainingInterrupted(f"training stopped at epoch {epoch} ({reason}); its checkpoint "
                                       f"could not be saved: {save_error}", None, epoch, signum)
        return TrainingInterrupted(
            f"training stopped at epoch {epoch} ({reason}); checkpoint of the last completed epoch "
            f"saved to {path}; continue with: {self.resume_command(path, resume_flags)}",
            path, epoch, signum)

    def resume_command(self, path: Path, flags: tuple[str, ...] = ()) -> str:
        """The shell command that continues from checkpoint `path`, the device URL quoted."""
        extra = "".join(f" {shlex.quote(flag)}" for flag in flags)
        if not self.device_url:
            return f"phyll train --resume {shlex.quote(str(path))} --device URL{extra} (the checkpoint names no device)"
        return f"phyll train --resume {shlex.quote(str(path))} --device {shlex.quote(self.device_url)}{extra}"

    def predictions(self, name: str) -> np.ndarray:
        """Final predictions on a part; reuses the measurement fit() made at this epoch if any."""
        epoch, by_depth = self.network.latest.get(name, (-1, None))
        if epoch != self.network.epoch:
            by_depth = self.network.predict_by_depth(self.part(name)[0])
            self.network.latest[name] = (self.network.epoch, by_depth)
        return by_depth[:, -1]

    def results(self) -> dict:
        train_y, test_y = self.dataset.labels[self.train_rows], self.dataset.labels[self.test_rows]
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
            "sensor_statistics": self.tap.statistics.to_dict() if self.tap.statistics.count else None,
        })
        return checkpoint.save(path, arrays, meta)

    @classmethod
    def resume(cls, path: str | Path, transform: PhysicalTransform, dataset: Dataset | None = None,
               device_url: str | None = None) -> "SplitRun":
        """Rebuild a run from a checkpoint: same data, split, scaler, weights, moments and RNG.

        dataset: the one the checkpoint names unless given (the same data, moved elsewhere).
        """
        arrays, meta = read_checkpoint(path)
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
        if meta.get("sensor_statistics"):
            run.tap.statistics = SensorStatistics.from_dict(meta["sensor_statistics"])
        return run

    def controls(self, statistics: SensorStatistics | None = None) -> dict:
        """Train the controls on this split, with this network's config, seed and placement: the
        physics replaced by a constant and by a noise medium of its output statistics, and a
        logistic regression on the same standardised features. Returns {name: {train_accuracy,
        test_accuracy, ...}}; the media's also carry their evaluation history. `statistics`:
        the physics' readings (default: those this run recorded; none: measured now)."""
        if statistics is None:  # a checkpoint from before statistics were kept: measure them now
            statistics = self.tap.statistics if self.tap.statistics.count else probe_statistics(
                self.transform, seed=self.split_seed)
        results = {}
        for name, medium in control_media(self.transform, statistics, seed=self.split_seed).items():
            control = SplitRun(self.dataset, medium,
                               replace(self.network.config), self.split_seed, self.test_fraction,
                               placement=self.network.placement)
            control.scaler = self.scaler  # the same standardised rows (a resumed run keeps its own)
            evaluate_on = {"train": control.part("train"), "test": control.part("test")}
            control.network.fit(*evaluate_on["train"], evaluate_on=evaluate_on)
            done = control.results()
            results[name] = {"train_accuracy": done["train_accuracy"], "test_accuracy": done["test_accuracy"],
                             "evaluations": control.network.history.evaluations}
        results["logistic_regression"] = self.logistic_regression()
        return results

    def logistic_regression(self) -> dict:
        """The digital baseline: multinomial logistic regression on the standardised features."""
        (x_train, y_train), (x_test, y_test) = self.part("train"), self.part("test")
        model = LogisticRegression(self.dataset.n_classes).fit(x_train, y_train)
        return {"train_accuracy": model.accuracy(x_train, y_train),
                "test_accuracy": model.accuracy(x_test, y_test), "parameters": model.parameters}

    def parameters(self) -> int:
        """Trainable parameters of the network: every layer's W and b."""
        return int(sum(layer.W.size + layer.b.size for layer in self.network.layers))


def read_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """A checkpoint SplitRun.resume can use, checked before anything is opened: readable, with
    the metadata and layer arrays a run saves, and a config within today's ranges."""
    arrays, meta = checkpoint.load(path)
    missing = [key for key in _CHECKPOINT_KEYS if key not in meta]
    if missing or "layer0.W" not in arrays:
        raise ValueError(f"checkpoint {path} lacks {missing or ['layer0.W']}: it was not saved by "
                         "phyll train (or by an older phyll); use another checkpoint of the run")
    try:
        TrainConfig(**meta["config"])
    except (TypeError, ConfigError) as exc:
        raise ValueError(f"checkpoint {path} has a config this phyll cannot train: {exc}") from None
    return arrays, meta


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


def with_controls(result: dict, controls: dict) -> dict:
    """A split's results with its controls and the physics' contribution: its test accuracy minus
    the constant medium's, in points."""
    return {**result, "controls": controls,
            "physics_contribution": result["test_accuracy"] - controls["constant"]["test_accuracy"]}


def summarize_controls(splits: list[dict]) -> dict:
    """Mean and std over splits of each control and of the physics' contribution ({} if the
    splits ran without controls)."""
    if not splits or any("controls" not in s for s in splits):
        return {}
    controls = {}
    for name in splits[0]["controls"]:
        test = [s["controls"][name]["test_accuracy"] for s in splits]
        controls[name] = {"test_accuracy": float(np.mean(test)), "test_accuracy_std": float(np.std(test)),
                          "train_accuracy": float(np.mean([s["controls"][name]["train_accuracy"] for s in splits]))}
    controls["logistic_regression"]["parameters"] = splits[0]["controls"]["logistic_regression"]["parameters"]
    contribution = [s["physics_contribution"] for s in splits]
    return {"controls": controls,
            "physics_contribution": {"mean": float(np.mean(contribution)), "std": float(np.std(contribution)),
                                     "min": float(np.min(contribution)), "per_split": contribution}}


def summarize(splits: list[dict], device: dict | None) -> dict:
    """Accuracies over the completed splits (none: no accuracy fields), their controls and the
    physics' contribution when they ran, their passes, the device."""
    test = [s["test_accuracy"] for s in splits]
    accuracy = {
        "test_accuracy": float(np.mean(test)),
        "test_accuracy_std": float(np.std(test)),
        "test_accuracy_min": float(np.min(test)),
        "train_accuracy": float(np.mean([s["train_accuracy"] for s in splits])),
    } if splits else {}
    return {
        **accuracy,
        **summarize_controls(splits),
        "splits": splits,
        "physical_passes": {key: int(sum(s["physical_passes"][key] for s in splits))
                            for key in ("train", "eval")},
        "device": json_safe(device),
    }


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
