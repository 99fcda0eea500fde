"""phyll.kernels input-side and forward kernels against their NumPy references.

Every kernel runs in float32 and float64 on C-ordered, F-ordered, read-only and strided inputs.
The fused update, its gradient and Adam are in test_kernels_update.py.
"""
import numpy as np
import pytest

import phyll.kernels as K
from phyll.kernels import reference as R

DTYPES = [np.float32, np.float64]
LAYOUTS = ["C", "F", "readonly", "strided"]
TOL = {np.float32: dict(rtol=2e-6, atol=2e-6), np.float64: dict(rtol=1e-13, atol=1e-14)}


def laid_out(a, layout):
    """The same values in another memory layout."""
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
        return a
    if layout == "strided":  # every other column of a wider array
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        wide[..., ::2] = a
        return wide[..., ::2]
    return np.ascontiguousarray(a)


def randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def unit(rng, n, dtype):
    v = rng.standard_normal(n)
    return (v / np.linalg.norm(v)).astype(dtype)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_overlay_label_matches_reference(rng, dtype, layout):
    x, labels = randn(rng, (9, 14), dtype), rng.integers(0, 5, 9)
    got = K.overlay_label(laid_out(x, layout), labels, 5)
    np.testing.assert_array_equal(got, R.overlay_label(x, labels, 5))
    assert got.dtype == dtype
    np.testing.assert_array_equal(got[:, 5:], x[:, 5:])
    assert (got[np.arange(9), labels] == np.abs(x).max()).all()


def test_overlay_label_in_place_and_out(rng):
    x, labels = randn(rng, (4, 6), np.float32), np.array([0, 2, 1, 2], np.uint8)
    expected = R.overlay_label(x, labels, 3)
    out = np.empty_like(x)
    assert K.overlay_label(x, labels, 3, out=out) is out
    assert K.overlay_label(x, labels, 3, out=x) is x
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize("labels, n_classes, error, match", [
    ([0, 3, 1], 3, ValueError, "labels must lie in \\[0, 3\\), got 3 at row 1"),
    ([0, -1, 1], 3, ValueError, "got -1 at row 1"),
    ([0.0, 1.0, 1.0], 3, TypeError, "labels must be integers"),
    ([0, 1], 3, ValueError, "labels must have shape \\(3,\\)"),
    ([0, 1, 1], 7, ValueError, "x has 6 features, fewer than n_classes=7"),
])
def test_overlay_label_rejects_bad_labels(rng, labels, n_classes, error, match):
    with pytest.raises(error, match=match):
        K.overlay_label(randn(rng, (3, 6), np.float32), labels, n_classes)


def test_sample_wrong_labels_is_uniform_wrong_and_reproducible():
    labels = np.tile(np.arange(4), 6000)
    wrong = K.sample_wrong_labels(labels, 4, 7)
    assert wrong.dtype == np.int64 and wrong.shape == labels.shape
    assert (wrong != labels).all() and wrong.min() >= 0 and wrong.max() < 4
    for true in range(4):
        counts = np.bincount(wrong[labels == true], minlength=4) / 6000
        others = np.delete(counts, true)
        np.testing.assert_allclose(others, 1 / 3, atol=0.025)  # ~4 sigma at 6000 draws
    np.testing.assert_array_equal(wrong, K.sample_wrong_labels(labels, 4, 7))
    generator = np.random.default_rng(7)
    np.testing.assert_array_equal(wrong, K.sample_wrong_labels(labels, 4, generator))
    assert not np.array_equal(wrong, K.sample_wrong_labels(labels, 4, generator))


@pytest.mark.parametrize("args, error, match", [
    (([0, 1], 1, 0), ValueError, "n_classes must be >= 2"),
    (([0, 2], 2, 0), ValueError, "labels must lie in \\[0, 2\\)"),
    (([0, 1], 2, None), TypeError, "None is not reproducible"),
])
def test_sample_wrong_labels_rejects_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        K.sample_wrong_labels(*args)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("d_p, d_h", [(5, 7), (0, 6), (4, 0), (1, 1)])
def test_layer_forward_matches_reference(rng, dtype, layout, d_p, d_h):
    p, h = randn(rng, (11, d_p), dtype), randn(rng, (11, d_h), dtype)
    W, b = randn(rng, (6, d_p + d_h), dtype), randn(rng, 6, dtype)
    got = K.layer_forward(laid_out(p, layout), laid_out(h, layout), laid_out(W, layout),
                          laid_out(b, "readonly"), )
    np.testing.assert_allclose(got, R.layer_forward(p, h, W, b), **TOL[dtype])
    assert got.dtype == dtype


@pytest.mark.parametrize("batch, d_out", [(1, 5), (5, 1), (1, 1)])
def test_layer_forward_handles_size_one_dimensions(rng, batch, d_out):
    for layout in ("C", "F"):
        p, h = randn(rng, (batch, 3), np.float64), randn(rng, (batch, 1), np.float64)
        W, b = randn(rng, (d_out, 4), np.float64), randn(rng, d_out, np.float64)
        got = K.layer_forward(laid_out(p, layout), laid_out(h, layout), laid_out(W, layout), b)
        np.testing.assert_allclose(got, R.layer_forward(p, h, W, b), **TOL[np.float64])


def test_layer_forward_writes_out_and_rejects_overlap(rng):
    p, h = randn(rng, (4, 2), np.float32), randn(rng, (4, 3), np.float32)
    W, b = randn(rng, (3, 5), np.float32), randn(rng, 3, np.float32)
    out = np.empty((4, 3), np.float32)
    assert K.layer_forward(p, h, W, b, out=out) is out
    np.testing.assert_allclose(out, R.layer_forward(p, h, W, b), **TOL[np.float32])
    with pytest.raises(ValueError, match="out must not overlap"):
        K.layer_forward(p, h[:, :3], W, b, out=h[:, :3])


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(p=np.zeros((4, 2), np.float64)), TypeError, "p is float64 but the other arrays are float32"),
    (dict(h=np.zeros((4, 3), np.int32)), TypeError, "h must be float32 or float64, got int32"),
    (dict(h=np.zeros((5, 3), np.float32)), ValueError, "rows of h \\(one per row of p\\): got 5, expected 4"),
    (dict(W=np.zeros((3, 6), np.float32)), ValueError, "columns of W \\(d_p \\+ d_h\\): got 6, expected 5"),
    (dict(b=np.zeros(2, np.float32)), ValueError, "length of b \\(d_out, rows of W\\): got 2, expected 3"),
    (dict(b=np.zeros((3, 1), np.float32)), ValueError, "b must be 1-D \\(d_out\\), got shape \\(3, 1\\)"),
    (dict(out=np.zeros((4, 3), np.float64)), TypeError, "out must be float32, got float64"),
    (dict(out=np.zeros((3, 4), np.float32)), ValueError, "out must have shape \\(4, 3\\)"),
    (dict(out=np.zeros((3, 4), np.float32).T), ValueError, "out must be C-contiguous"),
])
def test_layer_forward_names_bad_arguments(kwargs, error, match):
    args = dict(p=np.zeros((4, 2), np.float32), h=np.zeros((4, 3), np.float32),
                W=np.zeros((3, 5), np.float32), b=np.zeros(3, np.float32))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        K.layer_forward(**args)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_goodness_matches_reference_and_cosine(rng, dtype, layout):
    z, proto = randn(rng, (13, 9), dtype), unit(rng, 9, dtype)
    z[3] = 0
    got = K.goodness(laid_out(z, layout), laid_out(proto, "readonly"))
    np.testing.assert_allclose(got, R.goodness(z, proto), **TOL[dtype])
    a = np.abs(z.astype(np.float64))
    norms = np.linalg.norm(a, axis=1)
    cosine = np.divide(a @ proto, norms, out=np.zeros(13), where=norms > 0)
    np.testing.assert_allclose(got, cosine, **TOL[dtype])
    assert got[3] == 0


def test_goodness_rejects_non_unit_proto(rng):
    with pytest.raises(ValueError, match="proto must be a unit vector, got norm 2"):
        K.goodness(randn(rng, (3, 4), np.float32), np.full(4, 1.0, np.float32))
    with pytest.raises(ValueError, match="proto must be a unit vector, got norm nan"):
        K.goodness(randn(rng, (3, 2), np.float32), np.array([np.nan, 1], np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_encode_l2_matches_reference(rng, dtype, layout):
    x = randn(rng, (8, 10), dtype)
    x[2] = 0
    got = K.encode_l2(laid_out(x, layout))
    np.testing.assert_allclose(got, R.encode_l2(x), **TOL[dtype])
    norms = np.linalg.norm(got, axis=1)
    np.testing.assert_allclose(np.delete(norms, 2), 1, rtol=1e-6)
    assert (got[2] == 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_encode_minmax_matches_reference(rng, dtype, layout):
    x = randn(rng, (8, 10), dtype)
    x[5] = 0.7
    got = K.encode_minmax(laid_out(x, layout), -0.5, 2.0)
    np.testing.assert_allclose(got, R.encode_minmax(x, -0.5, 2.0), **TOL[dtype])
    rows = np.delete(got, 5, axis=0)
    np.testing.assert_allclose(rows.min(axis=1), -0.5, **TOL[dtype])
    assert (rows.max(axis=1) == 2.0).all() and (got[5] == -0.5).all()


def test_encoders_work_in_place(rng):
    x = randn(rng, (3, 5), np.float64)
    expected = R.encode_minmax(x, 0, 1)
    assert K.encode_minmax(x, 0, 1, out=x) is x
    np.testing.assert_allclose(x, expected, **TOL[np.float64])


def test_quantize_bits_is_phylls_two_bit_encoder():
    # Rows are affine images of s so that min-max scaling recovers s exactly.
    s = np.array([0, 0.1, 0.25, 0.26, 0.5, 0.75, 0.76, 1.0])
    states = {0: [0, 0], 1: [0, 1], 2: [1, 0], 3: [1, 1]}
    expected = np.array([states[c] for c in (0, 1, 1, 2, 2, 2, 3, 3)]).ravel()
    for dtype in DTYPES:
        x = np.stack([s, 3 + 2 * s, -8 + 16 * s]).astype(dtype)
        got = K.quantize_bits(x, 2)
        assert got.shape == (3, 16) and got.dtype == np.float32
        for row in got:
            np.testing.assert_array_equal(row, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_quantize_bits_matches_reference(rng, dtype, layout, bits):
    x = randn(rng, (6, 50), dtype)
    x[1] = 3.0  # constant row: every element at the minimum
    x[2, ::5] = x[2].min()  # ties at the minimum
    expected = R.quantize_bits(x, bits)
    for out_dtype in (np.uint8, np.float32, np.float64):
        got = K.quantize_bits(laid_out(x, layout), bits, dtype=out_dtype)
        assert got.dtype == out_dtype
        np.testing.assert_array_equal(got, expected)
    assert (expected[1] == 0).all()


def test_quantize_bits_levels_for_three_bits():
    # 7 levels of (0, 1] at 0, 1/6, ..., 1: half-down rounding, code 0 only at the minimum
    s = np.array([0, 1e-9, 1 / 12, 0.09, 0.5, 0.6, 1.0])
    got = K.quantize_bits(s[None], 3, dtype=np.uint8).reshape(-1, 3)
    codes = got @ np.array([4, 2, 1])
    np.testing.assert_array_equal(codes, [0, 1, 1, 2, 4, 5, 7])


def test_quantize_bits_writes_out():
    x = np.array([[0.0, 1.0]], np.float32)
    out = np.full((1, 4), 7, np.uint8)
    assert K.quantize_bits(x, 2, out=out) is out
    np.testing.assert_array_equal(out, [[0, 0, 1, 1]])


@pytest.mark.parametrize("call, error, match", [
    (lambda x: K.encode_l2(x[:, :0]), ValueError, "x has no features"),
    (lambda x: K.encode_minmax(x, 1, 1), ValueError, "need low < high"),
    (lambda x: K.encode_minmax(x, 0, np.inf), ValueError, "high must be a finite real number"),
    (lambda x: K.quantize_bits(x, 0), ValueError, "bits must be >= 1"),
    (lambda x: K.quantize_bits(x, 2.0), TypeError, "bits must be an int"),
    (lambda x: K.quantize_bits(x, 2, dtype=np.int16), TypeError, "dtype must be uint8, float32 or float64"),
    (lambda x: K.quantize_bits(x, 2, out=np.zeros((3, 4), np.uint8)), ValueError, "out must have shape \\(3, 8\\)"),
    (lambda x: K.encode_l2(x, out=np.zeros_like(x)[None]), ValueError, "out must have shape"),
    (lambda x: K.encode_l2(x.astype(np.float16)), TypeError, "x must be float32 or float64, got float16"),
    (lambda x: K.encode_l2(x[0]), ValueError, "x must be 2-D \\(batch, features\\)"),
])
def test_encoders_name_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call(np.arange(12, dtype=np.float32).reshape(3, 4))


def test_read_only_out_is_rejected():
    x = np.ones((2, 3), np.float32)
    out = np.empty_like(x)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        K.encode_l2(x, out=out)


@pytest.mark.parametrize("kernel", [
    K.encode_l2, lambda x: K.encode_minmax(x, 0, 1), K.quantize_bits,
    lambda x: K.overlay_label(x, [0, 1, 0], 2),
])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_rows_are_named_and_nothing_is_written(kernel, bad):
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    x[2, 1] = bad
    before = x.copy()
    with pytest.raises(ValueError, match="x row 2 contains NaN or inf"):
        kernel(x)
    np.testing.assert_array_equal(x, before)
