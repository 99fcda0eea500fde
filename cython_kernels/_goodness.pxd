# Helpers shared by goodness() and the fused local update (header-only, cimported as
# cython_kernels._goodness: see _blas.pxd).
from cython cimport floating
from libc.math cimport sqrt, sqrtf


cdef inline floating sqrt_same(floating x) noexcept nogil:
    """sqrt in x's own precision: libc's sqrt would take float32 loops through double."""
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline floating floor_norm(floating norm) noexcept nogil:
    """||a|| floored at 1e-12, so cos(a, p) is 0 for an all-zero a instead of 0/0."""
    return norm if norm > 1e-12 else <floating>1e-12
