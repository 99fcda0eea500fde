"""The fused PhyLL local update: n_inner Adam steps on (W, b) of one layer, for one batch.

Layout, chosen so every elementwise loop runs along the batch with unit stride:
  X  (2B x d_in+1)   rows [p_pos, h_pos, 1] then [p_neg, h_neg, 1], built once per call;
                     the ones column makes the dW product deliver db as its last column.
  Zt (d_out x 2B)    pre-activations z, transposed; overwritten by dL/dz after the forward.
  grad (d_out x d_in+1)  [dW | db].
Each step is two GEMMs (Zt = W X^T, grad = dZt X) plus O(B d_out) loops.
float32 layers of at most SMALL_WEIGHTS weights take the products from small_gemm.h instead of
BLAS (faster there: sgemm's packing and blocking do not pay off at that size); they keep X
transposed, Xt (d_in+1 x 2B), so those loops run along the batch.

loss = mean_i softplus(-theta (g_pos_i - g_neg_i)),  g = cos(|z|, proto) = (|z| . proto) / n,
n = max(||z||, 1e-12). With a = |z|:  dg/da = proto / n - g a / n^2  (the second term is 0
where the floor holds n constant), and dL/dz = dL/da * sign(z), sign(0) = 0.
"""
import numpy as np

from cython cimport floating
from libc.math cimport exp, isfinite, log1p, sqrt

from cython_kernels._blas cimport gemm
from cython_kernels._goodness cimport floor_norm, sqrt_same


cdef extern from "small_gemm.h" nogil:
    void small_forward_f32(int d_out, int d_in, Py_ssize_t n, const float* W, const float* Xt,
                           float* Zt)
    void small_grad_f32(int d_out, int rows, Py_ssize_t n, const float* dZt, const float* Xt,
                        float* grad)


# Up to this many weights (d_out x d_in) the float32 products run as small_gemm.h's loops.
# Measured against one-thread OpenBLAS 0.3.30 sgemm on AVX2 (Zen 3), 2B = 412: the loops take
# 0.4x its time at 10 x 20, 0.8x at 20 x 40, break even near 32 x 64 and lose beyond.
SMALL_WEIGHTS = 32 * 32


def uses_small_products(dtype, Py_ssize_t d_in, Py_ssize_t d_out):
    """Whether local_update and loss_and_grads take small_gemm.h's products for this layer."""
    return np.dtype(dtype) == np.float32 and d_in * d_out <= SMALL_WEIGHTS


cdef struct AdamHyper:
    double lr
    double beta1
    double beta2
    double eps


cdef void _stack_inputs(const floating[:, :] p_pos, const floating[:, :] h_pos,
                        const floating[:, :] p_neg, const floating[:, :] h_neg,
                        floating[:, ::1] X) noexcept nogil:
    cdef Py_ssize_t i, k, n = p_pos.shape[0], d_p = p_pos.shape[1], d_h = h_pos.shape[1]
    for i in range(n):
        for k in range(d_p):
            X[i, k] = p_pos[i, k]
            X[n + i, k] = p_neg[i, k]
        for k in range(d_h):
            X[i, d_p + k] = h_pos[i, k]
            X[n + i, d_p + k] = h_neg[i, k]
        X[i, d_p + d_h] = 1
        X[n + i, d_p + d_h] = 1


cdef void _stack_inputs_t(const floating[:, :] p_pos, const floating[:, :] h_pos,
                          const floating[:, :] p_neg, const floating[:, :] h_neg,
                          floating[:, ::1] Xt) noexcept nogil:
    """Xt = X^T: row k holds feature k of all 2B samples, the last row is the ones."""
    cdef Py_ssize_t i, k, n = p_pos.shape[0], d_p = p_pos.shape[1], d_h = h_pos.shape[1]
    for k in range(d_p):
        for i in range(n):
            Xt[k, i] = p_pos[i, k]
            Xt[k, n + i] = p_neg[i, k]
    for k in range(d_h):
        for i in range(n):
            Xt[d_p + k, i] = h_pos[i, k]
            Xt[d_p + k, n + i] = h_neg[i, k]
    for i in range(2 * n):
        Xt[d_p + d_h, i] = 1


cdef void _forward(const floating[:, ::1] X, const floating[:, ::1] W, const floating[::1] b,
                   const floating[::1] proto, floating[:, ::1] Zt,
                   floating* sumsq, floating* dot, bint small) noexcept nogil:
    """Zt = W X^T + b, then per sample sumsq = ||z||^2 and dot = |z| . proto.

    X is Xt (d_in+1 x 2B) when small (float32 only), else (2B x d_in+1).
    """
    cdef int n2 = Zt.shape[1], d_out = W.shape[0], d_in = W.shape[1]
    cdef Py_ssize_t o, j
    cdef floating z, bias, weight
    cdef floating* row
    if floating is float:
        if small:
            small_forward_f32(d_out, d_in, n2, &W[0, 0], &X[0, 0], &Zt[0, 0])
    # Column-major, Zt is (2B x d_out) = X (2B x d_in) W^T: X is read as its transpose, the
    # ones column beyond d_in is skipped through the leading dimension.
    if not small:
        gemm(c'T', c'N', n2, d_out, d_in, 1, &X[0, 0], d_in + 1, &W[0, 0], d_in, 0, &Zt[0, 0], n2)
    for j in range(n2):
        sumsq[j] = 0
        dot[j] = 0
    for o in range(d_out):
        row = &Zt[o, 0]
        bias = b[o]
        weight = proto[o]
        for j in range(n2):
            z = row[j] + bias
            row[j] = z
            sumsq[j] += z * z
            dot[j] += weight * abs(z)


cdef floating _pair_coefficients(Py_ssize_t n2, const floating* sumsq, const floating* dot,
                                 floating theta, bint want_loss, floating* norm, floating* g,
                                 floating* alpha, floating* beta) noexcept nogil:
    """Per sample j: dL/dz_oj = alpha_j proto_o sign(z_oj) - beta_j z_oj. Returns the loss if asked."""
    cdef Py_ssize_t i, j, n = n2 // 2
    cdef floating u, sigmoid, floored, loss = 0, scale = theta / n
    for j in range(n2):
        norm[j] = sqrt_same(sumsq[j])
        g[j] = dot[j] / floor_norm(norm[j])
    for i in range(n):
        u = -theta * (g[i] - g[n + i])
        if want_loss:
            loss += (u if u > 0 else 0) + log1p(exp(-abs(u)))
        # dL/dg_pos = -dL/dg_neg = -(theta / n) sigmoid(u); exp overflowing to inf gives 0
        sigmoid = 1 / (1 + exp(-u))
        alpha[i] = -scale * sigmoid
        alpha[n + i] = scale * sigmoid
    for j in range(n2):
        floored = floor_norm(norm[j])
        beta[j] = alpha[j] * g[j] / (floored * floored) if norm[j] == floored else 0
        alpha[j] = alpha[j] / floored
    return loss / n


cdef void _backward(const floating[:, ::1] X, const floating[::1] proto, floating[:, ::1] Zt,
                    const floating* alpha, const floating* beta,
                    floating[:, ::1] grad, bint small) noexcept nogil:
    """Zt <- dL/dz in place, then grad = [dW | db] = dZt X (X laid out as in _forward)."""
    cdef int n2 = Zt.shape[1], d_out = Zt.shape[0], d_in1 = grad.shape[1]
    cdef Py_ssize_t o, j
    cdef floating z, weight
    cdef floating* row
    for o in range(d_out):
        row = &Zt[o, 0]
        weight = proto[o]
        for j in range(n2):
            z = row[j]
            row[j] = alpha[j] * weight * (<floating>(z > 0) - <floating>(z < 0)) - beta[j] * z
    if floating is float:
        if small:
            small_grad_f32(d_out, d_in1, n2, &Zt[0, 0], &X[0, 0], &grad[0, 0])
    # Column-major, grad is (d_in+1 x d_out) = X^T (d_in+1 x 2B) dZt^T (2B x d_out).
    if not small:
        gemm(c'N', c'N', d_in1, d_out, n2, 1, &X[0, 0], d_in1, &Zt[0, 0], n2, 0, &grad[0, 0], d_in1)


cdef struct AdamStep:
    # one step's coefficients: param -= step_size * m / (sqrt(v) / bc2_sqrt + eps)
    double one_minus_beta1, beta2, one_minus_beta2, step_size, bc2_sqrt, eps


cdef void _adam_span(floating* param, floating* m, floating* v, const floating* grad,
                     Py_ssize_t n, AdamStep c) noexcept nogil:
    """torch.optim.Adam's arithmetic on n contiguous parameters (a loop the compiler vectorises)."""
    cdef Py_ssize_t k
    cdef floating one_minus_beta1 = c.one_minus_beta1, beta2 = c.beta2
    cdef floating one_minus_beta2 = c.one_minus_beta2, step_size = c.step_size
    cdef floating bc2_sqrt = c.bc2_sqrt, eps = c.eps
    for k in range(n):
        m[k] = m[k] + one_minus_beta1 * (grad[k] - m[k])  # torch: m.lerp_(grad, 1 - beta1)
        v[k] = beta2 * v[k] + one_minus_beta2 * grad[k] * grad[k]
        param[k] -= step_size * m[k] / (sqrt_same(v[k]) / bc2_sqrt + eps)


cdef void _adam(floating[:, ::1] W, floating[::1] b, const floating[:, ::1] grad,
                floating[:, ::1] m_W, floating[:, ::1] v_W, floating[::1] m_b, floating[::1] v_b,
                long step, AdamHyper hyper) noexcept nogil:
    cdef Py_ssize_t o, d_in = W.shape[1]
    cdef AdamStep c = AdamStep(1 - hyper.beta1, hyper.beta2, 1 - hyper.beta2,
                               hyper.lr / (1 - hyper.beta1 ** step),
                               sqrt(1 - hyper.beta2 ** step), hyper.eps)
    for o in range(W.shape[0]):
        _adam_span(&W[o, 0], &m_W[o, 0], &v_W[o, 0], &grad[o, 0], d_in, c)
        _adam_span(&b[o], &m_b[o], &v_b[o], &grad[o, d_in], 1, c)


cdef Py_ssize_t _first_nonfinite(Py_ssize_t n2, const floating* sumsq,
                                 const floating* dot) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n2):
        if not (isfinite(sumsq[j]) and isfinite(dot[j])):
            return j
    return -1


def _workspace(Py_ssize_t n, Py_ssize_t d_in, Py_ssize_t d_out, dtype, bint small):
    """X (as Xt when small), Zt, grad and the six per-sample vectors (sumsq, dot, norm, g, alpha,
    beta)."""
    x_shape = (d_in + 1, 2 * n) if small else (2 * n, d_in + 1)
    return (np.empty(x_shape, dtype), np.empty((d_out, 2 * n), dtype),
            np.empty((d_out, d_in + 1), dtype), np.empty((6, 2 * n), dtype))


def loss_and_grads(const floating[:, :] p_pos, const floating[:, :] h_pos,
                   const floating[:, :] p_neg, const floating[:, :] h_neg,
                   const floating[:, ::1] W, const floating[::1] b, const floating[::1] proto,
                   double theta, floating[:, ::1] dW, floating[::1] db):
    """The loss at (W, b) and its gradient into dW, db; NaN (dW, db unwritten) on non-finite z."""
    cdef Py_ssize_t n2 = 2 * p_pos.shape[0], d_in = W.shape[1]
    dtype = np.float32 if floating is float else np.float64
    cdef bint small = uses_small_products(dtype, d_in, W.shape[0])
    X_arr, Zt_arr, grad_arr, per_sample_arr = _workspace(p_pos.shape[0], d_in, W.shape[0], dtype,
                                                         small)
    cdef floating[:, ::1] X = X_arr, Zt = Zt_arr, grad = grad_arr, per_sample = per_sample_arr
    cdef floating loss
    with nogil:
        if small:
            _stack_inputs_t(p_pos, h_pos, p_neg, h_neg, X)
        else:
            _stack_inputs(p_pos, h_pos, p_neg, h_neg, X)
        _forward(X, W, b, proto, Zt, &per_sample[0, 0], &per_sample[1, 0], small)
    if _first_nonfinite(n2, &per_sample[0, 0], &per_sample[1, 0]) >= 0:
        return float("nan")
    with nogil:
        loss = _pair_coefficients(n2, &per_sample[0, 0], &per_sample[1, 0], theta, True,
                                  &per_sample[2, 0], &per_sample[3, 0],
                                  &per_sample[4, 0], &per_sample[5, 0])
        _backward(X, proto, Zt, &per_sample[4, 0], &per_sample[5, 0], grad, small)
    dW[...] = grad[:, :d_in]
    db[...] = grad[:, d_in]
    return loss


def local_update(const floating[:, :] p_pos, const floating[:, :] h_pos,
                 const floating[:, :] p_neg, const floating[:, :] h_neg,
                 floating[:, ::1] W, floating[::1] b, const floating[::1] proto,
                 adam, double theta, double lr, int n_inner):
    """n_inner Adam steps on W, b (and adam's moments and step) in place.

    Returns the loss of the last step's forward pass, i.e. at the parameters before the last
    update; NaN, with nothing updated, when the first forward pass meets a non-finite z.
    """
    cdef Py_ssize_t n2 = 2 * p_pos.shape[0]
    dtype = np.float32 if floating is float else np.float64
    cdef bint small = uses_small_products(dtype, W.shape[1], W.shape[0])
    X_arr, Zt_arr, grad_arr, per_sample_arr = _workspace(p_pos.shape[0], W.shape[1], W.shape[0],
                                                         dtype, small)
    cdef floating[:, ::1] X = X_arr, Zt = Zt_arr, grad = grad_arr, per_sample = per_sample_arr
    cdef floating[:, ::1] m_W = adam.m_W, v_W = adam.v_W
    cdef floating[::1] m_b = adam.m_b, v_b = adam.v_b
    cdef AdamHyper hyper = AdamHyper(lr, adam.beta1, adam.beta2, adam.eps)
    cdef long step = adam.step
    cdef floating loss = 0
    cdef int it
    cdef bint nonfinite = False
    with nogil:
        if small:
            _stack_inputs_t(p_pos, h_pos, p_neg, h_neg, X)
        else:
            _stack_inputs(p_pos, h_pos, p_neg, h_neg, X)
        for it in range(n_inner):
            _forward(X, W, b, proto, Zt, &per_sample[0, 0], &per_sample[1, 0], small)
            if it == 0 and _first_nonfinite(n2, &per_sample[0, 0], &per_sample[1, 0]) >= 0:
                nonfinite = True
                break
            loss = _pair_coefficients(n2, &per_sample[0, 0], &per_sample[1, 0], theta,
                                      it == n_inner - 1, &per_sample[2, 0], &per_sample[3, 0],
                                      &per_sample[4, 0], &per_sample[5, 0])
            _backward(X, proto, Zt, &per_sample[4, 0], &per_sample[5, 0], grad, small)
            step += 1
            _adam(W, b, grad, m_W, v_W, m_b, v_b, step, hyper)
    if nonfinite:
        return float("nan")
    adam.step = step
    return loss


def small_products(const float[:, ::1] Xt, const float[:, ::1] W, float[:, ::1] Zt,
                   float[:, ::1] grad, int repeat):
    """small_gemm.h's two products alone, repeat times: Zt = W Xt[:d_in], grad = Zt Xt^T.

    For the benchmark (timing the products local_update uses) and the tests; shapes: Xt
    (d_in+1 x n), W (d_out x d_in), Zt (d_out x n), grad (d_out x d_in+1).
    """
    cdef int r, d_out = W.shape[0], d_in = W.shape[1]
    cdef Py_ssize_t n = Xt.shape[1]
    if (Xt.shape[0] != d_in + 1 or Zt.shape[0] != d_out or Zt.shape[1] != n
            or grad.shape[0] != d_out or grad.shape[1] != d_in + 1):
        raise ValueError(f"small_products: shapes Xt ({Xt.shape[0]}, {Xt.shape[1]}),"
                         f" W ({d_out}, {d_in}), Zt ({Zt.shape[0]}, {Zt.shape[1]}),"
                         f" grad ({grad.shape[0]}, {grad.shape[1]}) do not fit together")
    with nogil:
        for r in range(repeat):
            small_forward_f32(d_out, d_in, n, &W[0, 0], &Xt[0, 0], &Zt[0, 0])
            small_grad_f32(d_out, d_in + 1, n, &Zt[0, 0], &Xt[0, 0], &grad[0, 0])
