/* kernels_x86_iq4.h - Q4_1, Q5_1, IQ4_NL and IQ4_XS weights x block_a8 activations for the
 * x86 tables (AVX2, AVX-VNNI, AVX-512), included by kernels_avx2.c / kernels_avx512.c after
 * kernels_x86_int8.h and kernels_x86_kquant.h (dot_u8s8, hsum256, h2f, q4_u8, the
 * sideways engine sw_matmul / sw_block / tr8x8_32). Before these the four types ran
 * through the scalar dequantize-then-float-dot path; kernels_ref_iq4.c is the oracle
 * and states the algebra.
 *
 *   Q4_1 / Q5_1 (w = d q + m, q unsigned): decode four rows at a time as Q4_0's
 *     matvec does. The block's d and m are one 32-bit load and one conversion, multiplied
 *     by the activation block's pair [d_a, d_a s_a] (precomputed per token): lane 0 is
 *     the dot's factor, broadcast to the FMA; lane 1, the offset term m d_a s_a, piles up
 *     in a second (128-bit) accumulator whose lane 1 is added once per output. Prefill:
 *     8 rows sideways (sw_matmul) with f = d, o = -m; 5-bit levels sum 4 groups per int16.
 *   IQ4_NL / IQ4_XS (w = scale x kv[q], kv the 16 int8 levels): a PSHUFB looks the
 *     levels up from the nibbles. With VNNI the table holds kv + 128 (unsigned, 1..241)
 *     and VPDPBUSD starts from -128 s_a (s_a: the activation block's sum), exact in
 *     int32. Without VNNI, VPMADDUBSW would saturate on 241 x 127 pairs, so the table is
 *     kv itself and the sign trick applies (|w| unsigned, w's sign on the activation).
 *     Decode: four rows at a time; IQ4_XS's eight 6-bit sub-block scales are unpacked
 *     with two variable shifts into an 8-lane vector per super-block and row, and folded
 *     with the 8 blocks' d_a. Prefill: 8 rows sideways, as Q4_0 but with signed levels
 *     (AVX2: one int16 pair sum per VPMADDWD, since 2 x 127 x 127 already nearly fills
 *     int16; each |w| is computed once per 4 tokens), or the unsigned table (VNNI, where
 *     16-row groups go to the zmm engine, kernels_x86_int8.h's swz_matmul, below).
 *
 * Single-thread figures on the 2-vCPU EPYC build machine (AVX2 table; make kbench, 1536
 * columns; best of several runs while other jobs shared the machine): prefill with 64
 * tokens in G multiply-adds/s, decode in GB/s of weights from DRAM, before (the scalar
 * dequantize + float dot path) -> after:
 *            prefill          decode
 *   Q4_1     1.0 -> 61        0.37 -> 9.0
 *   Q5_1     1.0 -> 59        0.36 -> 8.8
 *   IQ4_NL   1.0 -> 47        0.30 -> 8.5
 *   IQ4_XS   1.0 -> 47        0.28 -> 9.0
 * (Q4_0 in the same runs: 61 and 9.1.) IQ4 prefill trails Q4_0's because the sign trick
 * costs a VPSIGNB and a VPMADDWD per 4-byte group where Q4_0 sums 8 groups in int16. */
#ifndef G4_KERNELS_X86_IQ4_H
#define G4_KERNELS_X86_IQ4_H

#include "../quant/quant.h"

#include <stdalign.h>
#include <stddef.h>

#define IQ_INLINE static inline __attribute__((always_inline))

#ifdef X86_VNNI
#define IQ4_UNSIGNED 1 /* levels stored kv + 128, offset taken off with -128 s_a */
#else
#define IQ4_UNSIGNED 0 /* levels stored as kv, sign trick */
#endif

/* ---- Levels ------------------------------------------------------------------------ */

/* Bit e of the little-endian 32-bit word at qh, as 16 in byte e (Q5_1's fifth bits):
 * byte e/8 of the word spread over 8 bytes, each tested against its own bit. */
static inline __m256i q5_fifth(const uint8_t *qh) {
    uint32_t h;
    memcpy(&h, qh, 4);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h),
                                               _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                                                2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(16));
}

/* Levels (unsigned bytes, element order) of a Q4_1 (q5 = 0) or Q5_1 block. */
IQ_INLINE __m256i q_1_levels(const uint8_t *blk, const int q5) {
    if (!q5) return q4_u8(blk + offsetof(block_q4_1, qs));
    return _mm256_or_si256(q4_u8(blk + offsetof(block_q5_1, qs)), q5_fifth(blk + offsetof(block_q5_1, qh)));
}

/* The 16 IQ4 levels in each 128-bit lane, as the table PSHUFB reads: kv (signed) or
 * kv + 128 (unsigned), see IQ4_UNSIGNED. */
static inline __m256i iq4_table(void) {
    const __m128i kv = _mm_loadu_si128((const __m128i *)quant_iq4nl_values);
#if IQ4_UNSIGNED
    return _mm256_broadcastsi128_si256(_mm_xor_si128(kv, _mm_set1_epi8((char)0x80)));
#else
    return _mm256_broadcastsi128_si256(kv);
#endif
}

/* The 32 levels of the 16 nibble bytes at qs, looked up in tab (iq4_table()). */
static inline __m256i iq4_levels(__m256i tab, const uint8_t *qs) { return _mm256_shuffle_epi8(tab, q4_u8(qs)); }

/* Levels x activations a (s: a's sum) over 32 values, in 8 int32 lanes whose total is the
 * dot product. */
IQ_INLINE __m256i iq4_dot(__m256i q, __m256i a, int32_t s) {
#if IQ4_UNSIGNED
    return dpbusd256(_mm256_set1_epi32(-16 * s), q, a); /* 8 lanes x -16 s = -128 s */
#else
    (void)s;
    return dot_u8s8(_mm256_abs_epi8(q), _mm256_sign_epi8(a, q));
#endif
}

/* IQ4_XS: d (ls_j - 32) for the eight sub-blocks j of a super-block. */
static inline __m256 iq4_xs_factors(const block_iq4_xs *b) {
    uint32_t l;
    memcpy(&l, b->scales_l, 4);
    const __m256i lo = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)l), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                                        _mm256_set1_epi32(15));
    const __m256i hi = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(b->scales_h), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                                        _mm256_set1_epi32(3));
    const __m256i ls = _mm256_sub_epi32(_mm256_or_si256(lo, _mm256_slli_epi32(hi, 4)), _mm256_set1_epi32(32));
    return _mm256_mul_ps(_mm256_set1_ps(h2f(b->d)), _mm256_cvtepi32_ps(ls));
}


/* ---- Decode ------------------------------------------------------------------------ */

/* Q4_1 / Q5_1, rows [r0, r1) four at a time. scratch: [d_a, d_a s_a] per block. */
IQ_INLINE void q_1_rows(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch, const int q5) {
    const int64_t nb = w->cols / 32;
    const size_t bs = q5 ? sizeof(block_q5_1) : sizeof(block_q4_1);
    float *dd = scratch;
    for (int64_t t = 0; t < n; t++) {
        const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);
        for (int64_t b = 0; b < nb; b++) {
            dd[2 * b] = xb[b].d;
            dd[2 * b + 1] = xb[b].d * (float)xb[b].s;
        }
        for (int64_t r = r0; r < r1; r += RB) {
            const int rows = (int)G4_MIN(RB, r1 - r);
            const uint8_t *wr[RB];
            for (int i = 0; i < RB; i++) /* past the last row, repeat it (results not stored) */
                wr[i] = w->data + (uint64_t)(r + G4_MIN(i, rows - 1)) * w->row_bytes;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            __m128 m0 = _mm_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;
            for (int64_t b = 0; b < nb; b++) {
                if ((b & 3) == 0 && t == 0) prefetch_group_ahead(wr[0], w->row_bytes, b, 4, bs);
                const __m256i a = _mm256_loadu_si256((const __m256i *)xb[b].qs);
                const __m128 da = _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(dd + 2 * b))); /* [d_a, d_a s_a, 0, 0] */
#define Q1ROW(acc, macc, i)                                                                                      \
    do {                                                                                                         \
        const uint8_t *blk_ = wr[i] + b * bs;                                                                    \
        uint32_t dm_;                                                                                            \
        memcpy(&dm_, blk_, 4);                                                                                   \
        const __m128 p_ = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)dm_)), da); /* [d d_a, m d_a s_a] */    \
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(p_), _mm256_cvtepi32_ps(dot_u8s8(q_1_levels(blk_, q5), a)), acc); \
        macc = _mm_add_ps(macc, p_);                                                                             \
    } while (0)
                Q1ROW(a0, m0, 0);
                Q1ROW(a1, m1, 1);
                Q1ROW(a2, m2, 2);
                Q1ROW(a3, m3, 3);
#undef Q1ROW
            }
            /* lane 1 of each m: the offset terms */
            const __m128 m = _mm_setr_ps(_mm_cvtss_f32(_mm_movehdup_ps(m0)), _mm_cvtss_f32(_mm_movehdup_ps(m1)),
                                         _mm_cvtss_f32(_mm_movehdup_ps(m2)), _mm_cvtss_f32(_mm_movehdup_ps(m3)));
            store_rows(&y[t * ldy + r], _mm_add_ps(hsum256x4(a0, a1, a2, a3), m), rows);
        }
    }
}

/* IQ4_NL, rows [r0, r1) four at a time. */
static void iq4_nl_rows(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    (void)scratch;
    const int64_t nb = w->cols / 32;
    const __m256i tab = iq4_table();
    for (int64_t r = r0; r < r1; r += RB) {
        const int rows = (int)G4_MIN(RB, r1 - r);
        const block_iq4_nl *wr[RB];
        for (int i = 0; i < RB; i++)
            wr[i] = (const block_iq4_nl *)(w->data + (uint64_t)(r + G4_MIN(i, rows - 1)) * w->row_bytes);
        for (int64_t t = 0; t < n; t++) {
            const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int64_t b = 0; b < nb; b++) {
                if ((b & 3) == 0 && t == 0) prefetch_group_ahead(wr[0], w->row_bytes, b, 4, sizeof(block_iq4_nl));
                const __m256i a = _mm256_loadu_si256((const __m256i *)xb[b].qs);
                const __m256 da = _mm256_set1_ps(xb[b].d);
                const int32_t s = xb[b].s;
#define NLROW(acc, i)                                                                                           \
    acc = _mm256_fmadd_ps(_mm256_mul_ps(f16x8(wr[i][b].d), da),                                                 \
                          _mm256_cvtepi32_ps(iq4_dot(iq4_levels(tab, wr[i][b].qs), a, s)), acc)
                NLROW(a0, 0);
                NLROW(a1, 1);
                NLROW(a2, 2);
                NLROW(a3, 3);
#undef NLROW
            }
            store_rows(&y[t * ldy + r], hsum256x4(a0, a1, a2, a3), rows);
        }
    }
}

/* IQ4_XS, rows [r0, r1) four at a time. scratch: d_a per block. Per super-block and row,
 * the 8 factors d (ls_j - 32) d_a_j are one 8-lane product, stored and broadcast back. */
static void iq4_xs_rows(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    const int64_t nsb = w->cols / QK_K, nb = w->cols / 32;
    const __m256i tab = iq4_table();
    float *da = scratch;
    for (int64_t t = 0; t < n; t++) {
        const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);
        for (int64_t b = 0; b < nb; b++) da[b] = xb[b].d;
        for (int64_t r = r0; r < r1; r += RB) {
            const int rows = (int)G4_MIN(RB, r1 - r);
            const block_iq4_xs *wr[RB];
            for (int i = 0; i < RB; i++)
                wr[i] = (const block_iq4_xs *)(w->data + (uint64_t)(r + G4_MIN(i, rows - 1)) * w->row_bytes);
            __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
            for (int64_t i = 0; i < nsb; i++) {
                const __m256 dav = _mm256_loadu_ps(da + 8 * i);
                alignas(32) float fs[RB][8];
                prefetch_group_ahead(wr[0], w->row_bytes, i, 1, sizeof(block_iq4_xs));
                for (int k = 0; k < RB; k++) {
                    _mm256_store_ps(fs[k], _mm256_mul_ps(iq4_xs_factors(wr[k] + i), dav));
                }
                #pragma GCC unroll 8
                for (int j = 0; j < 8; j++) {
                    const block_a8 *x = xb + 8 * i + j;
                    const __m256i a = _mm256_loadu_si256((const __m256i *)x->qs);
#define XSROW(acc, k) \
    acc = _mm256_fmadd_ps(_mm256_set1_ps(fs[k][j]), _mm256_cvtepi32_ps(iq4_dot(iq4_levels(tab, wr[k][i].qs + 16 * j), a, x->s)), acc)
                    XSROW(c0, 0);
                    XSROW(c1, 1);
                    XSROW(c2, 2);
                    XSROW(c3, 3);
#undef XSROW
                }
            }
            store_rows(&y[t * ldy + r], hsum256x4(c0, c1, c2, c3), rows);
        }
    }
}

/* ---- Prefill: 8 rows sideways ------------------------------------------------------
 * The unpackers write kernels_x86_int8.h's sw_block layout: q[g] lane j = levels
 * 4g..4g+3 of row j, f / o the rows' factors. */

IQ_INLINE void q_1_sw_unpack(const mat *w, int64_t r, sw_dst out, const int q5) {
    const size_t bs = q5 ? sizeof(block_q5_1) : sizeof(block_q4_1);
    const uint8_t *row[SW_ROWS];
    for (int j = 0; j < SW_ROWS; j++) row[j] = w->data + (uint64_t)(r + j) * w->row_bytes;
    for (int64_t b = 0; b < w->cols / 32; b++) {
        __m128i dm[SW_ROWS]; /* [d m] of each row's block, as 2 halves */
        __m256i v[SW_ROWS];
        for (int j = 0; j < SW_ROWS; j++) {
            const uint8_t *blk = row[j] + b * bs;
            uint32_t x;
            memcpy(&x, blk, 4);
            dm[j] = _mm_cvtsi32_si128((int)x);
            if (q5) v[j] = q_1_levels(blk, q5);
        }
        __m256i q[8];
        if (q5) tr8x8_32(v, q);
        else sw_nibbles(row, (size_t)b * bs + offsetof(block_q4_1, qs), q);
        swd_put_q(out, b, q);
        /* [d0 m0 d1 m1 .. d3 m3] and rows 4..7: even halves are d, odd m */
        const __m128i lo = _mm_unpacklo_epi64(_mm_unpacklo_epi32(dm[0], dm[1]), _mm_unpacklo_epi32(dm[2], dm[3]));
        const __m128i hi = _mm_unpacklo_epi64(_mm_unpacklo_epi32(dm[4], dm[5]), _mm_unpacklo_epi32(dm[6], dm[7]));
        const __m128i sel = _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
        const __m128i l2 = _mm_shuffle_epi8(lo, sel), h2 = _mm_shuffle_epi8(hi, sel); /* [d0..d3 m0..m3] */
        swd_put_fo(out, b, _mm256_cvtph_ps(_mm_unpacklo_epi64(l2, h2)),
                   _mm256_xor_ps(_mm256_cvtph_ps(_mm_unpackhi_epi64(l2, h2)), _mm256_set1_ps(-0.0f))); /* o = -m */
    }
}

static void q4_1_sw_unpack(const mat *w, int64_t r, sw_dst out) { q_1_sw_unpack(w, r, out, 0); }
static void q5_1_sw_unpack(const mat *w, int64_t r, sw_dst out) { q_1_sw_unpack(w, r, out, 1); }

static void iq4_nl_sw_unpack(const mat *w, int64_t r, sw_dst out) {
    const __m256i tab = iq4_table();
    const uint8_t *row[SW_ROWS];
    for (int j = 0; j < SW_ROWS; j++) row[j] = w->data + (uint64_t)(r + j) * w->row_bytes;
    for (int64_t b = 0; b < w->cols / 32; b++) {
        const size_t o = (size_t)b * sizeof(block_iq4_nl);
        __m256i q[8];
        sw_nibbles(row, o + offsetof(block_iq4_nl, qs), q);
        #pragma GCC unroll 8
        for (int g = 0; g < 8; g++) q[g] = _mm256_shuffle_epi8(tab, q[g]);
        swd_put_q(out, b, q);
        const __m128i d = _mm_setr_epi16((short)sw_ld16(row[0] + o), (short)sw_ld16(row[1] + o), (short)sw_ld16(row[2] + o),
                                         (short)sw_ld16(row[3] + o), (short)sw_ld16(row[4] + o), (short)sw_ld16(row[5] + o),
                                         (short)sw_ld16(row[6] + o), (short)sw_ld16(row[7] + o));
        swd_put_fo(out, b, _mm256_cvtph_ps(d), _mm256_setzero_ps()); /* the offset is taken off in integers (iq4_sw_dot) */
    }
}

static void iq4_xs_sw_unpack(const mat *w, int64_t r, sw_dst out) {
    const __m256i tab = iq4_table();
    for (int64_t i = 0; i < w->cols / QK_K; i++) {
        __m256i fv[SW_ROWS], t[8];
        const uint8_t *blk[SW_ROWS];
        for (int j = 0; j < SW_ROWS; j++) {
            blk[j] = w->data + (uint64_t)(r + j) * w->row_bytes + (size_t)i * sizeof(block_iq4_xs);
            fv[j] = _mm256_castps_si256(iq4_xs_factors((const block_iq4_xs *)blk[j]));
        }
        for (int sb = 0; sb < 8; sb++) {
            __m256i q[8];
            sw_nibbles(blk, offsetof(block_iq4_xs, qs) + 16 * (size_t)sb, q);
            #pragma GCC unroll 8
            for (int g = 0; g < 8; g++) q[g] = _mm256_shuffle_epi8(tab, q[g]);
            swd_put_q(out, 8 * i + sb, q);
        }
        tr8x8_32(fv, t);
        for (int sb = 0; sb < 8; sb++) swd_put_fo(out, 8 * i + sb, _mm256_castsi256_ps(t[sb]), _mm256_setzero_ps());
    }
}

/* The IQ4 sideways engine: like sw_matmul, but levels are signed (or kv + 128 with VNNI,
 * the offset starting each int32 sum). Four tokens per pass; each block's 8 level groups
 * are loaded (and, with the sign trick, made absolute) once for all four. Rows [r0, r8)
 * in groups of 8; the caller covers rows past r8. */
#if IQ4_UNSIGNED
#define IQ4_SW_STEP(s, q, u, x, g) s = dpbusd256(s, q, _mm256_set1_epi32(((const int32_t *)(x)->qs)[g]))
#else
#define IQ4_SW_STEP(s, q, u, x, g)                                                                                    \
    s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_sign_epi8(_mm256_set1_epi32(((const int32_t *)(x)->qs)[g]), q)), one))
#endif

static void iq4_sw_matmul(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r8, const void *xv, int64_t ldx,
                          int64_t n, float *scratch, sw_unpack_fn unpack) {
    const int64_t nb = w->cols / 32;
    sw_block *blk = (sw_block *)(((uintptr_t)scratch + 31) & ~(uintptr_t)31);
#if !IQ4_UNSIGNED
    const __m256i one = _mm256_set1_epi16(1);
#endif
    for (int64_t r = r0; r < r8; r += SW_ROWS) {
        unpack(w, r, sw_dst_blocks(blk));
        for (int64_t t = 0; t < n; t += 4) {
            const int nt = (int)G4_MIN(4, n - t);
            const block_a8 *x[4];
            for (int k = 0; k < 4; k++) /* past the last token, repeat it (results not stored) */
                x[k] = (const block_a8 *)((const char *)xv + (t + G4_MIN(k, nt - 1)) * ldx);
            __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
            for (int64_t b = 0; b < nb; b++) {
                const block_a8 *x0 = x[0] + b, *x1 = x[1] + b, *x2 = x[2] + b, *x3 = x[3] + b;
#if IQ4_UNSIGNED
                __m256i s0 = _mm256_set1_epi32(-128 * x0->s), s1 = _mm256_set1_epi32(-128 * x1->s);
                __m256i s2 = _mm256_set1_epi32(-128 * x2->s), s3 = _mm256_set1_epi32(-128 * x3->s);
#else
                __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
#endif
                #pragma GCC unroll 8
                for (int g = 0; g < 8; g++) {
                    const __m256i q = _mm256_load_si256(&blk[b].q[g]);
#if IQ4_UNSIGNED
                    const __m256i u = q;
                    (void)u;
#else
                    const __m256i u = _mm256_abs_epi8(q);
#endif
                    IQ4_SW_STEP(s0, q, u, x0, g);
                    IQ4_SW_STEP(s1, q, u, x1, g);
                    IQ4_SW_STEP(s2, q, u, x2, g);
                    IQ4_SW_STEP(s3, q, u, x3, g);
                }
                const __m256 f = blk[b].f;
                c0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), _mm256_mul_ps(f, _mm256_set1_ps(x0->d)), c0);
                c1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), _mm256_mul_ps(f, _mm256_set1_ps(x1->d)), c1);
                c2 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s2), _mm256_mul_ps(f, _mm256_set1_ps(x2->d)), c2);
                c3 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s3), _mm256_mul_ps(f, _mm256_set1_ps(x3->d)), c3);
            }
            const __m256 c[4] = {c0, c1, c2, c3};
            for (int k = 0; k < nt; k++) _mm256_storeu_ps(y + (t + k) * ldy + r, c[k]);
        }
    }
}
#undef IQ4_SW_STEP

/* ---- Table entries ----------------------------------------------------------------- */

/* Prefill (n >= 2) on whole groups of 8 rows, decode kernels for the rest. */
#define IQ_MATMUL(NAME, SIDEWAYS, ROWS)                                                                            \
static void NAME(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,          \
                 int64_t n, float *scratch) {                                                                      \
    int64_t r8 = r0 + (r1 - r0) / SW_ROWS * SW_ROWS;                                                               \
    if (n < 2) r8 = r0;                                                                                            \
    if (r8 > r0) SIDEWAYS;                                                                                         \
    if (r8 < r1) ROWS(y, ldy, w, r8, r1, xv, ldx, n, scratch);                                                     \
}

static void q4_1_rows(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                      int64_t n, float *scratch) {
    q_1_rows(y, ldy, w, r0, r1, xv, ldx, n, scratch, 0);
}

static void q5_1_rows(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                      int64_t n, float *scratch) {
    q_1_rows(y, ldy, w, r0, r1, xv, ldx, n, scratch, 1);
}

/* 4-bit levels: 8 groups per int16 sum; 5-bit: 4 (VNNI sums in int32 either way) */
IQ_MATMUL(matmul_q4_1, r8 = sideways_matmul(y, ldy, w, r0, r1, xv, ldx, n, scratch, q4_1_sw_unpack, 4, 1), q4_1_rows)
IQ_MATMUL(matmul_q5_1, r8 = sideways_matmul(y, ldy, w, r0, r1, xv, ldx, n, scratch, q5_1_sw_unpack, 5, 1), q5_1_rows)
/* IQ4: with VNNI the unpackers' kv + 128 levels are the 16-row zmm engine's unsigned
 * levels with centre 128 (kernels_x86_int8.h's swz_matmul), so 16-row groups go there
 * and a last group of 8 to iq4_sw_matmul (one Zen 4 thread, kab, the same outputs bit for
 * bit: 2048 x 1536 at 128 tokens IQ4_NL 117 -> 162, IQ4_XS 130 -> 171 G multiply-adds/s;
 * 512 x 1536 at 9-16 tokens 1.24-1.39x) */
#ifdef X86_AVX512
#define IQ4_SIDEWAYS(UNPACK)                                                                                      \
    do {                                                                                                          \
        const int64_t r16 = r0 + (r8 - r0) / 16 * 16;                                                             \
        if (r16 > r0) swz_matmul(y, ldy, w, r0, r16, xv, ldx, n, scratch, UNPACK, 128, 0);                       \
        if (r8 > r16) iq4_sw_matmul(y, ldy, w, r16, r8, xv, ldx, n, scratch, UNPACK);                              \
    } while (0)
#else
#define IQ4_SIDEWAYS(UNPACK) iq4_sw_matmul(y, ldy, w, r0, r8, xv, ldx, n, scratch, UNPACK)
#endif
IQ_MATMUL(matmul_iq4_nl, IQ4_SIDEWAYS(iq4_nl_sw_unpack), iq4_nl_rows)
IQ_MATMUL(matmul_iq4_xs, IQ4_SIDEWAYS(iq4_xs_sw_unpack), iq4_xs_rows)
#undef IQ4_SIDEWAYS
#undef IQ_MATMUL

/* The entries of every x86 table (act[] is ACT_A8 already, from the reference). */
static inline void x86_fill_iq4(cpu_kernels *k) {
    k->matmul[QT_Q4_1] = matmul_q4_1;
    k->matmul[QT_Q5_1] = matmul_q5_1;
    k->matmul[QT_IQ4_NL] = matmul_iq4_nl;
    k->matmul[QT_IQ4_XS] = matmul_iq4_xs;
}

#undef IQ_INLINE
#undef IQ4_UNSIGNED

#endif
