/* The fused local update for small float32 layers, every step in C.
 *
 * Up to about a thousand weights (d_out x d_in) a BLAS sgemm call's packing and blocking do not
 * pay off, and the O(batch x d_out) work between the products weighs as much as the products:
 * here each step is one pass of register-blocked product tiles with the per-sample sums fused
 * into the forward tile's store, short loops the compiler vectorises, and Adam (see SMALL_WEIGHTS
 * in _local_update.pyx for where BLAS takes over).
 *
 * Layout (ss_problem): every per-sample array runs along the batch with unit stride and `stride`
 * columns, 2n rounded up to whole vectors; the padding columns of Xt are 0 (ones row included)
 * and those of alpha and beta stay 0, so the padding adds nothing to the gradient and the loops
 * need no remainder code.
 *   Xt     (d_in+1 x stride)  [p_pos, h_pos, 1]^T then [p_neg, h_neg, 1]^T, built once per call
 *   Zt     (d_out x stride)   z, overwritten by dL/dz in the backward step
 *   grad   (d_out x d_in+1)   [dW | db]
 *
 * Portable by default: small_step_impl.h is compiled once for the baseline ISA and, on x86 with
 * GCC or Clang, once more for AVX2+FMA, chosen at run time when the CPU has both. Results then
 * differ between the two by float32 rounding (FMA contraction, summation order).
 */
#ifndef PHYLL_SMALL_STEP_H
#define PHYLL_SMALL_STEP_H

#include <math.h>
#include <stddef.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define SS_X86_DISPATCH 1
#include <immintrin.h>
#endif

#if !defined(__GNUC__)
#error "small_step.h needs GCC or Clang vector extensions"
#endif

/* SS_COLUMNS: `stride` must be a multiple of it (one forward tile's width). */
enum { SS_LANES = 8, SS_COLUMNS = 16 };
/* Tiles of at most 12 accumulators, of the 16 vector registers AVX2 has: the forward takes up
 * to SS_FWD_ROWS rows of W x SS_COLUMNS samples, the gradient SS_GRAD_O x SS_GRAD_J entries of
 * dW. Twelve independent sums keep both FMA units busy with room for load latency, and each
 * vector loaded serves several FMAs (the loads, not the FMAs, were the limit at 8). */
enum { SS_FWD_ROWS = 6, SS_GRAD_O = 3, SS_GRAD_J = 4, SS_MAX_ACC = 12 };

/* One vector of SS_LANES floats: a ymm register under AVX2, two xmm registers in the baseline
 * build; ss_uvec is the same type allowed at any float alignment, for loads and stores. */
typedef float ss_vec __attribute__((vector_size(4 * SS_LANES)));
typedef float ss_uvec __attribute__((vector_size(4 * SS_LANES), aligned(4)));
typedef int ss_ivec __attribute__((vector_size(4 * SS_LANES)));
#define SS_LOAD(ptr) ((ss_vec)(*(const ss_uvec *)(ptr)))
#define SS_STORE(ptr, v) (*(ss_uvec *)(ptr) = (v))

typedef struct {
    int d_out, d_in;      /* W is d_out x d_in; Xt has d_in + 1 rows */
    ptrdiff_t n;          /* pairs: samples 0..n-1 positive, n..2n-1 their negatives */
    ptrdiff_t stride;     /* columns of Xt, Zt and the per-sample rows: >= 2n, whole vectors */
    const float *Xt, *proto;
    float *Zt, *grad;
    /* per sample: ||z||^2 (then ||z||), |z|.proto (then g), dL/dz coefficients */
    float *sumsq, *dot, *alpha, *beta;
} ss_problem;

typedef struct {
    float *W, *b, *m_W, *v_W, *m_b, *v_b;
    long step;  /* updates taken so far; advanced by ss_local_update */
    double lr, beta1, beta2, eps;
} ss_adam;

#define SS_INLINE static inline __attribute__((always_inline))

#define SS_NAME(f) f##_baseline
#include "small_step_impl.h"
#undef SS_NAME

#ifdef SS_X86_DISPATCH
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define SS_AVX2 1
#define SS_NAME(f) f##_avx2
#include "small_step_impl.h"
#undef SS_NAME
#undef SS_AVX2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

/* -1: not asked yet; a benign race, as every thread computes the same value */
static int ss_avx2_answer = -1, ss_baseline_forced = 0;

static int ss_has_avx2_fma(void) {
    if (ss_avx2_answer < 0)
        ss_avx2_answer = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return ss_avx2_answer && !ss_baseline_forced;
}
#define SS_DISPATCH(f, args) (ss_has_avx2_fma() ? f##_avx2 args : f##_baseline args)
#else
#define SS_DISPATCH(f, args) (f##_baseline args)
#endif

/* n_inner Adam steps of the PhyLL loss on a->W, a->b. Returns 0 and the last step's loss (taken
 * before its update) in *loss, or -1 with nothing updated when the first forward pass meets a
 * non-finite z. */
static inline int ss_local_update(const ss_problem *p, ss_adam *a, float theta, int n_inner,
                                  float *loss) {
    return SS_DISPATCH(ss_local_update, (p, a, theta, n_inner, loss));
}

/* The loss at (W, b) and [dW | db] in p->grad; -1 on non-finite z (grad unwritten). */
static inline int ss_loss_and_grad(const ss_problem *p, const float *W, const float *b,
                                   float theta, float *loss) {
    return SS_DISPATCH(ss_loss_and_grad, (p, W, b, theta, loss));
}

/* The two products alone, as one step runs them, `repeat` times (for the benchmark): Zt = W Xt,
 * then grad = Zt Xt^T. */
static inline void ss_products(const ss_problem *p, const float *W, int repeat) {
    SS_DISPATCH(ss_products, (p, W, repeat));
}

/* Run the baseline copy even where AVX2+FMA is present (for tests of that copy), or not. */
static inline void ss_force_baseline(int on) {
#ifdef SS_X86_DISPATCH
    ss_baseline_forced = on;
#else
    (void)on;
#endif
}

/* Which code path the dispatch takes on this CPU: "avx2+fma" or "baseline". */
static inline const char *ss_isa(void) {
#ifdef SS_X86_DISPATCH
    if (ss_has_avx2_fma())
        return "avx2+fma";
#endif
    return "baseline";
}

#endif
