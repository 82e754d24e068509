/* kernels_x86_q8.h - Q8_0 weights x block_a16 activations (16-bit, kernels.h says why),
 * and the activation quantizer, shared by the x86 tables (AVX2, AVX-VNNI, AVX-512); included after
 * kernels_x86_int8.h, whose dot_s16(acc, a, b) is acc plus the pair sums of 16 int16 x
 * int16 products in 8 int32 lanes (AVX2: VPMADDWD + VPADDD; with VNNI one VPDPWSSD).
 *
 * A weight block's 32 int8 values are sign-extended to two vectors of 16 int16
 * (VPMOVSXBW, which takes its operand from memory) and multiplied with the activation
 * block's two vectors; |sum| <= 32 x 127 x 32512 < 2^27, so the int32 lanes are exact.
 *   Decode: four rows at a time share each activation block's loads; about 10
 *     instructions per row and block, as many as the int8 sign-trick kernel took.
 *   Prefill: 2 rows x 4 tokens per pass, each weight block widened once for 4 tokens
 *     (the int8 tiles' shape, kernels_x86_int8.h's MATMUL_TILE): per row, token and
 *     block 2 multiplies, an add, a conversion and a scaled FMA. */
#ifndef G4_KERNELS_X86_Q8_H
#define G4_KERNELS_X86_Q8_H

#include <stdalign.h>

/* calls of at least this many tokens take the sideways engine (AVX-512 VNNI); below, the
 * unpacking costs more than it saves (one Zen 4 thread, 512 x 1536, against the tiles:
 * 0.94x at 8 tokens, 1.00x at 9, 1.07x at 10, 1.17x at 12, 1.30x at 16, 1.6x at 32,
 * 1.8-1.9x from 64) */
#define Q8Z_MIN_TOKENS 10

/* A Q8_0 block's 32 weights as int16: elements 0..15 and 16..31 */
static inline __m256i q8_lo16(const block_q8_0 *b) { return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->qs)); }
static inline __m256i q8_hi16(const block_q8_0 *b) { return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b->qs + 16))); }

/* RB rows x TK (2; 1 works too) tokens from t: each weight block is widened to int16 once for
 * the TK tokens (a 2-token call, a short prompt's share of a 26B-A4B expert, used to
 * widen it twice). pf: prefetch the rows ahead (the call's first tokens). */
static inline __attribute__((always_inline)) void q8_rows_tokens(float *y, int64_t ldy, int64_t r, int rows,
                                                                 const block_q8_0 *const wr[RB], const void *xv,
                                                                 int64_t ldx, int64_t t, int64_t nb, uint64_t row_bytes,
                                                                 int pf, const int TK) {
    const block_a16 *xb[2] = {(const block_a16 *)((const char *)xv + t * ldx), (const block_a16 *)((const char *)xv + (t + TK - 1) * ldx)};
    __m256 acc[2][RB];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < RB; i++) acc[k][i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        if ((b & 1) == 0 && pf) prefetch_group_ahead(wr[0], row_bytes, b, 2, sizeof(block_q8_0));
        __m256i xl[2], xh[2];
        __m256 da[2];
        #pragma GCC unroll 2
        for (int k = 0; k < TK; k++) {
            xl[k] = _mm256_loadu_si256((const __m256i *)xb[k][b].qs);
            xh[k] = _mm256_loadu_si256((const __m256i *)(xb[k][b].qs + 16));
            da[k] = _mm256_set1_ps(xb[k][b].d);
        }
        #pragma GCC unroll 4
        for (int i = 0; i < RB; i++) {
            const __m256i lo = q8_lo16(&wr[i][b]), hi = q8_hi16(&wr[i][b]);
            const __m256 f = f16x8(wr[i][b].d);
            #pragma GCC unroll 2
            for (int k = 0; k < TK; k++)
                acc[k][i] = _mm256_fmadd_ps(_mm256_mul_ps(f, da[k]), _mm256_cvtepi32_ps(dot_s16(_mm256_madd_epi16(lo, xl[k]), hi, xh[k])),
                                            acc[k][i]);
        }
    }
    for (int k = 0; k < TK; k++) {
        store_rows(&y[(t + k) * ldy + r], hsum256x4(acc[k][0], acc[k][1], acc[k][2], acc[k][3]), rows);
    }
}

static void matvec_q8_0_a16(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                            int64_t n, float *scratch) {
    (void)scratch;
    const int64_t nb = w->cols / 32;
    for (int64_t r = r0; r < r1; r += RB) {
        const int rows = (int)G4_MIN(RB, r1 - r);
        const block_q8_0 *wr[RB];
        for (int i = 0; i < RB; i++) /* past the last row, repeat it (results not stored) */
            wr[i] = (const block_q8_0 *)(w->data + (uint64_t)(r + G4_MIN(i, rows - 1)) * w->row_bytes);
        int64_t t = 0;
        for (; t + 2 <= n; t += 2) q8_rows_tokens(y, ldy, r, rows, wr, xv, ldx, t, nb, w->row_bytes, t == 0, 2);
        for (; t < n; t++) { /* one token (decode): the original loop, which the 1-token
                              * instance of q8_rows_tokens ran at 0.82-0.87x in cache */
            const block_a16 *xb = (const block_a16 *)((const char *)xv + t * ldx);
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int64_t b = 0; b < nb; b++) {
                if ((b & 1) == 0 && t == 0) prefetch_group_ahead(wr[0], w->row_bytes, b, 2, sizeof(block_q8_0));
                const __m256i xl = _mm256_loadu_si256((const __m256i *)xb[b].qs);
                const __m256i xh = _mm256_loadu_si256((const __m256i *)(xb[b].qs + 16));
                const __m256 da = _mm256_set1_ps(xb[b].d);
#define Q8ROW(acc, i)                                                                                          \
    acc = _mm256_fmadd_ps(_mm256_mul_ps(f16x8(wr[i][b].d), da),                                                \
                          _mm256_cvtepi32_ps(dot_s16(_mm256_madd_epi16(q8_lo16(&wr[i][b]), xl), q8_hi16(&wr[i][b]), xh)), acc)
                Q8ROW(a0, 0);
                Q8ROW(a1, 1);
                Q8ROW(a2, 2);
                Q8ROW(a3, 3);
#undef Q8ROW
            }
            store_rows(&y[t * ldy + r], hsum256x4(a0, a1, a2, a3), rows);
        }
    }
}

#ifdef X86_AVX512
/* ---- AVX-512 VNNI prefill: 16 rows sideways, int16 pairs ----------------------------
 * The tile loop below spends, per row, token and block, a VPMADDWD, a VPDPWSSD, a
 * conversion, a broadcast and a scaled FMA on 256-bit vectors: 32 multiply-adds per 5
 * instructions (41 G multiply-adds/s on one Zen 4 thread, a third of Q4_0's prefill).
 * Here 16 rows' blocks are unpacked once per call into q8z_blocks whose 32-bit lane j
 * holds row j's weights 2c, 2c+1 as int16, and one VPDPWSSD with the activation pair
 * (2c, 2c+1) as an embedded broadcast advances 16 rows by 2 values (32 multiply-adds);
 * 8 tokens share each weight vector, and the float work is once per 16 rows, token and
 * block. Per block the int32 lanes stay exact: 32 x 127 x 32512 < 2^31. */
typedef struct q8z_block {
    __m512i q[16]; /* q[c] lane j: row j's weights 2c, 2c+1 (int16) */
    __m512 f;      /* lane j: row j's scale */
} q8z_block;

/* 16 x 16 transpose of 32-bit elements: v[j] lane c -> v[c] lane j. */
static inline void transpose16_epi32(__m512i v[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(v[i], v[i + 1]);     /* per 128-bit lane: a0 b0 a1 b1 */
        t[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]); /* a2 b2 a3 b3 */
    }
    for (int i = 0; i < 16; i += 4) {
        u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);         /* column 4L of rows i..i+3 */
        u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);     /* 4L + 1 */
        u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]); /* 4L + 2 */
        u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]); /* 4L + 3 */
    }
    /* u[4g + k] 128-bit lane L: column 4L + k of rows 4g..4g+3 */
    for (int k = 0; k < 4; k++) {
        const __m512i a02 = _mm512_shuffle_i32x4(u[k], u[4 + k], 0x88);      /* L0, L2 of rows 0-3, then 4-7 */
        const __m512i a13 = _mm512_shuffle_i32x4(u[k], u[4 + k], 0xdd);      /* L1, L3 */
        const __m512i b02 = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], 0x88); /* rows 8-11, 12-15 */
        const __m512i b13 = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], 0xdd);
        v[k] = _mm512_shuffle_i32x4(a02, b02, 0x88);      /* column k: L0 of all rows */
        v[8 + k] = _mm512_shuffle_i32x4(a02, b02, 0xdd);  /* column 8 + k: L2 */
        v[4 + k] = _mm512_shuffle_i32x4(a13, b13, 0x88);  /* column 4 + k: L1 */
        v[12 + k] = _mm512_shuffle_i32x4(a13, b13, 0xdd); /* column 12 + k: L3 */
    }
}

static void q8z_unpack(const mat *w, int64_t r, int64_t nb, q8z_block *out) {
    for (int64_t b = 0; b < nb; b++) {
        __m512i v[16];
        alignas(32) uint16_t d[16];
        for (int j = 0; j < 16; j++) {
            const block_q8_0 *blk = (const block_q8_0 *)(w->data + (uint64_t)(r + j) * w->row_bytes) + b;
            v[j] = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)blk->qs));
            d[j] = blk->d;
        }
        transpose16_epi32(v);
        for (int c = 0; c < 16; c++) out[b].q[c] = v[c];
        out[b].f = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)d));
    }
}

/* acc += q (int16 pairs) . *p (one int16 pair broadcast to all 16 lanes, embedded in the
 * memory operand, as dpbusd_bcast) */
static inline __attribute__((always_inline)) __m512i dpwssd_bcast(__m512i acc, __m512i q, const int32_t *p) {
    __asm__("vpdpwssd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(q), "m"(*p));
    return acc;
}

/* Tokens [t, t + T) (x: the first one's activations, ldx bytes apart) against the 16
 * unpacked rows from r, all blocks; stores 16 outputs per token. */
static inline __attribute__((always_inline)) void q8z_tokens(float *y, int64_t ldy, int64_t r, const q8z_block *blk,
                                                             const char *x, int64_t ldx, int64_t nb, const int T) {
    __m512 c[8];
    #pragma GCC unroll 8
    for (int t = 0; t < T; t++) c[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m512i acc[8];
        #pragma GCC unroll 8
        for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_si512();
        #pragma GCC unroll 16
        for (int k = 0; k < 16; k++) {
            const __m512i q = blk[b].q[k];
            #pragma GCC unroll 8
            for (int t = 0; t < T; t++) acc[t] = dpwssd_bcast(acc[t], q, (const int32_t *)((const block_a16 *)(x + t * ldx) + b)->qs + k);
        }
        #pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const float d = ((const block_a16 *)(x + t * ldx) + b)->d;
            c[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[t]), _mm512_mul_ps(blk[b].f, _mm512_set1_ps(d)), c[t]);
        }
    }
    #pragma GCC unroll 8
    for (int t = 0; t < T; t++) _mm512_storeu_ps(y + t * ldy + r, c[t]);
}

/* The same for 32 rows (a: rows r..r+15, b: the next 16), 6 tokens at a time: each
 * activation pair is broadcast once into a register for both rows' vectors, as
 * kernels_x86_int8.h's swz32_tokens does for VPDPBUSD (why: there). Outputs are
 * q8z_tokens' bit for bit. */
#define Q8Z32_TOKENS 6
static inline __attribute__((always_inline)) void q8z32_tokens(float *y, int64_t ldy, int64_t r, const q8z_block *a,
                                                               const q8z_block *bl, const char *x, int64_t ldx,
                                                               int64_t nb, const int T) {
    __m512 c0[Q8Z32_TOKENS], c1[Q8Z32_TOKENS];
    #pragma GCC unroll 6
    for (int t = 0; t < T; t++) c0[t] = c1[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m512i a0[Q8Z32_TOKENS], a1[Q8Z32_TOKENS];
        #pragma GCC unroll 6
        for (int t = 0; t < T; t++) a0[t] = a1[t] = _mm512_setzero_si512();
        #pragma GCC unroll 16
        for (int k = 0; k < 16; k++) {
            const __m512i q0 = a[b].q[k], q1 = bl[b].q[k];
            #pragma GCC unroll 6
            for (int t = 0; t < T; t++) {
                int32_t pair;
                memcpy(&pair, ((const block_a16 *)(x + t * ldx) + b)->qs + 2 * k, 4);
                const __m512i v = _mm512_set1_epi32(pair);
                a0[t] = _mm512_dpwssd_epi32(a0[t], q0, v);
                a1[t] = _mm512_dpwssd_epi32(a1[t], q1, v);
            }
        }
        #pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            const __m512 d = _mm512_set1_ps(((const block_a16 *)(x + t * ldx) + b)->d);
            c0[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a0[t]), _mm512_mul_ps(a[b].f, d), c0[t]);
            c1[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1[t]), _mm512_mul_ps(bl[b].f, d), c1[t]);
        }
    }
    swz32_store(y, ldy, r, c0, c1, T);
}

/* Rows [r0, r16) in groups of 32, then 16, every token; scratch: 2 x nb q8z_blocks (68
 * bytes per column) at a 64-byte boundary. 32 rows unpack as two 16-row groups, no extra
 * work, so they pay from the fewest tokens the engine takes (Ice Lake, one thread,
 * 2048 x 1536: 1.23x at 10 tokens, 1.06-1.32x at 16-24, 1.43-1.45x at 64-256). */
static void q8z_matmul(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r16, const void *xv, int64_t ldx,
                       int64_t n, float *scratch) {
    const int64_t nb = w->cols / 32;
    q8z_block *blk = (q8z_block *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63), *blk2 = blk + nb;
    for (; swz_rows32 && r0 + 32 <= r16; r0 += 32) {
        q8z_unpack(w, r0, nb, blk);
        q8z_unpack(w, r0 + 16, nb, blk2);
        int64_t t = 0;
#define Q8Z32_CALL(T) (q8z32_tokens(y + t * ldy, ldy, r0, blk, blk2, (const char *)xv + t * ldx, ldx, nb, T), t += T)
        while (t + Q8Z32_TOKENS <= n) Q8Z32_CALL(Q8Z32_TOKENS);
        if (n - t >= 4) Q8Z32_CALL(4);
        if (n - t >= 2) Q8Z32_CALL(2);
        if (n - t >= 1) Q8Z32_CALL(1);
#undef Q8Z32_CALL
    }
    for (int64_t r = r0; r < r16; r += 16) {
        q8z_unpack(w, r, nb, blk);
        int64_t t = 0;
#define Q8Z_CALL(T) q8z_tokens(y + t * ldy, ldy, r, blk, (const char *)xv + t * ldx, ldx, nb, T)
        for (; t + 8 <= n; t += 8) Q8Z_CALL(8);
        if (n - t >= 4) { Q8Z_CALL(4); t += 4; }
        if (n - t >= 2) { Q8Z_CALL(2); t += 2; }
        if (n - t >= 1) Q8Z_CALL(1);
#undef Q8Z_CALL
    }
}
#endif

static void matmul_q8_0_a16(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                            int64_t n, float *scratch) {
    if (n < 2) { matvec_q8_0_a16(y, ldy, w, r0, r1, xv, ldx, n, scratch); return; }
#ifdef X86_AVX512
    if (n >= Q8Z_MIN_TOKENS) {
        const int64_t r16 = r0 + (r1 - r0) / 16 * 16;
        if (r16 > r0) q8z_matmul(y, ldy, w, r0, r16, xv, ldx, n, scratch);
        r0 = r16;
        if (r0 == r1) return;
    }
#endif
    const int64_t nb = w->cols / 32, n4 = n / 4 * 4, r2 = r0 + (r1 - r0) / 2 * 2;
    for (int64_t r = r0; r < r2 && n4; r += 2) {
        const block_q8_0 *w0 = (const block_q8_0 *)(w->data + (uint64_t)r * w->row_bytes);
        const block_q8_0 *w1 = (const block_q8_0 *)((const uint8_t *)w0 + w->row_bytes);
        for (int64_t t = 0; t < n4; t += 4) {
            const block_a16 *x0 = (const block_a16 *)((const char *)xv + t * ldx);
            const block_a16 *x1 = (const block_a16 *)((const char *)x0 + ldx);
            const block_a16 *x2 = (const block_a16 *)((const char *)x1 + ldx);
            const block_a16 *x3 = (const block_a16 *)((const char *)x2 + ldx);
            __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
            __m256 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
            for (int64_t b = 0; b < nb; b++) {
                const __m256i l0 = q8_lo16(&w0[b]), h0 = q8_hi16(&w0[b]), l1 = q8_lo16(&w1[b]), h1 = q8_hi16(&w1[b]);
                const float s0 = h2f(w0[b].d), s1 = h2f(w1[b].d);
#define Q8TOK(xt, ca, cb)                                                                                        \
    do {                                                                                                          \
        const __m256i xl = _mm256_loadu_si256((const __m256i *)xt[b].qs);                                        \
        const __m256i xh = _mm256_loadu_si256((const __m256i *)(xt[b].qs + 16));                                 \
        const float d = xt[b].d;                                                                                  \
        ca = _mm256_fmadd_ps(_mm256_set1_ps(s0 * d), _mm256_cvtepi32_ps(dot_s16(_mm256_madd_epi16(l0, xl), h0, xh)), ca); \
        cb = _mm256_fmadd_ps(_mm256_set1_ps(s1 * d), _mm256_cvtepi32_ps(dot_s16(_mm256_madd_epi16(l1, xl), h1, xh)), cb); \
    } while (0)
                Q8TOK(x0, c00, c10);
                Q8TOK(x1, c01, c11);
                Q8TOK(x2, c02, c12);
                Q8TOK(x3, c03, c13);
#undef Q8TOK
            }
            y[t * ldy + r] = hsum256(c00); y[(t + 1) * ldy + r] = hsum256(c01);
            y[(t + 2) * ldy + r] = hsum256(c02); y[(t + 3) * ldy + r] = hsum256(c03);
            y[t * ldy + r + 1] = hsum256(c10); y[(t + 1) * ldy + r + 1] = hsum256(c11);
            y[(t + 2) * ldy + r + 1] = hsum256(c12); y[(t + 3) * ldy + r + 1] = hsum256(c13);
        }
    }
    /* what the tile did not cover: an odd last row, and tokens past the last multiple of 4 */
    if (n4) matvec_q8_0_a16(y, ldy, w, r2, r1, xv, ldx, n4, scratch);
    if (n4 < n) matvec_q8_0_a16(y + n4 * ldy, ldy, w, r0, r1, (const char *)xv + n4 * ldx, ldx, n - n4, scratch);
}

/* Bit-identical to the scalar quantize_a16 (kernels_x86_int8.h's x86_round_block). The
 * packs interleave 128-bit lanes; one 64-bit permutation restores the order. */
static void x86_quantize_a16(const float *x, block_a16 *y, int64_t cols) {
    for (int64_t b = 0; b < cols / 32; b++) {
        __m256i q[4];
        y[b].d = x86_round_block(x + b * 32, (float)A16_MAX, q);
        _mm256_storeu_si256((__m256i *)y[b].qs, _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), 0xd8));
        _mm256_storeu_si256((__m256i *)(y[b].qs + 16), _mm256_permute4x64_epi64(_mm256_packs_epi32(q[2], q[3]), 0xd8));
    }
}

#ifdef X86_VNNI
/* ---- Q8_0 x int8 activations (cpu_kernels.matmul_q8_a8; AVX-512 and AVX-VNNI) ----------
 * VPDPBUSD multiplies unsigned by signed bytes, so the weights go in as w + 128 (w ^ 0x80,
 * 0..255) and the activation block's sum comes off in the integers: sum (w + 128) a -
 * 128 s = sum w a, each accumulator starting at -128 s (spread over the lanes that sum a
 * block). |sum (w + 128) a| <= 32 x 255 x 127 per block: exact in int32. Prefill turns 16
 * rows sideways in the zmm engine (swz_matmul: levels w + 128, centre 128, so f = d and
 * the offset 128 d comes off in the integers) from q8a8_sw_tokens tokens, or with AVX-VNNI
 * alone in the AVX2 table's 16-row ymm engine from Q8A8_SWS_TOKENS; decode, fewer tokens
 * and the rows past the last group of 16 go four rows at a time (q8a8_rows). */

/* 8 rows' blocks as sw_blocks: q[g] lane j = bytes 4g..4g+3 of row j's block, + 128 */
static void q8_0_sw_unpack_u(const mat *w, int64_t r, sw_dst out) {
    const uint8_t *row[SW_ROWS];
    for (int j = 0; j < SW_ROWS; j++) row[j] = w->data + (uint64_t)(r + j) * w->row_bytes;
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int64_t b = 0; b < w->cols / 32; b++) {
        const size_t o = (size_t)b * sizeof(block_q8_0);
        __m256i v[SW_ROWS];
        for (int j = 0; j < SW_ROWS; j++)
            v[j] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(row[j] + o + offsetof(block_q8_0, qs))), flip);
        __m256i q[8];
        tr8x8_32(v, q);
        swd_put_q(out, b, q);
        sw_d_factors(row, o, 128.0f, out, b);
    }
}

/* T (1 or 2) tokens from t against rows r.. r + rows - 1 (wr: RB row pointers, the last
 * repeated), each weight block loaded and made unsigned once for the T tokens. pf:
 * prefetch the rows ahead (the call's first tokens). */
static inline __attribute__((always_inline)) void q8a8_rows_tokens(float *y, int64_t ldy, int64_t r, int rows,
                                                                   const block_q8_0 *const wr[RB], const void *xv,
                                                                   int64_t ldx, int64_t t, int64_t nb, uint64_t row_bytes,
                                                                   int pf, const int T) {
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    const block_a8 *xb[2] = {(const block_a8 *)((const char *)xv + t * ldx), (const block_a8 *)((const char *)xv + (t + T - 1) * ldx)};
    __m256 acc[2][RB];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < RB; i++) acc[k][i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        if ((b & 1) == 0 && pf) prefetch_group_ahead(wr[0], row_bytes, b, 2, sizeof(block_q8_0));
        __m256i a[2], off[2];
        __m256 da[2];
        for (int k = 0; k < T; k++) {
            a[k] = _mm256_loadu_si256((const __m256i *)xb[k][b].qs);
            off[k] = _mm256_set1_epi32(-16 * xb[k][b].s);
            da[k] = _mm256_set1_ps(xb[k][b].d);
        }
        #pragma GCC unroll 4
        for (int i = 0; i < RB; i++) {
            const __m256i u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)wr[i][b].qs), flip);
            const __m256 f = f16x8(wr[i][b].d);
            for (int k = 0; k < T; k++)
                acc[k][i] = _mm256_fmadd_ps(_mm256_mul_ps(f, da[k]), _mm256_cvtepi32_ps(dpbusd256(off[k], u, a[k])), acc[k][i]);
        }
    }
    for (int k = 0; k < T; k++) store_rows(y + (t + k) * ldy + r, hsum256x4(acc[k][0], acc[k][1], acc[k][2], acc[k][3]), rows);
}

/* rows [r0, r1) four at a time, tokens in pairs within each row group (the rows stay in
 * cache after the first pair, which prefetches the rows ahead) */
static void q8a8_rows(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                      int64_t n) {
    const int64_t nb = w->cols / 32;
    for (int64_t r = r0; r < r1; r += RB) {
        const int rows = (int)G4_MIN(RB, r1 - r);
        const block_q8_0 *wr[RB];
        for (int i = 0; i < RB; i++) /* past the last row, repeat it (results not stored) */
            wr[i] = (const block_q8_0 *)(w->data + (uint64_t)(r + G4_MIN(i, rows - 1)) * w->row_bytes);
        int64_t t = 0;
        for (; t + 2 <= n; t += 2) q8a8_rows_tokens(y, ldy, r, rows, wr, xv, ldx, t, nb, w->row_bytes, t == 0, 2);
        if (t < n) q8a8_rows_tokens(y, ldy, r, rows, wr, xv, ldx, t, nb, w->row_bytes, t == 0, 1);
    }
}

/* calls of at least this many tokens turn rows sideways: unpacking 8-bit rows costs more
 * than a few tokens save (one Zen 4 thread, 2816 x 704 from memory, sideways against
 * rows: 0.40x at 3 tokens, 0.66x at 6, 0.91x at 8, 1.06x at 10, 1.69x at 16, 2.5x at 64;
 * 26B-A4B Q4_K_M pp32 +6% and pp128 +3% against a threshold of 3), as for Q8Z_MIN_TOKENS.
 * That is Zen 4's, which runs 512-bit operations as two 256-bit halves. On a Xeon, whose
 * 512-bit units are full width, 10 against 3 cost pp32 1.7% and pp128 3.2%
 * (scripts/device/results/2026-11-27-moe-thresholds-xeon.txt), so the table's filler
 * (x86_fill_q8) keeps 3 for every CPU but those (cpu_features.zmm_halves). */
#ifdef X86_AVX512
#define Q8A8_SW_TOKENS_HALVES 10
#define Q8A8_SW_TOKENS_FULL 3
static int q8a8_sw_tokens = Q8A8_SW_TOKENS_HALVES; /* set once, when the table is built */
#endif

/* AVX-VNNI: the 16-row ymm engine (sws_matmul: levels w + 128 centred back to w, the
 * activations a + 128) from this many tokens, rows below. On the Xeon (one thread, kab
 * KAB_A8=1, 2816 x 704 in cache / 80000 x 704 from memory), the engine against rows:
 * 2 tokens 0.72x / 0.57x, 3 0.98x, 4 1.17x / 0.92x, 6 1.49x, 8 1.75x / 1.51x, 16 2.28x /
 * 2.17x; and either against 16-bit activations (the table before): rows at 2 tokens about
 * 1.2x, the engine at 16 tokens 2.7x
 * (scripts/device/results/2026-11-27-avxvnni-xeon.txt; the rows-only side was this file
 * built with -DQ8A8_SWS_TOKENS=100000, hence the #ifndef). */
#ifndef Q8A8_SWS_TOKENS
#define Q8A8_SWS_TOKENS 5
#endif

static void matmul_q8_0_a8(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                           int64_t n, float *scratch) {
#ifdef X86_AVX512
    if (n >= q8a8_sw_tokens) {
        const int64_t r16 = r0 + (r1 - r0) / 16 * 16;
        if (r16 > r0) swz_matmul(y, ldy, w, r0, r16, xv, ldx, n, scratch, q8_0_sw_unpack_u, 128, 0);
        r0 = r16;
    }
#else
    if (n >= Q8A8_SWS_TOKENS) r0 = sideways_matmul(y, ldy, w, r0, r1, xv, ldx, n, scratch, q8_0_sw_unpack_u, 8, 0);
#endif
    if (r0 < r1) q8a8_rows(y, ldy, w, r0, r1, xv, ldx, n);
}
#endif

static inline void x86_fill_q8(cpu_kernels *k) {
    k->matmul[G4_DTYPE_Q8_0] = matmul_q8_0_a16; /* act[] is ACT_A16 already, from the reference */
    k->quantize_a16 = x86_quantize_a16;
#ifdef X86_VNNI
    k->matmul_q8_a8 = matmul_q8_0_a8;
#else
    k->matmul_q8_a8 = NULL; /* ACT_A16 for every Q8_0 (kernels.h), not the reference's int8 one */
#endif
#ifdef X86_AVX512
    q8a8_sw_tokens = cpu_features_get()->zmm_halves ? Q8A8_SW_TOKENS_HALVES : Q8A8_SW_TOKENS_FULL;
#endif
}

#endif
