"""The fused local update: loss and gradient, Adam, and the whole update against the NumPy
reference, central finite differences and (when importable) torch.optim.Adam."""
import io
import pickle

import numpy as np
import pytest

import phyll.kernels as K
from phyll.kernels import reference as R

from test_kernels import DTYPES, LAYOUTS, laid_out, randn, unit

# float32 runs a few Adam steps, whose sign-like first steps amplify rounding near zero gradients.
TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-11, atol=1e-12)}
THETA = 2.0


def problem(seed, dtype, batch=17, d_p=4, d_h=6, d_out=5):
    """Inputs, parameters and prototype of one layer; z stays well away from 0 in float32."""
    rng = np.random.default_rng(seed)
    inputs = [randn(rng, (batch, d), dtype) for d in (d_p, d_h, d_p, d_h)]
    W = randn(rng, (d_out, d_p + d_h), dtype) / np.sqrt(d_p + d_h).astype(dtype)
    b = (rng.standard_normal(d_out) + 3).astype(dtype)  # pushes z away from 0
    return inputs, W, b, unit(rng, d_out, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_loss_and_grads_match_reference(dtype, layout):
    inputs, W, b, proto = problem(0, dtype)
    loss, dW, db = K.loss_and_grads(*(laid_out(a, layout) for a in inputs), W, b, proto, THETA)
    ref_loss, ref_dW, ref_db = R.loss_and_grads(*inputs, W, b, proto, THETA)
    assert dW.dtype == db.dtype == dtype
    np.testing.assert_allclose(loss, ref_loss, **TOL[dtype])
    np.testing.assert_allclose(dW, ref_dW, **TOL[dtype])
    np.testing.assert_allclose(db, ref_db, **TOL[dtype])


def test_gradient_matches_central_differences():
    inputs, W, b, proto = problem(1, np.float64, d_out=6)
    b -= 3  # let z take both signs (finite differences stay on one side at these step sizes)
    _, dW, db = K.loss_and_grads(*inputs, W, b, proto, THETA)
    eps = 1e-6

    def numeric(param):
        grad = np.zeros_like(param)
        for index in np.ndindex(param.shape):
            saved = param[index]
            param[index] = saved + eps
            up = R.loss_and_grads(*inputs, W, b, proto, THETA)[0]
            param[index] = saved - eps
            down = R.loss_and_grads(*inputs, W, b, proto, THETA)[0]
            param[index] = saved
            grad[index] = (up - down) / (2 * eps)
        return grad

    np.testing.assert_allclose(dW, numeric(W), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(db, numeric(b), rtol=1e-6, atol=1e-9)


def test_all_zero_rows_have_goodness_zero_and_zero_gradient():
    inputs, W, b, proto = problem(2, np.float64)
    loss, dW, db = K.loss_and_grads(*inputs, np.zeros_like(W), np.zeros_like(b), proto, THETA)
    assert loss == pytest.approx(np.log(2))  # softplus(0)
    assert not dW.any() and not db.any()


def run_update(module, seed, dtype, n_inner, layout="C", **hyper):
    inputs, W, b, proto = problem(seed, dtype)
    adam = K.AdamState.zeros(W, b, **hyper)
    loss = module.local_update(*(laid_out(a, layout) for a in inputs), W, b, proto, adam,
                               THETA, 0.01, n_inner)
    return loss, W, b, adam


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_local_update_matches_reference(dtype, layout):
    loss, W, b, adam = run_update(K, 3, dtype, 6, layout, beta1=0.8, beta2=0.99, eps=1e-7)
    ref_loss, ref_W, ref_b, ref_adam = run_update(R, 3, dtype, 6, beta1=0.8, beta2=0.99, eps=1e-7)
    assert isinstance(loss, float) and adam.step == ref_adam.step == 6
    np.testing.assert_allclose(loss, ref_loss, **TOL[dtype])
    for got, expected in [(W, ref_W), (b, ref_b), (adam.m_W, ref_adam.m_W),
                          (adam.v_W, ref_adam.v_W), (adam.m_b, ref_adam.m_b),
                          (adam.v_b, ref_adam.v_b)]:
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, **TOL[dtype])


def test_returned_loss_is_before_the_last_update():
    loss, *_ = run_update(K, 4, np.float64, 3)
    _, W, b, _ = run_update(K, 4, np.float64, 2)
    inputs, _, _, proto = problem(4, np.float64)
    assert loss == pytest.approx(K.loss_and_grads(*inputs, W, b, proto, THETA)[0], rel=1e-12)


def test_adam_state_round_trips_through_npz_and_pickle():
    inputs, W, b, proto = problem(5, np.float32)
    adam = K.AdamState.zeros(W, b, beta1=0.85)
    K.local_update(*inputs, W, b, proto, adam, THETA, 0.01, 3)
    buffer = io.BytesIO()
    np.savez(buffer, **adam.to_arrays())
    buffer.seek(0)
    with np.load(buffer) as arrays:
        restored = K.AdamState.from_arrays(arrays)
    pickled = pickle.loads(pickle.dumps(adam))
    for other in (restored, pickled):
        assert (other.step, other.beta1, other.beta2, other.eps) == (3, 0.85, 0.999, 1e-8)
        for name in ("m_W", "v_W", "m_b", "v_b"):
            np.testing.assert_array_equal(getattr(other, name), getattr(adam, name))
    # training on from the restored state is training on without a break
    W2, b2 = W.copy(), b.copy()
    K.local_update(*inputs, W, b, proto, adam, THETA, 0.01, 2)
    K.local_update(*inputs, W2, b2, proto, restored, THETA, 0.01, 2)
    np.testing.assert_array_equal(W, W2)
    with pytest.raises(KeyError, match="lack \\['step'\\]"):
        K.AdamState.from_arrays({k: v for k, v in adam.to_arrays().items() if k != "step"})


def test_reference_adam_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    W, b = rng.standard_normal((3, 4)), rng.standard_normal(3)
    adam = K.AdamState.zeros(W, b, beta1=0.7, beta2=0.95, eps=1e-6)
    W_t, b_t = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    optimizer = torch.optim.Adam([W_t, b_t], lr=0.05, betas=(0.7, 0.95), eps=1e-6)
    for _ in range(5):
        dW, db = rng.standard_normal(W.shape), rng.standard_normal(b.shape)
        R.adam_step(adam, W, b, dW, db, 0.05)
        W_t.grad, b_t.grad = torch.tensor(dW), torch.tensor(db)
        optimizer.step()
    np.testing.assert_allclose(W, W_t.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b, b_t.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
def test_local_update_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    inputs, W0, b0, proto = problem(7, dtype)
    W_t = torch.tensor(W0, requires_grad=True)
    b_t = torch.tensor(b0, requires_grad=True)
    optimizer = torch.optim.Adam([W_t, b_t], lr=0.01)
    p_pos, h_pos, p_neg, h_neg = map(torch.from_numpy, inputs)
    proto_t = torch.from_numpy(proto)

    def goodness(p, h):
        a = (torch.cat([p, h], 1) @ W_t.T + b_t).abs()
        return a @ proto_t / a.norm(dim=1).clamp_min(1e-12)

    for _ in range(4):
        loss_t = torch.nn.functional.softplus(-THETA * (goodness(p_pos, h_pos) - goodness(p_neg, h_neg))).mean()
        optimizer.zero_grad()
        loss_t.backward()
        optimizer.step()
    loss, W, b, _ = run_update(K, 7, dtype, 4)
    np.testing.assert_allclose(loss, loss_t.item(), **TOL[dtype])
    np.testing.assert_allclose(W, W_t.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(b, b_t.detach().numpy(), **TOL[dtype])


@pytest.mark.parametrize("name", ["p_pos", "h_pos", "p_neg", "h_neg", "W", "b"])
def test_non_finite_input_is_named_and_nothing_changes(name):
    inputs, W, b, proto = problem(8, np.float32)
    arrays = dict(zip(["p_pos", "h_pos", "p_neg", "h_neg"], inputs), W=W, b=b)
    arrays[name][(2, 1) if arrays[name].ndim == 2 else 2] = np.nan
    W_before, b_before = W.copy(), b.copy()
    adam = K.AdamState.zeros(W, b)
    where = f"{name} row 2" if arrays[name].ndim == 2 else name
    with pytest.raises(ValueError, match=f"{where} contains NaN or inf"):
        K.local_update(*inputs, W, b, proto, adam, THETA, 0.01, 3)
    np.testing.assert_array_equal(W, W_before)
    np.testing.assert_array_equal(b, b_before)
    assert adam.step == 0 and not adam.m_W.any()


def test_overflowing_pre_activations_are_reported():
    inputs, W, b, proto = problem(9, np.float32)
    with pytest.raises(FloatingPointError, match="pre-activations overflow float32"):
        K.local_update(*inputs, W * 1e30, b, proto, K.AdamState.zeros(W, b), THETA, 0.01, 1)


def read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("change, error, match", [
    (dict(W=lambda W: read_only(W)), ValueError, "W is read-only"),
    (dict(W=np.asfortranarray), ValueError, "W must be C-contiguous"),
    (dict(W=lambda W: W.tolist()), TypeError, "W must be a numpy array"),
    (dict(b=lambda b: b.astype(np.float64)), TypeError, "b must be float32, got float64"),
    (dict(p_neg=lambda p: p.astype(np.float64)), TypeError, "p_neg is float64 but the other arrays are float32"),
    (dict(h_neg=lambda h: h[:-1]), ValueError, "h_neg must have shape \\(17, 6\\) \\(rows of p_pos, columns of h_pos\\), got \\(16, 6\\)"),
    (dict(p_neg=lambda p: p[:, :-1]), ValueError, "p_neg must have shape \\(17, 4\\) .*got \\(17, 3\\)"),
    (dict(W=lambda W: W[:, :-1].copy()), ValueError, "columns of W \\(d_p \\+ d_h\\): got 9, expected 10"),
    (dict(proto=lambda p: 2 * p), ValueError, "proto must be a unit vector"),
    (dict(proto=lambda p: p[:-1] / np.linalg.norm(p[:-1])), ValueError, "length of proto"),
    (dict(adam=lambda a: K.AdamState(a.m_W.T.copy(), a.v_W, a.m_b, a.v_b)), ValueError, "adam.m_W must have shape \\(5, 10\\)"),
    (dict(adam=lambda a: K.AdamState(a.m_W, a.v_W, a.m_b, a.v_b, step=-1)), ValueError, "adam.step must be >= 0"),
    (dict(theta=lambda t: float("nan")), ValueError, "theta must be a finite real number"),
    (dict(n_inner=lambda n: 0), ValueError, "n_inner must be >= 1"),
    (dict(p_pos=lambda p: p[:0], h_pos=lambda h: h[:0]), ValueError, "p_pos is an empty batch"),
])
def test_local_update_names_bad_arguments(change, error, match):
    inputs, W, b, proto = problem(10, np.float32)
    args = dict(zip(["p_pos", "h_pos", "p_neg", "h_neg"], inputs), W=W, b=b, proto=proto,
                adam=K.AdamState.zeros(W, b), theta=THETA, lr=0.01, n_inner=2)
    args.update({name: fn(args[name]) for name, fn in change.items()})
    with pytest.raises(error, match=match):
        K.local_update(**args)
