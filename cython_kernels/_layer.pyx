"""One layer's forward pass and its goodness, batch-major as the trainer holds them."""
from cython cimport floating

from cython_kernels._blas cimport gemm
from cython_kernels._goodness cimport floor_norm, sqrt_same


cdef bint _blas_operand(const floating[:, :] a, char* trans, int* ld) noexcept nogil:
    """The trans flag and leading dimension with which BLAS reads a's memory as a^T.

    Row-major a is a^T with trans 'N'; column-major a is a with trans 'T'. A size-1 dimension
    has no meaningful stride, so its leading dimension is the smallest BLAS accepts.
    Returns False when neither dimension has unit stride (the caller must copy first).
    """
    cdef Py_ssize_t rows = a.shape[0], cols = a.shape[1], size = sizeof(floating)
    if a.strides[1] == size and (rows == 1 or a.strides[0] >= cols * size):
        trans[0] = c'N'
        ld[0] = <int>(max(cols, 1) if rows == 1 else a.strides[0] // size)
        return True
    if a.strides[0] == size and (cols == 1 or a.strides[1] >= rows * size):
        trans[0] = c'T'
        ld[0] = <int>(max(rows, 1) if cols == 1 else a.strides[1] // size)
        return True
    return False


def layer_forward(const floating[:, :] p, const floating[:, :] h, const floating[:, :] W,
                  const floating[::1] b, floating[:, ::1] out):
    """out = [p, h] @ W.T + b as two GEMMs on W's column blocks, never building [p, h].

    p, h and W need one unit-stride dimension each (C- or F-ordered); out must not overlap them.
    """
    cdef int n = out.shape[0], d_out = out.shape[1], d_p = p.shape[1], d_h = h.shape[1]
    cdef char trans_w, trans_p, trans_h
    cdef int ld_w, ld_p, ld_h
    cdef Py_ssize_t i, o
    if n == 0 or d_out == 0:
        return
    if not (_blas_operand(W, &trans_w, &ld_w) and _blas_operand(p, &trans_p, &ld_p)
            and _blas_operand(h, &trans_h, &ld_h)):
        raise ValueError("p, h and W must each be C- or F-contiguous for BLAS")
    # As BLAS sees it, out is the (d_out x n) matrix out^T = W_p p^T + W_h h^T + b, with W_p
    # and W_h the first d_p and last d_h columns of W: read W (not W^T) by flipping its flag,
    # and start W_h at &W[0, d_p] with the same leading dimension.
    trans_w = c'T' if trans_w == c'N' else c'N'
    with nogil:
        for i in range(n):
            for o in range(d_out):
                out[i, o] = b[o]
        if d_p > 0:
            gemm(trans_w, trans_p, d_out, n, d_p,
                 1, &W[0, 0], ld_w, &p[0, 0], ld_p, 1, &out[0, 0], d_out)
        if d_h > 0:
            gemm(trans_w, trans_h, d_out, n, d_h,
                 1, &W[0, d_p], ld_w, &h[0, 0], ld_h, 1, &out[0, 0], d_out)


def goodness(const floating[:, :] z, const floating[::1] proto, floating[::1] out):
    """out[i] = (|z[i]| . proto) / max(||z[i]||, 1e-12): cos(|z[i]|, proto) for unit proto, 0 for z[i] = 0."""
    cdef Py_ssize_t i, o
    cdef floating v, sumsq, dot
    with nogil:
        for i in range(z.shape[0]):
            sumsq = 0
            dot = 0
            for o in range(z.shape[1]):
                v = z[i, o]
                sumsq = sumsq + v * v
                dot = dot + proto[o] * abs(v)
            out[i] = dot / floor_norm(sqrt_same(sumsq))
