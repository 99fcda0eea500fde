"""A wire and nothing else: sensor j reads actuator j.

Useful to measure a link (bench/bench_link.py), to check a new board before its transducers are
attached, and as the simplest medium to read. On an emulated device the firmware computes it
itself (`firmware_hal = "loopback"`, firmware/micropython/phyllfw/hal/loopback.py), so a pass
costs the serial link and the frame loop alone: a zero-latency medium.

    sim://loopback?width=20     emu://loopback?width=20
"""
from __future__ import annotations

import numpy as np

from ..physical import ActuatorEncoding
from .base import Medium


class Loopback(Medium):
    name = "loopback"
    firmware_hal = "loopback"
    # Readings span the actuators' range: an emulated device codes both on one scale, so the
    # firmware can hand back the actuator codes as they are.
    sensor_full_scale = 1.0

    def __init__(self, width: int = 20) -> None:
        if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= 4096:
            raise ValueError(f"loopback width must be an integer in 1..4096, got {width!r}")
        self.n_actuators = self.n_sensors = width
        self.encoding = ActuatorEncoding("l2", -1.0, 1.0)

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        # What the device reads back: commands beyond the limits are clamped there too.
        return np.clip(actuation, self.encoding.low, self.encoding.high).astype(np.float32)


MEDIUM = Loopback
