"""The physical-transform interface: the one seam between the trainer and any wave system.

Everything the trainer talks to -- an in-process medium (`sim://`), an emulated device (`emu://`),
a board on a serial port -- is a `PhysicalTransform`: a batch of actuator commands in, a batch of
sensor readings out. The trainer never learns which one it has.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from . import kernels

ENCODERS = ("l2", "minmax", "bits")


@dataclass(frozen=True)
class ActuatorEncoding:
    """How layer activations become actuator commands.

    encoder: "l2"     -- per-sample L2 normalisation (loudspeaker amplitudes, PhyLL acoustic);
             "minmax" -- per-sample min-max scaling onto [low, high] (SLM phases, drive levels);
             "bits"   -- per-sample min-max then quantisation of each value to `bits` binary
                         elements (PhyLL metasurface: 2 PIN-diode states per value).
    low, high: limits of one actuator command; a device clamps to them whatever it is sent.
    bits: binary elements per value ("bits" only); the layer then feeds n_actuators // bits values.
    """

    encoder: str = "l2"
    low: float = -1.0
    high: float = 1.0
    bits: int = 1

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown actuator encoder {self.encoder!r}; expected one of {ENCODERS}")
        if not self.low < self.high:
            raise ValueError(f"actuator limits must satisfy low < high, got [{self.low}, {self.high}]")
        if self.bits < 1:
            raise ValueError(f"bits per value must be >= 1, got {self.bits}")

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Activations (B, values_for(n_actuators)) -> actuator commands (B, n_actuators), float32.

        The one encoder: the trainer's layers, the digital twin's probes and the emulator's
        scale probe all drive a medium through it, so they send what training sends.
        """
        if self.encoder == "l2":
            return np.clip(kernels.encode_l2(values), self.low, self.high)
        if self.encoder == "minmax":
            return kernels.encode_minmax(values, self.low, self.high)
        return kernels.quantize_bits(values, self.bits).astype(np.float32, copy=False)

    def values_for(self, n_actuators: int) -> int:
        """How many activation values drive `n_actuators` actuators."""
        return n_actuators // self.bits if self.encoder == "bits" else n_actuators

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class PhysicalTransform(Protocol):
    """A physical system seen from the host.

    forward: float32 array (B, n_actuators) of actuator commands -> float32 array (B, n_sensors).
    Commands are already encoded (within [low, high], or 0/1 element states for "bits").
    """

    n_actuators: int
    n_sensors: int
    encoding: ActuatorEncoding

    def forward(self, actuation: np.ndarray) -> np.ndarray: ...

    def describe(self) -> dict: ...

    def close(self) -> None: ...


class PhysicalError(RuntimeError):
    """A physical system failed to answer with a valid measurement."""
