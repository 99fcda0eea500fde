"""A digital twin: a model of the medium fitted to recorded passes, used as a medium itself.

This is the model-based alternative PhyLL is compared against: measure the physics once, fit a
surrogate, train on the surrogate, deploy on the physics -- which may have changed since.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..media import Medium
from ..physical import PhysicalTransform

TWIN_KINDS = ("linear", "mlp")


def probe_actuations(transform: PhysicalTransform, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random actuations shaped like the trainer's: random activations through the rig's encoder."""
    enc = transform.encoding
    return enc.encode(rng.standard_normal((n, enc.values_for(transform.n_actuators))).astype(np.float32))


class DigitalTwin(Medium):
    """A surrogate fitted to (actuation, measurement) pairs: least squares or a small MLP."""

    def __init__(self, actuations: np.ndarray, measurements: np.ndarray, kind: str = "mlp",
                 seed: int = 0, of: str = "medium", encoding=None) -> None:
        if kind not in TWIN_KINDS:
            raise ValueError(f"unknown twin kind {kind!r}; choose from {TWIN_KINDS}")
        self.kind = kind
        self.name = f"twin-of-{of}"
        self.n_actuators, self.n_sensors = actuations.shape[1], measurements.shape[1]
        if encoding is not None:
            self.encoding = encoding
        held_out = max(len(actuations) // 10, 1)
        fit_x, fit_y = actuations[:-held_out], measurements[:-held_out]
        if kind == "linear":
            design = np.c_[fit_x, np.ones(len(fit_x))]
            self._coef, *_ = np.linalg.lstsq(design, fit_y, rcond=None)
        else:
            from sklearn.exceptions import ConvergenceWarning
            from sklearn.neural_network import MLPRegressor

            self._mlp = MLPRegressor(hidden_layer_sizes=(64,), max_iter=300, random_state=seed,
                                     early_stopping=True, n_iter_no_change=15, tol=1e-6)
            with warnings.catch_warnings():  # a capped fit is the point: a quick, imperfect twin
                warnings.simplefilter("ignore", ConvergenceWarning)
                self._mlp.fit(fit_x, fit_y)
        predicted = self.forward(actuations[-held_out:])
        truth = measurements[-held_out:]
        self.r2 = float(1 - np.sum((truth - predicted) ** 2) / np.sum((truth - truth.mean(0)) ** 2))

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        if self.kind == "linear":
            return (np.c_[actuation, np.ones(len(actuation))] @ self._coef).astype(np.float32)
        return self._mlp.predict(actuation).astype(np.float32).reshape(len(actuation), self.n_sensors)

    def describe(self) -> dict:
        return {**super().describe(), "twin": self.kind, "held_out_r2": self.r2}
