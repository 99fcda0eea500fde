/* Bodies of small_step.h, included once per instruction set: SS_NAME(f) gives each copy its
 * own names and SS_AVX2 is defined in the AVX2+FMA copy. No include guard, on purpose. */

/* Zt[o0 .. o0+R, i0 .. i0+SS_COLUMNS) = W Xt (+ b with stats): the accumulators stay in
 * registers across all of j. With stats the tile also adds its rows' z^2 and proto |z| into
 * sumsq and dot of its columns (the first row block starts them), so z is not read again. */
SS_INLINE void SS_NAME(ss_forward_tile)(const ss_problem *p, const float *W, const float *b,
                                        int R, int o0, ptrdiff_t i0, int stats) {
    const ptrdiff_t s = p->stride, d_in = p->d_in;
    const float *x = p->Xt + i0, *w = W + o0 * d_in;
    ss_vec acc[SS_FWD_ROWS][2];
    for (int r = 0; r < R; r++)
        acc[r][0] = acc[r][1] = (ss_vec){0};
    for (ptrdiff_t j = 0; j < d_in; j++, x += s) {
        ss_vec x0 = SS_LOAD(x), x1 = SS_LOAD(x + SS_LANES);
        /* the next strip's line of this row: its rows lie a stride apart, too far apart for
         * the hardware prefetcher to follow */
        __builtin_prefetch(x + SS_COLUMNS);
        for (int r = 0; r < R; r++) {
            float wr = w[r * d_in + j];
            acc[r][0] += wr * x0;
            acc[r][1] += wr * x1;
        }
    }
    ss_vec sq0 = {0}, sq1 = {0}, dt0 = {0}, dt1 = {0};
    if (stats && o0 > 0) {
        sq0 = SS_LOAD(p->sumsq + i0), sq1 = SS_LOAD(p->sumsq + i0 + SS_LANES);
        dt0 = SS_LOAD(p->dot + i0), dt1 = SS_LOAD(p->dot + i0 + SS_LANES);
    }
    for (int r = 0; r < R; r++) {
        float *zt = p->Zt + (o0 + r) * s + i0;
        ss_vec z0 = acc[r][0], z1 = acc[r][1];
        if (stats) {
            float br = b[o0 + r], pr = p->proto[o0 + r];
            z0 += br, z1 += br;
            sq0 += z0 * z0, sq1 += z1 * z1;
            /* |z|: clear the sign bit */
            dt0 += pr * (ss_vec)((ss_ivec)z0 & 0x7fffffff);
            dt1 += pr * (ss_vec)((ss_ivec)z1 & 0x7fffffff);
        }
        SS_STORE(zt, z0);
        SS_STORE(zt + SS_LANES, z1);
    }
    if (stats) {
        SS_STORE(p->sumsq + i0, sq0), SS_STORE(p->sumsq + i0 + SS_LANES, sq1);
        SS_STORE(p->dot + i0, dt0), SS_STORE(p->dot + i0 + SS_LANES, dt1);
    }
}

SS_INLINE void SS_NAME(ss_forward)(const ss_problem *p, const float *W, const float *b,
                                   int stats) {
    /* row blocks as even as SS_FWD_ROWS allows (20 rows: 4 x 5), each tile a literal size the
     * compiler unrolls completely; samples outer, so a column strip of Xt stays in L1 while
     * every row block of W passes over it */
    const int d_out = p->d_out, blocks = (d_out + SS_FWD_ROWS - 1) / SS_FWD_ROWS;
    for (ptrdiff_t i0 = 0; i0 < p->stride; i0 += SS_COLUMNS) {
        for (int k = 0, o0 = 0; k < blocks; k++) {
            int o1 = (int)((long)d_out * (k + 1) / blocks);
            switch (o1 - o0) {
            case 6: SS_NAME(ss_forward_tile)(p, W, b, 6, o0, i0, stats); break;
            case 5: SS_NAME(ss_forward_tile)(p, W, b, 5, o0, i0, stats); break;
            case 4: SS_NAME(ss_forward_tile)(p, W, b, 4, o0, i0, stats); break;
            case 3: SS_NAME(ss_forward_tile)(p, W, b, 3, o0, i0, stats); break;
            case 2: SS_NAME(ss_forward_tile)(p, W, b, 2, o0, i0, stats); break;
            default: SS_NAME(ss_forward_tile)(p, W, b, 1, o0, i0, stats); break;
            }
            o0 = o1;
        }
    }
}

/* The sum of v's lanes, in lane order. */
SS_INLINE float SS_NAME(ss_lane_sum)(ss_vec v) {
    float sum = 0;
    for (int l = 0; l < SS_LANES; l++)
        sum += v[l];
    return sum;
}

/* out[t] = the sum of acc[t]'s lanes, t < k <= 8. */
SS_INLINE void SS_NAME(ss_sum_lanes)(const ss_vec *acc, int k, float *out) {
#ifdef SS_AVX2
    /* a transposing tree of horizontal adds: eight sums in eight instructions */
    __m256 a[8];
    for (int t = 0; t < 8; t++)
        a[t] = t < k ? (__m256)acc[t] : _mm256_setzero_ps();
    __m256 q0 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
    __m256 q1 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
    /* q0 = sums of lanes 0-3 of a0..a3 | lanes 4-7 of a0..a3; q1 likewise for a4..a7 */
    __m256 sums = _mm256_add_ps(_mm256_permute2f128_ps(q0, q1, 0x20),
                                _mm256_permute2f128_ps(q0, q1, 0x31));
    float all[8];
    _mm256_storeu_ps(all, sums);
    for (int t = 0; t < k; t++)
        out[t] = all[t];
#else
    for (int t = 0; t < k; t++)
        out[t] = SS_NAME(ss_lane_sum)(acc[t]);
#endif
}

/* dW[o0 .. o0+OS, j0 .. j0+JS) = dZt Xt^T: SS_LANES partial sums per entry, added up at the
 * end (OS x JS <= SS_MAX_ACC). */
SS_INLINE void SS_NAME(ss_grad_tile)(const ss_problem *p, int OS, int JS, int o0, int j0) {
    const ptrdiff_t s = p->stride;
    const float *dz = p->Zt + o0 * s, *x = p->Xt + j0 * s;
    ss_vec acc[SS_MAX_ACC];
    for (int t = 0; t < OS * JS; t++)
        acc[t] = (ss_vec){0};
    for (ptrdiff_t i = 0; i < s; i += SS_LANES) {
        ss_vec d[SS_GRAD_O], xv[SS_GRAD_J];
        for (int a = 0; a < OS; a++)
            d[a] = SS_LOAD(dz + a * s + i);
        for (int c = 0; c < JS; c++)
            xv[c] = SS_LOAD(x + c * s + i);
        for (int a = 0; a < OS; a++)
            for (int c = 0; c < JS; c++)
                acc[a * JS + c] += d[a] * xv[c];
    }
    float sums[SS_MAX_ACC + 4];
    SS_NAME(ss_sum_lanes)(acc, OS * JS < 8 ? OS * JS : 8, sums);
    if (OS * JS > 8)
        SS_NAME(ss_sum_lanes)(acc + 8, OS * JS - 8, sums + 8);
    const int rows = p->d_in + 1;
    for (int a = 0; a < OS; a++)
        for (int c = 0; c < JS; c++)
            p->grad[(o0 + a) * rows + j0 + c] = sums[a * JS + c];
}

/* Rows o0 .. o0+OS of dW: whole SS_GRAD_J column blocks, then the d_in % SS_GRAD_J left. */
SS_INLINE void SS_NAME(ss_grad_rows)(const ss_problem *p, int OS, int o0) {
    const int d_in = p->d_in, j_blocked = d_in - d_in % SS_GRAD_J;
    for (int j0 = 0; j0 < j_blocked; j0 += SS_GRAD_J)
        SS_NAME(ss_grad_tile)(p, OS, SS_GRAD_J, o0, j0);
    switch (d_in - j_blocked) {
    case 3: SS_NAME(ss_grad_tile)(p, OS, 3, o0, j_blocked); break;
    case 2: SS_NAME(ss_grad_tile)(p, OS, 2, o0, j_blocked); break;
    case 1: SS_NAME(ss_grad_tile)(p, OS, 1, o0, j_blocked); break;
    }
}

/* dW = dZt Xt^T (the db column comes from the backward loop). */
SS_INLINE void SS_NAME(ss_grad)(const ss_problem *p) {
    const int d_out = p->d_out, o_blocked = d_out - d_out % SS_GRAD_O;
    for (int o0 = 0; o0 < o_blocked; o0 += SS_GRAD_O)
        SS_NAME(ss_grad_rows)(p, SS_GRAD_O, o0);
    switch (d_out - o_blocked) {
    case 2: SS_NAME(ss_grad_rows)(p, 2, o_blocked); break;
    case 1: SS_NAME(ss_grad_rows)(p, 1, o_blocked); break;
    }
}

static ptrdiff_t SS_NAME(ss_first_nonfinite)(const ss_problem *p) {
    for (ptrdiff_t j = 0; j < 2 * p->n; j++)
        if (!(isfinite(p->sumsq[j]) && isfinite(p->dot[j])))
            return j;
    return -1;
}

/* mask ? a : b, lane by lane (mask lanes all ones or all zeros, as comparisons give). */
SS_INLINE ss_vec SS_NAME(ss_select)(ss_ivec mask, ss_vec a, ss_vec b) {
    return (ss_vec)(((ss_ivec)a & mask) | ((ss_ivec)b & ~mask));
}

/* e^x per lane, to about 1 ulp: x = k ln2 + r with |r| <= ln2 / 2 (ln2 in two parts, so k ln2
 * is exact), e^r = 1 + r + r^2 P(r) with Cephes expf's degree-5 polynomial, then 2^k built in
 * the exponent bits. x is clamped to [-87.34, 88.38]: 1.2e-38 below, +inf above. */
SS_INLINE ss_vec SS_NAME(ss_exp)(ss_vec x) {
    const ss_vec lowest = x * 0 - 87.3365478515625f, highest = x * 0 + 88.3762626647949f;
    x = SS_NAME(ss_select)(x < lowest, lowest, x);
    x = SS_NAME(ss_select)(x > highest, highest, x);
    ss_vec fx = x * 1.44269504088896341f + 0.5f;
    ss_ivec k = __builtin_convertvector(fx, ss_ivec);  /* truncates toward 0 ... */
    k += (ss_ivec)(__builtin_convertvector(k, ss_vec) > fx);  /* ... so step down to floor */
    ss_vec kf = __builtin_convertvector(k, ss_vec);
    ss_vec r = x - kf * 0.693359375f - kf * -2.12194440e-4f;
    ss_vec poly = 1.9875691500e-4f * r + 1.3981999507e-3f;
    poly = poly * r + 8.3334519073e-3f;
    poly = poly * r + 4.1665795894e-2f;
    poly = poly * r + 1.6666665459e-1f;
    poly = poly * r + 5.0000001201e-1f;
    ss_vec e_r = poly * (r * r) + r + 1;
    return e_r * (ss_vec)((k + 127) << 23);
}

/* From sumsq and dot: per sample dL/dz_oj = alpha_j proto_o sign(z_oj) - beta_j z_oj. With
 * g = cos(|z|, proto) = dot / n, n = max(||z||, 1e-12) and a = |z|: dg/da = proto / n - g a / n^2
 * (the second term is 0 where the floor holds n constant). Returns the loss if asked, else 0.
 * sumsq is overwritten by ||z|| and dot by g. */
static float SS_NAME(ss_coefficients)(const ss_problem *p, float theta, int want_loss) {
    const ptrdiff_t n = p->n, n2 = 2 * n;
    float *restrict g = p->dot, *restrict alpha = p->alpha, *restrict beta = p->beta;
    float *restrict norm = p->sumsq;
    const float norm_floor = 1e-12f, scale = theta / (float)n;
    float loss = 0;
    ptrdiff_t i = 0;
    for (ptrdiff_t j = 0; j < n2; j++) {  /* vectorised: sqrt and divide along the batch */
        norm[j] = sqrtf(norm[j]);
        g[j] = g[j] / (norm[j] > norm_floor ? norm[j] : norm_floor);
    }
    /* dL/dg_pos = -dL/dg_neg = -(theta / n) sigmoid(u), u = -theta (g_pos - g_neg); e^-u
     * overflowing to inf gives 0 */
    for (; i + SS_LANES <= n; i += SS_LANES) {
        ss_vec u = -theta * (SS_LOAD(g + i) - SS_LOAD(g + n + i));
        ss_vec sigmoid = 1 / (1 + SS_NAME(ss_exp)(-u));
        SS_STORE(alpha + i, -scale * sigmoid);
        SS_STORE(alpha + n + i, scale * sigmoid);
    }
    for (; i < n; i++) {
        float sigmoid = 1 / (1 + expf(theta * (g[i] - g[n + i])));
        alpha[i] = -scale * sigmoid;
        alpha[n + i] = scale * sigmoid;
    }
    if (want_loss) {  /* softplus(u), written to neither overflow nor lose small values */
        for (i = 0; i < n; i++) {
            float u = -theta * (g[i] - g[n + i]);
            loss += (u > 0 ? u : 0) + log1pf(expf(-fabsf(u)));
        }
    }
    for (ptrdiff_t j = 0; j < n2; j++) {
        float floored = norm[j] > norm_floor ? norm[j] : norm_floor;
        beta[j] = norm[j] >= norm_floor ? alpha[j] * g[j] / (floored * floored) : 0;
        alpha[j] = alpha[j] / floored;
    }
    return want_loss ? loss / (float)n : 0;
}

/* Zt <- dL/dz in place (padding columns become 0: alpha and beta are 0 there), db = its row
 * sums into grad's last column, then dW. */
SS_INLINE void SS_NAME(ss_backward)(const ss_problem *p) {
    const ptrdiff_t s = p->stride;
    const int rows = p->d_in + 1;
    const ss_vec zero = {0};
    for (int o = 0; o < p->d_out; o++) {
        float *row = p->Zt + o * s;
        const float weight = p->proto[o];
        ss_vec db = zero;
        for (ptrdiff_t j = 0; j < s; j += SS_LANES) {
            ss_vec z = SS_LOAD(row + j), t = SS_LOAD(p->alpha + j) * weight;
            ss_vec signed_t = SS_NAME(ss_select)(z > 0, t, SS_NAME(ss_select)(z < 0, -t, zero));
            ss_vec dz = signed_t - SS_LOAD(p->beta + j) * z;
            SS_STORE(row + j, dz);
            db += dz;
        }
        p->grad[o * rows + rows - 1] = SS_NAME(ss_lane_sum)(db);
    }
    SS_NAME(ss_grad)(p);
}

/* torch.optim.Adam's arithmetic on n contiguous parameters (a loop the compiler vectorises). */
SS_INLINE void SS_NAME(ss_adam_span)(float *restrict param, float *restrict m, float *restrict v,
                                     const float *restrict grad, int n, float one_minus_beta1,
                                     float beta2, float one_minus_beta2, float step_size,
                                     float bc2_sqrt, float eps) {
    for (int k = 0; k < n; k++) {
        m[k] = m[k] + one_minus_beta1 * (grad[k] - m[k]);  /* torch: m.lerp_(grad, 1 - beta1) */
        v[k] = beta2 * v[k] + one_minus_beta2 * grad[k] * grad[k];
        param[k] -= step_size * m[k] / (sqrtf(v[k]) / bc2_sqrt + eps);
    }
}

static void SS_NAME(ss_adam_step)(const ss_problem *p, ss_adam *a) {
    const int d_in = p->d_in, rows = d_in + 1;
    const float one_minus_beta1 = (float)(1 - a->beta1), beta2 = (float)a->beta2;
    const float one_minus_beta2 = (float)(1 - a->beta2);
    const float step_size = (float)(a->lr / (1 - pow(a->beta1, (double)a->step)));
    const float bc2_sqrt = (float)sqrt(1 - pow(a->beta2, (double)a->step)), eps = (float)a->eps;
    for (int o = 0; o < p->d_out; o++) {
        const float *grad = p->grad + o * rows;
        SS_NAME(ss_adam_span)(a->W + o * d_in, a->m_W + o * d_in, a->v_W + o * d_in, grad, d_in,
                              one_minus_beta1, beta2, one_minus_beta2, step_size, bc2_sqrt, eps);
        SS_NAME(ss_adam_span)(a->b + o, a->m_b + o, a->v_b + o, grad + d_in, 1,
                              one_minus_beta1, beta2, one_minus_beta2, step_size, bc2_sqrt, eps);
    }
}

static int SS_NAME(ss_local_update)(const ss_problem *p, ss_adam *a, float theta, int n_inner,
                                    float *loss) {
    float last = 0;
    for (int it = 0; it < n_inner; it++) {
        SS_NAME(ss_forward)(p, a->W, a->b, 1);
        if (it == 0 && SS_NAME(ss_first_nonfinite)(p) >= 0)
            return -1;
        last = SS_NAME(ss_coefficients)(p, theta, it == n_inner - 1);
        SS_NAME(ss_backward)(p);
        a->step += 1;
        SS_NAME(ss_adam_step)(p, a);
    }
    *loss = last;
    return 0;
}

static int SS_NAME(ss_loss_and_grad)(const ss_problem *p, const float *W, const float *b,
                                     float theta, float *loss) {
    SS_NAME(ss_forward)(p, W, b, 1);
    if (SS_NAME(ss_first_nonfinite)(p) >= 0)
        return -1;
    *loss = SS_NAME(ss_coefficients)(p, theta, 1);
    SS_NAME(ss_backward)(p);
    return 0;
}

static void SS_NAME(ss_products)(const ss_problem *p, const float *W, int repeat) {
    const int rows = p->d_in + 1;
    for (int r = 0; r < repeat; r++) {
        SS_NAME(ss_forward)(p, W, NULL, 0);
        SS_NAME(ss_grad)(p);
        for (int o = 0; o < p->d_out; o++) {  /* db = Zt 1, which the backward loop sums */
            ss_vec sums = {0};
            for (ptrdiff_t j = 0; j < p->stride; j += SS_LANES)
                sums += SS_LOAD(p->Zt + o * p->stride + j);
            p->grad[o * rows + rows - 1] = SS_NAME(ss_lane_sum)(sums);
        }
    }
}
