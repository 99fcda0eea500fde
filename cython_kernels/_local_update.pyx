"""The fused PhyLL local update: n_inner Adam steps on (W, b) of one layer, for one batch.

Layout, chosen so every elementwise loop runs along the batch with unit stride:
  X  (2B x d_in+1)   rows [p_pos, h_pos, 1] then [p_neg, h_neg, 1], built once per call;
                     the ones column makes the dW product deliver db as its last column.
  Zt (d_out x 2B)    pre-activations z, transposed; overwritten by dL/dz after the forward.
  grad (d_out x d_in+1)  [dW | db].
Each step is two GEMMs (Zt = W X^T, grad = dZt X) plus O(B d_out) loops.
float32 layers of at most SMALL_WEIGHTS weights run every step in small_step.h instead, on X
transposed (faster there: sgemm's packing and blocking do not pay off at that size, and the loops
between the products weigh as much as the products).

loss = mean_i softplus(-theta (g_pos_i - g_neg_i)),  g = cos(|z|, proto) = (|z| . proto) / n,
n = max(||z||, 1e-12). With a = |z|:  dg/da = proto / n - g a / n^2  (the second term is 0
where the floor holds n constant), and dL/dz = dL/da * sign(z), sign(0) = 0.
"""
import threading

import numpy as np

cimport numpy as cnp
from cython cimport floating
from libc.math cimport exp, isfinite, log1p, sqrt

from cython_kernels._blas cimport gemm
from cython_kernels._goodness cimport floor_norm, sqrt_same


cdef extern from "small_step.h" nogil:
    enum: SS_COLUMNS
    ctypedef struct ss_problem:
        int d_out, d_in
        Py_ssize_t n, stride
        const float* Xt
        const float* proto
        float* Zt
        float* grad
        float* sumsq
        float* dot
        float* alpha
        float* beta
    ctypedef struct ss_adam:
        float* W
        float* b
        float* m_W
        float* v_W
        float* m_b
        float* v_b
        long step
        double lr, beta1, beta2, eps
    int ss_local_update(const ss_problem* p, ss_adam* a, float theta, int n_inner, float* loss)
    int ss_loss_and_grad(const ss_problem* p, const float* W, const float* b, float theta,
                         float* loss)
    void ss_products(const ss_problem* p, const float* W, int repeat)
    const char* ss_isa()
    void ss_force_baseline(int on)


# Up to this many weights (d_out x d_in) float32 layers take small_step.h's fused steps.
# Its product tiles measured against one-thread OpenBLAS 0.3.30 sgemm on AVX2 (Zen 3), 2B = 412:
# 0.4x sgemm's time at 10 x 20, 0.8x at 20 x 40, even near 32 x 64, slower beyond.
SMALL_WEIGHTS = 32 * 32


def uses_small_products(dtype, Py_ssize_t d_in, Py_ssize_t d_out):
    """Whether local_update and loss_and_grads run this layer through small_step.h."""
    return np.dtype(dtype) == np.float32 and d_in * d_out <= SMALL_WEIGHTS


def small_isa():
    """The instruction set small_step.h's dispatch picked on this CPU: 'avx2+fma' or 'baseline'."""
    return ss_isa().decode()


def force_baseline_isa(bint on):
    """Make small_step.h run its portable copy even on an AVX2 CPU (tests compare both copies)."""
    ss_force_baseline(on)


cnp.import_array()


cdef inline bint _is_array(object a, int typenum, int ndim) noexcept:
    return (isinstance(a, cnp.ndarray) and cnp.PyArray_TYPE(<cnp.ndarray>a) == typenum
            and cnp.PyArray_NDIM(<cnp.ndarray>a) == ndim)


cdef inline bint _is_state(object a, int typenum, cnp.ndarray like) noexcept:
    """a: an array of like's dtype and shape, C-contiguous and writable (updated in place)."""
    if not _is_array(a, typenum, cnp.PyArray_NDIM(like)):
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int k
    for k in range(cnp.PyArray_NDIM(like)):
        if cnp.PyArray_DIM(arr, k) != cnp.PyArray_DIM(like, k):
            return False
    return cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_ISWRITEABLE(arr)


def plain_update_args(p_pos, h_pos, p_neg, h_neg, W, b, proto, adam):
    """True when local_update's arrays need no conversion and fit together, as in every call the
    trainer makes: one float dtype, matching shapes, W, b and adam's moments C-contiguous and
    writable, proto a contiguous unit vector, adam.step an int >= 0. phyll.kernels checks these
    at C speed first and runs its argument-by-argument checks (which name what is wrong) only
    when this says False."""
    if not isinstance(W, cnp.ndarray):
        return False
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>W)
    if t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64:
        return False
    if not (_is_array(p_pos, t, 2) and _is_array(h_pos, t, 2) and _is_array(p_neg, t, 2)
            and _is_array(h_neg, t, 2) and _is_array(W, t, 2) and _is_array(b, t, 1)
            and _is_array(proto, t, 1)):
        return False
    cdef cnp.ndarray pp = p_pos, hp = h_pos, pn = p_neg, hn = h_neg, w = W, bias = b, pr = proto
    cdef cnp.npy_intp n = cnp.PyArray_DIM(pp, 0), d_out = cnp.PyArray_DIM(w, 0)
    if (n == 0 or cnp.PyArray_DIM(hp, 0) != n or cnp.PyArray_DIM(pn, 0) != n
            or cnp.PyArray_DIM(hn, 0) != n
            or cnp.PyArray_DIM(pn, 1) != cnp.PyArray_DIM(pp, 1)
            or cnp.PyArray_DIM(hn, 1) != cnp.PyArray_DIM(hp, 1)
            or cnp.PyArray_DIM(w, 1) != cnp.PyArray_DIM(pp, 1) + cnp.PyArray_DIM(hp, 1)
            or cnp.PyArray_DIM(bias, 0) != d_out or cnp.PyArray_DIM(pr, 0) != d_out):
        return False
    if not (_is_state(W, t, w) and _is_state(b, t, bias) and cnp.PyArray_IS_C_CONTIGUOUS(pr)):
        return False
    if not (_is_state(adam.m_W, t, w) and _is_state(adam.v_W, t, w)
            and _is_state(adam.m_b, t, bias) and _is_state(adam.v_b, t, bias)):
        return False
    step = adam.step
    if type(step) is not int or step < 0:
        return False
    cdef double norm2 = 0
    cdef cnp.npy_intp o
    for o in range(d_out):
        if t == cnp.NPY_FLOAT32:
            norm2 += (<float*>cnp.PyArray_DATA(pr))[o] ** 2
        else:
            norm2 += (<double*>cnp.PyArray_DATA(pr))[o] ** 2
    return abs(sqrt(norm2) - 1) <= 1e-3


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


cdef void _forward(const floating[:, ::1] X, const floating[:, ::1] W, const floating[::1] b,
                   const floating[::1] proto, floating[:, ::1] Zt,
                   floating* sumsq, floating* dot) noexcept nogil:
    """Zt = W X^T + b, then per sample sumsq = ||z||^2 and dot = |z| . proto."""
    cdef int n2 = Zt.shape[1], d_out = W.shape[0], d_in = W.shape[1]
    cdef Py_ssize_t o, j
    cdef floating z, bias, weight
    cdef floating* row
    # Column-major, Zt is (2B x d_out) = X (2B x d_in) W^T: X is read as its transpose, the
    # ones column beyond d_in is skipped through the leading dimension.
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
                    floating[:, ::1] grad) noexcept nogil:
    """Zt <- dL/dz in place, then grad = [dW | db] = dZt X."""
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
    # Column-major, grad is (d_in+1 x d_out) = X^T (d_in+1 x 2B) dZt^T (2B x d_out).
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


def _workspace(Py_ssize_t n, Py_ssize_t d_in, Py_ssize_t d_out, dtype):
    """X, Zt, grad and the six per-sample vectors (sumsq, dot, norm, g, alpha, beta)."""
    return (np.empty((2 * n, d_in + 1), dtype), np.empty((d_out, 2 * n), dtype),
            np.empty((d_out, d_in + 1), dtype), np.empty((6, 2 * n), dtype))


# -- small float32 layers: small_step.h ----------------------------------------------------------

# samples per block when stacking the inputs: 64 rows of a 40-wide layer's inputs are 10 KB
cdef enum:
    _STACK_BLOCK = 64

cdef Py_ssize_t _small_stride(Py_ssize_t n2) noexcept nogil:
    return (n2 + SS_COLUMNS - 1) // SS_COLUMNS * SS_COLUMNS


# Each thread's small_step.h workspace, kept between calls and grown as needed: fresh memory
# for every call would cost page faults comparable to a whole step (~100 KB at the vowel shape).
_workspaces = threading.local()


cdef void _stack_rows(const float[:, :] pos, const float[:, :] neg, Py_ssize_t first,
                      float* Xt, Py_ssize_t stride) noexcept nogil:
    """Xt rows first.. first+d: column k of pos then of neg, samples in blocks of _STACK_BLOCK
    so each block's input rows are read from L1 once for all of its columns."""
    cdef Py_ssize_t i0 = 0, i, k, i_end, n = pos.shape[0]
    cdef float* row
    while i0 < n:
        i_end = min(i0 + _STACK_BLOCK, n)
        for k in range(pos.shape[1]):
            row = Xt + (first + k) * stride
            for i in range(i0, i_end):
                row[i] = pos[i, k]
                row[n + i] = neg[i, k]
        i0 = i_end


cdef void _stack_small(const float[:, :] p_pos, const float[:, :] h_pos,
                       const float[:, :] p_neg, const float[:, :] h_neg,
                       float* Xt, Py_ssize_t stride) noexcept nogil:
    """Xt: row k holds feature k of all 2n samples, then zeros to the stride; last row the ones."""
    cdef Py_ssize_t i, k, n = p_pos.shape[0], d_p = p_pos.shape[1], rows = d_p + h_pos.shape[1] + 1
    _stack_rows(p_pos, p_neg, 0, Xt, stride)
    _stack_rows(h_pos, h_neg, d_p, Xt, stride)
    for i in range(2 * n):
        Xt[(rows - 1) * stride + i] = 1
    for k in range(rows):
        for i in range(2 * n, stride):
            Xt[k * stride + i] = 0


cdef int _small_problem(ss_problem* p, const float[:, :] p_pos, const float[:, :] h_pos,
                        const float[:, :] p_neg, const float[:, :] h_neg, int d_out,
                        const float* proto) except -1:
    """Point p at Xt, Zt, grad and the four per-sample rows in this thread's workspace and stack
    the inputs into Xt. alpha and beta start all 0; the steps write only their first 2n."""
    cdef Py_ssize_t n = p_pos.shape[0], d_in = p_pos.shape[1] + h_pos.shape[1]
    cdef Py_ssize_t stride = _small_stride(2 * n), rows = d_in + 1
    cdef Py_ssize_t total = (rows + d_out + 4) * stride + d_out * rows, k
    block = getattr(_workspaces, "block", None)
    if block is None or cnp.PyArray_DIM(<cnp.ndarray>block, 0) < total:
        block = np.empty(total, np.float32)
        _workspaces.block = block
    cdef float* start = <float*>cnp.PyArray_DATA(<cnp.ndarray>block)
    p.d_out, p.d_in, p.n, p.stride, p.proto = d_out, d_in, n, stride, proto
    p.Xt = start
    p.Zt = start + rows * stride
    p.sumsq = p.Zt + d_out * stride
    p.dot = p.sumsq + stride
    p.alpha = p.dot + stride
    p.beta = p.alpha + stride
    p.grad = p.beta + stride
    with nogil:
        for k in range(2 * stride):
            p.alpha[k] = 0
        _stack_small(p_pos, h_pos, p_neg, h_neg, start, stride)
    return 0


def loss_and_grads(const floating[:, :] p_pos, const floating[:, :] h_pos,
                   const floating[:, :] p_neg, const floating[:, :] h_neg,
                   const floating[:, ::1] W, const floating[::1] b, const floating[::1] proto,
                   double theta, floating[:, ::1] dW, floating[::1] db):
    """The loss at (W, b) and its gradient into dW, db; NaN (dW, db unwritten) on non-finite z."""
    cdef Py_ssize_t n2 = 2 * p_pos.shape[0], d_in = W.shape[1], o, j
    dtype = np.float32 if floating is float else np.float64
    cdef ss_problem problem
    cdef float small_loss
    cdef int status
    if floating is float:
        if uses_small_products(dtype, d_in, W.shape[0]):
            _small_problem(&problem, p_pos, h_pos, p_neg, h_neg, W.shape[0], &proto[0])
            with nogil:
                status = ss_loss_and_grad(&problem, &W[0, 0], &b[0], theta, &small_loss)
                if status == 0:
                    for o in range(W.shape[0]):
                        for j in range(d_in):
                            dW[o, j] = problem.grad[o * (d_in + 1) + j]
                        db[o] = problem.grad[o * (d_in + 1) + d_in]
            return float("nan") if status else small_loss
    X_arr, Zt_arr, grad_arr, per_sample_arr = _workspace(p_pos.shape[0], d_in, W.shape[0], dtype)
    cdef floating[:, ::1] X = X_arr, Zt = Zt_arr, grad = grad_arr, per_sample = per_sample_arr
    cdef floating loss
    with nogil:
        _stack_inputs(p_pos, h_pos, p_neg, h_neg, X)
        _forward(X, W, b, proto, Zt, &per_sample[0, 0], &per_sample[1, 0])
    if _first_nonfinite(n2, &per_sample[0, 0], &per_sample[1, 0]) >= 0:
        return float("nan")
    with nogil:
        loss = _pair_coefficients(n2, &per_sample[0, 0], &per_sample[1, 0], theta, True,
                                  &per_sample[2, 0], &per_sample[3, 0],
                                  &per_sample[4, 0], &per_sample[5, 0])
        _backward(X, proto, Zt, &per_sample[4, 0], &per_sample[5, 0], grad)
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
    cdef floating[:, ::1] m_W = adam.m_W, v_W = adam.v_W
    cdef floating[::1] m_b = adam.m_b, v_b = adam.v_b
    cdef AdamHyper hyper = AdamHyper(lr, adam.beta1, adam.beta2, adam.eps)
    cdef long step = adam.step
    dtype = np.float32 if floating is float else np.float64
    cdef ss_problem problem
    cdef ss_adam small_adam
    cdef float small_loss
    cdef int status
    if floating is float:
        if uses_small_products(dtype, W.shape[1], W.shape[0]):
            small_adam = ss_adam(&W[0, 0], &b[0], &m_W[0, 0], &v_W[0, 0], &m_b[0], &v_b[0],
                                 step, lr, hyper.beta1, hyper.beta2, hyper.eps)
            _small_problem(&problem, p_pos, h_pos, p_neg, h_neg, W.shape[0], &proto[0])
            with nogil:
                status = ss_local_update(&problem, &small_adam, theta, n_inner, &small_loss)
            if status:
                return float("nan")
            adam.step = small_adam.step
            return small_loss
    X_arr, Zt_arr, grad_arr, per_sample_arr = _workspace(p_pos.shape[0], W.shape[1], W.shape[0],
                                                         dtype)
    cdef floating[:, ::1] X = X_arr, Zt = Zt_arr, grad = grad_arr, per_sample = per_sample_arr
    cdef floating loss = 0
    cdef int it
    cdef bint nonfinite = False
    with nogil:
        _stack_inputs(p_pos, h_pos, p_neg, h_neg, X)
        for it in range(n_inner):
            _forward(X, W, b, proto, Zt, &per_sample[0, 0], &per_sample[1, 0])
            if it == 0 and _first_nonfinite(n2, &per_sample[0, 0], &per_sample[1, 0]) >= 0:
                nonfinite = True
                break
            loss = _pair_coefficients(n2, &per_sample[0, 0], &per_sample[1, 0], theta,
                                      it == n_inner - 1, &per_sample[2, 0], &per_sample[3, 0],
                                      &per_sample[4, 0], &per_sample[5, 0])
            _backward(X, proto, Zt, &per_sample[4, 0], &per_sample[5, 0], grad)
            step += 1
            _adam(W, b, grad, m_W, v_W, m_b, v_b, step, hyper)
    if nonfinite:
        return float("nan")
    adam.step = step
    return loss


def small_products(const float[:, :] p_pos, const float[:, :] h_pos, const float[:, :] p_neg,
                   const float[:, :] h_neg, const float[:, ::1] W, int repeat):
    """small_step.h's two products alone, as local_update lays them out, repeat times; returns
    (Zt, grad) = (W X^T without b, Zt X with X = [p, h, 1]) as (d_out, 2n) and (d_out, d_in+1).

    For the benchmark (the products' share of local_update's time) and the tests.
    """
    cdef Py_ssize_t n = p_pos.shape[0], d_in = W.shape[1], d_out = W.shape[0], o, k
    if (p_neg.shape[0] != n or h_pos.shape[0] != n or h_neg.shape[0] != n
            or p_neg.shape[1] != p_pos.shape[1] or h_neg.shape[1] != h_pos.shape[1]
            or p_pos.shape[1] + h_pos.shape[1] != d_in or n == 0):
        raise ValueError(f"small_products: inputs ({p_pos.shape[0]}, {p_pos.shape[1]}) +"
                         f" ({h_pos.shape[0]}, {h_pos.shape[1]}) twice do not fit W"
                         f" ({d_out}, {d_in})")
    Zt = np.empty((d_out, 2 * n), np.float32)
    grad = np.empty((d_out, d_in + 1), np.float32)
    cdef float[:, ::1] Zt_view = Zt, grad_view = grad
    cdef ss_problem problem
    cdef float dummy_proto = 0
    _small_problem(&problem, p_pos, h_pos, p_neg, h_neg, d_out, &dummy_proto)
    with nogil:
        ss_products(&problem, &W[0, 0], repeat)
        for o in range(d_out):
            for k in range(2 * n):
                Zt_view[o, k] = problem.Zt[o * problem.stride + k]
            for k in range(d_in + 1):
                grad_view[o, k] = problem.grad[o * (d_in + 1) + k]
    return Zt, grad
