"""Plain NumPy versions of every kernel, written for clarity; the tests hold the kernels to them.

Same names and semantics as phyll.kernels, batch-major throughout, no validation.
"""
import numpy as np

NORM_FLOOR = 1e-12  # ||z|| floor in goodness: cos is 0 for an all-zero z


def overlay_label(x, labels, n_classes):
    out = np.array(x, copy=True)
    out[:, :n_classes] = 0
    out[np.arange(len(x)), labels] = np.abs(x).max()
    return out


def encode_l2(x):
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def _unit_range(x):
    """Per-row min-max scaling onto [0, 1] in x's dtype; a constant row maps to 0."""
    lo = x.min(axis=1, keepdims=True)
    span = x.max(axis=1, keepdims=True) - lo
    return np.divide(x - lo, span, out=np.zeros_like(x), where=span > 0)


def encode_minmax(x, low, high):
    return np.minimum(low + _unit_range(x).astype(np.float64) * (high - low), high).astype(x.dtype)


def quantize_bits(x, bits):
    """Code 0 at the row minimum, else 1 + #(thresholds (2k-1)/(2m), k=1..m, below s), m = 2**bits - 2."""
    s = _unit_range(x)
    m = 2**bits - 2
    thresholds = np.array([(2 * k - 1) / (2 * m) for k in range(1, m + 1)], dtype=x.dtype)
    code = np.where(s > 0, 1 + (s[..., None] > thresholds).sum(axis=-1), 0)
    weights = 1 << np.arange(bits - 1, -1, -1)  # high bit first
    return ((code[..., None] & weights) > 0).reshape(len(x), -1).astype(np.uint8)


def layer_forward(p, h, W, b):
    return np.concatenate([p, h], axis=1) @ W.T + b


def goodness(z, proto):
    a = np.abs(z)
    return a @ proto / np.maximum(np.linalg.norm(a, axis=1), NORM_FLOOR)


def _softplus(u):
    return np.maximum(u, 0) + np.log1p(np.exp(-np.abs(u)))


def _goodness_grad(z, proto, dL_dg):
    """dL/dz from dL/dg: dg/da = proto / n - g a / n^2 with a = |z|, n = max(||a||, floor)."""
    a = np.abs(z)
    raw = np.linalg.norm(a, axis=1)
    n = np.maximum(raw, NORM_FLOOR)[:, None]
    g = (a @ proto)[:, None] / n
    dg_da = proto / n - np.where(raw[:, None] > NORM_FLOOR, g * a / n**2, 0)
    return dL_dg[:, None] * dg_da * np.sign(z)


def loss_and_grads(p_pos, h_pos, p_neg, h_neg, W, b, proto, theta):
    """loss = mean softplus(-theta (g_pos - g_neg)) and its gradient (dW, db)."""
    x_pos, x_neg = np.concatenate([p_pos, h_pos], 1), np.concatenate([p_neg, h_neg], 1)
    z_pos, z_neg = x_pos @ W.T + b, x_neg @ W.T + b
    u = -theta * (goodness(z_pos, proto) - goodness(z_neg, proto))
    loss = _softplus(u).mean()
    dL_dg_pos = -theta / len(u) / (1 + np.exp(-u))  # softplus' = sigmoid
    dz_pos = _goodness_grad(z_pos, proto, dL_dg_pos)
    dz_neg = _goodness_grad(z_neg, proto, -dL_dg_pos)
    dW = dz_pos.T @ x_pos + dz_neg.T @ x_neg
    db = dz_pos.sum(axis=0) + dz_neg.sum(axis=0)
    return loss, dW, db


def adam_step(adam, W, b, dW, db, lr):
    """One torch.optim.Adam step on W and b in place; advances adam.step."""
    adam.step += 1
    bc1 = 1 - adam.beta1**adam.step
    bc2 = 1 - adam.beta2**adam.step
    for param, grad, m, v in ((W, dW, adam.m_W, adam.v_W), (b, db, adam.m_b, adam.v_b)):
        m[...] = adam.beta1 * m + (1 - adam.beta1) * grad
        v[...] = adam.beta2 * v + (1 - adam.beta2) * grad**2
        param -= lr * (m / bc1) / (np.sqrt(v / bc2) + adam.eps)


def local_update(p_pos, h_pos, p_neg, h_neg, W, b, proto, adam, theta, lr, n_inner):
    """n_inner Adam steps on W, b; returns the loss at the parameters before the last step."""
    for _ in range(n_inner):
        loss, dW, db = loss_and_grads(p_pos, h_pos, p_neg, h_neg, W, b, proto, theta)
        adam_step(adam, W, b, dW, db, lr)
    return loss
