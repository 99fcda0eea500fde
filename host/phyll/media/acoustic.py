"""A reverberant box with loudspeakers and microphones, each driven/read at K tones.

Actuator s*K + j is the amplitude of drive tone j on speaker s; sensor m*K + k is the magnitude
microphone m hears in frequency bin k -- the layout of the paper's rig. Per drive tone the box is
a complex transfer matrix from a modal model of a room:

    H_ms(f) = sqrt(kappa/(1+kappa)) * D_ms(f)                                   (direct path)
            + sqrt(1/(1+kappa)) * sum_n phi_n(r_m) phi_n(r_s) / (f_n^2 - f^2 + i f f_n / Q_n)

with mode frequencies f_n drawn with Weyl's density dN/df = 4 pi V f^2 / c^3 and phi_n ~ N(0, 1).
The direct path D is a_m b_s e^{i theta_f} in the idealised cavity (levels within x3, one small
phase per tone); on the rig model each path has its own level, log-normal (a microphone hears
one or two speakers loudest), and its own small phase per tone.
A measurement is

    F_mk = sum_j L(k - spacing*j) sum_s H_ms(f_j) d(x_sj) + b_mk + s_f level_mk n_mk
    y_mk = ADC( g_mk(t) * |F_mk| * (1 + s_c eta_k + s_i xi_mk) + s_0 zeta_mk )

Drive tone j sits on bin spacing*j: with spacing 2, as on the paper's rig, tones 0, 1, 2 are
heard in bins 0, 2, 4, tones 3 and 4 fall above the band, and bins 1 and 3 hear only leakage
L(d) = leakage^|d| of their neighbours and the noise floor. n_mk is complex Gaussian microphone
noise relative to the bin's rms level under nominal drive, eta_k is common to every microphone at
tone k (the source wavers), xi_mk independent, s_0 the noise floor; d(u) = tanh(gamma u) / gamma
a loudspeaker's saturation (gamma = 0: linear); the ADC clips to [0, full_scale] and rounds to
2**adc_bits - 1 steps; g is the drift/gain-step gain of `ImperfectMedium`.

Two models share this code. The default is calibrated to the paper's rig (../shared/data/
phyll-acoustic, docs/media.md has the table): drives in [0, 1] (min-max), tones two bins apart,
mostly additive microphone noise. `ideal=true` is the idealised cavity (phyll's default before
the calibration; the same readings to an ADC step): drives of unit norm in [-1, 1], every tone
read in its own bin, 5 % multiplicative noise only.

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

# Defaults of the options that differ between the two models (docs/media.md: how the rig's were
# measured). The rig's noise is mostly additive: its spread is nearly the same for quiet and loud
# readings of an output (x 1.17 from the quietest fifth to the loudest), ~4.6 % of the output's mean.
_RIG = {"kappa": 3.0, "tone_spacing": 2, "leakage": 0.005, "noise": 0.05, "field_share": 0.75,
        "common_fraction": 0.5}
# The rig's direct paths: levels log-normal with this spread (a microphone hears one or two
# speakers loudest: the rig's outputs vary ~0.45 of their mean under uniform drives), and small
# phases, which keep the response mostly linear (the rig's held-out linear R^2 is 0.96).
_PATH_SPREAD, _PATH_PHASE = 1.2, 0.3
_IDEAL = {"kappa": 1.0, "tone_spacing": 1, "leakage": 0.0, "noise": 0.05, "field_share": 0.0,
          "common_fraction": 0.5}


class AcousticCavity(ImperfectMedium):
    """Perturbations: "redraw" (size eps in [0, 1]: H' = sqrt(1-eps) H + sqrt(eps) H_new, an object
    moved in the room) and "gain" (dB)."""

    name = "acoustic"
    perturbation_kinds = ("redraw",)
    has_thermal_model = True

    def __init__(self, speakers: int = 4, microphones: int = 4, tones: int = 5, seed: int = 0,
                 ideal: bool = False, tone_spacing: int | None = None, leakage: float | None = None,
                 noise: float | None = None, field_share: float | None = None,
                 common_fraction: float | None = None, noise_floor: float = 5e-4,
                 volume: float = 0.1, f_low: float = 1000.0, f_high: float = 2000.0, q: float = 50.0,
                 kappa: float | None = None, adc_bits: int = 16, full_scale: float | None = None,
                 saturation: float = 0.0, **imperfections) -> None:
        if min(speakers, microphones, tones) < 1:
            raise ValueError("acoustic medium needs at least one speaker, microphone and tone")
        given = {"kappa": kappa, "tone_spacing": tone_spacing, "leakage": leakage, "noise": noise,
                 "field_share": field_share, "common_fraction": common_fraction}
        model = {**(_IDEAL if ideal else _RIG), **{k: v for k, v in given.items() if v is not None}}
        _check_model(model, noise_floor, saturation)
        self.ideal = bool(ideal)
        self.speakers, self.microphones, self.tones = speakers, microphones, tones
        self.tone_spacing, self.leakage = int(model["tone_spacing"]), float(model["leakage"])
        self.noise, self.field_share = float(model["noise"]), float(model["field_share"])
        self.common_fraction = float(model["common_fraction"])
        # `noise` is the total relative level: field_share of its variance is microphone noise in
        # the field, the rest multiplicative, of which common_fraction is shared by the microphones.
        self._sigma_field = self.noise * np.sqrt(self.field_share)
        multiplicative = self.noise * np.sqrt(1.0 - self.field_share)
        self._sigma_common = multiplicative * np.sqrt(self.common_fraction)
        self._sigma_own = multiplicative * np.sqrt(1.0 - self.common_fraction)
        self.noise_floor = float(noise_floor)
        self.adc_bits = check_bits("adc_bits", adc_bits, 2, 32)
        self.saturation = float(saturation)
        self.seed = seed
        self.n_actuators = speakers * tones
        self.n_sensors = microphones * tones
        self.encoding = (ActuatorEncoding("l2", -1.0, 1.0) if ideal
                         else ActuatorEncoding("minmax", 0.0, 1.0))
        self._init_imperfections(seed, imperfections)
        self.q, self.kappa = float(q), float(model["kappa"])
        model_rng = np.random.default_rng([seed, 0])
        bin_spacing = (f_high - f_low) / max(tones - 1, 1)
        self.bin_hz = f_low + bin_spacing * np.arange(tones)
        self.tone_hz = f_low + bin_spacing * self.tone_spacing * np.arange(tones)
        self._leak = self.leakage ** np.abs(np.arange(tones)[:, None]
                                            - self.tone_spacing * np.arange(tones)[None, :])  # (bin, tone)
        self._draw_modes(model_rng, volume)
        self._coupling = self._draw_coupling(model_rng)
        self._direct = self._draw_direct(model_rng)
        self._mode_scale = 1.0
        self._reverb_norm = None
        self._rebuild_transfer()
        self.background = 0.05 * (model_rng.standard_normal((tones, microphones))
                                  + 1j * model_rng.standard_normal((tones, microphones)))
        # A constant field at the frequencies the speakers play (the generator's crosstalk into
        # the microphone lines): a bin no tone lands on hears its leakage only.
        played = self._leak.max(axis=1)  # (bins,)
        self._background_mk = (self.background * played[:, None]).T.reshape(-1).astype(np.complex64)
        self._level = self._nominal_level()
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
        """The direct path from each speaker to each microphone, (tones, M, S)."""
        if self.ideal:  # similar levels, one small phase per tone: mostly real
            a = rng.uniform(0.5, 1.5, self.microphones)
            b = rng.uniform(0.5, 1.5, self.speakers)
            theta = rng.normal(0.0, 0.3, (self.tones, 1, 1))
            return a[None, :, None] * b[None, None, :] * np.exp(1j * theta)
        # Rig: path levels spread over decades (placement, directivity: a microphone hears one or
        # two speakers loudest), phases per path and tone.
        level = np.exp(_PATH_SPREAD * rng.standard_normal((1, self.microphones, self.speakers)))
        phase = rng.normal(0.0, _PATH_PHASE, (self.tones, self.microphones, self.speakers))
        path = level * np.exp(1j * phase)
        return path / np.sqrt(np.mean(np.abs(path) ** 2))

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
        self.transfer = (transfer / np.sqrt(self.speakers)).astype(np.complex64)  # (K tones, M, S)
        # What bin k of microphone m hears of drive entry s*K + j, as one (S*K, M*K) matrix.
        heard = self._leak[:, None, :, None] * self.transfer.transpose(1, 0, 2)[None]  # (k, m, j, s)
        self._heard = np.ascontiguousarray(
            heard.transpose(3, 2, 1, 0).reshape(self.n_actuators, self.n_sensors)).astype(np.complex64)

    def _nominal_level(self) -> np.ndarray:
        """rms |F| per sensor under the nominal drive: entries uniform in [0, 1] (rig), or a
        random unit-norm drive (ideal). Microphone noise is set relative to it."""
        heard = self._heard.astype(complex)
        if self.encoding.encoder == "minmax":
            mean = 0.5 * heard.sum(axis=0) + self._background_mk
            power = np.abs(mean) ** 2 + np.sum(np.abs(heard) ** 2, axis=0) / 12.0
        else:
            power = np.sum(np.abs(heard) ** 2, axis=0) / self.n_actuators + np.abs(self._background_mk) ** 2
        return np.sqrt(power).astype(np.float32)

    def _nominal_full_scale(self) -> float:
        """The loudest reading any drive within the encoding's range can give at nominal gain:
        the ADC's range."""
        heard = np.abs(self._heard)
        if self.encoding.encoder == "minmax":  # every entry at 1, all in phase: a bound
            loudest = heard.sum(axis=0)
        else:  # a unit-norm drive aligned with the column
            loudest = np.linalg.norm(heard, axis=0)
        return float((loudest + np.abs(self._background_mk)).max())

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
        drive = actuation
        if self.saturation:
            drive = np.tanh(self.saturation * drive) / self.saturation
        field = drive.astype(np.complex64) @ self._heard
        field += self._background_mk
        if self._sigma_field:
            noise = self._noise_rng.standard_normal((2, batch, self.n_sensors), np.float32)
            noise *= self._sigma_field / np.sqrt(2.0) * self._level
            field += noise[0] + 1j * noise[1]
        measured = np.abs(field)
        measured *= gain
        if self._sigma_own or self._sigma_common:
            wobble = self._sigma_own * self._noise_rng.standard_normal(
                (batch, self.microphones, self.tones), np.float32)
            wobble += self._sigma_common * self._noise_rng.standard_normal((batch, 1, self.tones), np.float32)
            wobble += 1.0
            measured *= wobble.reshape(batch, self.n_sensors)
        if self.noise_floor:
            measured += self.noise_floor * self._noise_rng.standard_normal(measured.shape, np.float32)
        return adc(measured.astype(np.float32, copy=False), self.full_scale, self.adc_bits)

    def describe(self) -> dict:
        return {**super().describe(), "model": "ideal" if self.ideal else "rig",
                "speakers": self.speakers, "microphones": self.microphones,
                "tones_hz": self.tone_hz.tolist(), "bins_hz": self.bin_hz.tolist(),
                "tone_spacing": self.tone_spacing, "leakage": self.leakage, "noise": self.noise,
                "field_share": self.field_share, "common_fraction": self.common_fraction,
                "noise_floor": self.noise_floor, "full_scale": self.full_scale,
                "adc_bits": self.adc_bits, "saturation": self.saturation, "seed": self.seed}


def _check_model(model: dict, noise_floor: float, saturation: float) -> None:
    spacing = model["tone_spacing"]
    if not (isinstance(spacing, int) and not isinstance(spacing, bool) and spacing >= 1):
        raise ValueError(f"tone_spacing must be a whole number of bins >= 1, got {spacing!r}")
    for name, value in (("noise", model["noise"]), ("noise_floor", noise_floor), ("saturation", saturation)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    for name in ("leakage", "field_share", "common_fraction"):
        if not 0 <= model[name] <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {model[name]}")


MEDIUM = AcousticCavity
