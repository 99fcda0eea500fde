# One fused entry point to BLAS ?gemm (scipy's, so nothing extra to link).
#
# BLAS is column-major: callers pass their row-major arrays as the transposes BLAS sees; each
# call site says which product it means. Header-only (inline), like every shared .pxd here: the
# kernels cimport it by its source path, cython_kernels._blas, which is no module at run time.
from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef inline void gemm(char transa, char transb, int m, int n, int k,
                      floating alpha, const floating* a, int lda,
                      const floating* b, int ldb,
                      floating beta, floating* c, int ldc) noexcept nogil:
    # BLAS takes non-const pointers but never writes a or b.
    if floating is float:
        sgemm(&transa, &transb, &m, &n, &k, &alpha, <float*>a, &lda, <float*>b, &ldb,
              &beta, c, &ldc)
    else:
        dgemm(&transa, &transb, &m, &n, &k, &alpha, <double*>a, &lda, <double*>b, &ldb,
              &beta, c, &ldc)
