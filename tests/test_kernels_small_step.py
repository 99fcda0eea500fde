"""The fused small-layer float32 path (cython_kernels/small_step.h) that local_update and
loss_and_grads take up to SMALL_WEIGHTS weights: its products, both of its instruction-set copies,
the shapes at its tile edges, and both sides of the threshold."""
import numpy as np
import pytest

import phyll.kernels as K
from phyll.kernels import _local_update as LU
from phyll.kernels import reference as R

from test_kernels_update import THETA, TOL, problem

ISAS = ["dispatched", "baseline"]


@pytest.fixture(params=ISAS)
def isa(request):
    """Runs the test on the copy the CPU dispatch picks, then on the portable copy."""
    LU.force_baseline_isa(request.param == "baseline")
    yield request.param
    LU.force_baseline_isa(False)


def test_isa_names_the_copy_in_use():
    assert LU.small_isa() in ("avx2+fma", "baseline")
    LU.force_baseline_isa(True)
    try:
        assert LU.small_isa() == "baseline"
    finally:
        LU.force_baseline_isa(False)


# (d_out = 1 is left out: there g = 1 for every z, its gradient is rounding noise that Adam
# turns into full steps.) Pairs n around the 16-column forward strip (2n from 2 to 824 samples, padded to whole strips)
# and the 8-lane sigmoid; d_out and d_in + 1 around the 4-row forward and 2 x 4 / 8 x 1
# gradient tiles.
SHAPES = [(2, 1, 1), (5, 10, 17), (4, 7, 8), (3, 2, 7), (20, 40, 206), (9, 12, 33), (8, 3, 4),
          (32, 32, 5), (17, 23, 412)]


@pytest.mark.parametrize("d_out, d_in, n", SHAPES)
def test_small_products_match_numpy(isa, d_out, d_in, n):
    rng = np.random.default_rng(d_out * 1000 + d_in * 10 + n)
    d_p = d_in // 2
    inputs = [rng.standard_normal((n, d)).astype(np.float32) for d in (d_p, d_in - d_p) * 2]
    W = rng.standard_normal((d_out, d_in)).astype(np.float32)
    Zt, grad = LU.small_products(*inputs, W, 1)
    X = np.vstack([np.hstack(inputs[:2]), np.hstack(inputs[2:])]).astype(np.float64)
    np.testing.assert_allclose(Zt, W.astype(np.float64) @ X.T, rtol=1e-5,
                               atol=1e-5 * np.sqrt(d_in))
    # the gradient product reads the Zt just written, as the backward step does
    X1 = np.hstack([X, np.ones((2 * n, 1))])
    np.testing.assert_allclose(grad, Zt.astype(np.float64) @ X1, rtol=1e-5,
                               atol=1e-5 * np.sqrt(n) * np.abs(Zt).max())


def test_small_products_names_mismatched_shapes():
    inputs = [np.zeros((3, 2), np.float32)] * 4
    with pytest.raises(ValueError, match="do not fit W"):
        LU.small_products(*inputs, np.zeros((2, 5), np.float32), 1)


@pytest.mark.parametrize("d_out, d_in, n", SHAPES)
def test_small_local_update_matches_reference(isa, d_out, d_in, n):
    d_p = d_in // 2
    assert LU.uses_small_products(np.float32, d_in, d_out)
    results = []
    for module in (K, R):
        inputs, W, b, proto = problem(n, np.float32, batch=n, d_p=d_p, d_h=d_in - d_p,
                                      d_out=d_out)
        adam = K.AdamState.zeros(W, b)
        loss = module.local_update(*inputs, W, b, proto, adam, THETA, 0.01, 4)
        results.append((loss, W, b, adam.m_W, adam.v_W, adam.m_b, adam.v_b))
    for got, expected in zip(*results):
        np.testing.assert_allclose(got, expected, **TOL[np.float32])


@pytest.mark.filterwarnings("ignore:overflow encountered in exp")  # the reference's e^-u
@pytest.mark.parametrize("theta", [0.5, 60.0, 400.0])
def test_small_loss_and_grads_match_reference_where_the_sigmoid_saturates(isa, theta):
    """theta (g_pos - g_neg) beyond +-88 takes e^-u to its clamp and past float32's range: the
    vectorised exponential must still give the reference's sigmoid, 0 and 1 included."""
    inputs, W, b, proto = problem(5, np.float32, batch=37, d_p=6, d_h=9, d_out=7)
    got = K.loss_and_grads(*inputs, W, b, proto, theta)
    expected = R.loss_and_grads(*inputs, W, b, proto, theta)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5)
    for g, e in zip(got[1:], expected[1:]):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6 * np.abs(e).max())


def test_small_local_update_reports_non_finite_input_untouched(isa):
    inputs, W, b, proto = problem(3, np.float32, batch=9, d_p=3, d_h=4, d_out=6)
    inputs[3][4, 2] = np.inf
    W0, b0, adam = W.copy(), b.copy(), K.AdamState.zeros(W, b)
    with pytest.raises(ValueError, match="h_neg row 4"):
        K.local_update(*inputs, W, b, proto, adam, THETA, 0.01, 3)
    np.testing.assert_array_equal(W, W0)
    np.testing.assert_array_equal(b, b0)
    assert adam.step == 0


def test_threshold_sits_at_small_weights():
    assert LU.SMALL_WEIGHTS == 32 * 32
    assert LU.uses_small_products(np.float32, 32, 32)
    assert not LU.uses_small_products(np.float32, 33, 32)
    assert not LU.uses_small_products(np.float64, 4, 2)  # float64 stays on BLAS
    d_p, d_h, d_out = 4, 6, 5  # test_kernels_update's default problem takes the small path
    assert LU.uses_small_products(np.float32, d_p + d_h, d_out)


# d_in * d_out = 1024 (small_step.h) and 1056 (BLAS): both must match the NumPy reference.
@pytest.mark.parametrize("d_h", [16, 17])
def test_local_update_matches_reference_on_both_sides_of_threshold(d_h):
    d_p, d_out = 16, 32
    assert LU.uses_small_products(np.float32, d_p + d_h, d_out) == (d_h == 16)
    results = []
    for module in (K, R):
        inputs, W, b, proto = problem(11, np.float32, batch=13, d_p=d_p, d_h=d_h, d_out=d_out)
        adam = K.AdamState.zeros(W, b)
        loss = module.local_update(*inputs, W, b, proto, adam, THETA, 0.01, 3)
        results.append((loss, W, b, adam.m_W, adam.v_W))
    for got, expected in zip(*results):
        np.testing.assert_allclose(got, expected, **TOL[np.float32])


@pytest.mark.parametrize("d_h", [16, 17])
def test_loss_and_grads_match_reference_on_both_sides_of_threshold(d_h):
    inputs, W, b, proto = problem(12, np.float32, batch=21, d_p=16, d_h=d_h, d_out=32)
    for got, expected in zip(K.loss_and_grads(*inputs, W, b, proto, THETA),
                             R.loss_and_grads(*inputs, W, b, proto, THETA)):
        np.testing.assert_allclose(got, expected, **TOL[np.float32])
