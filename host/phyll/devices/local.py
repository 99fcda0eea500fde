"""A medium run in this process, guarded so a faulty model fails loudly and by name."""
from __future__ import annotations

import numpy as np

from ..media import Medium
from ..physical import PhysicalError


class LocalDevice:
    """PhysicalTransform over an in-process `Medium`: checks shapes and values both ways."""

    def __init__(self, medium: Medium, url: str = "") -> None:
        self.medium = medium
        self.url = url
        self.n_actuators = int(medium.n_actuators)
        self.n_sensors = int(medium.n_sensors)
        self.encoding = medium.encoding
        self.passes = 0

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        actuation = np.ascontiguousarray(actuation, dtype=np.float32)
        if actuation.ndim != 2 or actuation.shape[1] != self.n_actuators:
            raise ValueError(f"medium {self.medium.name!r} takes (batch, {self.n_actuators}) "
                             f"actuator commands, got shape {actuation.shape}")
        try:
            measured = self.medium.forward(actuation)
        except Exception as exc:
            raise PhysicalError(f"medium {self.medium.name!r} raised {type(exc).__name__}: {exc}") from exc
        measured = np.asarray(measured)
        expected = (actuation.shape[0], self.n_sensors)
        if measured.shape != expected:
            raise PhysicalError(f"medium {self.medium.name!r} returned shape {measured.shape}, "
                                f"expected {expected}")
        if not np.all(np.isfinite(measured)):
            raise PhysicalError(f"medium {self.medium.name!r} returned NaN or inf")
        self.passes += actuation.shape[0]
        return measured.astype(np.float32, copy=False)

    def describe(self) -> dict:
        return {"url": self.url, "kind": "sim", "runtime": "cpython", **self.medium.describe(),
                "counters": {"passes": self.passes}}

    def close(self) -> None:
        self.medium.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
