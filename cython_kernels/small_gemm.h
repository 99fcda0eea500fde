/* The local update's two float32 products for small layers, as register-blocked C loops. Up to
 * about a thousand weights (d_out x d_in) they beat a BLAS sgemm call, whose packing and
 * blocking do not pay off at that size; beyond it BLAS wins (see SMALL_WEIGHTS).
 *
 * Both products read the stacked inputs transposed, Xt (rows x n, row stride n), so that every
 * inner loop runs along the batch with unit stride:
 *   forward   Zt[o, i]   = sum_j W[o, j] Xt[j, i]      (j < d_in; register-blocked axpys)
 *   gradient  grad[o, j] = sum_i dZt[o, i] Xt[j, i]    (j < rows; register-blocked dots)
 *
 * Portable by default: one copy is compiled for the baseline ISA; on x86 with GCC or Clang a
 * second copy is compiled for AVX2+FMA and chosen at run time when the CPU has both. The blocked
 * loops use fixed-size lane arrays instead of a -ffast-math reduction, so the summation order is
 * fixed by the code (it differs from BLAS's, by float32 rounding).
 */
#ifndef PHYLL_SMALL_GEMM_H
#define PHYLL_SMALL_GEMM_H

#include <stddef.h>

#if defined(__GNUC__)
#define SG_INLINE static inline __attribute__((always_inline))
#else
#define SG_INLINE static inline
#endif

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define SG_X86_DISPATCH 1
#endif

enum { SG_LANES = 8, SG_FWD_ROWS = 4, SG_FWD_COLS = 16, SG_GRAD_O = 2, SG_GRAD_J = 4 };

#if defined(__GNUC__)
/* GCC/Clang vector extensions: one sg_vec is a ymm register under AVX2 and two xmm registers in
 * the baseline build; sg_uvec is the same type allowed at any float alignment, for loads. */
typedef float sg_vec __attribute__((vector_size(4 * SG_LANES)));
typedef float sg_uvec __attribute__((vector_size(4 * SG_LANES), aligned(4)));
#define SG_LOAD(p) ((sg_vec)(*(const sg_uvec *)(p)))
#define SG_STORE(p, v) (*(sg_uvec *)(p) = (v))
#endif

/* Zt[o0 .. o0+rows, i0 .. i0+SG_FWD_COLS): accumulators stay in registers across all of j. */
SG_INLINE void sg_forward_tile(int rows, int d_in, ptrdiff_t n, const float *W, const float *Xt,
                               float *Zt, ptrdiff_t o0, ptrdiff_t i0) {
#if defined(__GNUC__)
    sg_vec acc[SG_FWD_ROWS][SG_FWD_COLS / SG_LANES] = {{{0}}};
    for (int j = 0; j < d_in; j++) {
        const float *x = Xt + j * n + i0;
        sg_vec x0 = SG_LOAD(x), x1 = SG_LOAD(x + SG_LANES);
        for (int r = 0; r < rows; r++) {
            float w = W[(o0 + r) * d_in + j];
            acc[r][0] += w * x0;
            acc[r][1] += w * x1;
        }
    }
    for (int r = 0; r < rows; r++) {
        SG_STORE(Zt + (o0 + r) * n + i0, acc[r][0]);
        SG_STORE(Zt + (o0 + r) * n + i0 + SG_LANES, acc[r][1]);
    }
#else
    float acc[SG_FWD_ROWS][SG_FWD_COLS] = {{0}};
    for (int j = 0; j < d_in; j++)
        for (int r = 0; r < rows; r++)
            for (int l = 0; l < SG_FWD_COLS; l++)
                acc[r][l] += W[(o0 + r) * d_in + j] * Xt[j * n + i0 + l];
    for (int r = 0; r < rows; r++)
        for (int l = 0; l < SG_FWD_COLS; l++)
            Zt[(o0 + r) * n + i0 + l] = acc[r][l];
#endif
}

SG_INLINE void sg_forward_body(int d_out, int d_in, ptrdiff_t n, const float *W,
                               const float *Xt, float *Zt) {
    ptrdiff_t o0, i0, i_end = n - n % SG_FWD_COLS;
    /* samples outer: a column strip of Xt stays in L1 while every row block of W passes over
     * it; the constant row counts let the compiler unroll each tile completely */
    for (i0 = 0; i0 < i_end; i0 += SG_FWD_COLS) {
        for (o0 = 0; o0 + SG_FWD_ROWS <= d_out; o0 += SG_FWD_ROWS)
            sg_forward_tile(SG_FWD_ROWS, d_in, n, W, Xt, Zt, o0, i0);
        for (; o0 < d_out; o0++)
            sg_forward_tile(1, d_in, n, W, Xt, Zt, o0, i0);
    }
    for (ptrdiff_t o = 0; o < d_out; o++)  /* the last n % SG_FWD_COLS samples */
        for (ptrdiff_t i = i_end; i < n; i++) {
            float z = 0;
            for (int j = 0; j < d_in; j++)
                z += W[o * d_in + j] * Xt[j * n + i];
            Zt[o * n + i] = z;
        }
}

/* grad[o0 .. o0+os, j0 .. j0+js): SG_LANES partial sums per entry, added up at the end. */
SG_INLINE void sg_grad_tile(int os, int js, int rows, ptrdiff_t n, const float *dZt,
                            const float *Xt, float *grad, ptrdiff_t o0, ptrdiff_t j0) {
    ptrdiff_t i, i_end = n - n % SG_LANES;
#if defined(__GNUC__)
    sg_vec acc[SG_GRAD_O][SG_GRAD_J] = {{{0}}};
    for (i = 0; i < i_end; i += SG_LANES) {
        sg_vec dz[SG_GRAD_O], x[SG_GRAD_J];
        for (int a = 0; a < os; a++)
            dz[a] = SG_LOAD(dZt + (o0 + a) * n + i);
        for (int c = 0; c < js; c++)
            x[c] = SG_LOAD(Xt + (j0 + c) * n + i);
        for (int a = 0; a < os; a++)
            for (int c = 0; c < js; c++)
                acc[a][c] += dz[a] * x[c];
    }
#else
    float acc[SG_GRAD_O][SG_GRAD_J][SG_LANES] = {{{0}}};
    for (i = 0; i < i_end; i += SG_LANES)
        for (int a = 0; a < os; a++)
            for (int c = 0; c < js; c++)
                for (int l = 0; l < SG_LANES; l++)
                    acc[a][c][l] += dZt[(o0 + a) * n + i + l] * Xt[(j0 + c) * n + i + l];
#endif
    for (int a = 0; a < os; a++)
        for (int c = 0; c < js; c++) {
            float sum = 0;
            for (int l = 0; l < SG_LANES; l++)
                sum += acc[a][c][l];
            for (i = i_end; i < n; i++)
                sum += dZt[(o0 + a) * n + i] * Xt[(j0 + c) * n + i];
            grad[(o0 + a) * rows + j0 + c] = sum;
        }
}

SG_INLINE void sg_grad_body(int d_out, int rows, ptrdiff_t n, const float *dZt,
                            const float *Xt, float *grad) {
    ptrdiff_t o0 = 0, j0;
    for (; o0 + SG_GRAD_O <= d_out; o0 += SG_GRAD_O) {
        for (j0 = 0; j0 + SG_GRAD_J <= rows; j0 += SG_GRAD_J)
            sg_grad_tile(SG_GRAD_O, SG_GRAD_J, rows, n, dZt, Xt, grad, o0, j0);
        for (; j0 < rows; j0++)
            sg_grad_tile(SG_GRAD_O, 1, rows, n, dZt, Xt, grad, o0, j0);
    }
    for (; o0 < d_out; o0++) {
        for (j0 = 0; j0 + SG_GRAD_J <= rows; j0 += SG_GRAD_J)
            sg_grad_tile(1, SG_GRAD_J, rows, n, dZt, Xt, grad, o0, j0);
        for (; j0 < rows; j0++)
            sg_grad_tile(1, 1, rows, n, dZt, Xt, grad, o0, j0);
    }
}

static void sg_forward_baseline(int d_out, int d_in, ptrdiff_t n, const float *W,
                                const float *Xt, float *Zt) {
    sg_forward_body(d_out, d_in, n, W, Xt, Zt);
}

static void sg_grad_baseline(int d_out, int rows, ptrdiff_t n, const float *dZt,
                             const float *Xt, float *grad) {
    sg_grad_body(d_out, rows, n, dZt, Xt, grad);
}

#ifdef SG_X86_DISPATCH
__attribute__((target("avx2,fma")))
static void sg_forward_avx2(int d_out, int d_in, ptrdiff_t n, const float *W,
                            const float *Xt, float *Zt) {
    sg_forward_body(d_out, d_in, n, W, Xt, Zt);
}

__attribute__((target("avx2,fma")))
static void sg_grad_avx2(int d_out, int rows, ptrdiff_t n, const float *dZt,
                         const float *Xt, float *grad) {
    sg_grad_body(d_out, rows, n, dZt, Xt, grad);
}

static int sg_has_avx2_fma(void) {
    static int answer = -1;  /* a benign race: every thread computes the same value */
    if (answer < 0)
        answer = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return answer;
}
#endif

/* Zt (d_out x n) = W (d_out x d_in) times the first d_in rows of Xt (rows x n). */
static inline void small_forward_f32(int d_out, int d_in, ptrdiff_t n, const float *W,
                                     const float *Xt, float *Zt) {
#ifdef SG_X86_DISPATCH
    if (sg_has_avx2_fma()) {
        sg_forward_avx2(d_out, d_in, n, W, Xt, Zt);
        return;
    }
#endif
    sg_forward_baseline(d_out, d_in, n, W, Xt, Zt);
}

/* grad (d_out x rows) = dZt (d_out x n) times Xt^T (n x rows). */
static inline void small_grad_f32(int d_out, int rows, ptrdiff_t n, const float *dZt,
                                  const float *Xt, float *grad) {
#ifdef SG_X86_DISPATCH
    if (sg_has_avx2_fma()) {
        sg_grad_avx2(d_out, rows, n, dZt, Xt, grad);
        return;
    }
#endif
    sg_grad_baseline(d_out, rows, n, dZt, Xt, grad);
}

#endif
