"""A reverberant box with loudspeakers and microphones, each driven/read at K tones.

Actuator s*K + k is the complex amplitude (real, sign = phase flip) of tone k on speaker s;
sensor m*K + k is the magnitude microphone m hears at tone k -- the layout of the paper's rig.
Per tone the box is a complex transfer matrix from a modal model of a room:

    H_ms(f) = sqrt(kappa/(1+kappa)) * a_m b_s e^{i theta}                        (direct path)
            + sqrt(1/(1+kappa)) * sum_n phi_n(r_m) phi_n(r_s) / (f_n^2 - f^2 + i f f_n / Q)

with mode frequencies f_n drawn with Weyl's density dN/df = 4 pi V f^2 / c^3 and phi_n ~ N(0, 1).
A measurement is y = |sum_s H_ms(f_k) x_sk + b_mk| * (1 + noise * xi).
"""
from __future__ import annotations

import numpy as np

from ..physical import ActuatorEncoding
from .base import Medium

_SPEED_OF_SOUND = 343.0  # m/s


class AcousticCavity(Medium):
    name = "acoustic"

    def __init__(self, speakers: int = 4, microphones: int = 4, tones: int = 5, seed: int = 0,
                 noise: float = 0.05, volume: float = 0.1, f_low: float = 1000.0,
                 f_high: float = 2000.0, q: float = 50.0, kappa: float = 1.0) -> None:
        if min(speakers, microphones, tones) < 1:
            raise ValueError("acoustic medium needs at least one speaker, microphone and tone")
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.speakers, self.microphones, self.tones = speakers, microphones, tones
        self.noise = float(noise)
        self.seed = seed
        self.n_actuators = speakers * tones
        self.n_sensors = microphones * tones
        self.encoding = ActuatorEncoding("l2", -1.0, 1.0)
        model_rng = np.random.default_rng([seed, 0])
        self.tone_hz = np.linspace(f_low, f_high, tones)
        self.transfer = self._modal_transfer(model_rng, volume, q, kappa)  # (K, M, S) complex
        self.background = 0.05 * (model_rng.standard_normal((tones, microphones))
                                  + 1j * model_rng.standard_normal((tones, microphones)))
        self._noise_rng = np.random.default_rng([seed, 1])

    def _modal_transfer(self, rng: np.random.Generator, volume: float, q: float,
                        kappa: float) -> np.ndarray:
        f = self.tone_hz
        bandwidth = f.max() / q
        lo, hi = max(f.min() - 20 * bandwidth, 1.0), f.max() + 20 * bandwidth
        # Weyl: N(f) = 4 pi V f^3 / (3 c^3); uniform points in N are the mode frequencies.
        weyl = lambda x: 4 * np.pi * volume * x**3 / (3 * _SPEED_OF_SOUND**3)  # noqa: E731
        n_modes = max(int(round(weyl(hi) - weyl(lo))), 1)
        counts = rng.uniform(weyl(lo), weyl(hi), n_modes)
        f_modes = np.cbrt(counts * 3 * _SPEED_OF_SOUND**3 / (4 * np.pi * volume))
        q_modes = rng.uniform(0.4 * q, 2.0 * q, n_modes)
        phi_mic = rng.standard_normal((n_modes, self.microphones))
        phi_spk = rng.standard_normal((n_modes, self.speakers))
        denom = f_modes**2 - f[:, None] ** 2 + 1j * f[:, None] * f_modes / q_modes  # (K, N)
        reverberant = np.einsum("nm,ns,kn->kms", phi_mic, phi_spk, 1.0 / denom)
        reverberant /= np.sqrt(np.mean(np.abs(reverberant) ** 2, axis=(1, 2), keepdims=True))
        a = rng.uniform(0.5, 1.5, self.microphones)
        b = rng.uniform(0.5, 1.5, self.speakers)
        theta = rng.normal(0.0, 0.3, (self.tones, 1, 1))  # mostly real: small phases
        direct = a[None, :, None] * b[None, None, :] * np.exp(1j * theta)
        transfer = np.sqrt(kappa / (1 + kappa)) * direct + np.sqrt(1 / (1 + kappa)) * reverberant
        return (transfer / np.sqrt(self.speakers)).astype(np.complex64)

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        drive = actuation.reshape(-1, self.speakers, self.tones)
        field = np.einsum("kms,bsk->bmk", self.transfer, drive) + self.background.T[None]
        measured = np.abs(field)
        if self.noise:
            measured *= 1 + self.noise * self._noise_rng.standard_normal(measured.shape, np.float32)
            np.abs(measured, out=measured)
        return measured.reshape(-1, self.n_sensors).astype(np.float32)

    def describe(self) -> dict:
        return {**super().describe(), "speakers": self.speakers, "microphones": self.microphones,
                "tones_hz": self.tone_hz.tolist(), "noise": self.noise, "seed": self.seed}


MEDIUM = AcousticCavity
