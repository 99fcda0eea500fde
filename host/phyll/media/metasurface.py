"""A 1-bit programmable metasurface in a chaotic microwave cavity: the coupled-dipole model PhysFad.

Everything is a dipole in a plane (Faqiri et al., IEEE TWC 2023): a transmit and a receive
antenna, the cavity walls and a mechanical stirrer (many fixed lossy dipoles), and the metasurface
elements, each a resonator whose PIN diode moves its resonance between f_on and f_off. In units
where c = 1 and the wavelength at f = 1 is 1 (k = 2 pi f), the interaction matrix is

    W_ii = [(2 pi f_res,i)^2 - (2 pi f)^2] / chi_i^2 + i [k^2/4 + 2 pi f gamma_i / chi_i^2]
    W_ij = i (k^2/4) H0^(2)(k |r_i - r_j|)

and the channel is H(f) = W_RR [W^-1]_RT. Only the elements' diagonal entries depend on the
configuration, so per frequency the walls and stirrer are eliminated once (Schur complement);
a pass then costs one (elements x elements) solve per frequency.

Element strength chi sets how much the configuration matters. At the default chi = 13 about a
quarter of the channel's power depends on the configuration (median over seeds; 0.12-0.44) and a
linear fit in the bits explains little of |S21|; by chi = 20 a linear fit explains ~80 %, and at
the PhysFad example's chi = 50 the elements scatter almost alike in both states: 99.9 %, a medium
a linear layer could replace.

A measurement is |S21(f_k) + n_k| / rms, n_k complex Gaussian at `snr_db` below the mean channel
power, rms the channel's rms magnitude over random configurations (so readings are of order 1).
"""
from __future__ import annotations

import numpy as np
from scipy.special import j0, y0

from ..physical import ActuatorEncoding
from .imperfections import ImperfectMedium

_PORTS = 2  # transmit antenna, receive antenna
_WALL = dict(f_res=10.0, chi=50.0, gamma=100.0)  # PhysFad's lossy enclosure dipoles
_ANTENNA = dict(f_res=1.0, chi=0.5, gamma=0.0)  # weakly coupled antennas, as in PhysFad
_WALL_SPACING = 0.2  # wavelengths: dense enough to confine the field
_CAVITY = (7.0, 5.0)  # wavelengths: the rectangle's width and height; a half circle closes it
_ROW_LENGTH, _MAX_ROWS = 20, 4  # metasurface rows along the bottom wall, below the antennas
_CALIBRATION_CONFIGS = 32
_CHUNK = 32  # configurations per vectorised step: bounds the gathered blocks' memory


def interaction_matrix(freq: float, positions: np.ndarray, f_res: np.ndarray, chi: np.ndarray,
                       gamma: np.ndarray) -> np.ndarray:
    """The full PhysFad interaction matrix W (N, N) at one frequency; the dense reference."""
    k = 2 * np.pi * freq
    distance = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
    np.fill_diagonal(distance, 1.0)  # the diagonal is overwritten below
    w = 1j * (k * k / 4) * (j0(k * distance) - 1j * y0(k * distance))  # H0^(2) = J0 - i Y0
    w[np.diag_indices_from(w)] = (((2 * np.pi * f_res) ** 2 - k * k) / chi**2
                                  + 1j * (k * k / 4 + k * gamma / chi**2))
    return w


class ChaoticMetasurface(ImperfectMedium):
    """Perturbations: "stirrer" (size: rotation of the stirrer paddle in degrees; the static part
    is recomputed, some tens of ms) and "gain" (dB)."""

    name = "metasurface"
    perturbation_kinds = ("stirrer",)

    def __init__(self, elements: int = 40, frequencies: int = 20, seed: int = 0,
                 snr_db: float = 40.0, chi: float = 13.0, f_low: float = 0.95, f_high: float = 1.05,
                 f_on: float = 1.0, f_off: float = 5.0, **imperfections) -> None:
        if elements < 1 or frequencies < 1:
            raise ValueError(f"metasurface needs elements >= 1 and frequencies >= 1, got {elements}, {frequencies}")
        if chi <= 0 or not 0 < f_low <= f_high:
            raise ValueError(f"need chi > 0 and 0 < f_low <= f_high, got {chi}, {f_low}, {f_high}")
        if elements > _ROW_LENGTH * _MAX_ROWS:
            raise ValueError(f"the cavity holds at most {_ROW_LENGTH * _MAX_ROWS} elements "
                             f"({_MAX_ROWS} rows of {_ROW_LENGTH}), got {elements}")
        self.elements, self.frequencies, self.seed = elements, frequencies, seed
        self.n_actuators, self.n_sensors = elements, frequencies
        self.encoding = ActuatorEncoding("bits", 0.0, 1.0, bits=2)
        self._init_imperfections(seed, imperfections)
        self.snr_db, self.chi = float(snr_db), float(chi)
        self.freqs = np.linspace(f_low, f_high, frequencies)
        self.f_on, self.f_off = float(f_on), float(f_off)
        # The part of an element's W_ii that its state sets; the same at every frequency.
        self._on_term, self._off_term = ((2 * np.pi * f) ** 2 / chi**2 for f in (f_on, f_off))
        layout_rng = np.random.default_rng([seed, 0])
        width, height = _CAVITY
        self._walls = _cavity_walls(width, height)
        self._elements = _element_rows(elements, width)
        # Antennas left and right, the stirrer between them: apart at any stirrer angle.
        self._stirrer_centre = np.array([layout_rng.uniform(0.4, 0.55) * width,
                                         layout_rng.uniform(0.45, 0.7) * height])
        self._stirrer_angle = layout_rng.uniform(0, np.pi)
        self._antennas = np.array([[layout_rng.uniform(0.6, 0.25 * width), layout_rng.uniform(2.0, height - 0.6)],
                                   [layout_rng.uniform(0.7 * width, width), layout_rng.uniform(2.0, height - 0.6)]])
        self._precompute_static()
        self._scale = 1.0
        calibration = np.random.default_rng([seed, 2]).integers(0, 2, (_CALIBRATION_CONFIGS, elements))
        power = float(np.mean(np.abs(self.channel(calibration)) ** 2))
        self._scale = 1.0 / np.sqrt(power)
        self._noise_sigma = float(np.sqrt(10 ** (-self.snr_db / 10) / 2))  # per quadrature, scaled units
        self._noise_rng = np.random.default_rng([seed, 1])

    def positions(self) -> np.ndarray:
        """All dipoles in the order ports, walls, stirrer, elements."""
        return np.concatenate([self._antennas, self._walls, self._stirrer(), self._elements])

    def dipole_parameters(self, states: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """(f_res, chi, gamma) in the order of `positions`; element resonances follow `states`
        (None: 0, the configuration-free part the precomputation uses)."""
        n_env = self._walls.shape[0] + self._stirrer().shape[0]
        element_f = (np.zeros(self.elements) if states is None
                     else np.where(np.asarray(states) > 0.5, self.f_on, self.f_off))
        f_res = np.concatenate([[_ANTENNA["f_res"]] * _PORTS, [_WALL["f_res"]] * n_env, element_f])
        chi = np.concatenate([[_ANTENNA["chi"]] * _PORTS, [_WALL["chi"]] * n_env, [self.chi] * self.elements])
        gamma = np.concatenate([[_ANTENNA["gamma"]] * _PORTS, [_WALL["gamma"]] * n_env, np.zeros(self.elements)])
        return f_res, chi, gamma

    def _stirrer(self) -> np.ndarray:
        along = np.linspace(-0.8, 0.8, 8)
        direction = np.array([np.cos(self._stirrer_angle), np.sin(self._stirrer_angle)])
        return self._stirrer_centre + along[:, None] * direction

    def _precompute_static(self) -> None:
        """Per frequency, fold walls and stirrer into a (ports + elements) matrix once."""
        positions = self.positions()
        f_res, chi, gamma = self.dipole_parameters()
        n_env = positions.shape[0] - _PORTS - self.elements
        kept = np.r_[0:_PORTS, _PORTS + n_env:positions.shape[0]]
        env = np.arange(_PORTS, _PORTS + n_env)
        folded, receive_self = [], []
        for freq in self.freqs:
            w = interaction_matrix(freq, positions, f_res, chi, gamma)
            through_env = np.linalg.solve(w[np.ix_(env, env)], w[np.ix_(env, kept)])
            folded.append(w[np.ix_(kept, kept)] - w[np.ix_(kept, env)] @ through_env)
            receive_self.append(w[1, 1])
        folded = np.asarray(folded)
        ports, to_ports = folded[:, :_PORTS, :_PORTS], folded[:, _PORTS:, :_PORTS]
        from_elements, elements = folded[:, :_PORTS, _PORTS:], folded[:, _PORTS:, _PORTS:]
        # Two reference configurations, all off and all on: any configuration is at most
        # elements/2 flips away from one of them, folded in by Woodbury's identity -- a solve
        # of at most half the size, an eighth of the work.
        eye = np.eye(self.elements)
        inverse = np.stack([np.linalg.inv(elements + term * eye) for term in (self._off_term, self._on_term)])
        # Frequency last: gathering an element's row/column then copies K values at a time.
        self._ref_inverse = np.ascontiguousarray(np.moveaxis(inverse, 1, -1))  # (2, n, n, K)
        right = inverse @ to_ports[None]  # (2, K, n, 2)
        left_t = np.swapaxes(from_elements[None] @ inverse, -1, -2)  # (2, K, n, 2)
        self._ref_right = np.ascontiguousarray(right.transpose(0, 2, 1, 3))  # (2, n, K, 2)
        self._ref_left_t = np.ascontiguousarray(left_t.transpose(0, 2, 1, 3))  # (2, n, K, 2)
        self._ref_ports = ports[None] - from_elements[None] @ right  # (2, K, 2, 2)
        self._port_self = np.array([[w_self, w_self] for w_self in receive_self])  # same antennas

    def port_matrix(self, states: np.ndarray) -> np.ndarray:
        """diag(W_PP) [W^-1]_PP per configuration and frequency (B, K, 2, 2): entry [1, 0] is S21,
        [0, 1] is S12 (equal: the medium is reciprocal)."""
        return self._port_self[None, :, :, None] * np.linalg.inv(self._reduced_ports(states))

    def channel(self, states: np.ndarray) -> np.ndarray:
        """Noise-free S21 (B, K), complex, in units of the rms channel magnitude."""
        reduced = self._reduced_ports(states)
        a, b, c, d = (reduced[..., i, j] for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))
        return self._scale * self._port_self[:, 1] * (-c / (a * d - b * c))  # [W^-1]_RT = -c / det

    def _reduced_ports(self, states: np.ndarray) -> np.ndarray:
        """The ports' block of W with everything else eliminated (B, K, 2, 2)."""
        on = np.asarray(states) > 0.5
        reduced = np.empty((on.shape[0], self.frequencies, _PORTS, _PORTS), complex)
        for start in range(0, on.shape[0], _CHUNK):
            reduced[start:start + _CHUNK] = self._woodbury(on[start:start + _CHUNK])
        return reduced

    def _woodbury(self, on: np.ndarray) -> np.ndarray:
        """Fold each configuration's flips from its nearer reference into the reference's ports block."""
        batch, n = on.shape
        reference = (on.sum(axis=1) > n // 2).astype(np.intp)  # 0: all off, 1: all on
        flipped = on != reference[:, None].astype(bool)
        size = int(flipped.sum(axis=1).max())
        reduced = self._ref_ports[reference]
        if size == 0:
            return reduced
        order = np.argsort(~flipped, axis=1, kind="stable")[:, :size]  # flipped elements first
        valid = np.take_along_axis(flipped, order, axis=1)  # (B, size): False pads short sets
        ref = reference[:, None]
        system = self._ref_inverse[ref[:, :, None], order[:, :, None], order[:, None, :]]  # (B, s, s, K)
        system *= (valid[:, :, None] & valid[:, None, :])[..., None]
        step = self._on_term - self._off_term
        inverse_step = np.where(reference == 0, 1.0 / step, -1.0 / step)[:, None]
        diagonal = np.arange(size)
        system[:, diagonal, diagonal, :] += np.where(valid, inverse_step, 1.0)[:, :, None]
        right = self._ref_right[ref, order] * valid[:, :, None, None]  # (B, s, K, 2)
        left_t = self._ref_left_t[ref, order]
        solved = np.linalg.solve(np.moveaxis(system, -1, 1), np.moveaxis(right, 1, 2))  # (B, K, s, 2)
        return reduced + np.moveaxis(left_t, 1, 2).swapaxes(-1, -2) @ solved

    def reference_port_matrix(self, states: np.ndarray, freq_index: int) -> np.ndarray:
        """port_matrix for one configuration by inverting the full W: slow, for tests."""
        w = interaction_matrix(self.freqs[freq_index], self.positions(), *self.dipole_parameters(states))
        inverse = np.linalg.inv(w)[:_PORTS, :_PORTS]
        return np.diag(w)[:_PORTS, None] * inverse

    def _measure(self, actuation: np.ndarray, gain: np.ndarray) -> np.ndarray:
        s21 = self.channel(actuation)
        if self.snr_db != np.inf:
            s21 = s21 + self._noise_sigma * (
                self._noise_rng.standard_normal(s21.shape) + 1j * self._noise_rng.standard_normal(s21.shape))
        return (np.abs(s21) * gain).astype(np.float32)

    def _apply_perturbation(self, kind: str, size: float, rng: np.random.Generator) -> None:
        self._stirrer_angle += np.deg2rad(size)
        self._precompute_static()

    def describe(self) -> dict:
        return {**super().describe(), "elements": self.elements, "frequencies": self.freqs.tolist(),
                "snr_db": self.snr_db, "chi": self.chi, "seed": self.seed,
                "stirrer_angle_deg": float(np.rad2deg(self._stirrer_angle))}


def _cavity_walls(width: float, height: float) -> np.ndarray:
    """A D-shaped cavity (rectangle closed by a half circle): chaotic, unlike a plain rectangle."""
    def line(a, b):
        a, b = np.asarray(a, float), np.asarray(b, float)
        n = max(int(np.linalg.norm(b - a) / _WALL_SPACING), 1)
        return a + (b - a) * ((np.arange(n) + 0.5) / n)[:, None]

    radius = height / 2
    arc = np.linspace(-np.pi / 2, np.pi / 2, int(np.pi * radius / _WALL_SPACING))
    return np.concatenate([line((0, 0), (width, 0)), line((0, height), (width, height)),
                           line((0, 0), (0, height)),
                           np.c_[width + radius * np.cos(arc), radius + radius * np.sin(arc)]])


def _element_rows(elements: int, width: float) -> np.ndarray:
    """Rows of up to 20 elements along the bottom wall, 0.3 wavelengths apart."""
    rows = []
    for row, start in enumerate(range(0, elements, _ROW_LENGTH)):
        count = min(_ROW_LENGTH, elements - start)
        x = np.linspace(0.8, width - 0.8, _ROW_LENGTH)[:count]
        rows.append(np.c_[x, np.full(count, 0.35 + 0.3 * row)])
    return np.concatenate(rows)


MEDIUM = ChaoticMetasurface
