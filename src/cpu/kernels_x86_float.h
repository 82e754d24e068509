/* kernels_x86_float.h - prefill for float weights (F32 / F16 / BF16) x float activations,
 * shared by the x86 tables (AVX2, AVX-VNNI, AVX-512; 8-lane AVX2 + F16C code, which all compile).
 *
 * A row kernel (float_rows_t) walks a few rows per token, so every weight is loaded and
 * converted again for each token: about two instructions per 8 multiply-adds. Here a tile of 3 rows x 4 tokens converts each 8-weight vector
 * once for 4 tokens and keeps 12 accumulators in registers (12 + 3 weight vectors + 1
 * activation vector = the 16 ymm registers): 12 FMAs per 96 multiply-adds, so the FMA
 * units are the limit. Gemma 4 checkpoints keep a few float matrices even when
 * quantized (E2B/E4B Q4_K_M: per_layer_model_proj, F16), and F16/BF16 models are all
 * float. Rows past the last multiple of 3 and tokens past the last multiple of 4 go to
 * float_rows_t, as do decode and calls of fewer than 4 tokens. */
#ifndef G4_KERNELS_X86_FLOAT_H
#define G4_KERNELS_X86_FLOAT_H

static inline __attribute__((always_inline)) __m256 load8(const uint8_t *p, const int32_t type) {
    switch (type) {
    case G4_DTYPE_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    case G4_DTYPE_BF16: return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    default: return _mm256_loadu_ps((const float *)p);
    }
}

static inline __attribute__((always_inline)) void float_tiles_t(float *y, int64_t ldy, const mat *w, int64_t r0,
                                                               int64_t r3, const void *xv, int64_t ldx, int64_t n4,
                                                               const int32_t type) {
    const int64_t cols = w->cols, c8 = cols / 8 * 8;
    const int es = type == G4_DTYPE_F32 ? 4 : 2;
    for (int64_t r = r0; r < r3; r += 3) {
        const uint8_t *w0 = w->data + (uint64_t)r * w->row_bytes, *w1 = w0 + w->row_bytes, *w2 = w1 + w->row_bytes;
        for (int64_t t = 0; t < n4; t += 4) {
            const float *x0 = (const float *)((const char *)xv + t * ldx);
            const float *x1 = (const float *)((const char *)x0 + ldx);
            const float *x2 = (const float *)((const char *)x1 + ldx);
            const float *x3 = (const float *)((const char *)x2 + ldx);
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
            __m256 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
            __m256 a20 = a00, a21 = a00, a22 = a00, a23 = a00;
            for (int64_t c = 0; c < c8; c += 8) {
                const __m256 v0 = load8(w0 + c * es, type), v1 = load8(w1 + c * es, type), v2 = load8(w2 + c * es, type);
                __m256 xk = _mm256_loadu_ps(x0 + c);
                a00 = _mm256_fmadd_ps(v0, xk, a00); a10 = _mm256_fmadd_ps(v1, xk, a10); a20 = _mm256_fmadd_ps(v2, xk, a20);
                xk = _mm256_loadu_ps(x1 + c);
                a01 = _mm256_fmadd_ps(v0, xk, a01); a11 = _mm256_fmadd_ps(v1, xk, a11); a21 = _mm256_fmadd_ps(v2, xk, a21);
                xk = _mm256_loadu_ps(x2 + c);
                a02 = _mm256_fmadd_ps(v0, xk, a02); a12 = _mm256_fmadd_ps(v1, xk, a12); a22 = _mm256_fmadd_ps(v2, xk, a22);
                xk = _mm256_loadu_ps(x3 + c);
                a03 = _mm256_fmadd_ps(v0, xk, a03); a13 = _mm256_fmadd_ps(v1, xk, a13); a23 = _mm256_fmadd_ps(v2, xk, a23);
            }
            const __m256 acc[3][4] = {{a00, a01, a02, a03}, {a10, a11, a12, a13}, {a20, a21, a22, a23}};
            const uint8_t *wr[3] = {w0, w1, w2};
            const float *xr[4] = {x0, x1, x2, x3};
            for (int i = 0; i < 3; i++)
                for (int k = 0; k < 4; k++) {
                    float s = hsum256(acc[i][k]);
                    for (int64_t c = c8; c < cols; c++) s += load1(wr[i], type, c) * xr[k][c];
                    y[(t + k) * ldy + r + i] = s;
                }
        }
    }
}

/* The row kernel for decode and the rows and tokens the tiles leave. It sums in the same
 * order as the tiles (8 lanes over the columns, then hsum256), so a token's result does not
 * depend on whether it fell in a tile: evaluating a prompt in chunks gives the logits of
 * one pass. (The AVX-512 table's 16-lane row kernel did not: the tiny 26B-A4B and 31B
 * fixtures' logits then moved by 2-5e-4 of their range between chunkings, and a Q8_0 KV
 * cache turned that into 1% by rounding keys differently. With the type fixed per copy
 * and the rows prefetched, 8 lanes read F16 at 19 GB/s per thread from memory.) */
static inline __attribute__((always_inline)) void float_rows_t(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1,
                                                              const void *xv, int64_t ldx, int64_t n, const int32_t type) {
    const int64_t cols = w->cols, c8 = cols / 8 * 8;
    const int es = type == G4_DTYPE_F32 ? 4 : 2;
    for (int64_t r = r0; r < r1; r += RB) {
        const int rows = (int)(r1 - r < RB ? r1 - r : RB);
        const uint8_t *wr[RB];
        for (int i = 0; i < RB; i++) /* past the last row, repeat it (results not stored) */
            wr[i] = w->data + (uint64_t)(r + (i < rows ? i : rows - 1)) * w->row_bytes;
        for (int64_t t = 0; t < n; t++) {
            const float *x = (const float *)((const char *)xv + t * ldx);
            __m256 acc[RB] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
            for (int64_t c = 0; c < c8; c += 8) {
                /* the rows ahead as one linear stream, a 64-byte line of each row's progress
                 * at a time (prefetch_group_ahead, kernels_x86_int8.h) */
                if (t == 0 && (c * es) % 64 == 0) prefetch_group_ahead(wr[0], w->row_bytes, c * es / 64, 1, 64);
                const __m256 x8 = _mm256_loadu_ps(x + c);
                #pragma GCC unroll 4
                for (int i = 0; i < RB; i++) acc[i] = _mm256_fmadd_ps(load8(wr[i] + c * es, type), x8, acc[i]);
            }
            for (int i = 0; i < rows; i++) {
                float s = hsum256(acc[i]);
                for (int64_t c = c8; c < cols; c++) s += load1(wr[i], type, c) * x[c];
                y[t * ldy + r + i] = s;
            }
        }
    }
}

/* Tiles of 3 rows x 4 tokens, float_rows_t for the rows and tokens they leave (all of
 * them below 4 tokens). */
static inline __attribute__((always_inline)) void float_matmul_t(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1,
                                                                const void *xv, int64_t ldx, int64_t n, const int32_t type) {
    const int64_t n4 = n < 4 ? 0 : n / 4 * 4;
    int64_t r3 = r0 + (r1 - r0) / 3 * 3;
    if (n4 && r3 > r0) float_tiles_t(y, ldy, w, r0, r3, xv, ldx, n4, type);
    else r3 = r0;
    if (n4 && r3 < r1) float_rows_t(y, ldy, w, r3, r1, xv, ldx, n4, type);
    if (n4 < n) float_rows_t(y + n4 * ldy, ldy, w, r0, r1, (const char *)xv + n4 * ldx, ldx, n - n4, type);
}

/* The table entry for F32 / F16 / BF16 weights: one copy per type, so that no load
 * chooses its conversion at run time (with the type read in the inner loop, F16 decode
 * ran at 10 GB/s even in cache). */
static void matmul_float_tiles(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv,
                               int64_t ldx, int64_t n, float *scratch) {
    (void)scratch;
    switch (w->type) {
    case G4_DTYPE_F16: float_matmul_t(y, ldy, w, r0, r1, xv, ldx, n, G4_DTYPE_F16); break;
    case G4_DTYPE_BF16: float_matmul_t(y, ldy, w, r0, r1, xv, ldx, n, G4_DTYPE_BF16); break;
    default: float_matmul_t(y, ldy, w, r0, r1, xv, ldx, n, G4_DTYPE_F32); break;
    }
}

#endif
