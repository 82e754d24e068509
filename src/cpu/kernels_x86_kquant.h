/* kernels_x86_kquant.h - the K-quant kernels (Q4_K, Q5_K, Q6_K weights x ACT_A8S
 * activations: block_a8 rows with one scale per 256 values) shared by the AVX2 and
 * AVX-512 tables; included after kernels_x86_int8.h, whose helpers they use.
 *
 * Decode, also taken by Q4_K/Q5_K calls of up to KQ_ROWS_N tokens: rows four at a time,
 * sharing each activation load, prefetching rows ahead (prefetch_group_ahead). A
 * super-block's activations share one scale, so its dot product with a row is an
 * integer: VPMADDUBSW of the unsigned levels by the activations, widened by VPMADDWD
 * with the sub-block scales (VNNI: VPDPWSSD), one conversion and FMA per super-block;
 * the offsets likewise once per super-block, from the activation sums (the decode
 * section below).
 *   Q4_K / Q5_K: levels 0..15 / 0..31; the minimum's term -dmin D sum_j m_j s_j.
 *   Q6_K: levels stored +32 (0..63), a scale per 16 values: VPMADDWD by [sc0 x8 | sc1 x8]
 *     scales both halves of a block; the +32 comes off as 32 sum_k sc_k h_k.
 * Prefill turns rows sideways (kernels_x86_int8.h's sideways_matmul; Q6_K the AVX2
 * signed engine sws_matmul, or with VNNI the zmm engine's half-scale form swz6_tokens):
 * each row's levels, scales and minimums are
 * unpacked once per call into the per-thread scratch, and the int32 lanes of one
 * multiply chain are the rows' sums; those engines read every block's scale, so they
 * take ACT_A8S rows as they are. Q5_0, which the K-quant mixes write for short rows, is
 * at the end.
 *
 * Rates: bench/kab.c (scripts/kab.sh) compares a change against a revision in one
 * process; README's Speed section has the current figures. */
#ifndef G4_KERNELS_X86_KQUANT_H
#define G4_KERNELS_X86_KQUANT_H

#include "../quant/quant.h"

#include <stdalign.h>

#define KQ_ALWAYS_INLINE static inline __attribute__((always_inline))

/* ---- Q4_K / Q5_K ---------------------------------------------------------------------
 * Block bytes: d, dmin (fp16) at 0 and 2, twelve scale bytes at 4; Q4_K's 128 nibble bytes
 * at 16; Q5_K's 32 fifth-bit bytes at 16 and nibbles at 48. Sub-block j takes the low
 * nibbles of qs[32*(j/2) ..] when j is even and the high ones when odd; Q5_K's fifth bit of
 * its element i is bit j of qh[i]. */

/* The 6-bit scales and mins of the 8 sub-blocks as bytes [sc0-7 m0-7]: with the scale
 * bytes read as three little-endian words S0..S2, scales 0..3 are the low 6 bits of S0's
 * bytes and 4..7 S2's low nibbles with S0's top 2 bits above them; the mins likewise from
 * S1 and S2's high nibbles (quant-formats.md §6.0). */
static inline __m128i k4_scale_bytes(const uint8_t *S) {
    __m128i v; /* [S0 S1 S2 -]: 16 bytes from S are within the block (the levels follow) */
    memcpy(&v, S, 16);
    const __m128i lo = _mm_and_si128(v, _mm_set1_epi8(0x3f));                         /* [sc0-3 m0-3 - -] */
    const __m128i s2 = _mm_srlv_epi32(_mm_shuffle_epi32(v, 0xaa), _mm_setr_epi32(0, 4, 0, 0)); /* [S2 S2>>4] */
    const __m128i hi = _mm_or_si128(_mm_and_si128(s2, _mm_set1_epi8(0x0f)),
                                    _mm_and_si128(_mm_srli_epi32(v, 2), _mm_set1_epi8(0x30)));
    return _mm_unpacklo_epi32(lo, hi); /* [sc0-3 sc4-7 m0-3 m4-7] */
}

/* ... as floats */
static inline void k4_scales(const uint8_t *S, __m256 *sc, __m256 *m) {
    const __m128i all = k4_scale_bytes(S);
    *sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(all));
    *m = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(all, 8)));
}

/* Levels of sub-block j (unsigned bytes) of a Q4_K (q5 = 0) or Q5_K block at blk. */
KQ_ALWAYS_INLINE __m256i k45_levels(const uint8_t *blk, int j, const int q5) {
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m256i q = _mm256_loadu_si256((const __m256i *)(blk + (q5 ? 48 : 16) + 32 * (j / 2)));
    __m256i u = j % 2 ? _mm256_and_si256(_mm256_srli_epi16(q, 4), m4) : _mm256_and_si256(q, m4);
    if (q5) { /* bit j of each qh byte, moved to bit 4: shift by j (within bytes: masked) */
        const __m256i h = _mm256_loadu_si256((const __m256i *)(blk + 16));
        __m256i hb;
        switch (j) {
        case 0: hb = _mm256_slli_epi16(h, 4); break;
        case 1: hb = _mm256_slli_epi16(h, 3); break;
        case 2: hb = _mm256_slli_epi16(h, 2); break;
        case 3: hb = _mm256_slli_epi16(h, 1); break;
        case 4: hb = h; break;
        case 5: hb = _mm256_srli_epi16(h, 1); break;
        case 6: hb = _mm256_srli_epi16(h, 2); break;
        default: hb = _mm256_srli_epi16(h, 3); break;
        }
        u = _mm256_or_si256(u, _mm256_and_si256(hb, _mm256_set1_epi8(16)));
    }
    return u;
}

/* ---- Decode with one activation scale per super-block (ACT_A8S, kernels.h) -----------
 * The activations of a super-block share one scale D, so its whole dot product is an
 * integer: sum over sub-blocks j of sc_j x (levels . a), each VPMADDUBSW's int16 pair sums
 * widened by VPMADDWD with sc_j in place of 1 (VNNI: VPDPWSSD, which also accumulates),
 * converted and scaled by d D once per super-block. Per-32 scales cost a conversion, a
 * broadcast and an FMA per 32 values and row instead. Offsets go the same way, per
 * super-block: Q4_K/Q5_K's minimums as sum_j m_j s_j (s_j the activation block sums, as
 * int16), Q6_K's +32 as 32 sum_k sc_k h_k (h_k the sums of its 16 activation halves). */

/* acc += (p's int16 pairs) . w, as int32 lanes */
static inline __m256i kq_madd_acc(__m256i acc, __m256i p, __m256i w) {
#ifdef X86_VNNI
    return dpwssd256(acc, p, w);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, w));
#endif
}

/* Per-token set-up of the ACT_A8S decode kernels, per super-block i: D[i], and the
 * activation sums as int16 (|sum| <= 32 x 127): ha = 0, the 8 block sums (Q4_K/Q5_K,
 * at S + 8 i); ha = 1, the 16 half-block sums (Q6_K, at S + 16 i), first halves (Q6_K's
 * even sub-blocks) at 0..7, second halves at 8..15, the order of q6_scales. */
static inline void kq_act_s(const block_a8 *x, int64_t nsb, float *D, int16_t *S, const int ha) {
    for (int64_t i = 0; i < nsb; i++) {
        D[i] = x[8 * i].d;
        for (int j = 0; j < 8; j++) {
            const block_a8 *xb = x + 8 * i + j;
            if (!ha) { S[8 * i + j] = (int16_t)xb->s; continue; }
            int32_t lo = 0;
            for (int e = 0; e < 16; e++) lo += xb->qs[e];
            S[16 * i + j] = (int16_t)lo;
            S[16 * i + 8 + j] = (int16_t)(xb->s - lo);
        }
    }
}

/* One Q4_K/Q5_K super-block's per-row set-up: *scb = the scale bytes in both 128-bit
 * lanes (k45_rows picks sc_j out with a byte shuffle), the minimums' term -dmin D sum_j m_j s_j into c's
 * low 4 lanes; returns d D. */
KQ_ALWAYS_INLINE float k45_head(const uint8_t *blk, float D, __m128i bs, __m256i *scb, __m256 *c) {
    const __m128i all = k4_scale_bytes(blk + 4);
    *scb = _mm256_broadcastsi128_si256(all);
    const __m128i mi = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(all, 8)), bs);
    uint16_t d, dmin;
    memcpy(&d, blk, 2);
    memcpy(&dmin, blk + 2, 2);
    *c = _mm256_fnmadd_ps(_mm256_zextps128_ps256(_mm_cvtepi32_ps(mi)), _mm256_set1_ps(h2f(dmin) * D), *c);
    return h2f(d) * D;
}

/* Decode, and calls of up to KQ_ROWS_N tokens (a short prompt gives each MoE expert 1-5
 * tokens): rows [r0, r1) four at a time, tokens in groups of up to KQ_TOKENS with the
 * rows outside, so a row group comes from memory once per group and from L1 for its
 * other tokens, and tokens in pairs that share each row's unpacked levels and scales
 * (k45_rows_tokens; A/B against one token at a time, Q4_K 1408 x 2816: 2 tokens 1.20x in
 * cache, 1.31x from memory, 4 tokens 1.21x, Q5_K 2 tokens 1.11x). The sideways
 * engine's unpacking only pays off from about 5
 * tokens on weights in cache and 6 on weights from memory, as an expert's are. A/B of
 * this path against sideways, one thread, Q4_K x 2816: 1408 rows (in cache) 3 tokens
 * 1.26x, 4 1.09x, 5 0.91x, 6 0.81x; 20000 rows (from memory) 3 tokens 1.61x, 4 1.31x,
 * 5 1.15x, 6 1.01x. scratch: per token of a group, D and the int16 sums of kq_act_s
 * (for Q6_K's halves 9 floats per super-block). */
#define KQ_TOKENS 8
#ifdef X86_AVX512
/* the VNNI sideways engine (16 rows in a zmm) is ahead from 4 tokens: on the Xeon, Q4_K
 * 1408 x 2816 at 4 tokens, this path 0.77x in cache, 0.93x from memory; on Zen 4 (since
 * that engine prefetches its next rows) this path at 3 tokens 1.10x in cache and 1.42x
 * from memory (20000 rows), at 4 0.89x / 1.27x, at 5 0.83x / 1.07x, at 6 - / 0.94x. A
 * short prompt gives a 26B-A4B expert 1-5 tokens, its weights from memory. */
#define KQ_ROWS_N 3
#else
#define KQ_ROWS_N 4
#endif
#define KQ_ACT_FLOATS(nsb) (9 * (nsb))

/* RB rows x TK (1 or 2) tokens from token t of the rows-outside loop below: each row's
 * levels and picked sub-block scales are made once for the TK tokens (recomputing them
 * per token made a 2-token call cost twice a decode step's instructions); the
 * super-block head (k45_head: scale bytes, d D, the minimums' term) stays per token, as
 * it takes the token's D and sums; D / S: the first token's kq_act_s set-up, the next one's follows at
 * + KQ_ACT_FLOATS(nsb). pf: prefetch the rows ahead (the group's first tokens). */
KQ_ALWAYS_INLINE void k45_rows_tokens(float *y, int64_t ldy, int64_t r, int rows, const uint8_t *const wr[RB],
                                      const void *xv, int64_t ldx, int64_t t, const float *D0, int64_t nsb, int64_t bs,
                                      int pf, const int TK, const int q5) {
    const block_a8 *xb[2] = {(const block_a8 *)((const char *)xv + t * ldx), (const block_a8 *)((const char *)xv + (t + TK - 1) * ldx)};
    const float *D[2] = {D0, D0 + (TK - 1) * KQ_ACT_FLOATS(nsb)};
    __m256 c[2][RB];
    for (int k = 0; k < 2; k++)
        for (int q = 0; q < RB; q++) c[k][q] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nsb; i++) {
        __m256i scb[RB];
        float f[2][RB];
        if (pf) prefetch_group_ahead(wr[0], (uint64_t)(bs * nsb), i, 1, bs); /* a K-quant row is nsb blocks */
        #pragma GCC unroll 2
        for (int k = 0; k < TK; k++) {
            const __m128i bsum = _mm_loadu_si128((const __m128i *)((const int16_t *)(D[k] + nsb) + 8 * i));
            #pragma GCC unroll 4
            for (int q = 0; q < RB; q++) f[k][q] = k45_head(wr[q] + i * bs, D[k][i], bsum, &scb[q], &c[k][q]);
        }
        __m256i acc[2][RB];
        for (int k = 0; k < 2; k++)
            for (int q = 0; q < RB; q++) acc[k][q] = _mm256_setzero_si256();
        #pragma GCC unroll 8 /* constant j: the shifts fold to immediates */
        for (int j = 0; j < 8; j++) {
            /* sc_j (byte j) zero-extended into every int16 lane */
            const __m256i pick = _mm256_set1_epi16((short)(0x8000 | j));
            #pragma GCC unroll 4
            for (int q = 0; q < RB; q++) {
                const __m256i lv = k45_levels(wr[q] + i * bs, j, q5), sc = _mm256_shuffle_epi8(scb[q], pick);
                #pragma GCC unroll 2
                for (int k = 0; k < TK; k++)
                    acc[k][q] = kq_madd_acc(acc[k][q], _mm256_maddubs_epi16(lv, _mm256_loadu_si256((const __m256i *)xb[k][8 * i + j].qs)), sc);
            }
        }
        #pragma GCC unroll 2
        for (int k = 0; k < TK; k++)
            #pragma GCC unroll 4
            for (int q = 0; q < RB; q++) c[k][q] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[k][q]), _mm256_set1_ps(f[k][q]), c[k][q]);
    }
    for (int k = 0; k < TK; k++) {
        store_rows(&y[(t + k) * ldy + r], hsum256x4(c[k][0], c[k][1], c[k][2], c[k][3]), rows);
    }
}

KQ_ALWAYS_INLINE void k45_rows(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv,
                               int64_t ldx, int64_t n, float *scratch, const int q5) {
    const int64_t nsb = w->cols / QK_K, bs = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    for (int64_t t0 = 0; t0 < n; t0 += KQ_TOKENS) {
        const int64_t nt = G4_MIN(KQ_TOKENS, n - t0);
        for (int64_t k = 0; k < nt; k++) {
            float *D = scratch + k * KQ_ACT_FLOATS(nsb);
            kq_act_s((const block_a8 *)((const char *)xv + (t0 + k) * ldx), nsb, D, (int16_t *)(D + nsb), 0);
        }
        for (int64_t r = r0; r < r1; r += RB) {
            const int rows = (int)G4_MIN(RB, r1 - r);
            const uint8_t *wr[RB];
            for (int i = 0; i < RB; i++) /* past the last row, repeat it (results not stored) */
                wr[i] = w->data + (uint64_t)(r + G4_MIN(i, rows - 1)) * w->row_bytes;
            int64_t k = 0;
            for (; k + 2 <= nt; k += 2) k45_rows_tokens(y, ldy, r, rows, wr, xv, ldx, t0 + k, scratch + k * KQ_ACT_FLOATS(nsb), nsb, bs, k == 0, 2, q5);
            if (k < nt) k45_rows_tokens(y, ldy, r, rows, wr, xv, ldx, t0 + k, scratch + k * KQ_ACT_FLOATS(nsb), nsb, bs, k == 0, 1, q5);
        }
    }
}

/* Prefill: 8 rows turned sideways (kernels_x86_int8.h's sw_block layout): levels, and
 * per sub-block j the scale and offset f = d sc_j, o = dmin m_j.
 * The 8 sub-blocks' f = d sc_j and o = dmin m_j of one super-block of 8 rows (blk[j]:
 * row j's block), transposed into out[0..8)'s f and o as 32-bit patterns. */
KQ_ALWAYS_INLINE void k45_sw_factors(const uint8_t *const blk[SW_ROWS], sw_dst out, int64_t b0) {
    __m256i fv[SW_ROWS], ov[SW_ROWS], t[8];
    for (int j = 0; j < SW_ROWS; j++) {
        __m256 sc, m;
        k4_scales(blk[j] + 4, &sc, &m);
        uint16_t d, dmin;
        memcpy(&d, blk[j], 2);
        memcpy(&dmin, blk[j] + 2, 2);
        fv[j] = _mm256_castps_si256(_mm256_mul_ps(_mm256_set1_ps(h2f(d)), sc));
        ov[j] = _mm256_castps_si256(_mm256_mul_ps(_mm256_set1_ps(h2f(dmin)), m));
    }
    __m256i tf[8];
    tr8x8_32(fv, tf);
    tr8x8_32(ov, t);
    for (int sb = 0; sb < 8; sb++) swd_put_fo(out, b0 + sb, _mm256_castsi256_ps(tf[sb]), _mm256_castsi256_ps(t[sb]));
}

/* Q5_K: each row's sub-block levels as 32 bytes in element order (the fifth bit added
 * per row), then transposed 8 x 8. */
static void q5_K_sw_unpack(const mat *w, int64_t r, sw_dst out) {
    const int64_t nsb = w->cols / QK_K;
    for (int64_t i = 0; i < nsb; i++) {
        const uint8_t *blk[SW_ROWS];
        __m256i lv[8][SW_ROWS]; /* lv[sub-block][row] */
        for (int j = 0; j < SW_ROWS; j++) {
            blk[j] = w->data + (uint64_t)(r + j) * w->row_bytes + i * sizeof(block_q5_K);
            #pragma GCC unroll 8 /* constant sub-block: the shifts fold to immediates */
            for (int sb = 0; sb < 8; sb++) lv[sb][j] = k45_levels(blk[j], sb, 1);
        }
        for (int sb = 0; sb < 8; sb++) {
            __m256i q[8];
            tr8x8_32(lv[sb], q);
            swd_put_q(out, 8 * i + sb, q);
        }
        k45_sw_factors(blk, out, 8 * i);
    }
}

/* Q4_K's levels need no fifth bit, so its unpacker transposes the packed bytes
 * (kernels_x86_int8.h's sw_nibbles): dword k of a sub-block pair's 32 bytes holds group k
 * of both sub-blocks (low nibbles: the even one), so each 16 bytes of the 8 rows give 4
 * groups of two sub-blocks, against a transpose of split bytes per sub-block. */
static void q4_K_sw_unpack(const mat *w, int64_t r, sw_dst out) {
    const int64_t nsb = w->cols / QK_K;
    for (int64_t i = 0; i < nsb; i++) {
        const uint8_t *blk[SW_ROWS];
        for (int j = 0; j < SW_ROWS; j++) blk[j] = w->data + (uint64_t)(r + j) * w->row_bytes + i * sizeof(block_q4_K);
        #pragma GCC unroll 8
        for (int h = 0; h < 8; h++) { /* sub-blocks 2p, 2p + 1 (p = h / 2), groups 4 (h % 2) .. + 3 */
            __m256i q[8];
            sw_nibbles(blk, offsetof(block_q4_K, qs) + 16 * (size_t)h, q);
            const int p = h / 2, g = 4 * (h % 2);
            #pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                _mm256_store_si256(swd_q(out, 8 * i + 2 * p, g + k), q[k]);
                _mm256_store_si256(swd_q(out, 8 * i + 2 * p + 1, g + k), q[k + 4]);
            }
        }
        k45_sw_factors(blk, out, 8 * i);
    }
}


/* ---- Q6_K ----------------------------------------------------------------------------
 * Block bytes: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d (fp16).
 * Activation block g = 4h + k (h = 0, 1; k = 0..3) takes, for its 32 elements, the nibble
 * k/2 of ql[64h + 32(k%2) ..] and bits 2k, 2k+1 of qh[32h ..] (§6.0). */

/* Levels + 32 (0..63) of activation block g of the Q6_K block at blk. */
static inline __m256i q6_levels(const uint8_t *blk, int g) {
    const int h = g / 4, k = g % 4;
    const __m256i l = _mm256_loadu_si256((const __m256i *)(blk + 64 * h + 32 * (k % 2)));
    const __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h));
    const __m256i lo = _mm256_and_si256(k < 2 ? l : _mm256_srli_epi16(l, 4), _mm256_set1_epi8(15));
    __m256i hi; /* bits 2k, 2k+1 moved to bits 4, 5 (within each byte once masked) */
    switch (k) {
    case 0: hi = _mm256_slli_epi16(q, 4); break;
    case 1: hi = _mm256_slli_epi16(q, 2); break;
    case 2: hi = q; break;
    default: hi = _mm256_srli_epi16(q, 2); break;
    }
    return _mm256_or_si256(lo, _mm256_and_si256(hi, _mm256_set1_epi8(0x30)));
}

/* The 16 int8 scales widened to int16, even sub-blocks' in the low 128-bit lane and odd
 * ones' in the high (one byte shuffle before widening), so that q6_scale_pair is one
 * in-lane VPSHUFB per activation block. (With natural order it took a VPERMD, the
 * broadcast of its index and a VPSHUFB per row and block.) */
static inline __m256i q6_scales(const uint8_t *blk) {
    const __m128i s = _mm_loadu_si128((const __m128i *)(blk + 192));
    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(s, _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15)));
}

/* [sc_2g x 8 | sc_2g+1 x 8]: int16 element g of each lane of q6_scales, spread over it. */
static inline __m256i q6_scale_pair(__m256i s16, int g) {
    const char lo = (char)(2 * g), hi = (char)(2 * g + 1);
    return _mm256_shuffle_epi8(s16, _mm256_setr_epi8(lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi,
                                                     lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi));
}

static inline float q6_d(const uint8_t *blk) {
    uint16_t d;
    memcpy(&d, blk + 208, 2);
    return h2f(d);
}

/* Decode, and the rows past the last group of 16 in prefill (ACT_A8S, above): per row
 * and super-block, the +32 comes off as 32 sum_k sc_k h_k (one VPMADDWD of the 16 scales
 * by the 16 half sums), then each block's VPMADDUBSW pair sums (|.| <= 2 x 63 x 127) are
 * widened by [sc_2g x 8 | sc_2g+1 x 8]; one conversion and FMA by d D per super-block. */
static void q6_rows(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                    int64_t n, float *scratch) {
    const int64_t nsb = w->cols / QK_K, bs = sizeof(block_q6_K);
    for (int64_t t = 0; t < n; t++) {
        const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);
        float *D = scratch;
        const int16_t *H = (const int16_t *)(D + nsb);
        kq_act_s(xb, nsb, D, (int16_t *)(D + nsb), 1);
        for (int64_t r = r0; r < r1; r += RB) {
            const int rows = (int)G4_MIN(RB, r1 - r);
            const uint8_t *wr[RB];
            for (int i = 0; i < RB; i++) wr[i] = w->data + (uint64_t)(r + G4_MIN(i, rows - 1)) * w->row_bytes;
            __m256 c[RB] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
            for (int64_t i = 0; i < nsb; i++) {
                /* With AVX-512 always to L2: at 1536 columns (E2B's output and value
                 * projections; 10 KB ahead, which PF_L1_BYTES sends to L1) one Zen 4 thread
                 * read 9.3-9.5 GB/s from memory with T0 against 19.8-20.2 with T1 (kab,
                 * 100000 rows; in cache 0.94-1.0x). The AVX2 build of this loop reads 24.3
                 * with T0 and 22.3 with T1 there, and the other decode loops at 1536
                 * columns lose 10-20% with T1, so they keep the rule. */
#ifdef X86_AVX512
                prefetch_group_ahead_to(wr[0], w->row_bytes, i, 1, bs, 0);
#else
                prefetch_group_ahead(wr[0], w->row_bytes, i, 1, bs);
#endif
                const __m256i h = _mm256_loadu_si256((const __m256i *)(H + 16 * i));
                __m256i sc[RB], acc[RB];
                #pragma GCC unroll 4
                for (int q = 0; q < RB; q++) {
                    sc[q] = q6_scales(wr[q] + i * bs);
                    acc[q] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc[q], h), 5));
                }
                #pragma GCC unroll 8 /* constant g: the shifts fold to immediates */
                for (int g = 0; g < 8; g++) {
                    const __m256i a = _mm256_loadu_si256((const __m256i *)xb[8 * i + g].qs);
                    #pragma GCC unroll 4
                    for (int q = 0; q < RB; q++)
                        acc[q] = kq_madd_acc(acc[q], _mm256_maddubs_epi16(q6_levels(wr[q] + i * bs, g), a), q6_scale_pair(sc[q], g));
                }
                #pragma GCC unroll 4
                for (int q = 0; q < RB; q++)
                    c[q] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[q]), _mm256_set1_ps(q6_d(wr[q] + i * bs) * D[i]), c[q]);
            }
            store_rows(&y[t * ldy + r], hsum256x4(c[0], c[1], c[2], c[3]), rows);
        }
    }
}

/* Rows r..r+7 of a type with an int8 scale per 16-value half as sw_blocks (Q6_K here,
 * Q3_K in kernels_x86_k23.h): levels(blk, g) gives super-block blk's block g, transposed
 * sideways; f = d(blk); o's lane j row j's pair of half scales, from scales16(blk), whose
 * int16 lane k is sub-block k's, so that its 32-bit lane g is block g's pair and one 8 x 8
 * transpose gives every block's. Always inlined, the three functions with it. */
KQ_ALWAYS_INLINE void sw_halves_unpack(const mat *w, int64_t r, sw_dst out, int64_t bs,
                                       __m256i (*levels)(const uint8_t *, int), __m256i (*scales16)(const uint8_t *),
                                       float (*d)(const uint8_t *)) {
    for (int64_t i = 0; i < w->cols / QK_K; i++) {
        __m256i lv[8][SW_ROWS], sv[SW_ROWS], t[8]; /* lv[block][row] */
        alignas(32) float dv[SW_ROWS];
        for (int j = 0; j < SW_ROWS; j++) {
            const uint8_t *blk = w->data + (uint64_t)(r + j) * w->row_bytes + i * bs;
            #pragma GCC unroll 8
            for (int g = 0; g < 8; g++) lv[g][j] = levels(blk, g);
            sv[j] = scales16(blk);
            dv[j] = d(blk);
        }
        const __m256 f = _mm256_load_ps(dv);
        tr8x8_32(sv, t);
        for (int g = 0; g < 8; g++) {
            __m256i q[8];
            tr8x8_32(lv[g], q);
            swd_put_q(out, 8 * i + g, q);
            swd_put_fo(out, 8 * i + g, f, _mm256_castsi256_ps(t[g]));
        }
    }
}

/* Q6_K's 16 scales sign-extended to int16, lane k = sub-block k */
static inline __m256i q6_scales16(const uint8_t *blk) { return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 192))); }

/* Prefill: with VNNI the 16-row zmm engine, each half's integer sum multiplied by its
 * scale (kernels_x86_int8.h's swz6_tokens; one Zen 4 thread, 128 tokens: 135-141 against
 * 97-98 G multiply-adds/s for the AVX2 signed engine, which it replaced there); without,
 * the AVX2 signed sideways engine (sws_matmul, 6-bit levels). (On the Xeon the signed
 * engine had beaten an earlier 8-row VNNI engine that kept two float sums per block
 * 1.75x.) Both take this unpacker's output: levels 0..63, f = d, o the half scales. */
static void q6_K_sw_unpack(const mat *w, int64_t r, sw_dst out) {
    sw_halves_unpack(w, r, out, sizeof(block_q6_K), q6_levels, q6_scales16, q6_d);
}

/* ---- Q5_0 ----------------------------------------------------------------------------
 * Not a K-quant, but llama.cpp's K-quant mixes write it where a row is not a whole number
 * of 256 values (Q4_K's fallback), e.g. the 704-wide expert down-projections of Gemma 4
 * 26B-A4B. Decode and the tiles take levels q - 16 (-16..15) as signed bytes through the
 * int8 header's sign-trick kernels; prefill turns rows sideways (below). */

/* The levels (0..31) of the Q5_0 block whose qs field is at qs (the int8 kernels pass the
 * field): low nibbles as Q4_0's, and bit e of the qh word as 16 in byte e, by spreading
 * byte e/8 of qh over 8 bytes and testing bit e%8 of each. */
static inline __m256i q5_0_u8(const uint8_t *qs) {
    const block_q5_0 *b = (const block_q5_0 *)(qs - offsetof(block_q5_0, qs));
    uint32_t qh;
    memcpy(&qh, b->qh, 4);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh),
                                               _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                                                2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i hi = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(16));
    return _mm256_or_si256(q4_u8(qs), hi);
}

/* ... as signed levels q - 16, for the sign-trick kernels */
static inline __m256i q5_0_s8(const uint8_t *qs) { return _mm256_sub_epi8(q5_0_u8(qs), _mm256_set1_epi8(16)); }

#define LOAD_Q5_0(qs) q5_0_s8((const uint8_t *)(qs))
#ifdef X86_AVX512
/* With AVX-512BW the fifth bits are a masked add (the qh bits as the byte mask of a vector
 * of 16s), and the levels stay unsigned as Q4_0's decode keeps them: sum (u - 16) a =
 * sum u a - 16 s. Blocks go in pairs as Q4_0's (q4_pair_act, kernels_x86_int8.h): one
 * register holds both blocks' nibbles, split into elements 0..15 and 16..31 of each, and
 * the float work (convert, scale, FMA) is shared by the two blocks. The masks come from
 * one 32-byte load at the pair's first block, which holds both qh words: a byte shuffle
 * spreads each lane's two qh bytes over 16 bytes and VPTESTMB picks bit j of byte j (in
 * general registers, putting the two 16-bit halves together cost 9 instructions per
 * row and pair). About 13.5 instructions per row and block where one block at a time took
 * 15, and the T tokens share a pair's levels. kab, one Zen 4 thread, in L2 (G multiply-
 * adds/s): 704 columns 29.8 -> 32.5 (1.09x), 2816 30.9 -> 35.2 (1.14x); 704 columns at 2
 * tokens 1.23x, 3 tokens 1.57x; from memory (60000 x 2816) 1.13x.
 * Rows outside, tokens inside: a 2- or 3-token call (a short prompt's share of a 26B-A4B
 * expert) reads each row group from memory once. */
/* T tokens (their pair layouts act[k], nb / 2 apart) against rows r.. r + rows - 1 (wr: RB
 * row pointers, the last repeated); each block pair's levels are built once for the T
 * tokens. pf: prefetch the rows ahead. */
static inline __attribute__((always_inline)) void q5_0_rows_tokens(float *y, int64_t ldy, int64_t r, int rows,
                                                                   const block_q5_0 *const wr[RB], const void *xv,
                                                                   int64_t ldx, int64_t t, const q4_pair_act *act,
                                                                   int64_t nb, uint64_t row_bytes, int pf, const int T) {
    const int64_t nb2 = nb & ~(int64_t)1;
    const __m256i m4 = _mm256_set1_epi8(15), m16 = _mm256_set1_epi8(16);
    const __m256i bits = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i sp_lo = _mm256_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
                                           8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9);
    const __m256i sp_hi = _mm256_setr_epi8(4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5,
                                           10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11);
    __m256 acc[3][RB];
    for (int k = 0; k < T; k++)
        for (int i = 0; i < RB; i++) acc[k][i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb2; b += 2) {
        if (pf) prefetch_group_ahead(wr[0], row_bytes, b, 2, sizeof(block_q5_0));
        #pragma GCC unroll 4
        for (int i = 0; i < RB; i++) {
            /* the pair's first 32 bytes hold both qh words: block b's at bytes 2..5 (lane 0),
             * b + 1's at 24..27 (lane 1's 8..11); each lane spreads its block's bytes */
            const __m256i raw = _mm256_loadu_si256((const __m256i *)&wr[i][b]);
            const __mmask32 klo = _mm256_test_epi8_mask(_mm256_shuffle_epi8(raw, sp_lo), bits);
            const __mmask32 khi = _mm256_test_epi8_mask(_mm256_shuffle_epi8(raw, sp_hi), bits);
            const __m256i q = _mm256_loadu2_m128i((const __m128i *)wr[i][b + 1].qs, (const __m128i *)wr[i][b].qs);
            const __m256i lo0 = _mm256_and_si256(q, m4), hi0 = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            const __m256i lo = _mm256_mask_add_epi8(lo0, klo, lo0, m16), hi = _mm256_mask_add_epi8(hi0, khi, hi0, m16);
            const __m256 d = _mm256_cvtph_ps(_mm_blend_epi32(_mm_set1_epi16((short)wr[i][b].d),
                                                             _mm_set1_epi16((short)wr[i][b + 1].d), 0xC));
            #pragma GCC unroll 3
            for (int k = 0; k < T; k++) {
                const q4_pair_act *a = act + k * (nb / 2) + b / 2;
                acc[k][i] = _mm256_fmadd_ps(_mm256_mul_ps(d, a->da), _mm256_cvtepi32_ps(q4_pair_dot(lo, hi, a)), acc[k][i]);
            }
        }
    }
    if (nb2 < nb) { /* an odd last block */
        const int64_t b = nb2;
        for (int k = 0; k < T; k++) {
            const block_a8 *xb = (const block_a8 *)((const char *)xv + (t + k) * ldx) + b;
            const __m256i a = _mm256_loadu_si256((const __m256i *)xb->qs), off = _mm256_set1_epi32(-2 * xb->s);
            const __m256 da = _mm256_set1_ps(xb->d);
            for (int i = 0; i < RB; i++) {
                uint32_t qh;
                memcpy(&qh, wr[i][b].qh, 4);
                const __m256i u = _mm256_or_si256(q4_u8(wr[i][b].qs), _mm256_maskz_mov_epi8((__mmask32)qh, _mm256_set1_epi8(16)));
                acc[k][i] = _mm256_fmadd_ps(_mm256_mul_ps(f16x8(wr[i][b].d), da),
                                            _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(off, u, a)), acc[k][i]);
            }
        }
    }
    for (int k = 0; k < T; k++) store_rows(&y[(t + k) * ldy + r], hsum256x4(acc[k][0], acc[k][1], acc[k][2], acc[k][3]), rows);
}

/* Tokens in groups of up to 3, each group's pair layouts in scratch (3 x cols / 64
 * q4_pair_act, 6 bytes per column), then every row group against them. */
static void matvec_q5_0(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    const int64_t nb = w->cols / 32;
    q4_pair_act *acts = (q4_pair_act *)(((uintptr_t)scratch + 31) & ~(uintptr_t)31);
    for (int64_t t = 0; t < n; t += 3) {
        const int T = (int)G4_MIN(3, n - t);
        for (int k = 0; k < T; k++)
            q4_pair_layout((const block_a8 *)((const char *)xv + (t + k) * ldx), nb, acts + k * (nb / 2), 16);
        for (int64_t r = r0; r < r1; r += RB) {
            const int rows = (int)G4_MIN(RB, r1 - r);
            const block_q5_0 *wr[RB];
            for (int i = 0; i < RB; i++) /* past the last row, repeat it (results not stored) */
                wr[i] = (const block_q5_0 *)(w->data + (uint64_t)(r + G4_MIN(i, rows - 1)) * w->row_bytes);
            if (T == 3) q5_0_rows_tokens(y, ldy, r, rows, wr, xv, ldx, t, acts, nb, w->row_bytes, t == 0, 3);
            else if (T == 2) q5_0_rows_tokens(y, ldy, r, rows, wr, xv, ldx, t, acts, nb, w->row_bytes, t == 0, 2);
            else q5_0_rows_tokens(y, ldy, r, rows, wr, xv, ldx, t, acts, nb, w->row_bytes, t == 0, 1);
        }
    }
}
#else
MATMUL_INT8(matvec_q5_0, block_q5_0, LOAD_Q5_0)
#endif
MATMUL_TILE(q5_0_tiles, block_q5_0, LOAD_Q5_0, matvec_q5_0)
#undef LOAD_Q5_0

/* Prefill (3 tokens, and 5 or more; matmul_q5_0 below): the sideways engine
 * (kernels_x86_int8.h), with w = d q - 16 d (f = d, o = 16 d: centred at 16, no offset
 * term is left); the tiles above take the rows past the last group. The 26B-A4B expert
 * down-projections are Q5_0 (and see about 2 tokens of a 32-token prompt, 32 of a
 * 512-token one). In-process A/B against the tiles, one thread, 2816 x 704 in cache:
 * 2 tokens 1.3x, 8 1.9x, 32 3.1x, 64 3.35x (86 G multiply-adds/s). */

static void q5_0_sw_unpack(const mat *w, int64_t r, sw_dst out) {
    const block_q5_0 *row[SW_ROWS];
    for (int j = 0; j < SW_ROWS; j++) row[j] = (const block_q5_0 *)(w->data + (uint64_t)(r + j) * w->row_bytes);
    for (int64_t b = 0; b < w->cols / 32; b++) {
        __m256i v[SW_ROWS];
        for (int j = 0; j < SW_ROWS; j++) v[j] = q5_0_u8(row[j][b].qs);
        __m256i q[8];
        tr8x8_32(v, q);
        swd_put_q(out, b, q);
        const __m128i d = _mm_set_epi16((short)row[7][b].d, (short)row[6][b].d, (short)row[5][b].d, (short)row[4][b].d,
                                        (short)row[3][b].d, (short)row[2][b].d, (short)row[1][b].d, (short)row[0][b].d);
        const __m256 f = _mm256_cvtph_ps(d);
        swd_put_fo(out, b, f, _mm256_mul_ps(f, _mm256_set1_ps(16.0f)));
    }
}

/* VNNI: calls of up to this many tokens by rows (the block pairs above, tokens in groups of
 * 3), more sideways. One Zen 4 thread, 2816 x 704 from memory, sideways against rows:
 * 0.63x at 3 tokens, 0.93x at 4, 1.01x at 6, 1.15x at 8. */
#define Q5_0_ROWS_TOKENS 5
static void matmul_q5_0(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
#ifndef X86_AVX512
    /* AVX2, 2 and 4 tokens (a short prompt's share of a 26B-A4B expert): the tiles, which
     * unpack each weight block once for 4 tokens (for 2, their row fallback). A/B, one
     * thread, 2816 x 704, on this Zen 3: 2 tokens 0.94x in cache, 1.2-1.37x from memory
     * (80000 rows); 4 tokens 1.18x / 1.12x; 3 tokens stay sideways (tiles 0.69x / 0.85x).
     * Machine-dependent: the Xeon's AVX2 table measured 0.66x / 0.88x at 2 tokens; VNNI
     * keeps its sideways engine (tiles 0.58x / 0.72x there). */
    if (n == 2 || n == 4) { q5_0_tiles(y, ldy, w, r0, r1, xv, ldx, n, scratch); return; }
#else
    if (n <= Q5_0_ROWS_TOKENS) { matvec_q5_0(y, ldy, w, r0, r1, xv, ldx, n, scratch); return; }
#endif
    const int64_t rd = n < 2 ? r0 : sideways_matmul(y, ldy, w, r0, r1, xv, ldx, n, scratch, q5_0_sw_unpack, 5, 0);
    if (rd < r1) q5_0_tiles(y, ldy, w, rd, r1, xv, ldx, n, scratch);
}

/* ---- Table entries ------------------------------------------------------------------- */

/* Q4_K / Q5_K: decode and up to KQ_ROWS_N tokens by rows; prefill sideways (4-bit
 * levels: 8 groups per int16 sum, 5-bit: 4), with the rows past the last group by rows. */
KQ_ALWAYS_INLINE void k45_matmul(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv,
                                 int64_t ldx, int64_t n, float *scratch, const int q5) {
    const int64_t rd = n <= KQ_ROWS_N ? r0
                                      : sideways_matmul(y, ldy, w, r0, r1, xv, ldx, n, scratch, q5 ? q5_K_sw_unpack : q4_K_sw_unpack,
                                               q5 ? 5 : 4, 1);
    if (rd < r1) k45_rows(y, ldy, w, rd, r1, xv, ldx, n, scratch, q5);
}

static void matmul_q4_K(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    k45_matmul(y, ldy, w, r0, r1, xv, ldx, n, scratch, 0);
}

static void matmul_q5_K(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    k45_matmul(y, ldy, w, r0, r1, xv, ldx, n, scratch, 1);
}

static void matmul_q6_K(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    const int64_t r16 = n < 2 ? r0 : r0 + (r1 - r0) / 16 * 16;
#ifdef X86_AVX512
    if (r16 > r0) swz_matmul(y, ldy, w, r0, r16, xv, ldx, n, scratch, q6_K_sw_unpack, 32, SWZ_CENTRED);
#else
    if (r16 > r0) sws_matmul(y, ldy, w, r0, r16, xv, ldx, n, scratch, q6_K_sw_unpack, 6, 0);
#endif
    if (r16 < r1) q6_rows(y, ldy, w, r16, r1, xv, ldx, n, scratch);
}

/* The K-quant (and Q5_0) entries of every x86 table (act[] is ACT_A8S / ACT_A8 already, from the
 * reference). */
static inline void x86_fill_kquant(cpu_kernels *k) {
    k->matmul[QT_Q4_K] = matmul_q4_K;
    k->matmul[QT_Q5_K] = matmul_q5_K;
    k->matmul[QT_Q6_K] = matmul_q6_K;
    k->matmul[QT_Q5_0] = matmul_q5_0;
}

#undef KQ_ALWAYS_INLINE

#endif
