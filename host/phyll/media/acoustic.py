"""A reverberant box with loudspeakers and microphones, each driven/read at K tones.

Actuator s*K + k is the complex amplitude (real, sign = phase flip) of tone k on speaker s;
sensor m*K + k is the magnitude microphone m hears at tone k -- the layout of the paper's rig.
Per tone the box is a complex transfer matrix from a modal model of a room:

    H_ms(f) = sqrt(kappa/(1+kappa)) * a_m b_s e^{i theta}                        (direct path)
            + sqrt(1/(1+kappa)) * sum_n phi_n(r_m) phi_n(r_s) / (f_n^2 - f^2 + i f f_n / Q_n)

with mode frequencies f_n drawn with Weyl's density dN/df = 4 pi V f^2 / c^3 and phi_n ~ N(0, 1).
A measurement is

    y_mk = ADC( g_mk(t) * |sum_s H_ms(f_k) d(x_sk) + b_mk| * (1 + s_c eta_k + s_i xi_mk) + s_0 zeta_mk )

eta_k common to every microphone at tone k (the source wavers), xi_mk independent, s_0 the noise
floor; d(u) = tanh(gamma u) / gamma a loudspeaker's saturation (gamma = 0: linear); the ADC clips
to [0, full_scale] and rounds to 2**adc_bits - 1 steps; g is the drift/gain-step gain of
`ImperfectMedium`. Measured on the paper's rig (10,000 recordings, 20 outputs): a linear fit
explains R^2 ~ 0.95, |h.x + b| ~ 0.986, residual noise 4-10 % multiplicative, gain wander +-1.5 %.

Heat speeds sound up: every mode frequency scales by 1 + 1.75e-3 per kelvin, and the modal sum is
recomputed (tens of microseconds). The direct path is held fixed.
"""
from __future__ import annotations

import numpy as np

from ..physical import ActuatorEncoding
from .imperfections import ImperfectMedium
from .readout import adc, check_bits

_SPEED_OF_SOUND = 343.0  # m/s
_MODE_SHIFT_PER_KELVIN = 1.75e-3  # d(ln c)/dT = 1/(2T) at room temperature


class AcousticCavity(ImperfectMedium):
    """Perturbations: "redraw" (size eps in [0, 1]: H' = sqrt(1-eps) H + sqrt(eps) H_new, an object
    moved in the room) and "gain" (dB)."""

    name = "acoustic"
    perturbation_kinds = ("redraw",)
    has_thermal_model = True

    def __init__(self, speakers: int = 4, microphones: int = 4, tones: int = 5, seed: int = 0,
                 noise: float = 0.05, volume: float = 0.1, f_low: float = 1000.0,
                 f_high: float = 2000.0, q: float = 50.0, kappa: float = 1.0,
                 common_fraction: float = 0.5, noise_floor: float = 5e-4, adc_bits: int = 16,
                 full_scale: float | None = None, saturation: float = 0.0,
                 **imperfections) -> None:
        if min(speakers, microphones, tones) < 1:
            raise ValueError("acoustic medium needs at least one speaker, microphone and tone")
        if noise < 0 or noise_floor < 0 or saturation < 0:
            raise ValueError(f"noise, noise_floor and saturation must be >= 0, got "
                             f"{noise}, {noise_floor}, {saturation}")
        if not 0 <= common_fraction <= 1:
            raise ValueError(f"common_fraction must be in [0, 1], got {common_fraction}")
        self.speakers, self.microphones, self.tones = speakers, microphones, tones
        self.noise = float(noise)
        # `noise` stays the total multiplicative level; common_fraction of its variance is shared.
        self._sigma_common = self.noise * np.sqrt(common_fraction)
        self._sigma_own = self.noise * np.sqrt(1.0 - common_fraction)
        self.noise_floor = float(noise_floor)
        self.adc_bits = check_bits("adc_bits", adc_bits, 2, 32)
        self.saturation = float(saturation)
        self.seed = seed
        self.n_actuators = speakers * tones
        self.n_sensors = microphones * tones
        self.encoding = ActuatorEncoding("l2", -1.0, 1.0)
        self._init_imperfections(seed, imperfections)
        self.q, self.kappa = float(q), float(kappa)
        model_rng = np.random.default_rng([seed, 0])
        self.tone_hz = np.linspace(f_low, f_high, tones)
        self._draw_modes(model_rng, volume)
        self._coupling = self._draw_coupling(model_rng)
        self._direct = self._draw_direct(model_rng)
        self._mode_scale = 1.0
        self._reverb_norm = None
        self._rebuild_transfer()
        self.background = 0.05 * (model_rng.standard_normal((tones, microphones))
                                  + 1j * model_rng.standard_normal((tones, microphones)))
        self._background_mk = self.background.T[None].astype(np.complex64)
        self.full_scale = self._nominal_full_scale() if full_scale is None else float(full_scale)
        if self.full_scale <= 0:
            raise ValueError(f"full_scale must be > 0, got {full_scale}")
        self._noise_rng = np.random.default_rng([seed, 1])

    def _draw_modes(self, rng: np.random.Generator, volume: float) -> None:
        f = self.tone_hz
        bandwidth = f.max() / self.q
        lo, hi = max(f.min() - 20 * bandwidth, 1.0), f.max() + 20 * bandwidth
        # Weyl: N(f) = 4 pi V f^3 / (3 c^3); uniform points in N are the mode frequencies.
        weyl = lambda x: 4 * np.pi * volume * x**3 / (3 * _SPEED_OF_SOUND**3)  # noqa: E731
        n_modes = max(int(round(weyl(hi) - weyl(lo))), 1)
        counts = rng.uniform(weyl(lo), weyl(hi), n_modes)
        self._modes_hz = np.cbrt(counts * 3 * _SPEED_OF_SOUND**3 / (4 * np.pi * volume))
        self._modes_q = rng.uniform(0.4 * self.q, 2.0 * self.q, n_modes)

    def _draw_coupling(self, rng: np.random.Generator) -> np.ndarray:
        """phi_n(r_m) phi_n(r_s) per mode, flattened to (modes, microphones * speakers)."""
        n_modes = self._modes_hz.size
        phi_mic = rng.standard_normal((n_modes, self.microphones))
        phi_spk = rng.standard_normal((n_modes, self.speakers))
        return (phi_mic[:, :, None] * phi_spk[:, None, :]).reshape(n_modes, -1)

    def _draw_direct(self, rng: np.random.Generator) -> np.ndarray:
        a = rng.uniform(0.5, 1.5, self.microphones)
        b = rng.uniform(0.5, 1.5, self.speakers)
        theta = rng.normal(0.0, 0.3, (self.tones, 1, 1))  # mostly real: small phases
        return a[None, :, None] * b[None, None, :] * np.exp(1j * theta)

    def _rebuild_transfer(self) -> None:
        f = self.tone_hz[:, None]
        f_modes = self._mode_scale * self._modes_hz
        response = 1.0 / (f_modes**2 - f**2 + 1j * f * f_modes / self._modes_q)  # (K, N)
        reverberant = (response @ self._coupling).reshape(self.tones, self.microphones, self.speakers)
        if self._reverb_norm is None:  # fixed once: heat and knocks change the level too
            self._reverb_norm = 1.0 / np.sqrt(np.mean(np.abs(reverberant) ** 2, axis=(1, 2), keepdims=True))
        reverberant *= self._reverb_norm
        transfer = (np.sqrt(self.kappa / (1 + self.kappa)) * self._direct
                    + np.sqrt(1 / (1 + self.kappa)) * reverberant)
        self.transfer = (transfer / np.sqrt(self.speakers)).astype(np.complex64)  # (K, M, S)

    def _nominal_full_scale(self) -> float:
        """The loudest reading a unit-norm drive can give at nominal gain: the ADC's range."""
        loudest = np.linalg.norm(self.transfer, axis=2) + np.abs(self.background)  # (K, M)
        return float(loudest.max())

    def _apply_temperature(self, delta_kelvin: float) -> None:
        self._mode_scale = 1.0 + _MODE_SHIFT_PER_KELVIN * delta_kelvin
        self._rebuild_transfer()

    def _apply_perturbation(self, kind: str, size: float, rng: np.random.Generator) -> None:
        if not 0.0 <= size <= 1.0:
            raise ValueError(f"a redraw of medium {self.name!r} takes eps in [0, 1], got {size}")
        keep, new = np.sqrt(1.0 - size), np.sqrt(size)
        # Mixing couplings and direct path alike mixes H itself, modes staying where heat puts them.
        self._coupling = keep * self._coupling + new * self._draw_coupling(rng)
        self._direct = keep * self._direct + new * self._draw_direct(rng)
        self._rebuild_transfer()

    def _measure(self, actuation: np.ndarray, gain: np.ndarray) -> np.ndarray:
        batch = actuation.shape[0]
        drive = actuation.reshape(batch, self.speakers, self.tones)
        if self.saturation:
            drive = np.tanh(self.saturation * drive) / self.saturation
        field = np.einsum("kms,bsk->bmk", self.transfer, drive) + self._background_mk
        measured = np.abs(field).reshape(batch, self.n_sensors)
        measured *= gain
        if self.noise:
            wobble = self._sigma_own * self._noise_rng.standard_normal(
                (batch, self.microphones, self.tones), np.float32)
            wobble += self._sigma_common * self._noise_rng.standard_normal((batch, 1, self.tones), np.float32)
            wobble += 1.0
            measured *= wobble.reshape(batch, self.n_sensors)
        if self.noise_floor:
            measured += self.noise_floor * self._noise_rng.standard_normal(measured.shape, np.float32)
        return adc(measured.astype(np.float32, copy=False), self.full_scale, self.adc_bits)

    def describe(self) -> dict:
        return {**super().describe(), "speakers": self.speakers, "microphones": self.microphones,
                "tones_hz": self.tone_hz.tolist(), "noise": self.noise,
                "noise_floor": self.noise_floor, "full_scale": self.full_scale,
                "adc_bits": self.adc_bits, "saturation": self.saturation, "seed": self.seed}


MEDIUM = AcousticCavity
