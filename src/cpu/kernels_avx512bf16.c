/* kernels_avx512bf16.c - the AVX-512 table plus AVX512_BF16 (VDPBF16PS) for BF16 weights
 * (Zen 4, Sapphire Rapids and later). Only this file is compiled with -mavx512bf16, and
 * its table is built only when CPUID says AVX512_BF16 (on top of the AVX-512 level).
 *
 * BF16 weights are what Hugging Face checkpoints hold, so a safetensors directory runs
 * on them. The AVX-512 table widens each 8-weight vector to floats (a zero-extension and
 * a shift) and FMAs it: 40 G multiply-adds/s per Zen 4 core, against 59 for FMA alone.
 * VDPBF16PS multiplies 32 bf16 pairs into 16 float lanes straight from the stored bits,
 * 117 G multiply-adds/s per core (measured), but wants the activations in bf16 too, and
 * rounding them to 8 significant bits moved the tiny fixture models' logits by 7% of
 * their range (tests/test_fixtures.c holds BF16 to 0.1%). So each activation is split
 * into two bf16 parts, hi = bf16(x) and lo = bf16(x - hi), which carry 16 significant
 * bits (relative error below 2^-16, against F32's 2^-24 and the 1e-5 that test_kernels
 * allows), and every weight pair takes two VDPBF16PS, hi then lo, into one float
 * accumulator: 58 G effective multiply-adds/s at the instruction's rate, the FMA peak
 * with no conversion of weights.
 *
 * A call converts 4 tokens' activations at a time into scratch (hi row, then lo row:
 * 16 bytes per column), then sweeps its rows 4 at a time with 4 x 4 accumulators (22 of
 * the 32 zmm registers). Every (row, token) accumulator sees the same instructions in
 * the same order whatever the tile (1..4 tokens, rows repeated past the last), and the
 * 16 lanes are added by one fixed reduction, so a token's result does not depend on the
 * other tokens in its call: prompts evaluated in chunks give the logits of one pass (the
 * float kernels' batch invariance, test_kernels). Denormal inputs count as zero in
 * VCVTNEPS2BF16 and VDPBF16PS; they are below 1.2e-38.
 *
 * Measured on the 2-core Zen 4 VM (scripts/kab.sh with NEW_ISA=avx512bf16, one thread):
 * 64-1536 rows x 512-1536 columns, 16-256 tokens, 1.10-1.31x the AVX-512 table (46-52 G
 * effective multiply-adds/s, 80-90% of the split's ceiling); rows of 2048-6144 columns
 * 0.85-1.05x (the activations of a tile no longer sit in L1; the column blocking below
 * is what keeps 6144 near even). Whole model, E2B BF16 on 2 threads, alternating runs:
 * pp512 31.8-32.4 -> 41.5-43.4 tok/s (1.3x; llama.cpp on the same file 37.5, with bf16
 * activations), tg64 6.1-6.8 -> 7.7-7.9. Sending the 6144-column matrices to the FMA
 * path instead lost 5-12% of pp512. The price is precision: the tiny fixture models in
 * BF16 now differ from transformers by up to 6.0e-4 of the logit range (tiny-31b;
 * 6.1e-5 with the FMA path), against the 1e-3 bound. G4_CPU_ISA=avx512 selects the FMA
 * path.
 *
 * Intel's VDPBF16PS runs at the FMA rate, not twice it: on the GPU machine's Xeon the
 * split kernel ran 0.64-0.73x the AVX-512 table at 1536-2048 columns (1.10x at 6144),
 * E2B BF16 pp512 0.90x on 2 threads and even on 16, decode 1.2x faster
 * (scripts/device/results/2026-11-27-bf16-xeon.txt). So this level is the default only
 * on AMD (features.c); elsewhere G4_CPU_ISA=avx512bf16 asks for it. */
#include "kernels.h"
#include "../dtype.h"

#include <immintrin.h>
#include <stdint.h>

#define BF_ROWS 4   /* rows per tile */
#define BF_TOKENS 4 /* tokens per tile, and per activation conversion */

/* hi = bf16(x), lo = bf16(x - hi) for n values (any n; the tail masked). Where x - hi is
 * not finite (x infinite or NaN, or so large that hi rounds to infinity) lo is 0, so that
 * an infinite activation gives an infinite product, not inf - inf = NaN. */
static void bf16_split(const float *x, uint16_t *hi, uint16_t *lo, int64_t n) {
    for (int64_t c = 0; c < n; c += 16) {
        const __mmask16 m = n - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - c)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + c);
        const __m256i h = (__m256i)_mm512_cvtneps_pbh(v);
        const __m512 hf = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
        const __m512 r = _mm512_sub_ps(v, hf);
        const __mmask16 bad = _mm512_fpclass_ps_mask(r, 0x99); /* QNaN, +inf, -inf, SNaN */
        const __m256i l = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_mov_ps((__mmask16)~bad, r));
        _mm256_mask_storeu_epi16(hi + c, m, h);
        _mm256_mask_storeu_epi16(lo + c, m, l);
    }
}

/* The group of BF_ROWS rows two groups ahead, as one linear stream of 4 lines per 64
 * bytes of a row's progress (kernels_x86_int8.h's prefetch_group_ahead says why); into
 * L2, as the groups of BF16 rows (2 bytes per column) are too far ahead for L1. */
static inline __attribute__((always_inline)) void bf16_prefetch(const uint8_t *row0, uint64_t row_bytes, int64_t c) {
    const char *p = (const char *)row0 + 2 * BF_ROWS * row_bytes + (uint64_t)c * 2 * BF_ROWS;
    #pragma GCC unroll 8
    for (int k = 0; k <= BF_ROWS; k++) _mm_prefetch(p + 64 * k, _MM_HINT_T1);
}

/* acc[i][t] += rows i's 32 values at c (masked: zeros past the end) . token t's hi, then
 * . its lo: the one sequence every (row, token) sees, whatever the tile. */
static inline __attribute__((always_inline)) void bf16_step(__m512 acc[BF_ROWS][BF_TOKENS], const uint16_t *const wr[BF_ROWS],
                                                           const uint16_t *act, int64_t cols, int64_t c, __mmask32 m,
                                                           const int T) {
    __m512bh w[BF_ROWS];
    #pragma GCC unroll 4
    for (int i = 0; i < BF_ROWS; i++) w[i] = (__m512bh)_mm512_maskz_loadu_epi16(m, wr[i] + c);
    #pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
        const __m512bh h = (__m512bh)_mm512_maskz_loadu_epi16(m, act + 2 * t * cols + c);
        const __m512bh l = (__m512bh)_mm512_maskz_loadu_epi16(m, act + (2 * t + 1) * cols + c);
        #pragma GCC unroll 4
        for (int i = 0; i < BF_ROWS; i++) acc[i][t] = _mm512_dpbf16_ps(acc[i][t], w[i], h);
        #pragma GCC unroll 4
        for (int i = 0; i < BF_ROWS; i++) acc[i][t] = _mm512_dpbf16_ps(acc[i][t], w[i], l);
    }
}

/* Rows wr[0..BF_ROWS) (the first `rows` stored) x tokens 0..T-1, whose hi / lo rows are
 * at act + 2 t cols and act + (2 t + 1) cols, columns [c0, c1): the accumulators start
 * from part (or zero when part is NULL or c0 == 0), and end in part, or (c1 == cols)
 * reduced into y (the first token's output row). Storing and reloading a float vector
 * changes no bit, so a column-blocked call sums exactly as a whole-row one. */
static inline __attribute__((always_inline)) void bf16_tile(float *y, int64_t ldy, int64_t r, int rows,
                                                           const uint16_t *const wr[BF_ROWS], uint64_t row_bytes,
                                                           const uint16_t *act, int64_t cols, int64_t c0, int64_t c1,
                                                           __m512 *part, const int T) {
    __m512 acc[BF_ROWS][BF_TOKENS];
    #pragma GCC unroll 4
    for (int i = 0; i < BF_ROWS; i++)
        #pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[i][t] = c0 && part ? part[i * BF_TOKENS + t] : _mm512_setzero_ps();
    const int64_t c32 = c0 + (c1 - c0) / 32 * 32;
    for (int64_t c = c0; c < c32; c += 32) {
        if (!part) bf16_prefetch((const uint8_t *)wr[0], row_bytes, c); /* decode's stream */
        bf16_step(acc, wr, act, cols, c, (__mmask32)0xffffffffu, T);
    }
    if (c32 < c1) bf16_step(acc, wr, act, cols, c32, (__mmask32)((1u << (c1 - c32)) - 1), T);
    if (part && c1 < cols) {
        #pragma GCC unroll 4
        for (int i = 0; i < BF_ROWS; i++)
            #pragma GCC unroll 4
            for (int t = 0; t < T; t++) part[i * BF_TOKENS + t] = acc[i][t];
        return;
    }
    /* reduced for all BF_ROWS with constant indices, so the accumulators stay registers */
    float out[BF_TOKENS][BF_ROWS];
    #pragma GCC unroll 4
    for (int t = 0; t < T; t++)
        #pragma GCC unroll 4
        for (int i = 0; i < BF_ROWS; i++) out[t][i] = _mm512_reduce_add_ps(acc[i][t]);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < rows; i++) y[t * ldy + r + i] = out[t][i];
}

/* Prefill blocking. A tile's step reads 4 weight and 8 activation vectors for 32
 * VDPBF16PS, so one of the two must come from L1: 4 tokens' hi and lo rows are 16 bytes
 * per column, 24 KB at 1536 columns but 96 KB at 6144, where a whole-row sweep ran at
 * 0.93x the AVX-512 table. So calls of 4+ tokens go through the columns BF_COLS at a
 * time (16 KB of activations, in L1), for BF_GROUP rows (4 tiles) at a time, whose
 * accumulators wait in scratch between blocks (4 KB). */
#define BF_COLS 1024
#define BF_GROUP 16

static inline __attribute__((always_inline)) void bf16_rows(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1,
                                                           const uint16_t *act, int64_t c0, int64_t c1, __m512 *part,
                                                           const int T) {
    for (int64_t r = r0; r < r1; r += BF_ROWS) {
        const int rows = (int)(r1 - r < BF_ROWS ? r1 - r : BF_ROWS);
        const uint16_t *wr[BF_ROWS];
        for (int i = 0; i < BF_ROWS; i++) /* past the last row, repeat it (results not stored) */
            wr[i] = (const uint16_t *)(w->data + (uint64_t)(r + (i < rows ? i : rows - 1)) * w->row_bytes);
        bf16_tile(y, ldy, r, rows, wr, w->row_bytes, act, w->cols, c0, c1,
                  part ? part + (r - r0) / BF_ROWS * BF_ROWS * BF_TOKENS : NULL, T);
    }
}

static inline __attribute__((always_inline)) void bf16_tokens(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1,
                                                             const uint16_t *act, __m512 *part, const int T) {
    const int64_t cols = w->cols;
    if (cols <= BF_COLS || T < BF_TOKENS) {
        bf16_rows(y, ldy, w, r0, r1, act, 0, cols, (__m512 *)NULL, T);
        return;
    }
    for (int64_t g = r0; g < r1; g += BF_GROUP) {
        const int64_t g1 = r1 - g < BF_GROUP ? r1 : g + BF_GROUP;
        for (int64_t c = 0; c < cols; c += BF_COLS)
            bf16_rows(y, ldy, w, g, g1, act, c, cols - c < BF_COLS ? cols : c + BF_COLS, part, T);
    }
}

/* The table entry for BF16 weights x float activations (ACT_F32, as in every table).
 * scratch: BF_TOKENS x 2 x cols bf16 values at a 64-byte boundary (16 bytes, 4 of the
 * table's 22 floats, per column), then, for rows wider than BF_COLS, BF_GROUP x BF_TOKENS
 * accumulators (4 KB: under one float per column there). */
static void matmul_bf16(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    const int64_t cols = w->cols;
    uint16_t *act = (uint16_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    __m512 *part = (__m512 *)(act + BF_TOKENS * 2 * ((cols + 31) / 32 * 32));
    for (int64_t t0 = 0; t0 < n; t0 += BF_TOKENS) {
        const int T = (int)(n - t0 < BF_TOKENS ? n - t0 : BF_TOKENS);
        for (int t = 0; t < T; t++)
            bf16_split((const float *)((const char *)xv + (t0 + t) * ldx), act + 2 * t * cols, act + (2 * t + 1) * cols, cols);
        float *yt = y + t0 * ldy;
        switch (T) {
        case 4: bf16_tokens(yt, ldy, w, r0, r1, act, part, 4); break;
        case 3: bf16_tokens(yt, ldy, w, r0, r1, act, part, 3); break;
        case 2: bf16_tokens(yt, ldy, w, r0, r1, act, part, 2); break;
        default: bf16_tokens(yt, ldy, w, r0, r1, act, part, 1); break;
        }
    }
}

void kernels_avx512bf16_fill(cpu_kernels *k) {
    kernels_avx512_fill(k);
    k->isa = "avx512bf16";
    k->matmul[G4_DTYPE_BF16] = matmul_bf16;
}
