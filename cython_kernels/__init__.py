"""PhyLL's host-side math as Cython kernels, behind thin validating wrappers.

float32 is the working dtype, float64 is accepted; the arrays of one call share a dtype. Inputs
may be C- or F-ordered and read-only. `out=` takes a caller-supplied result array (for the
encoders and overlay_label it may be `x` itself). Errors name the argument at fault. The
encoders, overlay_label and local_update raise ValueError on a NaN or inf input before writing
anything; layer_forward and goodness let NaN through as NumPy would. The NumPy references with
the same names are in phyll.kernels.reference; cython_kernels/README.md describes each kernel.
"""
import numpy as np

from . import _encode, _layer, _local_update, _validate as check
from .adam import AdamState

__all__ = [
    "AdamState", "encode_l2", "encode_minmax", "goodness", "layer_forward", "local_update",
    "loss_and_grads", "overlay_label", "quantize_bits", "sample_wrong_labels",
]

_ROWS = ("batch", "features")
_STATE_DTYPES = (np.dtype(np.uint8),) + check.FLOAT_DTYPES


def _result(out, shape, dtype, c_contiguous=False):
    if out is None:
        return np.empty(shape, dtype)
    return check.writable("out", out, shape, (np.dtype(dtype),), c_contiguous)


def _raise_on_row(bad_row: int, name: str) -> None:
    if bad_row >= 0:
        raise ValueError(f"{name} row {bad_row} contains NaN or inf")


def _features(x) -> np.ndarray:
    x = check.floats("x", x, _ROWS)
    if x.shape[1] == 0:
        raise ValueError("x has no features (shape (B, 0))")
    return x


def overlay_label(x, labels, n_classes, out=None):
    """Copy of x with x[:, :n_classes] zeroed, then out[i, labels[i]] = max |x| over the batch."""
    x = check.floats("x", x, _ROWS)
    n_classes = check.count("n_classes", n_classes, 1)
    if x.shape[1] < n_classes:
        raise ValueError(f"x has {x.shape[1]} features, fewer than n_classes={n_classes}")
    labels = check.labels(labels, n_classes, x.shape[0])
    out = _result(out, x.shape, x.dtype)
    _raise_on_row(_encode.overlay_label(x, labels, n_classes, out), "x")
    return out


def sample_wrong_labels(labels, n_classes, seed_or_generator):
    """int64 (B,): for each label a uniform draw from the n_classes - 1 other labels.

    seed_or_generator: an int seed (or anything np.random.default_rng takes, except None) or a
    numpy Generator, whose state advances.
    """
    n_classes = check.count("n_classes", n_classes, 2)
    labels = check.labels(labels, n_classes)
    if seed_or_generator is None:
        raise TypeError("seed_or_generator must be a seed or a numpy Generator; None is not reproducible")
    rng = np.random.default_rng(seed_or_generator)
    # Draw from n_classes - 1 slots and skip over the true label.
    wrong = rng.integers(0, n_classes - 1, size=labels.shape[0], dtype=np.int64)
    return wrong + (wrong >= labels)


def layer_forward(p, h, W, b, out=None):
    """z (B, d_out) = [p, h] @ W.T + b for sensor readings p (B, d_p) and layer input h (B, d_h)."""
    p, h = check.floats("p", p, ("batch", "sensors")), check.floats("h", h, _ROWS)
    W = check.floats("W", W, ("d_out", "d_p + d_h"))
    b = check.floats("b", b, ("d_out",))
    check.same_dtype(W.dtype, p=p, h=h, b=b)
    check.size("rows of h (one per row of p)", h.shape[0], p.shape[0])
    check.size("columns of W (d_p + d_h)", W.shape[1], p.shape[1] + h.shape[1])
    check.size("length of b (d_out, rows of W)", b.shape[0], W.shape[0])
    out = _result(out, (p.shape[0], W.shape[0]), W.dtype, c_contiguous=True)
    if any(np.may_share_memory(out, a) for a in (p, h, W, b)):
        raise ValueError("out must not overlap p, h, W or b")
    _layer.layer_forward(check.blas_ready(p), check.blas_ready(h), check.blas_ready(W),
                         np.ascontiguousarray(b), out)
    return out


def goodness(z, proto, out=None):
    """g (B,) = cos(|z|, proto) per row, for a unit vector proto (d_out,); 0 for an all-zero row.

    The norm of |z| is floored at 1e-12, which is what makes an all-zero row 0 rather than 0/0.
    """
    z = check.floats("z", z, ("batch", "d_out"))
    proto = check.floats("proto", proto, ("d_out",))
    check.same_dtype(z.dtype, proto=proto)
    check.size("length of proto (d_out, columns of z)", proto.shape[0], z.shape[1])
    proto = check.unit_vector("proto", proto)
    out = _result(out, (z.shape[0],), z.dtype)
    _layer.goodness(z, proto, out)
    return out


def encode_l2(x, out=None):
    """Per-row L2 normalisation; an all-zero row stays zero."""
    x = _features(x)
    out = _result(out, x.shape, x.dtype)
    _raise_on_row(_encode.encode_l2(x, out), "x")
    return out


def encode_minmax(x, low, high, out=None):
    """Per-row min-max scaling onto [low, high]; a constant row maps to low."""
    x = _features(x)
    low, high = check.finite("low", low), check.finite("high", high)
    if not low < high:
        raise ValueError(f"need low < high, got [{low}, {high}]")
    out = _result(out, x.shape, x.dtype)
    _raise_on_row(_encode.encode_minmax(x, low, high, out), "x")
    return out


def quantize_bits(x, bits=2, out=None, *, dtype=np.float32):
    """0/1 element states (B, D * bits): each value's level code in `bits` bits, high bit first.

    Per row, values are min-max scaled to s in [0, 1]. Code 0 means s == 0 (the row minimum;
    a constant row is all 0); otherwise s rounds half-down onto 2**bits - 1 uniform levels
    of (0, 1], codes 1 .. 2**bits - 1. For bits=2 this is PhyLL's metasurface encoder:
    s == 0 -> 00, (0, .25] -> 01, (.25, .75] -> 10, (.75, 1] -> 11. bits=1 switches an element
    on unless its value is the row minimum. The result is float32 (what a PhysicalTransform
    takes) unless `dtype` or `out` say uint8 or float64.
    """
    x = _features(x)
    bits = check.count("bits", bits, 1)
    if bits > 16:
        raise ValueError(f"bits must be <= 16, got {bits}")
    shape = (x.shape[0], x.shape[1] * bits)
    if out is None:
        if np.dtype(dtype) not in _STATE_DTYPES:
            raise TypeError(f"dtype must be uint8, float32 or float64, got {np.dtype(dtype)}")
        out = np.empty(shape, dtype)
    check.writable("out", out, shape, _STATE_DTYPES)
    _raise_on_row(_encode.quantize_bits(x, bits, out), "x")
    return out


def _update_args(p_pos, h_pos, p_neg, h_neg, W, b, proto):
    """Validated (inputs..., W, b, proto) of local_update and loss_and_grads, in W's dtype."""
    W = check.floats("W", W, ("d_out", "d_in"))
    b = check.floats("b", b, ("d_out",))
    proto = check.floats("proto", proto, ("d_out",))
    inputs = {
        "p_pos": check.floats("p_pos", p_pos, ("batch", "sensors")),
        "h_pos": check.floats("h_pos", h_pos, _ROWS),
        "p_neg": check.floats("p_neg", p_neg, ("batch", "sensors")),
        "h_neg": check.floats("h_neg", h_neg, _ROWS),
    }
    check.same_dtype(W.dtype, b=b, proto=proto, **inputs)
    n, d_p, d_h = inputs["p_pos"].shape + inputs["h_pos"].shape[1:]
    if n == 0:
        raise ValueError("p_pos is an empty batch")
    for name, a in inputs.items():
        expected = (n, d_p if name[0] == "p" else d_h)
        if a.shape != expected:
            raise ValueError(f"{name} must have shape {expected} (rows of p_pos, columns of "
                             f"{name[0]}_pos), got {a.shape}")
    check.size("columns of W (d_p + d_h)", W.shape[1], d_p + d_h)
    check.size("length of b (d_out, rows of W)", b.shape[0], W.shape[0])
    check.size("length of proto (d_out, rows of W)", proto.shape[0], W.shape[0])
    return (*inputs.values(), W, np.ascontiguousarray(b), check.unit_vector("proto", proto))


def _raise_nonfinite(p_pos, h_pos, p_neg, h_neg, W, b, proto):
    where = check.first_nonfinite(p_pos=p_pos, h_pos=h_pos, p_neg=p_neg, h_neg=h_neg,
                                  W=W, b=b, proto=proto)
    if where:
        raise ValueError(f"{where} contains NaN or inf")
    raise FloatingPointError(f"pre-activations overflow {W.dtype}: inputs or weights are too large")


def loss_and_grads(p_pos, h_pos, p_neg, h_neg, W, b, proto, theta):
    """(loss, dW, db) of local_update's loss at (W, b), from the same kernel code."""
    args = _update_args(p_pos, h_pos, p_neg, h_neg, W, b, proto)
    dW, db = np.empty(args[4].shape, args[4].dtype), np.empty(args[5].shape, args[4].dtype)
    loss = _local_update.loss_and_grads(*args, check.finite("theta", theta), dW, db)
    if loss != loss:
        _raise_nonfinite(*args)
    return float(loss), dW, db


def local_update(p_pos, h_pos, p_neg, h_neg, W, b, proto, adam, theta, lr, n_inner):
    """n_inner Adam steps on W and b, in place, of loss = mean softplus(-theta (g_pos - g_neg)).

    g = goodness(layer_forward(p, h, W, b), proto) for the positive and the negative batch
    (row i of each forms a pair). W (d_out, d_in) and b (d_out,) must be writable and
    C-contiguous; adam (AdamState) holds moments of their shape and dtype and is advanced too.
    Returns the loss computed in the last step's forward pass, i.e. at the parameters before
    the last update. On NaN/inf inputs it raises ValueError with W, b and adam untouched.
    """
    # The trainer's calls pass this one C-level test; anything else gets the checks that name
    # the argument at fault (small layers take ~0.3 ms a call, those checks ~20 us).
    if not _local_update.plain_update_args(p_pos, h_pos, p_neg, h_neg, W, b, proto, adam):
        # Checked before _update_args, which may hand back copies: updates must land in the
        # originals.
        W = check.writable("W", W, np.shape(W), check.FLOAT_DTYPES, c_contiguous=True)
        b = check.writable("b", b, np.shape(b), (W.dtype,), c_contiguous=True)
        p_pos, h_pos, p_neg, h_neg, W, b, proto = _update_args(p_pos, h_pos, p_neg, h_neg, W, b,
                                                               proto)
        for name in ("m_W", "v_W", "m_b", "v_b"):
            check.writable(f"adam.{name}", getattr(adam, name),
                           (W if name[-1] == "W" else b).shape, (W.dtype,), c_contiguous=True)
        check.count("adam.step", adam.step, 0)
    loss = _local_update.local_update(
        p_pos, h_pos, p_neg, h_neg, W, b, proto, adam,
        check.finite("theta", theta), check.finite("lr", lr), check.count("n_inner", n_inner, 1))
    if loss != loss:
        _raise_nonfinite(p_pos, h_pos, p_neg, h_neg, W, b, proto)
    return float(loss)
