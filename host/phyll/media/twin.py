"""Digital twins: a model of a rig fitted to recorded passes, with its noise, served as a medium.

This is how the paper's authors trained before their rig was free: record drives and readings,
fit a model, train on the model. `fit_twin(x, y, kind)` fits one of

    linear     y = A x + c
    magnitude  y = |complex affine in x|, i.e. y^2 a quadratic form in x: the form of a rig that
               reads magnitudes of a field linear in its drive (the acoustic cavity's)
    mlp        a 64-unit ReLU network (scikit-learn), for anything else

on all but the last `HELD_OUT` share of the rows (recording order) and reports, on those, the R^2
per output and the residual spread: the twin's noise, added back as Gaussian noise per output
when it serves readings, which are clipped to the range the rig gave. `phyll twin fit` saves it;
`sim://twin?path=FILE` and `emu://twin?path=FILE` serve it.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from ..checkpoint import replacing
from ..physical import ActuatorEncoding, PhysicalTransform
from .base import Medium
from .calibration import held_out_split

FORMAT = "phyll-twin/1"
TWIN_KINDS = ("linear", "magnitude", "mlp")
# A magnitude fit has 1 + A + A(A+1)/2 terms per output; past this many rows per term the fit
# is left to the linear or MLP model.
_ROWS_PER_TERM = 4


def probe_actuations(transform: PhysicalTransform, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random actuations shaped like the trainer's: random activations through the rig's encoder."""
    enc = transform.encoding
    return enc.encode(rng.standard_normal((n, enc.values_for(transform.n_actuators))).astype(np.float32))


class TwinModel:
    """A fitted model: `predict` (noise-free) plus what the held-out rows said of it."""

    def __init__(self, kind: str, arrays: dict[str, np.ndarray]) -> None:
        if kind not in TWIN_KINDS:
            raise ValueError(f"unknown twin kind {kind!r}; choose from {', '.join(TWIN_KINDS)}")
        self.kind, self.arrays = kind, arrays
        self.held_out_r2 = np.zeros(0)
        self.residual_std = np.zeros(0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.kind == "linear":
            y = x @ self.arrays["coef"] + self.arrays["intercept"]
        elif self.kind == "magnitude":
            y = np.sqrt(np.clip(_quadratic(x) @ self.arrays["coef"], 0.0, None))
        else:
            y = x
            layers = sorted(key for key in self.arrays if key.startswith("weights"))
            for k, key in enumerate(layers):
                y = y @ self.arrays[key] + self.arrays[key.replace("weights", "bias")]
                if k < len(layers) - 1:
                    y = np.maximum(y, 0.0)
        return y.astype(np.float32)


def fit_twin(x: np.ndarray, y: np.ndarray, kind: str = "magnitude", seed: int = 0) -> TwinModel:
    """Fit on the first rows, measure on the held-out last ones (see the module's docstring)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    fit = held_out_split(len(x))
    if fit < x.shape[1] + 2:
        raise ValueError(f"{len(x)} recorded passes cannot fit a twin of {x.shape[1]} drive entries; "
                         f"record at least {int(np.ceil((x.shape[1] + 2) / 0.8))}")
    model = TwinModel(kind, _FITS[kind](x[:fit], y[:fit], seed) if kind in _FITS else {})
    predicted, truth = model.predict(x[fit:]).astype(np.float64), y[fit:]
    residual = truth - predicted
    variance = truth.var(axis=0)
    model.held_out_r2 = 1.0 - residual.var(axis=0) / np.where(variance > 0, variance, np.inf)
    model.residual_std = residual.std(axis=0)
    return model


def _fit_linear(x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    coef, *_ = np.linalg.lstsq(np.c_[x, np.ones(len(x))], y, rcond=None)
    return {"coef": coef[:-1], "intercept": coef[-1]}


def _fit_magnitude(x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    terms = 1 + x.shape[1] + x.shape[1] * (x.shape[1] + 1) // 2
    if len(x) < _ROWS_PER_TERM * terms:
        raise ValueError(f"a magnitude twin of {x.shape[1]} drive entries has {terms} terms per output "
                         f"and wants {_ROWS_PER_TERM * terms} fitted passes, got {len(x)}: record more, "
                         "or fit --model linear or mlp")
    coef, *_ = np.linalg.lstsq(_quadratic(x), y**2, rcond=None)
    return {"coef": coef}


def _fit_mlp(x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    mlp = MLPRegressor(hidden_layer_sizes=(64,), max_iter=300, random_state=seed,
                       early_stopping=True, n_iter_no_change=15, tol=1e-6)
    with warnings.catch_warnings():  # a capped fit is the point: a quick, imperfect twin
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(x, y)
    arrays = {}
    for k, (weights, bias) in enumerate(zip(mlp.coefs_, mlp.intercepts_)):
        arrays[f"weights{k:02d}"], arrays[f"bias{k:02d}"] = weights, bias
    return arrays


_FITS = {"linear": _fit_linear, "magnitude": _fit_magnitude, "mlp": _fit_mlp}


def _quadratic(x: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(x.shape[1])
    return np.c_[np.ones(len(x)), x, x[:, i] * x[:, j]]


def inferred_encoding(x: np.ndarray) -> ActuatorEncoding:
    """The recorded drives' range, widened to two decimals, as a min-max encoding."""
    low, high = np.floor(x.min() * 100) / 100, np.ceil(x.max() * 100) / 100
    return ActuatorEncoding("minmax", float(low), float(high if high > low else low + 1.0))


def save_twin(path: str | Path, model: TwinModel, y: np.ndarray, encoding: ActuatorEncoding,
              source: dict) -> Path:
    """Write the model, its noise, the readings' range and what it was fitted to."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "kind": model.kind, "encoding": encoding.to_dict(), "source": source,
            "held_out_r2": model.held_out_r2.tolist(), "residual_std": model.residual_std.tolist()}
    arrays = {f"model.{key}": value for key, value in model.arrays.items()}
    arrays.update({"low": y.min(axis=0), "high": y.max(axis=0), "mean": y.mean(axis=0),
                   "meta": np.array(json.dumps(meta))})
    with replacing(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def load_twin(path: str | Path) -> tuple[TwinModel, dict, dict[str, np.ndarray]]:
    """(model, its metadata, the readings' low/high/mean) from a file save_twin wrote."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"twin file {path} does not exist; make one with phyll twin fit")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path} is not a twin file phyll twin fit wrote ({exc})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} has format {meta.get('format')!r}, expected {FORMAT!r}")
    model = TwinModel(meta["kind"], {key[6:]: value for key, value in arrays.items() if key.startswith("model.")})
    model.held_out_r2 = np.asarray(meta["held_out_r2"])
    model.residual_std = np.asarray(meta["residual_std"])
    return model, meta, {key: arrays[key] for key in ("low", "high", "mean")}


class RecordedTwin(Medium):
    """`sim://twin?path=FILE`: a twin phyll twin fit saved, with its noise (noise=false: none)."""

    name = "twin"

    def __init__(self, path: str = "", seed: int = 0, noise: bool = True) -> None:
        if not path:
            raise ValueError("the twin medium needs path=FILE, a file phyll twin fit wrote")
        self.path = str(Path(path).resolve())
        self.model, self.meta, ranges = load_twin(path)
        self.low, self.high = ranges["low"].astype(np.float32), ranges["high"].astype(np.float32)
        self.encoding = ActuatorEncoding(**self.meta["encoding"])
        self.n_sensors = int(self.low.shape[0])
        self.n_actuators = int(self.meta["source"]["drive_entries"])
        self.sensor_full_scale = float(max(np.abs(self.low).max(), np.abs(self.high).max()))
        self.noise, self.seed = bool(noise), seed
        self._noise_std = self.model.residual_std.astype(np.float32)
        self._noise_rng = np.random.default_rng([seed, 1])

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        readings = self.model.predict(actuation)
        if self.noise:
            readings += self._noise_std * self._noise_rng.standard_normal(readings.shape, np.float32)
        return np.clip(readings, self.low, self.high, out=readings)

    def describe(self) -> dict:
        return {**super().describe(), "path": self.path, "kind": self.model.kind, "noise": self.noise,
                "seed": self.seed, "held_out_r2_median": float(np.median(self.model.held_out_r2)),
                "source": self.meta["source"]}


MEDIUM = RecordedTwin
