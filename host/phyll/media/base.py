"""The medium interface: the smallest thing a lab writes to plug its own physics into phyll.

A medium is a numpy model (or a replay of recordings) of a wave system. Subclass `Medium`, set the
three attributes, implement `forward`; options come from the URL (`sim://NAME?seed=3&noise=0.02`)
as keyword arguments of `__init__`.
"""
from __future__ import annotations

import numpy as np

from ..physical import ActuatorEncoding


class Medium:
    """Base class for media. Subclasses set n_actuators, n_sensors, encoding and implement forward.

    forward(actuation: float32 (B, n_actuators)) -> float32 (B, n_sensors). It must not keep a
    reference to `actuation` and must return finite values.
    """

    name = "medium"
    n_actuators: int
    n_sensors: int
    encoding: ActuatorEncoding = ActuatorEncoding()
    # The largest |reading| a sensor can give, if known (an ADC's range): an emulated device then
    # codes readings as full_scale / 32767 steps. None: the emulator probes the medium instead.
    sensor_full_scale: float | None = None
    # The firmware HAL that computes this medium itself on an emulated device, if it has a twin
    # there (only "loopback"): no medium process is then involved in a pass.
    firmware_hal: str | None = None

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def describe(self) -> dict:
        return {
            "medium": self.name,
            "n_actuators": self.n_actuators,
            "n_sensors": self.n_sensors,
            "encoding": self.encoding.to_dict(),
        }

    def close(self) -> None:
        """Release whatever the medium holds; the default holds nothing."""
