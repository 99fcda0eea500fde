"""The built-in media (acoustic, metasurface, optical), their imperfections, and user media."""
from __future__ import annotations

import time
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest

from threadpoolctl import threadpool_limits

import phyll.media
from phyll.devices import open_device
from phyll.media import Medium, available_media, load_medium
from phyll.media.acoustic import AcousticCavity
from phyll.media.imperfections import WithImperfections
from phyll.network import Network, TrainConfig
from phyll.physical import ActuatorEncoding, PhysicalError

RIG = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "phyll-acoustic"
BUILTIN = ("acoustic", "metasurface", "optical")


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """The media's small solves and products run several times faster on one BLAS thread than on
    two threads contending for a shared machine's cores."""
    with threadpool_limits(1):
        yield


def commands(medium, batch: int, seed: int = 0) -> np.ndarray:
    """Valid actuator commands for the medium's encoding."""
    rng = np.random.default_rng(seed)
    if medium.encoding.encoder == "bits":
        return rng.integers(0, 2, (batch, medium.n_actuators)).astype(np.float32)
    if medium.encoding.encoder == "minmax":
        return rng.uniform(0, 1, (batch, medium.n_actuators)).astype(np.float32)
    x = rng.standard_normal((batch, medium.n_actuators))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def linear_fit_r2(x: np.ndarray, y: np.ndarray, train: int) -> np.ndarray:
    """Held-out R^2 per output of an affine least-squares fit y ~ x."""
    design = np.c_[x, np.ones(len(x))]
    coef, *_ = np.linalg.lstsq(design[:train], y[:train], rcond=None)
    residual = y[train:] - design[train:] @ coef
    return 1 - residual.var(axis=0) / y[train:].var(axis=0)


# ---------------------------------------------------------------- every built-in medium


def test_builtin_media_are_listed():
    assert set(BUILTIN) <= set(available_media())


@pytest.mark.parametrize("name, n_act, n_sens, encoding", [
    ("acoustic", 20, 20, ActuatorEncoding("minmax", 0.0, 1.0)),  # the rig's drives: [0, 1]
    ("acoustic?ideal=true", 20, 20, ActuatorEncoding("l2", -1.0, 1.0)),
    ("metasurface", 40, 20, ActuatorEncoding("bits", 0.0, 1.0, bits=2)),
    ("optical", 100, 100, ActuatorEncoding("minmax", 0.0, 1.0)),
])
def test_defaults_shapes_and_encoding(name, n_act, n_sens, encoding):
    device = open_device(f"sim://{name}")
    assert (device.n_actuators, device.n_sensors, device.encoding) == (n_act, n_sens, encoding)
    for batch in (1, 7):
        out = device.forward(commands(device, batch))
        assert out.shape == (batch, n_sens) and out.dtype == np.float32
        assert np.all(np.isfinite(out)) and np.all(out >= 0)
    assert device.describe()["passes"] == 8


def test_metasurface_feeds_twenty_values():
    medium = load_medium("metasurface")
    assert medium.encoding.values_for(medium.n_actuators) == 20


@pytest.mark.parametrize("name", BUILTIN)
def test_same_seed_same_readings_other_seed_other_readings(name):
    x = commands(load_medium(name), 4)
    first, again, other = (load_medium(name, seed=s) for s in (3, 3, 4))
    y1 = np.concatenate([first.forward(x), first.forward(x)])
    y2 = np.concatenate([again.forward(x), again.forward(x)])
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(y1[:4], y1[4:]), "a second measurement must carry fresh noise"
    assert not np.allclose(other.forward(x), y1[:4], rtol=0.05)


@pytest.mark.parametrize("name", BUILTIN)
def test_unknown_option_names_medium_and_choices(name):
    with pytest.raises(ValueError, match=rf"medium '{name}' has no option\(s\) \['nosie'\].*drift"):
        open_device(f"sim://{name}?nosie=0.1")


@pytest.mark.parametrize("name, kind", [("acoustic", "redraw"), ("metasurface", "stirrer"),
                                        ("optical", "redraw")])
def test_unknown_perturbation_kind_is_refused(name, kind):
    medium = load_medium(name)
    with pytest.raises(ValueError, match=rf"no perturbation 'shake'.*'gain', '{kind}'"):
        medium.perturb("shake", 1.0)


# ---------------------------------------------------------------- acoustic


def quiet_acoustic(**options) -> AcousticCavity:
    return load_medium("acoustic", noise=0, noise_floor=0, **options)


def test_ideal_acoustic_noise_is_multiplicative_at_the_configured_level():
    x = np.repeat(commands(quiet_acoustic(ideal=True), 1), 4000, axis=0)
    clean = quiet_acoustic(ideal=True).forward(x[:1])
    noisy = load_medium("acoustic", ideal=True, noise=0.05, noise_floor=0).forward(x)
    ratio = noisy / clean - 1
    assert 0.045 < ratio.std() < 0.055
    # half the variance is common to the microphones at one tone (sensor m*K + k)
    by_tone = ratio.reshape(-1, 4, 5)
    shared = np.mean([np.corrcoef(by_tone[:, 0, k], by_tone[:, 1, k])[0, 1] for k in range(5)])
    assert 0.4 < shared < 0.6


def test_acoustic_readings_are_adc_codes_and_clip_at_full_scale():
    medium = quiet_acoustic(adc_bits=8, full_scale=0.3)
    y = medium.forward(commands(medium, 50) * 3)
    codes = y / 0.3 * 255
    np.testing.assert_allclose(codes, np.rint(codes), atol=1e-3)
    assert y.max() == pytest.approx(0.3) and np.mean(y == y.max()) > 0.05


def test_acoustic_default_full_scale_holds_every_unit_drive():
    medium = quiet_acoustic()
    y = medium.forward(commands(medium, 500))
    assert y.max() < medium.full_scale


def test_acoustic_saturation_is_tanh_of_the_drive():
    x = 2 * commands(quiet_acoustic(), 6)
    squashed = quiet_acoustic(saturation=1.5).forward(x)
    by_hand = quiet_acoustic().forward(np.tanh(1.5 * x) / 1.5)
    np.testing.assert_allclose(squashed, by_hand, rtol=1e-4, atol=1e-4)


def test_rig_acoustic_noise_is_mostly_additive_and_common_in_part():
    """The rig model: the field's microphone noise (3/4 of the variance) spreads a reading by
    about the same whatever its level; the rest is multiplicative, half of it common to the
    microphones at a tone. `noise=0` silences both."""
    x = np.repeat(commands(quiet_acoustic(), 1), 4000, axis=0)
    clean = quiet_acoustic().forward(x[:1])[0]
    noisy = load_medium("acoustic", noise=0.05, noise_floor=0).forward(x)
    live = clean > 0.05 * clean.max()
    level = load_medium("acoustic")._level
    spread = noisy[:, live].std(axis=0)
    expected = np.sqrt((0.05**2 * 0.75 / 2) * level[live] ** 2 + 0.05**2 * 0.25 * clean[live] ** 2)
    np.testing.assert_allclose(spread, expected, rtol=0.1)
    np.testing.assert_array_equal(quiet_acoustic().forward(x[:50]), np.repeat(clean[None], 50, axis=0))


def test_rig_acoustic_hears_three_tones_in_bins_0_2_4():
    """Drive tone j lands on bin 2j: tones 3 and 4 fall above the band, bins 1 and 3 hear leakage."""
    medium = quiet_acoustic()
    base = np.full((1, 20), 0.5, np.float32)
    for tone in range(5):
        kicked = base.copy()
        kicked[0, [s * 5 + tone for s in range(4)]] = 1.0
        change = np.abs(medium.forward(kicked) - medium.forward(base)).reshape(4, 5)  # mic, bin
        heard = change.max(axis=0) > 0.01
        assert heard.tolist() == [b == 2 * tone for b in range(5)], (tone, change)


def test_rig_acoustic_is_mostly_but_not_purely_linear_like_the_rig():
    x = np.random.default_rng(1).uniform(0, 1, (3000, 20)).astype(np.float32)
    y = load_medium("acoustic").forward(x)
    live = y.mean(axis=0) > 0.05 * y.mean(axis=0).max()
    r2 = linear_fit_r2(x, y[:, live], train=2000)
    assert 0.9 < np.median(r2) < 0.99  # rig: 0.96 over its 12 live outputs (test_acoustic_calibration.py)


def test_acoustic_redraw_changes_transfer_by_about_eps():
    medium = load_medium("acoustic")
    before = medium.transfer.copy()
    medium.perturb("redraw", 0.1)
    change = np.sum(np.abs(medium.transfer - before) ** 2) / np.sum(np.abs(before) ** 2)
    assert 0.05 < change < 0.2  # expected 2 - 2 sqrt(1 - eps) = 0.103
    medium.perturb("redraw", 0.0)
    with pytest.raises(ValueError, match="eps in \\[0, 1\\]"):
        medium.perturb("redraw", 1.5)


def single_mode_cavity() -> AcousticCavity:
    """One room mode, no direct path, 801 tones over 1-2 kHz."""
    return quiet_acoustic(speakers=1, microphones=1, tones=801, tone_spacing=1, volume=1e-5, kappa=0.0,
                          q=300.0)


def resonance_hz(medium: AcousticCavity) -> float:
    """Where the phase has turned by -90 degrees from the lowest tone's: the mode's frequency.
    (Each tone's level is normalised, so the resonance shows in the phase, not the magnitude.)"""
    h = medium.transfer[:, 0, 0]
    turned = np.angle(h / h[0])
    return float(medium.tone_hz[np.argmin(np.abs(turned + np.pi / 2))])


def test_temperature_shifts_the_modes():
    medium = single_mode_cavity()
    mode_hz = medium._modes_hz[0]
    cold = resonance_hz(medium)
    assert 1100 < mode_hz < 1900 and cold == pytest.approx(mode_hz, abs=2.0)
    medium.set_temperature(10.0)
    assert resonance_hz(medium) == pytest.approx(mode_hz * (1 + 10 * 1.75e-3), abs=2.0)
    medium.set_temperature(0.0)
    assert resonance_hz(medium) == cold


def test_temperature_drift_is_a_ramp_over_passes():
    ramped = load_medium("acoustic", temperature_drift=2.0)
    ramped.forward(commands(ramped, 500))
    ramped.forward(commands(ramped, 1))  # the ramp is read at the start of a call
    assert ramped.describe()["temperature_k"] == pytest.approx(1.0)
    held = load_medium("acoustic", temperature=1.0)
    held.forward(commands(held, 1))  # an offset applies from the first measurement
    np.testing.assert_array_equal(ramped.transfer, held.transfer)


def test_gain_drift_wanders_slowly_at_the_configured_level():
    x = np.repeat(commands(quiet_acoustic(), 1), 3000, axis=0)
    clean = quiet_acoustic().forward(x[:1])
    gain = quiet_acoustic(drift=0.02, drift_tau=50).forward(x) / clean
    wander = gain - 1
    assert 0.01 < wander.std() < 0.03
    lag1 = np.mean([np.corrcoef(wander[:-1, j], wander[1:, j])[0, 1] for j in range(20)])
    assert lag1 > 0.9  # exp(-1/50) = 0.98: slow, not white
    np.testing.assert_allclose(quiet_acoustic().forward(x[:50]) / clean, 1.0, atol=1e-3)


def test_drift_is_the_same_whether_measured_in_one_batch_or_one_by_one():
    x = commands(quiet_acoustic(), 12)
    batched = quiet_acoustic(drift=0.05, drift_tau=5).forward(x)
    single = quiet_acoustic(drift=0.05, drift_tau=5)
    one_by_one = np.concatenate([single.forward(x[i:i + 1]) for i in range(12)])
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-5)


def test_gain_step_scales_readings():
    medium, reference = quiet_acoustic(), quiet_acoustic()
    x = commands(medium, 8)
    medium.perturb("gain", -3.0)
    adc_step = medium.full_scale / (2**16 - 1)  # the rig model's quiet bins read a few hundred steps
    np.testing.assert_allclose(medium.forward(x), reference.forward(x) * 10 ** (-3 / 20), rtol=1e-3,
                               atol=adc_step)
    assert medium.describe()["gain_step_db"] == pytest.approx(-3.0)


def test_scheduled_perturbation_falls_between_the_right_measurements():
    x = commands(quiet_acoustic(), 8)
    plain = quiet_acoustic().forward(x)
    knocked = quiet_acoustic(perturb_at_pass=5, perturb_size=0.3)
    y = knocked.forward(x)
    np.testing.assert_array_equal(y[:5], plain[:5])
    assert np.all(np.abs(y[5:] - plain[5:]).max(axis=1) > 1e-3)
    assert knocked.describe()["perturbations"] == [{"pass": 5, "kind": "redraw", "size": 0.3}]


def test_schedule_options_are_checked():
    with pytest.raises(ValueError, match="perturb_at_pass needs perturb_size"):
        load_medium("acoustic", perturb_at_pass=3)
    with pytest.raises(ValueError, match="only take effect with perturb_at_pass"):
        load_medium("acoustic", perturb_size=0.1)
    with pytest.raises(ValueError, match="no perturbation 'stirrer'"):
        load_medium("acoustic", perturb_at_pass=3, perturb_kind="stirrer", perturb_size=1)


def test_latency_sets_the_pace_per_measurement():
    medium = load_medium("acoustic", latency=0.01)
    started = time.monotonic()
    medium.forward(commands(medium, 3))
    assert time.monotonic() - started >= 0.03


# ---------------------------------------------------------------- metasurface


@pytest.fixture(scope="module")
def metasurface():
    return load_medium("metasurface")


def configuration_study(medium, configs: int = 600):
    states = np.random.default_rng(5).integers(0, 2, (configs, medium.elements))
    return states, medium.channel(states)


def test_metasurface_configuration_matters_and_is_not_linear_in_the_bits(metasurface):
    states, s21 = configuration_study(metasurface)
    dependent = np.mean(np.abs(s21 - s21.mean(axis=0)) ** 2) / np.mean(np.abs(s21) ** 2)
    assert 0.05 < dependent < 0.7
    assert np.median(linear_fit_r2(states, np.abs(s21), train=400)) < 0.6


def test_weak_elements_make_the_response_nearly_linear():
    # PhysFad's example chi = 50: the trap the default chi avoids
    states, s21 = configuration_study(load_medium("metasurface", chi=50.0))
    assert np.median(linear_fit_r2(states, np.abs(s21), train=400)) > 0.98


def test_metasurface_schur_solution_matches_full_inversion_and_is_reciprocal(metasurface):
    rng = np.random.default_rng(2)
    states = np.r_[np.zeros((1, 40)), np.ones((1, 40)), rng.integers(0, 2, (2, 40)),
                   rng.random((1, 40)) < 0.1, rng.random((1, 40)) < 0.9]
    ports = metasurface.port_matrix(states)
    for i, config in enumerate(states):
        for k in (0, 19):
            np.testing.assert_allclose(ports[i, k], metasurface.reference_port_matrix(config, k),
                                       rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ports[..., 1, 0], ports[..., 0, 1], rtol=1e-9)


def test_metasurface_noise_follows_snr():
    medium = load_medium("metasurface", snr_db=30.0)
    states = np.repeat(commands(medium, 1), 3000, axis=0)
    deviation = medium.forward(states) - np.abs(medium.channel(states[:1]))
    # |S21 + n| - |S21| ~ the in-phase part of n: std sqrt(10^-3 / 2) in rms-channel units
    assert deviation.std() == pytest.approx(np.sqrt(1e-3 / 2), rel=0.15)
    assert np.mean(medium.forward(commands(medium, 200)) ** 2) == pytest.approx(1.0, rel=0.3)


def test_moving_the_stirrer_changes_the_channel():
    medium = load_medium("metasurface")
    states = commands(medium, 4)
    before = medium.channel(states)
    medium.perturb("stirrer", 0.0)
    np.testing.assert_allclose(medium.channel(states), before, rtol=1e-10)
    medium.perturb("stirrer", 20.0)
    after = medium.channel(states)
    assert np.mean(np.abs(after - before) ** 2) / np.mean(np.abs(before) ** 2) > 0.05
    assert medium.describe()["perturbations"][-1]["kind"] == "stirrer"


def test_metasurface_has_no_thermal_model():
    with pytest.raises(ValueError, match="'metasurface' has no thermal model"):
        open_device("sim://metasurface?temperature_drift=0.5")


# ---------------------------------------------------------------- optical


def test_optical_intensities_are_nonnegative_and_clip_at_full_well():
    medium = load_medium("optical", photons=4000.0, full_well=10000.0)
    y = medium.forward(commands(medium, 50))
    assert y.min() >= 0
    assert y.max() == pytest.approx(2.5)  # full_well / photons
    assert 0 < np.mean(y == y.max()) < 0.2  # speckle: exp(-2.5) = 8 % of pixels saturate


def test_optical_shot_noise_is_poisson():
    medium = load_medium("optical", photons=500.0, read_noise=0.0, camera_bits=16, full_well=1e5)
    x = np.repeat(commands(medium, 1), 2000, axis=0)
    y = medium.forward(x) * 500.0  # photoelectrons
    bright = y.mean(axis=0) > 200
    np.testing.assert_allclose(y.var(axis=0)[bright] / y.mean(axis=0)[bright], 1.0, rtol=0.2)


def test_optical_slm_quantises_phase_to_its_bits():
    medium = load_medium("optical", slm_bits=4)
    x = commands(medium, 3)
    codes = np.rint(x * 15) / 15
    np.testing.assert_allclose(medium.field(x + 0.02 * np.sign(codes - x)), medium.field(codes),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("modes", [0, 32])
def test_optical_speckle_has_unit_mean_and_redraw_changes_t_by_about_eps(modes):
    medium = load_medium("optical", modes=modes, slm=64, camera=64)
    before = medium.transmission_matrix()
    # a pixel's mean intensity over random SLM phases is its row power in T
    assert np.mean(np.sum(np.abs(before) ** 2, axis=1)) == pytest.approx(1.0, rel=0.1)
    medium.perturb("redraw", 0.2)
    change = np.sum(np.abs(medium.transmission_matrix() - before) ** 2) / np.sum(np.abs(before) ** 2)
    assert 0.12 < change < 0.35  # expected 2 - 2 sqrt(0.8) = 0.211


def test_optical_large_frames():
    medium = load_medium("optical", slm=64 * 64, camera=64 * 64, modes=256)
    assert medium.forward(commands(medium, 2)).shape == (2, 4096)


# ---------------------------------------------------------------- user media


class UserMedium(Medium):
    """A lab's own medium: a fixed random matrix and a square law."""

    name = "user-box"

    def __init__(self, inputs: int = 6, outputs: int = 3, seed: int = 0) -> None:
        self.n_actuators, self.n_sensors = inputs, outputs
        self.encoding = ActuatorEncoding("minmax", 0.0, 1.0)
        self.matrix = np.random.default_rng(seed).standard_normal((inputs, outputs)).astype(np.float32)

    def forward(self, actuation):
        return (actuation @ self.matrix) ** 2


class WrongShape(UserMedium):
    name = "wrong-shape"

    def forward(self, actuation):
        return super().forward(actuation)[:, :2]


class ReturnsNaN(UserMedium):
    name = "nan-box"

    def forward(self, actuation):
        out = super().forward(actuation)
        out[0, 0] = np.nan
        return out


class Raises(UserMedium):
    name = "broken-box"

    def forward(self, actuation):
        raise RuntimeError("shutter stuck")


def test_user_medium_loads_by_module_path_with_options():
    device = open_device(f"sim://{__name__}:UserMedium?inputs=8&seed=2")
    x = commands(device, 5)
    expected = (x @ UserMedium(inputs=8, seed=2).matrix) ** 2
    np.testing.assert_allclose(device.forward(x), expected, rtol=1e-6)
    assert device.describe()["medium"] == "user-box"


def test_user_medium_trains_a_phyll_network():
    device = open_device(f"sim://{__name__}:UserMedium?inputs=12&outputs=6")
    rng = np.random.default_rng(7)
    centres = np.array([[2, 0, 0, 1], [0, 2, 0, -1], [0, 0, 2, 0]], dtype=np.float32)
    labels = np.arange(90) % 3
    features = centres[labels] + 0.3 * rng.standard_normal((90, 4)).astype(np.float32)
    network = Network(device, n_classes=3, n_features=4, config=TrainConfig(layers=1, epochs=40, eval_every=0))
    history = network.fit(features, labels)
    assert history.loss[-1][0] < 0.5 * history.loss[0][0]
    assert network.evaluate(features, labels)[-1] > 80.0
    assert device.passes == 40 * 2 * 90 + 3 * 90


def test_user_medium_from_a_module_on_sys_path(tmp_path, monkeypatch):
    (tmp_path / "lab_cavity.py").write_text(
        "import numpy as np\n"
        "from phyll.media import Medium\n"
        "from phyll.physical import ActuatorEncoding\n\n"
        "class Cavity(Medium):\n"
        "    name = 'lab-cavity'\n"
        "    def __init__(self, width=4):\n"
        "        self.n_actuators = self.n_sensors = width\n"
        "        self.encoding = ActuatorEncoding('l2', -1.0, 1.0)\n"
        "    def forward(self, actuation):\n"
        "        return np.abs(np.cumsum(actuation, axis=1))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    device = open_device("sim://lab_cavity:Cavity?width=5")
    assert device.forward(np.ones((2, 5), np.float32)).tolist() == [[1, 2, 3, 4, 5]] * 2


def test_user_medium_registered_as_entry_point(monkeypatch):
    point = EntryPoint("userbox", f"{__name__}:UserMedium", phyll.media.ENTRY_POINT_GROUP)
    monkeypatch.setattr(phyll.media, "entry_points",
                        lambda group: [point] if group == phyll.media.ENTRY_POINT_GROUP else [])
    assert "userbox" in available_media()
    assert open_device("sim://userbox?outputs=4").forward(np.ones((1, 6), np.float32)).shape == (1, 4)


@pytest.mark.parametrize("cls, message", [
    ("WrongShape", r"medium 'wrong-shape' returned shape \(3, 2\), expected \(3, 3\)"),
    ("ReturnsNaN", r"medium 'nan-box' returned NaN or inf"),
    ("Raises", r"medium 'broken-box' raised RuntimeError: shutter stuck"),
])
def test_faulty_user_medium_fails_by_name(cls, message):
    device = open_device(f"sim://{__name__}:{cls}")
    with pytest.raises(PhysicalError, match=message):
        device.forward(np.ones((3, 6), np.float32))


def test_wrong_command_shape_names_the_medium():
    device = open_device(f"sim://{__name__}:UserMedium")
    with pytest.raises(ValueError, match=r"medium 'user-box' takes \(batch, 6\)"):
        device.forward(np.ones((2, 5), np.float32))


def test_user_medium_gets_the_shared_imperfections_through_the_wrapper():
    plain = UserMedium()
    wrapped = WithImperfections(UserMedium(), seed=1, drift=0.05, drift_tau=20, noise=0.01)
    x = np.repeat(commands(plain, 1), 500, axis=0)
    ratio = wrapped.forward(x) / plain.forward(x[:1])
    assert 0.02 < ratio.std() < 0.1 and wrapped.name == "user-box"
    wrapped.perturb("gain", 6.0)
    assert wrapped.describe()["gain_step_db"] == pytest.approx(6.0)
    with pytest.raises(ValueError, match="no perturbation 'redraw'"):
        wrapped.perturb("redraw", 0.1)
