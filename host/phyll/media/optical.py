"""Light through a scattering medium: a phase-only SLM in front, a camera behind.

Actuator j is SLM pixel j: command x in [0, 1] ("minmax" encoding) becomes the phase pi*x,
rounded to the SLM's 2**slm_bits levels. The medium is a transmission matrix T (camera x slm):

    modes = 0:  T_cj ~ CN(0, 1/slm), the classic model of a thick scattering layer;
    modes = M:  T = A_out U A_in, light coupled into M guided modes (a multimode fibre) that a
                Haar-random unitary U mixes; cheaper for large frames, and correlated speckle.

Either way a pixel's mean intensity is 1. Sensor c is camera pixel c:

    e_c = Poisson(photons * g_c(t) * |sum_j T_cj exp(i pi x_j)|^2) + read_noise * zeta_c
    y_c = ADC_full_well(e_c) / photons

photons is the mean signal in photoelectrons, the converter spans [0, full_well] in 2**camera_bits
steps (so y saturates at full_well / photons), and g is the drift/gain-step gain of
`ImperfectMedium` (laser power). Readings are in units of the mean intensity.
"""
from __future__ import annotations

import numpy as np

from ..physical import ActuatorEncoding
from .imperfections import ImperfectMedium
from .readout import adc, check_bits

_MAX_PIXELS = 64 * 64


class ScatteringOptics(ImperfectMedium):
    """Perturbations: "redraw" (size eps in [0, 1]: T' = sqrt(1-eps) T + sqrt(eps) T_new, the
    medium shifted or the fibre bent; with modes, U is mixed) and "gain" (dB)."""

    name = "optical"
    perturbation_kinds = ("redraw",)

    def __init__(self, slm: int = 100, camera: int = 100, seed: int = 0, modes: int = 0,
                 slm_bits: int = 8, photons: float = 2000.0, full_well: float = 10000.0,
                 read_noise: float = 5.0, camera_bits: int = 10, **imperfections) -> None:
        for label, count in (("slm", slm), ("camera", camera)):
            if not 1 <= count <= _MAX_PIXELS:
                raise ValueError(f"{label} pixel count must be in [1, {_MAX_PIXELS}], got {count}")
        if not 0 <= modes <= _MAX_PIXELS:
            raise ValueError(f"modes must be 0 (a dense matrix) or in [1, {_MAX_PIXELS}], got {modes}")
        if photons <= 0 or full_well <= 0 or read_noise < 0:
            raise ValueError(f"need photons > 0, full_well > 0, read_noise >= 0, got "
                             f"{photons}, {full_well}, {read_noise}")
        self.slm, self.camera, self.modes, self.seed = slm, camera, modes, seed
        self.n_actuators, self.n_sensors = slm, camera
        self.encoding = ActuatorEncoding("minmax", 0.0, 1.0)
        self._init_imperfections(seed, imperfections)
        self.slm_bits = check_bits("slm_bits", slm_bits, 1, 16)
        self.camera_bits = check_bits("camera_bits", camera_bits, 1, 16)
        self.photons, self.full_well, self.read_noise = float(photons), float(full_well), float(read_noise)
        self._slm_levels = 2**self.slm_bits - 1
        self._phase_table = np.exp(1j * np.pi * np.arange(self._slm_levels + 1) / self._slm_levels).astype(np.complex64)
        model_rng = np.random.default_rng([seed, 0])
        if modes:
            self._into_modes_t = _gaussian(model_rng, (slm, modes), 1.0 / slm)  # A_in^T
            self._out_of_modes_t = _gaussian(model_rng, (modes, camera), 1.0 / modes)  # A_out^T
        self._core_t = self._draw_core(model_rng)  # T^T, or U^T with modes
        self._noise_rng = np.random.default_rng([seed, 1])

    def _draw_core(self, rng: np.random.Generator) -> np.ndarray:
        if self.modes:
            return _haar_unitary(rng, self.modes)
        return _gaussian(rng, (self.slm, self.camera), 1.0 / self.slm)

    def transmission_matrix(self) -> np.ndarray:
        """T (camera, slm), complex64."""
        if not self.modes:
            return self._core_t.T
        return (self._into_modes_t @ self._core_t @ self._out_of_modes_t).T

    def field(self, actuation: np.ndarray) -> np.ndarray:
        """The complex field on the camera (B, camera) for SLM commands (B, slm)."""
        levels = np.rint(np.clip(actuation, 0.0, 1.0) * self._slm_levels).astype(np.intp)
        slm_field = self._phase_table[levels]
        if not self.modes:
            return slm_field @ self._core_t
        return (slm_field @ self._into_modes_t) @ self._core_t @ self._out_of_modes_t

    def _measure(self, actuation: np.ndarray, gain: np.ndarray) -> np.ndarray:
        field = self.field(actuation)
        mean_electrons = np.square(np.real(field)) + np.square(np.imag(field))
        mean_electrons *= self.photons * gain
        electrons = self._noise_rng.poisson(mean_electrons).astype(np.float32)
        if self.read_noise:
            electrons += self.read_noise * self._noise_rng.standard_normal(electrons.shape, np.float32)
        adc(electrons, self.full_well, self.camera_bits)
        electrons *= 1.0 / self.photons
        return electrons

    def _apply_perturbation(self, kind: str, size: float, rng: np.random.Generator) -> None:
        if not 0.0 <= size <= 1.0:
            raise ValueError(f"a redraw of medium {self.name!r} takes eps in [0, 1], got {size}")
        mixed = np.sqrt(1.0 - size) * self._core_t + np.sqrt(size) * self._draw_core(rng)
        self._core_t = mixed.astype(np.complex64)

    def describe(self) -> dict:
        return {**super().describe(), "slm": self.slm, "camera": self.camera, "modes": self.modes,
                "slm_bits": self.slm_bits, "camera_bits": self.camera_bits, "photons": self.photons,
                "full_well": self.full_well, "read_noise": self.read_noise, "seed": self.seed}


def _gaussian(rng: np.random.Generator, shape: tuple[int, int], variance: float) -> np.ndarray:
    scale = np.sqrt(variance / 2)
    return (scale * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))).astype(np.complex64)


def _haar_unitary(rng: np.random.Generator, size: int) -> np.ndarray:
    """A Haar-random unitary: QR of a complex Gaussian, phases of R's diagonal moved into Q."""
    q, r = np.linalg.qr(_gaussian(rng, (size, size), 1.0).astype(complex))
    diagonal = np.diag(r)
    return (q * (diagonal / np.abs(diagonal))).astype(np.complex64)


MEDIUM = ScatteringOptics
