"""Datasets: CSV loading with strict checks, a bundled default, stratified splits, standardisation.

Everything is checked before any physical pass: a NaN, a stray word in a numeric column or a
single class fails here with the column and row named, not halfway through a training run.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_DATASET = "wine"


class DataError(ValueError):
    """The dataset cannot be trained on; the message says what and where."""


@dataclass
class Dataset:
    features: np.ndarray       # float32 (N, F)
    labels: np.ndarray         # int64 (N,), 0 .. n_classes-1
    class_names: list[str]
    feature_names: list[str]
    source: str                # absolute path or "builtin:NAME": loads it again from any folder
    label_column: str = ""

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def subset(self, rows: np.ndarray) -> "Dataset":
        return Dataset(self.features[rows], self.labels[rows], self.class_names,
                       self.feature_names, self.source, self.label_column)


def _as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def load_csv(path: str | Path, label_column: str) -> Dataset:
    """Label from `label_column`; every other column that holds numbers is a feature.

    A column with no number at all (an identifier such as a speaker name) is left out; a column
    that is numeric but has a non-numeric cell is an error naming the cell.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"dataset file {path} does not exist")
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise DataError(f"{path} is empty") from None
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    if label_column not in header:
        raise DataError(f"{path} has no column {label_column!r}; columns are {header}")
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise DataError(f"{path} line {number} has {len(row)} fields, header has {len(header)}")
    if not rows:
        raise DataError(f"{path} has a header but no data rows")
    label_index = header.index(label_column)
    feature_columns, feature_names = [], []
    for index, name in enumerate(header):
        if index == label_index:
            continue
        cells = [row[index].strip() for row in rows]
        parsed = [_as_float(cell) for cell in cells]
        if all(value is None for value in parsed):
            continue  # a text column such as an identifier: not a feature
        for line, (cell, value) in enumerate(zip(cells, parsed), start=2):
            if value is None:
                raise DataError(f"{path} line {line}, column {name!r}: {cell!r} is not a number")
            if not math.isfinite(value):
                raise DataError(f"{path} line {line}, column {name!r}: value {cell!r} is not finite")
        feature_columns.append(parsed)
        feature_names.append(name)
    if not feature_columns:
        raise DataError(f"{path} has no numeric feature column besides {label_column!r}")
    raw_labels = [row[label_index].strip() for row in rows]
    for line, label in enumerate(raw_labels, start=2):
        if not label:
            raise DataError(f"{path} line {line}: empty label in column {label_column!r}")
    features = np.array(feature_columns, dtype=np.float64).T.astype(np.float32)
    return _from_raw_labels(features, raw_labels, feature_names, str(path.resolve()), label_column)


def _from_raw_labels(features, raw_labels, feature_names, source, label_column) -> Dataset:
    class_names = sorted(set(raw_labels), key=_natural_key)
    if len(class_names) < 2:
        raise DataError(f"dataset {source} has a single class {class_names}; PhyLL needs at least two")
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.array([index[label] for label in raw_labels], dtype=np.int64)
    return Dataset(features, labels, class_names, list(feature_names), source, label_column)


def _natural_key(text: str):
    value = _as_float(text)
    return (0, value, "") if value is not None else (1, 0.0, text)


def load_builtin(name: str = DEFAULT_DATASET) -> Dataset:
    """Real datasets that ship with scikit-learn, so a fresh machine can train without files."""
    from sklearn import datasets as sk

    loaders = {"wine": sk.load_wine, "iris": sk.load_iris, "digits": sk.load_digits,
               "breast_cancer": sk.load_breast_cancer}
    if name not in loaders:
        raise DataError(f"no built-in dataset {name!r}; choose from {sorted(loaders)}")
    bunch = loaders[name]()
    names = [str(n) for n in getattr(bunch, "target_names", sorted(set(bunch.target)))]
    raw = [names[t] for t in bunch.target]
    features = np.asarray(bunch.data, dtype=np.float32)
    feature_names = [str(n) for n in getattr(bunch, "feature_names",
                                             [f"x{i}" for i in range(features.shape[1])])]
    data = _from_raw_labels(features, raw, feature_names, f"builtin:{name}", "target")
    data.class_names = names  # keep the dataset's own class order
    data.labels = np.asarray(bunch.target, dtype=np.int64)
    return data


def load_dataset(source: str | None, label_column: str | None = None) -> Dataset:
    """`None` or "builtin:NAME" gives a bundled dataset; anything else is a CSV path."""
    if source is None:
        return load_builtin()
    if source.startswith("builtin:"):
        return load_builtin(source.partition(":")[2])
    if not label_column:
        raise DataError("a CSV dataset needs --label-column to name the label column")
    return load_csv(source, label_column)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split keeping each class's share in both parts; every class keeps >= 1 training row."""
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for cls in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        n_test = min(int(round(test_fraction * len(rows))), len(rows) - 1)
        test.append(rows[:n_test])
        train.append(rows[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


DEFAULT_CLIP = 3.0


@dataclass
class Standardizer:
    """Zero mean, unit variance per feature, fitted on the training split only, then clipped.

    Clipping at +-`clip` standard deviations matters on a physical system: encoders scale each
    input by its extremes (and the label value is the batch's max |x|), so one outlier -- a rare
    pixel of a digit image lit, say -- would squash every other value into a sliver of the
    actuators' range. 0 disables clipping.
    """

    mean: np.ndarray
    scale: np.ndarray
    clip: float = DEFAULT_CLIP

    @classmethod
    def fit(cls, features: np.ndarray, clip: float = DEFAULT_CLIP) -> "Standardizer":
        if clip < 0:
            raise DataError(f"clip must be >= 0 standard deviations, got {clip}")
        mean = features.mean(axis=0, dtype=np.float64)
        scale = features.std(axis=0, dtype=np.float64)
        scale[scale == 0] = 1.0  # a constant feature carries nothing; leave it at zero
        return cls(mean.astype(np.float32), scale.astype(np.float32), float(clip))

    def to_arrays(self, prefix: str = "scaler.") -> dict[str, np.ndarray]:
        return {f"{prefix}mean": self.mean, f"{prefix}scale": self.scale,
                f"{prefix}clip": np.asarray(self.clip)}

    @classmethod
    def from_arrays(cls, arrays, prefix: str = "scaler.") -> "Standardizer":
        return cls(arrays[f"{prefix}mean"], arrays[f"{prefix}scale"], float(arrays[f"{prefix}clip"]))

    def transform(self, features: np.ndarray) -> np.ndarray:
        standard = ((features - self.mean) / self.scale).astype(np.float32)
        return np.clip(standard, -self.clip, self.clip, out=standard) if self.clip else standard
