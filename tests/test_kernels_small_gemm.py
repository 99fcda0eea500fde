"""The small-layer float32 products (cython_kernels/small_gemm.h) that local_update and
loss_and_grads use instead of BLAS up to SMALL_WEIGHTS weights, on both sides of that threshold."""
import numpy as np
import pytest

import phyll.kernels as K
from phyll.kernels import _local_update as LU
from phyll.kernels import reference as R

from test_kernels_update import THETA, TOL, problem


# n around the 16-sample forward strip and 8-lane gradient tiles (including fewer samples than
# one tile), d_out and d_in + 1 around the 4-row and 2 x 4 register blocks.
@pytest.mark.parametrize("d_out, d_in, n", [(1, 1, 1), (5, 10, 34), (4, 7, 16), (3, 2, 15),
                                            (20, 40, 412), (9, 12, 33), (8, 3, 8)])
def test_small_products_match_numpy(d_out, d_in, n):
    rng = np.random.default_rng(d_out * 1000 + d_in * 10 + n)
    Xt = rng.standard_normal((d_in + 1, n)).astype(np.float32)
    W = rng.standard_normal((d_out, d_in)).astype(np.float32)
    Zt = np.full((d_out, n), np.nan, np.float32)
    grad = np.full((d_out, d_in + 1), np.nan, np.float32)
    LU.small_products(Xt, W, Zt, grad, 1)
    Xt64 = Xt.astype(np.float64)
    expected_Zt = W.astype(np.float64) @ Xt64[:d_in]
    np.testing.assert_allclose(Zt, expected_Zt, rtol=1e-5, atol=1e-5 * np.sqrt(d_in))
    # the gradient product reads the Zt just written, as local_update does
    np.testing.assert_allclose(grad, Zt.astype(np.float64) @ Xt64.T, rtol=1e-5,
                               atol=1e-5 * np.sqrt(n) * np.abs(Zt).max())


def test_small_products_names_mismatched_shapes():
    Xt = np.zeros((4, 6), np.float32)
    with pytest.raises(ValueError, match="do not fit together"):
        LU.small_products(Xt, np.zeros((2, 4), np.float32), np.zeros((2, 6), np.float32),
                          np.zeros((2, 4), np.float32), 1)


def test_threshold_sits_at_small_weights():
    assert LU.SMALL_WEIGHTS == 32 * 32
    assert LU.uses_small_products(np.float32, 32, 32)
    assert not LU.uses_small_products(np.float32, 33, 32)
    assert not LU.uses_small_products(np.float64, 4, 2)  # float64 stays on BLAS
    d_p, d_h, d_out = 4, 6, 5  # test_kernels_update's default problem takes the small path
    assert LU.uses_small_products(np.float32, d_p + d_h, d_out)


# d_in * d_out = 1024 (small loops) and 1056 (BLAS): both must match the NumPy reference.
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
