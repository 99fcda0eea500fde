"""A digital twin: a model of the medium fitted to recorded passes, used as a medium itself.

This is the model-based alternative PhyLL is compared against: measure the physics once, fit a
surrogate, train on the surrogate, deploy on the physics -- which may have changed since. The
fitting is phyll.media.twin's (the one `phyll twin fit` uses); this twin serves its noise-free
prediction.
"""
from __future__ import annotations

import numpy as np

from ..media import Medium
from ..media.twin import TWIN_KINDS, fit_twin, probe_actuations

__all__ = ["DigitalTwin", "TWIN_KINDS", "probe_actuations"]


class DigitalTwin(Medium):
    """A surrogate fitted to (actuation, measurement) pairs; `r2` is the median held-out R^2."""

    def __init__(self, actuations: np.ndarray, measurements: np.ndarray, kind: str = "mlp",
                 seed: int = 0, of: str = "medium", encoding=None) -> None:
        self.kind = kind
        self.name = f"twin-of-{of}"
        self.n_actuators, self.n_sensors = actuations.shape[1], measurements.shape[1]
        if encoding is not None:
            self.encoding = encoding
        self.model = fit_twin(actuations, measurements, kind, seed)
        self.r2 = float(np.median(self.model.held_out_r2))

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        return self.model.predict(actuation)

    def describe(self) -> dict:
        return {**super().describe(), "twin": self.kind, "held_out_r2": self.r2}
