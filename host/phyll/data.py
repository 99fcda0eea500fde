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


# CSV rows parsed at a time: memory holds one block of text, never the whole file's (Python
# strings take ~50 bytes a cell, ~15x their float32).
_CSV_BLOCK_ROWS = 1 << 14


def load_csv(path: str | Path, label_column: str) -> Dataset:
    """Label from `label_column`; every other column that holds numbers is a feature.

    A column with no number at all (an identifier such as a speaker name) is left out; a column
    that is numeric but has a non-numeric cell is an error naming the cell. The file is read in
    blocks of rows, so a large CSV costs its float32 array plus one block.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"dataset {path} is a directory; give a CSV file")
    if not path.is_file():
        raise DataError(f"dataset file {path} does not exist")
    reader = None
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:  # -sig: Excel's byte-order mark
            reader = csv.reader(fh)
            return _read_csv(path, reader, label_column)
    except UnicodeDecodeError:
        raise DataError(f"dataset {path} is not UTF-8 text ({_first_non_utf8(path)}); "
                        "save it as UTF-8 CSV") from None
    except csv.Error as exc:
        line = reader.line_num if reader is not None else 1
        raise DataError(f"{path} line {line} is not CSV: {exc}") from None
    except OSError as exc:
        raise DataError(f"cannot read dataset {path}: {exc.strerror or exc}") from None


def _first_non_utf8(path: Path) -> str:
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"line {number} has byte 0x{line[exc.start]:02x}"
    return "a byte sequence is cut at its end"


def _read_csv(path: Path, reader, label_column: str) -> Dataset:
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise DataError(f"{path} is empty") from None
    if label_column not in header:
        raise DataError(f"{path} has no column {label_column!r}; columns are {header}")
    columns = _CsvColumns(path, header, label_column)
    rows, lines = [], []
    for row in reader:
        if len(row) != len(header):
            if any(cell.strip() for cell in row):
                raise DataError(f"{path} line {reader.line_num} has {len(row)} fields, "
                                f"header has {len(header)}")
            continue  # a blank line
        rows.append(row)
        lines.append(reader.line_num)
        if len(rows) == _CSV_BLOCK_ROWS:
            columns.add(rows, lines)
            rows, lines = [], []
    columns.add(rows, lines)
    return columns.dataset()


class _CsvColumns:
    """A CSV's columns, block by block: float32 values (NaN where a cell is no number), labels as
    codes, and per column whether it holds any number and its first bad cell (line, text, why)."""

    def __init__(self, path: Path, header: list[str], label_column: str) -> None:
        self.path, self.header, self.label_column = path, header, label_column
        self.label_index = header.index(label_column)
        self.feature_columns = [i for i in range(len(header)) if i != self.label_index]
        self.blocks: list[np.ndarray] = []
        self.codes: list[np.ndarray] = []
        self.label_codes: dict[str, int] = {}  # in order of first appearance
        self.has_number = np.zeros(len(self.feature_columns), dtype=bool)
        self.first_text: dict[int, tuple[int, str]] = {}
        self.first_non_finite: dict[int, tuple[int, str, str]] = {}

    def add(self, rows: list[list[str]], lines: list[int]) -> None:
        labels = [row[self.label_index].strip() for row in rows]
        if "" in labels:
            rows, lines, labels = self._without_blank_rows(rows, lines, labels)
        if not rows:
            return
        block = np.empty((len(rows), len(self.feature_columns)), dtype=np.float32)
        for j, index in enumerate(self.feature_columns):
            block[:, j] = self._column(j, [row[index] for row in rows], lines)
        self.blocks.append(block)
        codes = self.label_codes
        self.codes.append(np.fromiter((codes.setdefault(label, len(codes)) for label in labels),
                                      dtype=np.int32, count=len(labels)))

    def _without_blank_rows(self, rows, lines, labels):
        kept = []
        for i, label in enumerate(labels):
            if label:
                kept.append(i)
            elif any(cell.strip() for cell in rows[i]):
                raise DataError(f"{self.path} line {lines[i]}: empty label in column {self.label_column!r}")
        return [rows[i] for i in kept], [lines[i] for i in kept], [labels[i] for i in kept]

    def _column(self, j: int, cells: list[str], lines: list[int]) -> np.ndarray:
        try:
            values = np.array(cells, dtype=np.float64)
            numbers = np.ones(len(cells), dtype=bool)
        except ValueError:
            parsed = [_as_float(cell) for cell in cells]
            numbers = np.array([value is not None for value in parsed])
            values = np.array([np.nan if value is None else value for value in parsed])
            if j not in self.first_text:
                i = int(np.argmin(numbers))
                self.first_text[j] = (lines[i], cells[i].strip())
        self.has_number[j] |= bool(numbers.any())
        with np.errstate(over="ignore"):  # overflow is checked just below, naming the cell
            single = values.astype(np.float32)
        bad = numbers & ~np.isfinite(single)
        if bad.any() and j not in self.first_non_finite:
            i = int(np.argmax(bad))
            why = "is not finite" if not np.isfinite(values[i]) else "is beyond float32's range (+-3.4e38)"
            self.first_non_finite[j] = (lines[i], cells[i].strip(), why)
        return single

    def dataset(self) -> Dataset:
        if not self.blocks:
            raise DataError(f"{self.path} has a header but no data rows")
        for j, index in enumerate(self.feature_columns):
            if self.has_number[j]:
                self._check_cells(j, self.header[index])
        keep = np.flatnonzero(self.has_number)  # a column without any number is text: not a feature
        if not keep.size:
            raise DataError(f"{self.path} has no numeric feature column besides {self.label_column!r}")
        features = np.empty((sum(len(block) for block in self.blocks), keep.size), dtype=np.float32)
        start = 0
        while self.blocks:  # freed as copied: the file's values are held once, not twice
            block = self.blocks.pop(0)
            features[start:start + len(block)] = block[:, keep]
            start += len(block)
        codes = np.concatenate(self.codes)
        names = [self.header[self.feature_columns[j]] for j in keep]
        return _labelled(features, self.label_codes, codes, names, str(self.path.resolve()),
                         self.label_column)

    def _check_cells(self, j: int, name: str) -> None:
        text, non_finite = self.first_text.get(j), self.first_non_finite.get(j)
        if text and not (non_finite and non_finite[0] < text[0]):
            raise DataError(f"{self.path} line {text[0]}, column {name!r}: {text[1]!r} is not a number")
        if non_finite:
            line, cell, why = non_finite
            raise DataError(f"{self.path} line {line}, column {name!r}: value {cell!r} {why}")


def _labelled(features: np.ndarray, label_codes: dict[str, int], codes: np.ndarray,
              feature_names: list[str], source: str, label_column: str) -> Dataset:
    """A Dataset whose classes are the labels in natural order; `codes` index `label_codes`."""
    class_names = sorted(label_codes, key=_natural_key)
    if len(class_names) < 2:
        raise DataError(f"dataset {source} has a single class {class_names}; PhyLL needs at least two")
    order = np.empty(len(class_names), dtype=np.int64)
    for i, name in enumerate(class_names):
        order[label_codes[name]] = i
    return Dataset(features, order[codes], class_names, list(feature_names), source, label_column)


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
    features = np.asarray(bunch.data, dtype=np.float32)
    feature_names = [str(n) for n in getattr(bunch, "feature_names",
                                             [f"x{i}" for i in range(features.shape[1])])]
    # The dataset's own class order, not the natural order a CSV's labels are put in.
    return Dataset(features, np.asarray(bunch.target, dtype=np.int64), names, feature_names,
                   f"builtin:{name}", "target")


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
    test = np.sort(np.concatenate(test))
    if not test.size:
        raise DataError(f"a test fraction of {test_fraction} leaves no test rows: each of the "
                        f"{len(train)} classes rounds to 0 of its rows (the largest has "
                        f"{max(len(rows) for rows in train)}); use a larger --test-fraction")
    return np.sort(np.concatenate(train)), test


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
    def fit(cls, features: np.ndarray, clip: float = DEFAULT_CLIP,
            rows: np.ndarray | None = None) -> "Standardizer":
        """Fitted on features[rows] (all rows if None). Mean and standard deviation as numpy
        computes them, summed over blocks of rows: a float64 copy of a large dataset would cost
        twice its float32 size."""
        if clip < 0:
            raise DataError(f"clip must be >= 0 standard deviations, got {clip}")
        n = len(features) if rows is None else len(rows)
        mean = sum(block.sum(axis=0, dtype=np.float64) for block in _row_blocks(features, rows)) / n
        variance = sum(np.square(block - mean).sum(axis=0) for block in _row_blocks(features, rows)) / n
        scale = np.sqrt(variance)
        scale[scale == 0] = 1.0  # a constant feature carries nothing; leave it at zero
        return cls(mean.astype(np.float32), scale.astype(np.float32), float(clip))

    def to_arrays(self, prefix: str = "scaler.") -> dict[str, np.ndarray]:
        return {f"{prefix}mean": self.mean, f"{prefix}scale": self.scale,
                f"{prefix}clip": np.asarray(self.clip)}

    @classmethod
    def from_arrays(cls, arrays, prefix: str = "scaler.") -> "Standardizer":
        return cls(arrays[f"{prefix}mean"], arrays[f"{prefix}scale"], float(arrays[f"{prefix}clip"]))

    def transform(self, features: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """float32 standardised copy of features[rows] (all rows if None), computed block by
        block into the result."""
        n = len(features) if rows is None else len(rows)
        out = np.empty((n, *features.shape[1:]), dtype=np.float32)
        start = 0
        for block in _row_blocks(features, rows):
            standard = out[start:start + len(block)]
            np.divide(block - self.mean, self.scale, out=standard, casting="unsafe")
            if self.clip:
                np.clip(standard, -self.clip, self.clip, out=standard)
            start += len(block)
        return out


# Rows per block where a whole-array expression would hold temporaries as large as the data.
_ROW_BLOCK = 1 << 16


def _row_blocks(features: np.ndarray, rows: np.ndarray | None = None):
    n = len(features) if rows is None else len(rows)
    for start in range(0, max(n, 1), _ROW_BLOCK):
        yield features[start:start + _ROW_BLOCK] if rows is None else features[rows[start:start + _ROW_BLOCK]]
