/* test_kernels.c - every SIMD kernel table this CPU can run against the scalar reference
 * (kernels_ref.c) on random data, and the thread pool's work distribution.
 *
 * Tolerances: integer block dot products are exact in every table; only the order of the
 * float accumulation of block results differs, so matmuls must agree within 1e-5 relative
 * to the row's sum of |products|. Activation quantization (quantize_a8, quantize_a16)
 * must be bit-identical: the same bytes feed every kernel.
 *
 * On x86, tests/test_arm.sh also runs this file cross-built for aarch64 under qemu, on
 * emulated CPUs with and without SDOT / SMMLA, so the NEON tables are checked there. */
#include "cpu/cpu.h"
#include "dtype.h"
#include "quant/quant.h"
#include "test.h"

static uint32_t rng = 2463534242u;
static float frand(void) { /* xorshift32 -> [-1, 1) */
    rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5;
    return (float)(rng >> 8) / 8388608.0f - 1.0f;
}

/* quantize_a8 (a scale per block) and quantize_a8s (per 8 blocks: 37 blocks make four
 * groups and a short one), bit-identical to the scalar quantizers. */
static void test_quantize_a8(const cpu_kernels *ref, const cpu_kernels *k) {
    enum { COLS = 32 * 37 };
    static float x[COLS];
    static block_a8 a[COLS / 32], b[COLS / 32];
    for (int shared = 0; shared < 2; shared++)
        for (int trial = 0; trial < 50; trial++) {
            for (int i = 0; i < COLS; i++) x[i] = frand() * (trial % 7 == 0 ? 1e-30f : 3.0f);
            if (trial == 1) for (int i = 0; i < 64; i++) x[i] = (float)(i % 5) * 0.5f - 1.0f; /* exact halves: ties */
            if (trial == 2) for (int i = 0; i < 32 * (shared ? 8 : 1); i++) x[i] = 0.0f;      /* zero block / group */
            if (trial == 3) for (int i = 0; i < 32 * (shared ? 8 : 1); i++) x[i] = (float)(i % 3 - 1) * 1e-38f; /* d below FLT_MIN */
            if (trial == 4 && shared) x[300] = 100.0f; /* one large value sets the scale of its group only */
            (shared ? ref->quantize_a8s : ref->quantize_a8)(x, a, COLS);
            (shared ? k->quantize_a8s : k->quantize_a8)(x, b, COLS);
            int same = 1, no_min = 1, scales = 1;
            for (int i = 0; i < COLS / 32; i++) {
                same &= a[i].d == b[i].d && a[i].s == b[i].s && !memcmp(a[i].qs, b[i].qs, 32);
                for (int j = 0; j < 32; j++) no_min &= b[i].qs[j] != -128; /* kernels rely on it (pair-sum bounds) */
                /* the scalar table's scale: max |x| over the block, or over its group of 8 */
                const int g0 = shared ? i / 8 * 8 : i, g1 = shared ? (g0 + 8 < COLS / 32 ? g0 + 8 : COLS / 32) : i + 1;
                float amax = 0.0f;
                for (int e = g0 * 32; e < g1 * 32; e++) amax = fmaxf(amax, fabsf(x[e]));
                scales &= a[i].d == amax / 127.0f;
            }
            CHECK_MSG(same, "%s quantize_a8%s differs from scalar (trial %d)", k->isa, shared ? "s" : "", trial);
            CHECK_MSG(no_min, "%s quantize_a8%s wrote -128 (trial %d)", k->isa, shared ? "s" : "", trial);
            CHECK_MSG(scales, "scalar quantize_a8%s: a scale is not its group's max / 127 (trial %d)", shared ? "s" : "", trial);
            if (trial == 3) CHECK(b[0].s == 0 && b[0].qs[0] == 0 && b[0].qs[31] == 0);
            if (trial == 4 && shared) CHECK(b[9].qs[12] == 127 && b[8].d == b[15].d && b[16].d != b[8].d);
        }
}

/* 16-bit activations, bit-identical to the scalar quantizer; trial 1 is made of exact ties
 * (d a power of two, every other value an odd multiple of d/2). */
static void test_quantize_a16(const cpu_kernels *ref, const cpu_kernels *k) {
    enum { COLS = 32 * 37 };
    static float x[COLS];
    static block_a16 a[COLS / 32], b[COLS / 32];
    for (int trial = 0; trial < 50; trial++) {
        for (int i = 0; i < COLS; i++) x[i] = frand() * (trial % 7 == 0 ? 1e-30f : 3.0f);
        if (trial == 1)
            for (int i = 0; i < COLS; i++) x[i] = i % 32 == 0 ? A16_MAX * 0x1p-10f : ((float)(i % 9) - 4.5f) * 0x1p-10f;
        if (trial == 2) for (int i = 0; i < 32; i++) x[i] = 0.0f; /* zero block */
        if (trial == 3) for (int i = 0; i < 32; i++) x[i] = (float)(i % 3 - 1) * 1e-38f; /* d below FLT_MIN */
        ref->quantize_a16(x, a, COLS);
        k->quantize_a16(x, b, COLS);
        int same = 1;
        for (int i = 0; i < COLS / 32; i++) same &= a[i].d == b[i].d && !memcmp(a[i].qs, b[i].qs, sizeof a[i].qs);
        CHECK_MSG(same, "%s quantize_a16 differs from scalar (trial %d)", k->isa, trial);
        if (trial == 3) CHECK(b[0].qs[0] == 0 && b[0].qs[31] == 0);
        if (trial == 1) CHECK(a[0].d == 0x1p-10f && a[0].qs[0] == A16_MAX && a[0].qs[1] == -4 && a[0].qs[5] == 1);
    }
}

/* n rows of activations in the format `fmt` wants (NULL for ACT_F32), quantized by the
 * scalar table, and their row stride. */
static void *quantize_act(const cpu_kernels *ref, act_format fmt, const float *x, int64_t n, int64_t cols, int64_t *ldx) {
    const int64_t nb = cols / 32;
    if (fmt == ACT_A8 || fmt == ACT_A8S) {
        block_a8 *q = malloc((size_t)(n * nb) * sizeof *q);
        for (int64_t t = 0; t < n; t++) (fmt == ACT_A8S ? ref->quantize_a8s : ref->quantize_a8)(x + t * cols, q + t * nb, cols);
        *ldx = nb * (int64_t)sizeof(block_a8);
        return q;
    }
    if (fmt == ACT_A16) {
        block_a16 *q = malloc((size_t)(n * nb) * sizeof *q);
        for (int64_t t = 0; t < n; t++) ref->quantize_a16(x + t * cols, q + t * nb, cols);
        *ldx = nb * (int64_t)sizeof(block_a16);
        return q;
    }
    *ldx = cols * 4;
    return NULL;
}

/* One table's matmul against the scalar one's. Random weights (every third row 100x
 * smaller) and activations; or, with `extreme`, operands at the formats' ends for the
 * integer kernels' int16 partial sums: rows that are -1 except +1 at the start of each
 * block (or the reverse), so nearly every level sits at an end of its range, against
 * activations that are all +1 or all -1 (int8 +-127, 255 or 1 once made unsigned). Every
 * pair sum then has the largest magnitude the format allows; an int16 sum of too many
 * groups (e.g. 8 for 5-bit levels, where 4 fit) overflows there, where random data
 * never gets near the limit. */
static void matmul_case(const cpu_kernels *ref, const cpu_kernels *k, int32_t type, int64_t rows, int64_t cols,
                        int64_t n, int extreme, int a8) {
    /* a8: the tables' Q8_0 x int8 kernels (matmul_q8_a8, for mat.act8 matrices) */
    const matmul_fn rfn = a8 ? ref->matmul_q8_a8 : ref->matmul[type], kfn = a8 ? k->matmul_q8_a8 : k->matmul[type];
    const act_format fmt = a8 ? ACT_A8 : ref->act[type];
    uint64_t rb;
    if (!dtype_row_bytes(type, cols, &rb) || !kfn || !rfn) return;
    uint8_t *w = malloc(rb * (size_t)rows);
    float *wf = malloc((size_t)cols * sizeof(float)), *x = malloc((size_t)(n * cols) * sizeof(float));
    float *y0 = malloc((size_t)(n * rows) * sizeof(float)), *y1 = malloc((size_t)(n * rows) * sizeof(float));
    /* each table's own scratch size, exactly: AddressSanitizer (make asan) sees an overrun */
    float *scratch = malloc((size_t)kernel_scratch_floats(ref, cols) * sizeof(float));
    float *kscratch = malloc((size_t)kernel_scratch_floats(k, cols) * sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        const float s = r % 2 ? 1.0f : -1.0f;
        /* random values whose size changes every 16 columns: sub-blocks (Q6_K's halves,
         * the K-quants' 32-value blocks) then get different scales, which a kernel must
         * tell apart (with one size throughout, they came out nearly all equal) */
        for (int64_t c = 0; c < cols; c++)
            wf[c] = extreme ? (c % 32 == 0 ? -s : s) : frand() * (r % 3 == 0 ? 0.01f : 1.0f) * (float)(1 + (c / 16 + r) % 4);
        quantize_row(type, wf, w + r * rb, cols);
    }
    for (int64_t i = 0; i < n * cols; i++) x[i] = extreme ? (i / cols % 2 ? -1.0f : 1.0f) : frand() * 2.0f;
    mat m = {w, type, rows, cols, rb, false};
    int64_t ldx;
    void *xq = quantize_act(ref, fmt, x, n, cols, &ldx);
    const void *xa = xq ? xq : x;
    CHECK(a8 || ref->act[type] == k->act[type]);
    rfn(y0, rows, &m, 0, rows, xa, ldx, n, scratch);
    /* two row ranges, the second starting off a multiple of 4, as threads would split */
    const int64_t split = rows / 2 + 1 < rows ? rows / 2 + 1 : rows;
    kfn(y1, rows, &m, 0, split, xa, ldx, n, kscratch);
    kfn(y1, rows, &m, split, rows, xa, ldx, n, kscratch);
    double worst = 0;
    for (int64_t t = 0; t < n; t++)
        for (int64_t r = 0; r < rows; r++) {
            double mag = 0;
            dequantize_row(type, w + r * rb, wf, cols);
            for (int64_t c = 0; c < cols; c++) mag += fabs((double)wf[c] * x[t * cols + c]);
            double e = fabs((double)y0[t * rows + r] - y1[t * rows + r]) / (mag + 1e-30);
            if (e > worst) worst = e;
        }
    CHECK_MSG(worst <= 1e-5, "%s %s%s matmul %lldx%lld n=%lld%s: relative error %.3g", k->isa, g4_dtype_name(type),
              a8 ? " x int8" : "", (long long)rows, (long long)cols, (long long)n, extreme ? " at the format's extremes" : "", worst);
    free(w); free(wf); free(x); free(y0); free(y1); free(scratch); free(kscratch); free(xq);
}

/* Batch invariance of the float kernels: a token's outputs must not depend on which other
 * tokens share the call, so that a float model's prompt evaluated in chunks gives the
 * logits of one pass (test_fixtures holds the tiny F32 models to 1e-5 there, and random
 * tiny models amplify a last-bit difference past that). The 9 tokens of one call are
 * compared bit for bit with calls of 1, 2, 3 (the row kernel) and 4 tokens (tiles, then
 * the row kernel for the last token).
 * The quantized kernels are not invariant: their engines (sideways, rows outside, token
 * pairs) add the blocks' float partial sums in different orders, a rounding-level
 * difference that test_matmul bounds against the reference. */
static void test_batch_invariance(const cpu_kernels *k, int32_t type, int64_t cols) {
    const int64_t rows = 24, n = 9;
    uint64_t rb;
    if (!dtype_row_bytes(type, cols, &rb) || !k->matmul[type]) return;
    uint8_t *w = malloc(rb * (size_t)rows);
    float *wf = malloc((size_t)cols * sizeof(float)), *x = malloc((size_t)(n * cols) * sizeof(float));
    float *y0 = malloc((size_t)(n * rows) * sizeof(float)), *y1 = malloc((size_t)(n * rows) * sizeof(float));
    float *scratch = malloc((size_t)kernel_scratch_floats(k, cols) * sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) wf[c] = frand();
        quantize_row(type, wf, w + r * rb, cols);
    }
    for (int64_t i = 0; i < n * cols; i++) x[i] = frand() * 2.0f;
    mat m = {w, type, rows, cols, rb, false};
    int64_t ldx;
    void *xq = quantize_act(k, k->act[type], x, n, cols, &ldx);
    const char *xa = xq ? (const char *)xq : (const char *)x;
    k->matmul[type](y0, rows, &m, 0, rows, xa, ldx, n, scratch);
    for (int per = 1; per <= 4; per++) {
        for (int64_t t = 0; t < n; t += per)
            k->matmul[type](y1 + t * rows, rows, &m, 0, rows, xa + t * ldx, ldx, G4_MIN(per, n - t), scratch);
        int64_t differ = 0;
        for (int64_t i = 0; i < n * rows; i++) differ += y0[i] != y1[i];
        CHECK_MSG(differ == 0, "%s %s: %lld of %lld outputs of a %lld-token call differ from calls of %d", k->isa,
                  g4_dtype_name(type), (long long)differ, (long long)(n * rows), (long long)n, per);
    }
    free(w); free(wf); free(x); free(y0); free(y1); free(scratch); free(xq);
}

/* every shape for Q8_0 runs the int8-activation kernels too (where a table has them) */
static void test_matmul(const cpu_kernels *ref, const cpu_kernels *k, int32_t type, int64_t rows, int64_t cols, int64_t n) {
    for (int a8 = 0; a8 <= (type == G4_DTYPE_Q8_0); a8++) matmul_case(ref, k, type, rows, cols, n, 0, a8);
}

static void test_matmul_extreme(const cpu_kernels *ref, const cpu_kernels *k, int32_t type) {
    for (int a8 = 0; a8 <= (type == G4_DTYPE_Q8_0); a8++) {
        matmul_case(ref, k, type, 32, 512, 4, 1, a8);
        /* and past the few-token routes (rows outside up to 4 tokens, Q5_0's tiles at 2 and
         * 4): 9 tokens reach every table's sideways engine */
        matmul_case(ref, k, type, 32, 512, 9, 1, a8);
    }
}

/* The integer kernels (int8 or 16-bit activations) against the exact float dot product of the dequantized weights with
 * the unquantized activations. Rounding an activation to its block's int8 grid moves it
 * by at most d_a/2 (d_a = the block's scale; plus |x| * 2^-22 for the rounded 1/d_a), so
 * |y_int8 - y_exact| <= sum |w| (d_a/2 + |x| 2^-22), plus 1e-5 x sum |w x| for the float
 * accumulation. That bound is loose (it adds every error up with one sign), so the
 * errors must also look like rounding noise: with e ~ uniform(-d_a/2, d_a/2) per
 * activation, the error of an output has sigma = sqrt(sum w^2 d_a^2 / 12), and over the
 * rows x tokens outputs the RMS of error/sigma must stay below 1.5 (about 1 expected;
 * an error of one activation step per block in the min or scale terms gives 3 or more).
 * With 16-bit activations (Q8_0) d_a is 256 times finer, and so is the bound. */
static void test_a8_accuracy(const cpu_kernels *ref, int32_t type, int64_t rows, int64_t cols, int64_t n) {
    uint64_t rb;
    const act_format fmt = ref->act[type];
    if (!dtype_row_bytes(type, cols, &rb) || fmt == ACT_F32) return;
    uint8_t *w = malloc(rb * (size_t)rows);
    float *wf = malloc((size_t)(rows * cols) * sizeof(float)), *x = malloc((size_t)(n * cols) * sizeof(float));
    float *y = malloc((size_t)(n * rows) * sizeof(float)), *scratch = malloc((size_t)KERNEL_SCRATCH_FLOATS(cols) * sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) wf[r * cols + c] = frand() * (r % 3 == 0 ? 0.01f : 1.0f) + (r % 4 == 1 ? 0.5f : 0.0f);
        quantize_row(type, wf + r * cols, w + r * rb, cols);
        dequantize_row(type, w + r * rb, wf + r * cols, cols);
    }
    for (int64_t i = 0; i < n * cols; i++) x[i] = frand() * 2.0f;
    int64_t ldx;
    void *xq = quantize_act(ref, fmt, x, n, cols, &ldx);
    mat m = {w, type, rows, cols, rb, false};
    ref->matmul[type](y, rows, &m, 0, rows, xq, ldx, n, scratch);
    int ok = 1;
    double z2 = 0;
    for (int64_t t = 0; t < n; t++)
        for (int64_t r = 0; r < rows; r++) {
            double exact = 0, mag = 0, bound = 0, var = 0;
            for (int64_t c = 0; c < cols; c++) {
                const int64_t blk = t * (cols / 32) + c / 32;
                const double wv = wf[r * cols + c], xv = x[t * cols + c];
                const double da = fmt == ACT_A16 ? ((const block_a16 *)xq)[blk].d : ((const block_a8 *)xq)[blk].d;
                exact += wv * xv;
                mag += fabs(wv * xv);
                bound += fabs(wv) * (0.5 * da + fabs(xv) * 0x1p-22);
                var += wv * wv * da * da / 12;
            }
            const double e = fabs(y[t * rows + r] - exact);
            ok &= e <= bound + 1e-5 * mag;
            z2 += e * e / (var + 1e-30);
        }
    const double z = sqrt(z2 / (double)(rows * n));
    CHECK_MSG(ok, "%s integer matmul %lldx%lld: beyond the activation-rounding bound", g4_dtype_name(type), (long long)rows,
              (long long)cols);
    CHECK_MSG(z <= 1.5, "%s integer matmul %lldx%lld: error RMS %.2f x the rounding noise", g4_dtype_name(type),
              (long long)rows, (long long)cols, z);
    free(w); free(wf); free(x); free(y); free(scratch); free(xq);
}

/* One head against one cached row through the attention entries: the plain dot product
 * and y += a * row they reduce to. */
static float dot1(attn_scores_fn f, const float *x, const void *row, int64_t n) {
    float s = 0.0f;
    f(&s, 1, x, 1, row, 0, 1, n);
    return s;
}

static void axpy1(attn_wsum_fn f, float *y, const void *row, float a, int64_t n) { f(y, &a, 1, 1, row, 0, 1, n); }

static void test_vector_ops(const cpu_kernels *ref, const cpu_kernels *k) {
    float x[531] = {0}, y[531] = {0}, y0[531], y1[531]; /* past n: zeros, compared too */
    for (int n = 0; n <= 531; n += (n < 40 ? 1 : 61)) {
        double mag = 0;
        for (int i = 0; i < n; i++) { x[i] = frand(); y[i] = frand(); mag += fabs((double)x[i] * y[i]); }
        float a = dot1(ref->attn_scores_f32, x, y, n), b = dot1(k->attn_scores_f32, x, y, n);
        CHECK_MSG(fabs((double)a - b) <= 1e-5 * (mag + 1e-30), "%s f32 dot n=%d: %g vs %g", k->isa, n, a, b);
        memcpy(y0, y, sizeof y);
        memcpy(y1, y, sizeof y);
        axpy1(ref->attn_wsum_f32, y0, x, 0.37f, n);
        axpy1(k->attn_wsum_f32, y1, x, 0.37f, n);
        int ok = 1;
        for (int i = 0; i < 531; i++) ok &= fabsf(y0[i] - y1[i]) <= 1e-6f * (fabsf(y0[i]) + 1.0f);
        CHECK_MSG(ok, "%s f32 axpy n=%d", k->isa, n);
        /* the F16 variants: conversion bit-identical, dot and axpy as above */
        uint16_t h0[531], h1[531];
        ref->to_f16(y, h0, n);
        k->to_f16(y, h1, n);
        CHECK_MSG(!memcmp(h0, h1, sizeof(uint16_t) * (size_t)n), "%s to_f16 n=%d", k->isa, n);
        a = dot1(ref->attn_scores_f16, x, h0, n);
        b = dot1(k->attn_scores_f16, x, h0, n);
        CHECK_MSG(fabs((double)a - b) <= 1e-5 * (mag + 1e-30), "%s f16 dot n=%d: %g vs %g", k->isa, n, a, b);
        memcpy(y0, y, sizeof y);
        memcpy(y1, y, sizeof y);
        axpy1(ref->attn_wsum_f16, y0, h0, -1.25f, n);
        axpy1(k->attn_wsum_f16, y1, h0, -1.25f, n);
        ok = 1;
        for (int i = 0; i < 531; i++) ok &= fabsf(y0[i] - y1[i]) <= 1e-6f * (fabsf(y0[i]) + 1.0f);
        CHECK_MSG(ok, "%s f16 axpy n=%d", k->isa, n);
        /* GeGLU over [-12, 12] (both tails, and the scalar one's cancellation for x << 0) */
        for (int i = 0; i < n; i++) { y0[i] = y1[i] = 12.0f * frand(); x[i] = frand(); }
        const float xg = n ? y0[0] : 0;
        ref->gelu_mul(y0, x, n);
        k->gelu_mul(y1, x, n);
        ok = 1;
        for (int i = 0; i < n; i++) ok &= fabsf(y0[i] - y1[i]) <= 1e-6f * (fabsf(y0[i]) + 12.0f * fabsf(x[i])) + 1e-30f;
        CHECK_MSG(ok, "%s gelu_mul n=%d (x0 %g)", k->isa, n, xg);
    }
    float g[4] = {-200.0f, 200.0f, 0.0f, -3.0f}, one[4] = {1, 1, 1, 1};
    k->gelu_mul(g, one, 4);
    CHECK_MSG(fabsf(g[0]) < 1e-30f && fabsf(g[1] - 200.0f) < 1e-4f && g[2] == 0.0f && fabsf(g[3] + 0.0036374f) < 1e-6f,
              "%s gelu_mul extremes: %g %g %g %g", k->isa, g[0], g[1], g[2], g[3]);
}

/* RMS norm against the scalar table: the same floats (kernels.h), with and without a
 * weight, in place and not, lengths with and without a vector tail, rows of small,
 * ordinary and large values (squares from 1e-20 to 1e12 summed in double). */
static void test_rmsnorm(const cpu_kernels *ref, const cpu_kernels *k) {
    static const int ns[] = {1, 3, 8, 13, 256, 512, 1539, 2048};
    static float x[2048], w[2048], a[2048], b[2048];
    for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++)
        for (int v = 0; v < 6; v++) {
            const int n = ns[c];
            const float mag = v < 2 ? 1e-10f : v < 4 ? 1.0f : 1e6f;
            for (int i = 0; i < n; i++) { x[i] = mag * frand(); w[i] = 1.0f + 0.5f * frand(); }
            const float *wv = v % 2 ? w : NULL;
            ref->rmsnorm(a, x, wv, n, 1e-6f);
            k->rmsnorm(b, x, wv, n, 1e-6f);
            CHECK_MSG(!memcmp(a, b, (size_t)n * sizeof *a), "%s rmsnorm n=%d mag %g weight %d", k->isa, n, mag, v % 2);
            memcpy(b, x, (size_t)n * sizeof *b); /* in place */
            k->rmsnorm(b, b, wv, n, 1e-6f);
            CHECK_MSG(!memcmp(a, b, (size_t)n * sizeof *a), "%s rmsnorm in place n=%d", k->isa, n);
        }
    float z[3] = {0, 0, 0}; /* all zero: eps keeps it finite */
    k->rmsnorm(z, z, NULL, 3, 1e-6f);
    CHECK_MSG(z[0] == 0.0f && z[2] == 0.0f, "%s rmsnorm of zeros: %g", k->isa, z[0]);
}

/* Soft-capping against the scalar tanhf: 1e-6 relative over values from 1e-6 to 3000 of
 * both signs, both sides of the 0.55 switch between the kernels' two formulas. */
static void test_softcap(const cpu_kernels *ref, const cpu_kernels *k) {
    enum { N = 4099 }; /* not a multiple of 8: the tail too */
    static float a[N], b[N];
    for (int i = 0; i < N; i++) {
        const float mag = powf(10.0f, -6.0f + 9.5f * (float)i / N); /* 1e-6 .. 3e3 */
        a[i] = b[i] = (i % 2 ? -mag : mag) * (1.0f + 0.1f * frand());
    }
    a[0] = b[0] = 0.0f;
    a[1] = b[1] = 0.55f * 30.0f; /* the switch point, for c = 30 */
    ref->softcap(a, N, 30.0f);
    k->softcap(b, N, 30.0f);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        const double e = fabs((double)a[i] - b[i]) / (fabs((double)a[i]) + 1e-37);
        if (e > worst) worst = e;
    }
    CHECK_MSG(worst <= 1e-6 && b[0] == 0.0f, "%s softcap: relative error %.3g", k->isa, worst);
}

/* Attention's softmax against the scalar one (expf, sum in double): 1e-6 relative per
 * element, plus 1e-30 absolute (the SIMD exp is clamped at -87: e^-100 comes out 1e-38,
 * not 4e-44), and no weight in (0, SOFTMAX_MIN) in either (kernels.h: the weighted sum would
 * take microcode assists; the outlier row's others must be 0). Lengths with and without
 * a tail; scores within +-30, one row with an outlier 200 above the rest (all others
 * underflow) and one of equal scores. */
static void test_softmax(const cpu_kernels *ref, const cpu_kernels *k) {
    static const int lens[] = {1, 7, 8, 9, 33, 512, 4099};
    static float a[4099], b[4099];
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
        for (int kind = 0; kind < 3; kind++) {
            const int n = lens[li];
            for (int i = 0; i < n; i++) a[i] = b[i] = kind == 2 ? 1.5f : 30.0f * frand();
            if (kind == 1) a[n / 2] = b[n / 2] = 230.0f;
            ref->softmax(a, n);
            k->softmax(b, n);
            int ok = 1;
            double total = 0;
            for (int i = 0; i < n; i++) {
                ok &= fabsf(a[i] - b[i]) <= 1e-6f * a[i] + 1e-30f;
                ok &= (a[i] == 0.0f || a[i] >= SOFTMAX_MIN) && (b[i] == 0.0f || b[i] >= SOFTMAX_MIN);
                total += b[i];
            }
            CHECK_MSG(ok && fabs(total - 1.0) < 1e-5, "%s softmax n=%d kind %d: sum %.9g", k->isa, n, kind, total);
        }
}

/* The Q8_0 KV-cache entries. to_q8 bit-identical to the reference and to dtype.c's
 * quantize_row (GGUF's bytes) on random rows of several magnitudes plus blocks that hit
 * the corners: exact .5 ties of x/d, a zero block, a tiny block whose scale is an F16
 * subnormal, NaN and infinity. The attention entries over one Q8_0 row (dot and axpy) as
 * their F16 siblings: only the float accumulation order differs (and FMAs), so 1e-5 of
 * the sum of |products| for the dot and 1e-6 relative per element for axpy. */
static void test_kv_q8(const cpu_kernels *ref, const cpu_kernels *k) {
    enum { MAXN = 512 };
    static float x[MAXN], v[MAXN], deq[MAXN], y0[MAXN], y1[MAXN];
    static block_q8_0 q0[MAXN / 32], q1[MAXN / 32], qd[MAXN / 32];
    static const int ns[] = {0, 32, 64, 96, 256, 512};
    for (int trial = 0; trial < 24; trial++) {
        const int n = ns[trial % 6];
        const float scale = trial % 4 == 0 ? 1e-3f : trial % 4 == 1 ? 40.0f : 1.0f;
        for (int i = 0; i < MAXN; i++) { x[i] = frand(); v[i] = frand() * scale; }
        if (n >= 96 && trial % 2 == 0) {
            for (int i = 0; i < 32; i++) v[i] = i == 0 ? -127.0f : (float)(i - 16) * 0.5f; /* d = 1: x/d ties */
            for (int i = 32; i < 64; i++) v[i] = 0.0f;
            for (int i = 64; i < 96; i++) v[i] = frand() * 1e-5f; /* d ~ 8e-8: an F16 subnormal */
        }
        if (n >= 96 && trial % 6 == 5) { v[3] = NAN; v[40] = INFINITY; v[70] = -INFINITY; v[71] = NAN; }
        memset(q0, 0x55, sizeof q0);
        memset(q1, 0x55, sizeof q1);
        ref->to_q8(v, q0, n);
        k->to_q8(v, q1, n);
        quantize_row(G4_DTYPE_Q8_0, v, qd, n);
        CHECK_MSG(!memcmp(q0, q1, sizeof q0), "%s to_q8 n=%d trial %d", k->isa, n, trial);
        CHECK_MSG(!memcmp(q0, qd, sizeof(block_q8_0) * (size_t)(n / 32)), "scalar to_q8 is not GGUF's Q8_0, n=%d", n);
        if (trial % 6 == 5) continue; /* non-finite scales: nothing to compare the arithmetic on */
        dequantize_row(G4_DTYPE_Q8_0, q0, deq, n);
        double mag = 0;
        for (int i = 0; i < n; i++) mag += fabs((double)x[i] * deq[i]);
        const float a = dot1(ref->attn_scores_q8, x, q0, n), b = dot1(k->attn_scores_q8, x, q0, n);
        CHECK_MSG(fabs((double)a - b) <= 1e-5 * (mag + 1e-30), "%s q8 dot n=%d: %g vs %g", k->isa, n, a, b);
        /* the reference dot is the dot with the dequantized row, up to float rounding */
        double want = 0;
        for (int i = 0; i < n; i++) want += (double)x[i] * deq[i];
        CHECK_MSG(fabs(want - a) <= 1e-5 * (mag + 1e-30), "scalar q8 dot n=%d: %g vs %g", n, a, want);
        for (int i = 0; i < MAXN; i++) y0[i] = y1[i] = frand();
        axpy1(ref->attn_wsum_q8, y0, q0, -0.7f, n);
        axpy1(k->attn_wsum_q8, y1, q0, -0.7f, n);
        int ok = 1;
        for (int i = 0; i < MAXN; i++) ok &= fabsf(y0[i] - y1[i]) <= 1e-6f * (fabsf(y0[i]) + 0.7f * fabsf(deq[i < n ? i : 0]) + 1.0f);
        CHECK_MSG(ok, "%s q8 axpy n=%d", k->isa, n);
    }
}

/* cpu_matmul through the pool (threads, tiles) equals the scalar kernel called directly */
static void test_driver(void) {
    const int64_t rows = 203, cols = 96, n = 131;
    cpu_ctx *c = cpu_ctx_create(3, cols, n);
    CHECK(c != NULL);
    if (!c) return;
    const cpu_kernels *ref = cpu_kernels_for(CPU_ISA_SCALAR);
    uint64_t rb;
    dtype_row_bytes(G4_DTYPE_Q4_0, cols, &rb);
    uint8_t *w = malloc(rb * rows);
    float *x = malloc(sizeof(float) * n * cols), *y0 = malloc(sizeof(float) * n * rows), *y1 = malloc(sizeof(float) * n * rows);
    float row[96], scratch[KERNEL_SCRATCH_FLOATS(96)];
    for (int64_t r = 0; r < rows; r++) { for (int i = 0; i < cols; i++) row[i] = frand(); quantize_row(G4_DTYPE_Q4_0, row, w + r * rb, cols); }
    for (int64_t i = 0; i < n * cols; i++) x[i] = frand();
    mat m = {w, G4_DTYPE_Q4_0, rows, cols, rb, false};
    block_a8 *xq = malloc(sizeof(block_a8) * n * cols / 32);
    for (int64_t t = 0; t < n; t++) ref->quantize_a8(x + t * cols, xq + t * cols / 32, cols);
    ref->matmul[G4_DTYPE_Q4_0](y0, rows, &m, 0, rows, xq, cols / 32 * (int64_t)sizeof(block_a8), n, scratch);
    for (int64_t nn = 1; nn <= n; nn += 65) {
        cpu_matmul(c, y1, &m, x, nn);
        double worst = 0;
        for (int64_t i = 0; i < nn * rows; i++) worst = fmax(worst, fabs((double)y0[i] - y1[i]) / (fabs(y0[i]) + 1.0));
        CHECK_MSG(worst < 1e-4, "cpu_matmul n=%lld differs by %.3g", (long long)nn, worst);
    }
    free(w); free(x); free(y0); free(y1); free(xq);
    cpu_ctx_free(c);
}

/* cpu_matvec_many and cpu_matmul with one token (both cut into cpu.c's claimed units)
 * against the context's kernel called once over all of each matrix's rows: matrices of
 * several types (all three activation formats), widths and row counts (1 row; rows that do
 * not split evenly by bytes), inputs shared and not, 1, 2, 3, 4 and 7 threads (7 on this
 * machine's few cores: preempted threads' units are taken by the others); every output row
 * written and nothing past it. The first set shares an input between two A8 matrices and
 * fits the 64-block activation buffer (one job); the second, 6 distinct inputs against a
 * 48-block buffer, falls back to one matmul per matrix. */
static void test_matvec_many(void) {
    enum { NI = 8, MAXR = 70 };
    static const int32_t types[NI] = {G4_DTYPE_Q4_0, QT_Q6_K, G4_DTYPE_F16, QT_Q4_K, G4_DTYPE_Q8_0, QT_Q5_0, G4_DTYPE_Q4_0, QT_Q5_0};
    static const int64_t rows[NI] = {37, 5, 11, 64, 3, 1, 70, 9}, cols[NI] = {256, 256, 96, 512, 256, 256, 512, 256};
    /* which input each matrix takes: items 0 and 7 share x0 in one format (quantized once) */
    static const int xin[NI] = {0, 0, 1, 2, 0, 3, 2, 0};
    static float xs[6][512], y0[NI][MAXR + 1], y1[NI][MAXR + 1], yr[6][NI][MAXR + 1];
    static float scratch[KERNEL_SCRATCH_FLOATS(512)];
    const cpu_kernels *k = cpu_kernels_get();
    uint8_t *w[NI];
    mat m[NI];
    for (int i = 0; i < NI; i++) {
        uint64_t rb;
        dtype_row_bytes(types[i], cols[i], &rb);
        w[i] = malloc(rb * (size_t)rows[i]);
        float row[512];
        for (int64_t r = 0; r < rows[i]; r++) {
            for (int64_t c = 0; c < cols[i]; c++) row[c] = frand();
            quantize_row(types[i], row, w[i] + r * rb, cols[i]);
        }
        m[i] = (mat){w[i], types[i], rows[i], cols[i], rb, false};
    }
    for (int v = 0; v < 6; v++)
        for (int c = 0; c < 512; c++) xs[v][c] = frand();
    for (int v = 0; v < 6; v++) /* the reference: each matrix against each input, one call */
        for (int i = 0; i < NI; i++) {
            int64_t ldx;
            void *xq = quantize_act(k, k->act[types[i]], xs[v], 1, cols[i], &ldx);
            k->matmul[types[i]](yr[v][i], rows[i], &m[i], 0, rows[i], xq ? xq : (void *)xs[v], ldx, 1, scratch);
            free(xq);
        }
    static const int thread_counts[] = {1, 2, 3, 4, 7};
    for (size_t tc = 0; tc < sizeof thread_counts / sizeof thread_counts[0]; tc++)
        for (int set = 0, threads = thread_counts[tc]; set < 2; set++) {
            /* set 1: a buffer of 3 x 16 blocks, too small for its distinct inputs (the fallback) */
            cpu_ctx *c = cpu_ctx_create(threads, 512, set ? 3 : 4);
            CHECK(c != NULL);
            if (!c) return;
            cpu_matvec_item it[NI];
            int vin[NI];
            for (int i = 0; i < NI; i++) {
                vin[i] = set == 0 ? xin[i] : i % 6; /* set 1: 6 distinct inputs */
                const float *x = xs[vin[i]];
                for (int r = 0; r <= MAXR; r++) y0[i][r] = y1[i][r] = -7.0f;
                cpu_matmul(c, y0[i], &m[i], x, 1);
                it[i] = (cpu_matvec_item){y1[i], &m[i], x};
            }
            cpu_matvec_many(c, it, NI);
            int ok = 1;
            for (int i = 0; i < NI; i++) {
                const float *ref_y = yr[vin[i]][i];
                for (int64_t r = 0; r < rows[i]; r++)
                    ok &= fabsf(y0[i][r] - ref_y[r]) <= 1e-5f * (fabsf(ref_y[r]) + 1.0f) &&
                          fabsf(y1[i][r] - ref_y[r]) <= 1e-5f * (fabsf(ref_y[r]) + 1.0f);
                for (int64_t r = rows[i]; r <= MAXR; r++) ok &= y0[i][r] == -7.0f && y1[i][r] == -7.0f;
            }
            CHECK_MSG(ok, "cpu_matmul / cpu_matvec_many, %d threads, input set %d, differ from one kernel call", threads, set);
            cpu_ctx_free(c);
        }
    for (int i = 0; i < NI; i++) free(w[i]);
}

/* cpu_matmul_rows against one cpu_matmul per item: 5 items over consecutive row ranges of
 * one 512-wide input (1, 2, 3 and 4 rows, and 300 rows: two token tiles), matrices of 1,
 * 64, 65 and 130 rows (row chunks and a short last chunk), one activation format (Q4_K,
 * Q6_K: one job) and mixed (Q4_0 among them: the per-item fallback), 1-3 threads; and a
 * context whose buffer holds each item but not the whole input (the fallback again). */
static void test_matmul_rows(void) {
    enum { NI = 5, COLS = 512, ROWS = 310 };
    static const int64_t n_of[NI] = {1, 2, 3, 4, 300}, w_rows[NI] = {1, 64, 65, 130, 33};
    static float x[ROWS * COLS], y0[NI][300 * 130], y1[NI][300 * 130];
    for (int i = 0; i < ROWS * COLS; i++) x[i] = frand();
    for (int set = 0; set < 2; set++) {
        const int32_t types[NI] = {QT_Q4_K, QT_Q6_K, QT_Q4_K, set ? G4_DTYPE_Q4_0 : QT_Q6_K, QT_Q4_K};
        uint8_t *w[NI];
        mat m[NI];
        for (int i = 0; i < NI; i++) {
            uint64_t rb;
            dtype_row_bytes(types[i], COLS, &rb);
            w[i] = malloc(rb * (size_t)w_rows[i]);
            float row[COLS];
            for (int64_t r = 0; r < w_rows[i]; r++) {
                for (int c = 0; c < COLS; c++) row[c] = frand();
                quantize_row(types[i], row, w[i] + r * rb, COLS);
            }
            m[i] = (mat){w[i], types[i], w_rows[i], COLS, rb, false};
        }
        for (int threads = 1; threads <= 3; threads++)
            for (int small = 0; small < 2; small++) {
                /* small: every item fits the buffer (callers keep n <= max_tokens), all 310 rows do not */
                cpu_ctx *c = cpu_ctx_create(threads, COLS, small ? 300 : ROWS);
                CHECK(c != NULL);
                if (!c) return;
                cpu_rows_item it[NI];
                int64_t row0 = 0;
                for (int i = 0; i < NI; i++) {
                    if (!small) cpu_matmul(c, y0[i], &m[i], x + row0 * COLS, n_of[i]); /* small: the big run's */
                    it[i] = (cpu_rows_item){y1[i], &m[i], row0, n_of[i]};
                    row0 += n_of[i];
                }
                cpu_matmul_rows(c, it, NI, x, row0, COLS);
                int ok = 1;
                for (int i = 0; i < NI; i++)
                    for (int64_t e = 0; e < n_of[i] * w_rows[i]; e++) ok &= fabsf(y0[i][e] - y1[i][e]) <= 1e-5f * (fabsf(y0[i][e]) + 1.0f);
                CHECK_MSG(ok, "cpu_matmul_rows, set %d, %d threads%s, differs from cpu_matmul", set, threads, small ? ", small buffer" : "");
                cpu_ctx_free(c);
            }
        for (int i = 0; i < NI; i++) free(w[i]);
    }
}

/* cpu_matvec_geglu (decode's GeGLU and down-projection, the GeGLU and the activations'
 * quantization done in slices inside the job) against gelu_mul then cpu_matmul: the same
 * g and the same outputs bit for bit, for weight types of each activation format (Q4_0:
 * block_a8, Q4_K: ACT_A8S, Q8_0: block_a16, F16: the floats themselves), widths of one
 * slice, several and a short last one (704 = 512 + 192), 1-3 threads. */
static void test_matvec_geglu(void) {
    static const int32_t types[] = {G4_DTYPE_Q4_0, QT_Q4_K, G4_DTYPE_Q8_0, G4_DTYPE_F16};
    static const int64_t widths[] = {256, 1536, 704};
    enum { ROWS = 37, MAXC = 1536 };
    static float g0[MAXC], g1[MAXC], u[MAXC], y0[ROWS], y1[ROWS], row[MAXC];
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
            const int64_t cols = widths[wi];
            if (types[ti] == QT_Q4_K && cols % 256) continue;
            uint64_t rb;
            dtype_row_bytes(types[ti], cols, &rb);
            uint8_t *w = malloc(rb * ROWS);
            for (int r = 0; r < ROWS; r++) {
                for (int64_t c = 0; c < cols; c++) row[c] = frand();
                quantize_row(types[ti], row, w + r * rb, cols);
            }
            const mat m = {w, types[ti], ROWS, cols, rb, false};
            for (int threads = 1; threads <= 3; threads++) {
                cpu_ctx *c = cpu_ctx_create(threads, MAXC, 1);
                CHECK(c != NULL);
                if (!c) { free(w); return; }
                for (int64_t e = 0; e < cols; e++) { g0[e] = g1[e] = 4.0f * frand(); u[e] = frand(); }
                c->k->gelu_mul(g0, u, cols);
                cpu_matmul(c, y0, &m, g0, 1);
                cpu_matvec_geglu(c, y1, &m, g1, u);
                CHECK_MSG(!memcmp(g0, g1, (size_t)cols * sizeof *g0) && !memcmp(y0, y1, sizeof y0),
                          "cpu_matvec_geglu %s x %lld, %d threads, differs from gelu_mul + cpu_matmul",
                          g4_dtype_name(types[ti]), (long long)cols, threads);
                cpu_ctx_free(c);
            }
            free(w);
        }
}

static int hits[10007];
static void mark(void *arg, int64_t i0, int64_t i1, int thread) {
    (void)arg; (void)thread;
    for (int64_t i = i0; i < i1; i++) __atomic_add_fetch(&hits[i], 1, __ATOMIC_RELAXED);
}

/* Non-finite activations through the float types' kernels: +-inf against positive weights
 * gives +-inf as in the scalar table (the avx512bf16 kernel's split x = hi + lo once made
 * it inf - inf = NaN), NaN gives NaN. */
static void test_float_nonfinite(const cpu_kernels *k) {
    const int32_t types[] = {G4_DTYPE_F32, G4_DTYPE_F16, G4_DTYPE_BF16};
    const int64_t rows = 5, cols = 70, n = 5;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        uint64_t rb;
        if (!dtype_row_bytes(types[ti], cols, &rb) || !k->matmul[types[ti]]) continue;
        uint8_t *w = malloc(rb * (size_t)rows);
        float *wf = malloc((size_t)cols * sizeof(float)), *x = malloc((size_t)(n * cols) * sizeof(float));
        float *y = malloc((size_t)(n * rows) * sizeof(float));
        float *scratch = malloc((size_t)kernel_scratch_floats(k, cols) * sizeof(float));
        for (int64_t c = 0; c < cols; c++) wf[c] = 0.5f + (float)(c % 3);
        for (int64_t r = 0; r < rows; r++) quantize_row(types[ti], wf, w + r * rb, cols);
        for (int64_t i = 0; i < n * cols; i++) x[i] = 1.0f;
        x[0 * cols + 3] = INFINITY;
        x[1 * cols + 40] = -INFINITY;
        x[2 * cols + 69] = NAN;
        mat m = {w, types[ti], rows, cols, rb, false};
        k->matmul[types[ti]](y, rows, &m, 0, rows, x, cols * 4, n, scratch);
        int ok = 1;
        for (int64_t r = 0; r < rows; r++)
            ok &= y[r] == INFINITY && y[rows + r] == -INFINITY && isnan(y[2 * rows + r]) && isfinite(y[3 * rows + r]);
        CHECK_MSG(ok, "%s %s: infinite / NaN activations give %g %g %g", k->isa, g4_dtype_name(types[ti]), y[0], y[rows],
                  y[2 * rows]);
        free(w); free(wf); free(x); free(y); free(scratch);
    }
}

/* G4_CPU_ISA: any level the CPU supports is taken (avx512bf16 too where it is not the
 * default), one it lacks or a wrong name leaves the default; the default is supported. */
/* cpu_family on CPUID signatures (leaf 1 EAX) of known parts: zmm_halves rests on it */
static void test_cpu_family(void) {
    CHECK(cpu_family(0x00A10F11u) == 0x19); /* Zen 4 (EPYC 9004, this project's VM) */
    CHECK(cpu_family(0x00B40F40u) == 0x1A); /* Zen 5 */
    CHECK(cpu_family(0x000806F8u) == 6);    /* Sapphire Rapids */
    CHECK(cpu_family(0x000906A3u) == 6);    /* Alder Lake */
}

static void test_isa_choice(void) {
    const char *was = getenv("G4_CPU_ISA");
    char *saved = was ? strdup(was) : NULL;
    unsetenv("G4_CPU_ISA");
    const cpu_isa best = cpu_isa_best();
    CHECK(cpu_isa_supported(best) && cpu_isa_supported(CPU_ISA_SCALAR));
    for (int i = 0; i < (int)CPU_ISA_COUNT; i++) {
        setenv("G4_CPU_ISA", cpu_isa_name((cpu_isa)i), 1);
        const cpu_isa got = cpu_isa_best();
        CHECK_MSG(got == (cpu_isa_supported((cpu_isa)i) ? (cpu_isa)i : best), "G4_CPU_ISA=%s chose %s",
                  cpu_isa_name((cpu_isa)i), cpu_isa_name(got));
    }
    setenv("G4_CPU_ISA", "avx1024", 1);
    CHECK(cpu_isa_best() == best);
    if (saved) setenv("G4_CPU_ISA", saved, 1);
    else unsetenv("G4_CPU_ISA");
    free(saved);
}

static void test_pool(void) {
    for (int threads = 1; threads <= 4; threads++) {
        cpu_pool *p = pool_create(threads);
        CHECK(p && pool_threads(p) == threads);
        for (int64_t grain = 0; grain <= 64; grain += 7) {
            for (int rep = 0; rep < 20; rep++) {
                int64_t n = 1 + (rep * 997) % 10007;
                memset(hits, 0, sizeof hits);
                pool_run(p, mark, NULL, n, grain);
                int ok = 1;
                for (int64_t i = 0; i < n; i++) ok &= hits[i] == 1;
                for (int64_t i = n; i < 10007; i++) ok &= hits[i] == 0;
                CHECK_MSG(ok, "pool %d threads grain %lld n %lld: not every item exactly once", threads, (long long)grain, (long long)n);
            }
        }
        pool_free(p);
    }
}

/* Grouped attention (attn_scores / attn_wsum) against the scalar table for F32, F16 and
 * Q8_0 caches: G heads 1..9 (tiles of 4 plus 1-3 left), D in {64, 256, 512}, key counts
 * around the tile (2) and block (32) sizes, rows at a stride with other heads between
 * them (nkv = 2 heads per slot, the second one read). Tolerance 1e-5 relative to the sum
 * of |terms| of each output, as the vector ops. */
static void test_attn(const cpu_kernels *ref, const cpu_kernels *k) {
    /* 96: a head dim that is a multiple of 32 but not of 64 (the weighted sum's 16-value
     * chunks and the prefetches' 64-byte lines do not line up with it) */
    static const int Ds[] = {64, 96, 256, 512}, Gs[] = {1, 2, 3, 4, 5, 8, 9}, ns[] = {1, 2, 3, 31, 33, 70};
    for (int di = 0; di < 4; di++)
        for (int gi = 0; gi < 7; gi++)
            for (int ni = 0; ni < 6; ni++)
                for (int t = 0; t < 3; t++) {
                    const int64_t D = Ds[di], n = ns[ni];
                    const int32_t G = Gs[gi];
                    const size_t hb = t == 0 ? (size_t)D * 4 : t == 1 ? (size_t)D * 2 : (size_t)D / 32 * sizeof(block_q8_0);
                    const size_t stride = 2 * hb; /* nkv = 2 */
                    uint8_t *kv = malloc(stride * (size_t)n);
                    float *row = malloc((size_t)D * sizeof(float)), *fk = malloc((size_t)(n * D) * sizeof(float));
                    for (int64_t j = 0; j < n; j++) {
                        for (int64_t c = 0; c < D; c++) row[c] = frand() * 2.0f;
                        uint8_t *r = kv + (size_t)j * stride + hb;
                        if (t == 0) memcpy(r, row, hb);
                        else if (t == 1) ref->to_f16(row, (uint16_t *)r, D);
                        else ref->to_q8(row, (block_q8_0 *)r, D);
                        /* the cached row as floats, for the magnitudes */
                        for (int64_t c = 0; c < D; c++)
                            fk[j * D + c] = t == 0 ? ((float *)r)[c] : t == 1 ? fp16_to_f32(((uint16_t *)r)[c])
                                          : fp16_to_f32(((block_q8_0 *)r)[c / 32].d) * (float)((block_q8_0 *)r)[c / 32].qs[c % 32];
                    }
                    const void *kv1 = kv + hb;
                    const int64_t lds = n + 3;
                    float *q = malloc((size_t)(G * D) * sizeof(float)), *p = malloc((size_t)(G * lds) * sizeof(float));
                    float *s0 = calloc((size_t)(G * lds), sizeof(float)), *s1 = calloc((size_t)(G * lds), sizeof(float));
                    float *o0 = malloc((size_t)(G * D) * sizeof(float)), *o1 = malloc((size_t)(G * D) * sizeof(float));
                    for (int64_t i = 0; i < G * D; i++) { q[i] = frand(); o0[i] = o1[i] = frand(); }
                    for (int64_t i = 0; i < G * lds; i++) p[i] = frand() * 0.5f + 0.5f;
                    attn_scores_fn rs = t == 0 ? ref->attn_scores_f32 : t == 1 ? ref->attn_scores_f16 : ref->attn_scores_q8;
                    attn_scores_fn ks = t == 0 ? k->attn_scores_f32 : t == 1 ? k->attn_scores_f16 : k->attn_scores_q8;
                    attn_wsum_fn rw = t == 0 ? ref->attn_wsum_f32 : t == 1 ? ref->attn_wsum_f16 : ref->attn_wsum_q8;
                    attn_wsum_fn kw = t == 0 ? k->attn_wsum_f32 : t == 1 ? k->attn_wsum_f16 : k->attn_wsum_q8;
                    rs(s0, lds, q, G, kv1, stride, n, D);
                    ks(s1, lds, q, G, kv1, stride, n, D);
                    int ok = 1;
                    for (int32_t g = 0; g < G; g++)
                        for (int64_t j = 0; j < lds; j++) {
                            double mag = 0;
                            if (j < n) for (int64_t c = 0; c < D; c++) mag += fabs((double)q[g * D + c] * fk[j * D + c]);
                            ok &= fabs((double)s0[g * lds + j] - s1[g * lds + j]) <= 1e-5 * mag + 1e-30;
                        }
                    CHECK_MSG(ok, "%s attn_scores type %d G=%d D=%d n=%d", k->isa, t, G, (int)D, (int)n);
                    /* a key's score, bit for bit, whatever the call around it: each head alone,
                     * and keys from the second on (the pairs shift by one), as session.c's
                     * stacked rows need (their heads share a call; their windows start and
                     * end at different keys) */
                    float *s2 = calloc((size_t)(G * lds), sizeof(float));
                    int same = 1;
                    for (int32_t g = 0; g < G; g++) ks(s2 + g * lds, lds, q + g * D, 1, kv1, stride, n, D);
                    for (int32_t g = 0; g < G; g++)
                        for (int64_t j = 0; j < n; j++) same &= s2[g * lds + j] == s1[g * lds + j];
                    if (n > 1) {
                        ks(s2, lds, q, G, (const uint8_t *)kv1 + stride, stride, n - 1, D);
                        for (int32_t g = 0; g < G; g++)
                            for (int64_t j = 0; j + 1 < n; j++) same &= s2[g * lds + j] == s1[g * lds + j + 1];
                    }
                    CHECK_MSG(same, "%s attn_scores type %d G=%d D=%d n=%d: a score depends on its call", k->isa, t, G, (int)D, (int)n);
                    free(s2);
                    if (n > 1) { /* a zero weight on the first key adds nothing, bit for bit */
                        float *pz = malloc((size_t)(G * lds) * sizeof(float)), *oa = malloc((size_t)(G * D) * sizeof(float)),
                              *ob = malloc((size_t)(G * D) * sizeof(float));
                        memcpy(pz, p, (size_t)(G * lds) * sizeof(float));
                        for (int32_t g = 0; g < G; g++) pz[g * lds] = 0.0f;
                        memcpy(oa, o0, (size_t)(G * D) * sizeof(float));
                        memcpy(ob, o0, (size_t)(G * D) * sizeof(float));
                        kw(oa, pz, lds, G, kv1, stride, n, D);
                        kw(ob, pz + 1, lds, G, (const uint8_t *)kv1 + stride, stride, n - 1, D);
                        CHECK_MSG(!memcmp(oa, ob, (size_t)(G * D) * sizeof(float)), "%s attn_wsum type %d G=%d D=%d n=%d: a zero weight changed the sum",
                                  k->isa, t, G, (int)D, (int)n);
                        free(pz); free(oa); free(ob);
                    }
                    { /* each head's weighted sum alone is the one it gets among all G, bit for
                       * bit (session.c stacks rows' heads: 26B-A4B's prompt rows call with 8
                       * heads where its decode calls with 2) */
                        float *oa = malloc((size_t)(G * D) * sizeof(float)), *ob = malloc((size_t)(G * D) * sizeof(float));
                        memcpy(oa, o0, (size_t)(G * D) * sizeof(float));
                        memcpy(ob, o0, (size_t)(G * D) * sizeof(float));
                        kw(oa, p, lds, G, kv1, stride, n, D);
                        for (int32_t g = 0; g < G; g++) kw(ob + g * D, p + g * lds, lds, 1, kv1, stride, n, D);
                        CHECK_MSG(!memcmp(oa, ob, (size_t)(G * D) * sizeof(float)), "%s attn_wsum type %d G=%d D=%d n=%d: a head's sum depends on its call",
                                  k->isa, t, G, (int)D, (int)n);
                        free(oa); free(ob);
                    }
                    rw(o0, p, lds, G, kv1, stride, n, D);
                    kw(o1, p, lds, G, kv1, stride, n, D);
                    ok = 1;
                    for (int32_t g = 0; g < G; g++)
                        for (int64_t c = 0; c < D; c++) {
                            double mag = 1.0; /* the output's starting value is within [-1, 1) */
                            for (int64_t j = 0; j < n; j++) mag += fabs((double)p[g * lds + j] * fk[j * D + c]);
                            ok &= fabs((double)o0[g * D + c] - o1[g * D + c]) <= 1e-5 * mag;
                        }
                    CHECK_MSG(ok, "%s attn_wsum type %d G=%d D=%d n=%d", k->isa, t, G, (int)D, (int)n);
                    free(kv); free(row); free(fk); free(q); free(p); free(s0); free(s1); free(o0); free(o1);
                }
}

/* The machine probe's peak loop (hand-written assembly in the SIMD tables): it runs on
 * this table's instructions, counts its multiply-adds, does nothing for no iterations,
 * and leaves the caller's registers alone (on AArch64, d8-d15 are the callee's to
 * preserve: values live across the call sit there). */
static void test_peak(const cpu_kernels *k) {
    volatile double seed = 1.25;
    double live[8];
    for (int i = 0; i < 8; i++) live[i] = seed * (i + 1);
    int32_t sink = 0;
    const int64_t m1 = k->int8_peak(1000, &sink), m2 = k->int8_peak(2000, &sink);
    CHECK(m1 > 0 && m2 == 2 * m1);
    CHECK(k->int8_peak(0, &sink) == 0);
    int same = 1;
    for (int i = 0; i < 8; i++) same &= live[i] == 1.25 * (i + 1);
    CHECK(same);
}

/* The probe's memory read: the same sum as the scalar loop, tails included. */
static void test_read_sum(const cpu_kernels *ref, const cpu_kernels *k) {
    uint64_t p[1040];
    uint64_t z = 0x9e3779b97f4a7c15u; /* splitmix-style integer sequence: sums wrap in uint64 */
    for (int i = 0; i < 1040; i++) { z += 0x9e3779b97f4a7c15u; p[i] = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9u; }
    static const int64_t ns[] = {0, 1, 7, 15, 16, 17, 31, 1000, 1037};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        CHECK_MSG(k->read_sum(p + 1, ns[i]) == ref->read_sum(p + 1, ns[i]), "%s read_sum n=%lld", k->isa, (long long)ns[i]);
    uint64_t s = 0;
    for (int i = 0; i < 1037; i++) s += p[1 + i];
    CHECK(ref->read_sum(p + 1, 1037) == s);
}

#if defined(__x86_64__)
/* The AVX-512 table's two sideways prefill engines (kernels_avx512.c: its fill times the
 * CPU and takes one; test_table above saw that one): each forced in turn through
 * G4_ZMM_ROWS, on the shapes that reach the 32-row steps and their remainders. */
/* The two engines' outputs for one shape, bit for bit (kernels_x86_int8.h's 32-row
 * engine does the 16-row one's arithmetic in the same order): which one a call takes
 * (the CPU's timing, the token count) must not change a result. */
static void zmm_fill(cpu_kernels *t, const char *rows) {
    setenv("G4_ZMM_ROWS", rows, 1);
    kernels_avx512_fill(t);
    CHECK(!strcmp(kernels_avx512_rows(), rows));
}

static void zmm_engines_agree(int32_t type, int64_t rows, int64_t cols, int64_t n) {
    static cpu_kernels t;
    zmm_fill(&t, "16");
    uint64_t rb;
    if (!dtype_row_bytes(type, cols, &rb) || !t.matmul[type]) return;
    uint8_t *w = malloc(rb * (size_t)rows);
    float *wf = malloc((size_t)cols * sizeof(float)), *x = malloc((size_t)(n * cols) * sizeof(float));
    float *y0 = malloc((size_t)(n * rows) * sizeof(float)), *y1 = malloc((size_t)(n * rows) * sizeof(float));
    float *scratch = malloc((size_t)kernel_scratch_floats(&t, cols) * sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) wf[c] = frand() * (float)(1 + (c / 16 + r) % 4);
        quantize_row(type, wf, w + r * rb, cols);
    }
    for (int64_t i = 0; i < n * cols; i++) x[i] = frand() * 2.0f;
    mat m = {w, type, rows, cols, rb, false};
    int64_t ldx;
    void *xq = quantize_act(&t, t.act[type], x, n, cols, &ldx);
    const void *xa = xq ? xq : x;
    t.matmul[type](y0, rows, &m, 0, rows, xa, ldx, n, scratch);
    /* (the engine switch is one global of the table's file, set by its fill) */
    zmm_fill(&t, "32");
    t.matmul[type](y1, rows, &m, 0, rows, xa, ldx, n, scratch);
    int64_t differ = 0;
    for (int64_t i = 0; i < n * rows; i++) differ += memcmp(&y0[i], &y1[i], sizeof(float)) != 0;
    CHECK_MSG(differ == 0, "%s %lldx%lld n=%lld: %lld outputs of the 32-row engine differ from the 16-row one's",
              g4_dtype_name(type), (long long)rows, (long long)cols, (long long)n, (long long)differ);
    free(w); free(wf); free(x); free(y0); free(y1); free(scratch); free(xq);
}

static void test_zmm_rows(const cpu_kernels *ref) {
    if (!cpu_isa_supported(CPU_ISA_AVX512)) return;
    static const int32_t types[] = {G4_DTYPE_Q8_0, G4_DTYPE_Q4_0, 3, 6, 7, 10, 11, 12, 13, 14, 20, 23};
    const char *was = getenv("G4_ZMM_ROWS");
    char *saved = was ? strdup(was) : NULL;
    static const char *const rows[] = {"16", "32"};
    for (int v = 0; v < 2; v++) {
        static cpu_kernels t;
        zmm_fill(&t, rows[v]);
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            test_matmul(ref, &t, types[i], 100, 512, 29);
            test_matmul(ref, &t, types[i], 100, 256, 27);
            /* the fewest tokens the 32-row engine takes (SWZ32_MIN_TOKENS), and one more */
            test_matmul(ref, &t, types[i], 96, 512, 7);
            test_matmul(ref, &t, types[i], 96, 256, 13);
            test_matmul(ref, &t, types[i], 64, 1536, 64);
            test_matmul(ref, &t, types[i], 64, 256, 261);
            matmul_case(ref, &t, types[i], 64, 512, 31, 1, 0);
        }
    }
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        static const int64_t ns[] = {6, 7, 12, 13, 29, 64};
        for (int j = 0; j < 6; j++) zmm_engines_agree(types[i], 96, 512, ns[j]);
    }
    /* the process's own table again as its fill chose it */
    if (saved) setenv("G4_ZMM_ROWS", saved, 1);
    else unsetenv("G4_ZMM_ROWS");
    free(saved);
    static cpu_kernels again;
    kernels_avx512_fill(&again);
}
#endif

/* Every check of one SIMD table against the scalar one. */
static void test_table(const cpu_kernels *ref, const cpu_kernels *k) {
    static const int32_t types[] = {G4_DTYPE_F32, G4_DTYPE_F16, G4_DTYPE_BF16, G4_DTYPE_Q8_0, G4_DTYPE_Q4_0,
                                    3, 6, 7, 10, 11, 12, 13, 14, 20, 23};
    /* the K-quant decode kernels need one activation scale per super-block */
    CHECK_MSG(k->act[QT_Q4_K] == ACT_A8S && k->act[QT_Q5_K] == ACT_A8S && k->act[QT_Q6_K] == ACT_A8S,
              "%s: the K-quants must take ACT_A8S activations", k->isa);
    test_quantize_a8(ref, k);
    test_quantize_a16(ref, k);
    test_vector_ops(ref, k);
    test_kv_q8(ref, k);
    test_attn(ref, k);
    test_softcap(ref, k);
    test_rmsnorm(ref, k);
    test_softmax(ref, k);
    test_peak(k);
    test_read_sum(ref, k);
    test_float_nonfinite(k);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        test_matmul(ref, k, types[i], 13, 256, 1);
        test_matmul(ref, k, types[i], 9, 1536 + 256, 3);
        test_matmul(ref, k, types[i], 70, 512, 17);
        test_matmul(ref, k, types[i], 7, 512, 9); /* an odd row range (3 rows) with tiles */
        test_matmul(ref, k, types[i], 5, 96, 2); /* cols not a multiple of 64 or 256 */
        test_matmul(ref, k, types[i], 34, 512, 2); /* 2 tokens: the rows-outer paths (MoE experts) */
        test_matmul(ref, k, types[i], 6, 100, 5); /* float types only: the kernels' column tails */
        test_matmul(ref, k, types[i], 64, 1536, 64); /* a whole prefill work item (cpu.c) */
        test_matmul(ref, k, types[i], 24, 384, 7); /* 8-row groups, 4-token tiles and 3 left */
        test_matmul_extreme(ref, k, types[i]);
        test_matmul(ref, k, types[i], 16, 64, 261); /* more tokens than a tile: kernels loop */
        test_matmul(ref, k, types[i], 64, 256, 261); /* the same for 256-value super-blocks (the
                                                      * first range's 33 rows: 2 groups of 16, 1 left) */
        /* 704 columns (22 blocks: 26B-A4B's expert downs, Q5_0 / Q8_0): 16-row groups
         * plus 9 / 7 rows left, 8 + 4 + 2 + 1 tokens through the sideways engines
         * (AVX-512 Q8_0 from 10 tokens), 10 = 8 + 2, and 3 tokens rows-outer */
        /* AVX-512's 32-row engine (24 tokens and more): two ranges of 32 + 16 + 3 and
         * 32 + 16 + 1 rows, tokens 6 at a time then 4 + 1, 2, or 2 + 1 */
        test_matmul(ref, k, types[i], 100, 512, 29);
        test_matmul(ref, k, types[i], 100, 256, 26);
        test_matmul(ref, k, types[i], 100, 256, 27);
        matmul_case(ref, k, types[i], 64, 512, 31, 1, 0); /* its sums at the extremes */
        test_matmul(ref, k, types[i], 48, 704, 15);
        test_matmul(ref, k, types[i], 64, 704, 10);
        test_matmul(ref, k, types[i], 13, 704, 3);
        test_matmul(ref, k, types[i], 13, 704, 5); /* AVX-512 Q5_0: by rows, 3 + 2 tokens */
        test_matmul(ref, k, types[i], 9, 704, 1); /* ... and decode through them */
        /* 23 blocks, 1 and 2 tokens: Q4_0 decode's pairs of blocks and an odd one */
        test_matmul(ref, k, types[i], 11, 736, 1);
        test_matmul(ref, k, types[i], 6, 736, 2);
        matmul_case(ref, k, types[i], 32, 512, 12, 1, 0); /* extremes through the Q8_0 engine */
        if (types[i] == G4_DTYPE_F32 || types[i] == G4_DTYPE_F16 || types[i] == G4_DTYPE_BF16) {
            test_batch_invariance(k, types[i], 519);  /* 64 x 8 and a tail of 7 */
            test_batch_invariance(k, types[i], 1543); /* avx512bf16: 4+ tokens in 1024-column blocks */
        }
    }
}

int main(void) {
    const cpu_kernels *ref = cpu_kernels_for(CPU_ISA_SCALAR);
    printf("best kernel table here: %s\n", cpu_kernels_get()->isa);
    static const int32_t a8_types[] = {G4_DTYPE_Q8_0, G4_DTYPE_Q4_0, 6, 12, 13, 14, 3, 7, 20, 23, 10, 11};
    for (size_t i = 0; i < sizeof a8_types / sizeof a8_types[0]; i++) {
        test_a8_accuracy(ref, a8_types[i], 64, 256, 2);
        test_a8_accuracy(ref, a8_types[i], 32, 2048 + 512, 3);
    }
    for (int isa = CPU_ISA_AVX2; isa < CPU_ISA_COUNT; isa++) {
        const cpu_kernels *k = cpu_kernels_for((cpu_isa)isa);
        if (!k) { printf("%s: not available on this CPU, skipped\n", cpu_isa_name((cpu_isa)isa)); continue; }
        test_table(ref, k);
    }
#if defined(__x86_64__)
    test_zmm_rows(ref);
    /* The AVX-VNNI table's code in AVX-512 VL encoding (kernels_avxvnni.c), where the CPU
     * runs AVX-512 VNNI but not AVX-VNNI (Zen 4: this project's build and CI machine) */
    if (!cpu_isa_supported(CPU_ISA_AVXVNNI) && cpu_isa_supported(CPU_ISA_AVX512)) {
        static cpu_kernels evex;
        kernels_avxvnni_evex_fill(&evex);
        test_table(ref, &evex);
    }
#endif
    test_peak(ref);
    test_read_sum(ref, ref);
    test_float_nonfinite(ref);
    test_driver();
    test_matvec_many();
    test_matmul_rows();
    test_matvec_geglu();
    test_pool();
    test_cpu_family();
    test_isa_choice();
    return test_report("test_kernels");
}
