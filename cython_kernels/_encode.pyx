"""Input-side kernels: label overlay and the actuator encoders (L2, min-max, k-bit states).

Each kernel reads rows of `x` (any strides, read-only is fine) and writes a caller-supplied `out`.
It gathers per-row statistics before writing anything, so on a non-finite input it returns the
offending row with `out` untouched (`out` may therefore be `x` itself); -1 means success.
"""
import numpy as np

from cython cimport floating
from libc.math cimport ceil, isfinite, sqrt
from libc.stdint cimport int64_t

ctypedef fused state_t:
    unsigned char
    float
    double


cdef Py_ssize_t _row_ranges(const floating[:, :] x, floating[::1] row_min,
                            floating[::1] row_span) noexcept nogil:
    """row_min[i], row_span[i] = min(x[i]), max(x[i]) - min(x[i]); first non-finite row or -1."""
    cdef Py_ssize_t i, j
    cdef floating v, lo, hi, nonfinite
    for i in range(x.shape[0]):
        lo = x[i, 0]
        hi = lo
        nonfinite = 0
        for j in range(x.shape[1]):
            v = x[i, j]
            lo = v if v < lo else lo
            hi = v if v > hi else hi
            # v - v is 0 for finite v and NaN for NaN or inf, which the comparisons skip
            nonfinite += v - v
        if nonfinite != 0:
            return i
        row_min[i] = lo
        row_span[i] = hi - lo
    return -1


cdef Py_ssize_t _overlay(const floating[:, :] x, const int64_t[::1] labels,
                         Py_ssize_t n_classes, floating[:, :] out) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef floating v, batch_max = 0, nonfinite
    for i in range(x.shape[0]):
        nonfinite = 0
        for j in range(x.shape[1]):
            v = abs(x[i, j])
            batch_max = v if v > batch_max else batch_max
            nonfinite += v - v
        if nonfinite != 0:
            return i
    for i in range(x.shape[0]):
        for j in range(n_classes):
            out[i, j] = 0
        for j in range(n_classes, x.shape[1]):
            out[i, j] = x[i, j]
        out[i, labels[i]] = batch_max
    return -1


def overlay_label(const floating[:, :] x, const int64_t[::1] labels, Py_ssize_t n_classes,
                  floating[:, :] out):
    """out = x with columns [0, n_classes) zeroed, then out[i, labels[i]] = max |x| over the batch."""
    cdef Py_ssize_t bad
    with nogil:
        bad = _overlay(x, labels, n_classes, out)
    return bad


cdef Py_ssize_t _l2(const floating[:, :] x, double[::1] scale, floating[:, :] out) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef double sumsq
    for i in range(x.shape[0]):
        sumsq = 0
        for j in range(x.shape[1]):
            sumsq += <double>x[i, j] * x[i, j]
        if not isfinite(sumsq):
            return i
        scale[i] = 1 / sqrt(sumsq) if sumsq > 0 else 0
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = <floating>(x[i, j] * scale[i])
    return -1


def encode_l2(const floating[:, :] x, floating[:, :] out):
    """out[i] = x[i] / ||x[i]||; an all-zero row stays zero."""
    cdef Py_ssize_t bad
    cdef double[::1] scale = np.empty(x.shape[0])
    with nogil:
        bad = _l2(x, scale, out)
    return bad


cdef tuple _row_buffers(const floating[:, :] x):
    """Per-row minimum and span buffers in x's dtype, for _row_ranges to fill."""
    dtype = np.float32 if floating is float else np.float64
    return np.empty(x.shape[0], dtype), np.empty(x.shape[0], dtype)


cdef void _minmax(const floating[:, :] x, const floating[::1] row_min,
                  const floating[::1] row_span, double low, double high,
                  floating[:, :] out) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef double t, scaled
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            t = (x[i, j] - row_min[i]) / row_span[i] if row_span[i] > 0 else 0
            scaled = low + t * (high - low)
            out[i, j] = <floating>(scaled if scaled < high else high)


def encode_minmax(const floating[:, :] x, double low, double high, floating[:, :] out):
    """out[i] = x[i] mapped affinely from [min x[i], max x[i]] onto [low, high]; constant row -> low."""
    cdef Py_ssize_t bad
    cdef floating[::1] row_min, row_span
    row_min, row_span = _row_buffers(x)
    with nogil:
        bad = _row_ranges(x, row_min, row_span)
        if bad < 0:
            _minmax(x, row_min, row_span, low, high, out)
    return bad


cdef inline int _level(floating s, int n_levels) noexcept nogil:
    """Code 1..n_levels of s in (0, 1]: 1 + #{k in 1..n_levels-1 : s > (2k - 1) / (2(n_levels - 1))}.

    The ceil gives the count up to rounding; the two loops settle it by the exact comparisons.
    """
    cdef int m = n_levels - 1
    if m == 0:
        return 1
    cdef int k = <int>ceil(s * m - <floating>0.5)
    k = 0 if k < 0 else (m if k > m else k)
    while k > 0 and s <= <floating>(2 * k - 1) / <floating>(2 * m):
        k -= 1
    while k < m and s > <floating>(2 * k + 1) / <floating>(2 * m):
        k += 1
    return k + 1


cdef void _quantize(const floating[:, :] x, const floating[::1] row_min,
                    const floating[::1] row_span, int bits, state_t[:, :] out) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef int t, code, n_levels = (1 << bits) - 1
    cdef floating s
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            s = (x[i, j] - row_min[i]) / row_span[i] if row_span[i] > 0 else 0
            code = _level(s, n_levels) if s > 0 else 0
            for t in range(bits):
                out[i, j * bits + t] = (code >> (bits - 1 - t)) & 1


def quantize_bits(const floating[:, :] x, int bits, state_t[:, :] out):
    """out[i, j*bits:(j+1)*bits] = bits of the level code of x[i, j], high bit first.

    Code 0 is the row minimum; other values, min-max scaled to s in (0, 1], round half-down onto
    2**bits - 1 uniform levels of (0, 1] (codes 1..2**bits - 1). For bits=2 that is PhyLL's
    metasurface encoder: 0 -> 00, (0, .25] -> 01, (.25, .75] -> 10, (.75, 1] -> 11.
    """
    cdef Py_ssize_t bad
    cdef floating[::1] row_min, row_span
    row_min, row_span = _row_buffers(x)
    with nogil:
        bad = _row_ranges(x, row_min, row_span)
        if bad < 0:
            _quantize(x, row_min, row_span, bits, out)
    return bad
