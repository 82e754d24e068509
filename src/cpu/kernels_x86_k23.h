/* kernels_x86_k23.h - Q2_K and Q3_K weights x block_a8 activations for the AVX2 and
 * AVX-512 tables, included after kernels_x86_kquant.h (whose kq_act it
 * uses, with kernels_x86_int8.h's hsum256, h2f, tr8x8_32, prefetch_group_ahead, RB and SW_ROWS). These are the 2- and 3-bit types of the Q2_K / Q3_K_S / Q3_K_M GGUF mixes;
 * without them both types ran through the scalar dequantize-then-float-dot path.
 * kernels_ref_k23.c is the reference they are tested against and gives the algebra.
 *
 * Both types give each 16 values a small integer scale, so, like Q6_K, an activation
 * block of 32 meets two sub-blocks. Levels go into VPMADDUBSW as unsigned bytes:
 *   Q2_K: q in 0..3 as stored; w = d sc_j q - dmin m_j (sc_j, m_j in 0..15);
 *   Q3_K: u = q + 4 in 0..7 (the 2 low bits, plus 4 where the hmask bit is set), and
 *     the offset comes off with the activations' 16-value sums: sum (u - 4) a =
 *     sum u a - 4 sum a.
 * The 16-bit pair sums of VPMADDUBSW are exact (at most 2 x 7 x 127 = 1778 for Q3_K,
 * 762 for Q2_K; quantize_a8 never writes -128), and VPMADDWD by the sub-block scales
 * applies both halves' scales while widening to int32, so each block leaves the integer
 * domain once, with one float factor d * d_a. Q2_K's minimum is an integer too (m_j times
 * the 16-value activation sums, VPMADDWD again), taken off with a factor dmin * d_a.
 * VPMADDUBSW serves both ISAs in decode and the 8-row engine (as in Q6_K's decode); VNNI
 * prefill runs VPDPBUSD in the zmm engine instead (below).
 *
 * Decode: rows four at a time, each super-block step prefetching the rows ahead as one
 * linear stream (kernels_x86_int8.h's prefetch_group_ahead explains why). Prefill (n >= 2)
 * with AVX-512 VNNI: 16-row groups in the zmm engine's half-scale form (kernels_x86_int8.h's
 * swz6_tokens; q3_K_sw_unpack / q2_K_sw_unpack below; one Zen 4 thread at 128 tokens,
 * Q3_K 62 -> 131 and Q2_K 63 -> 119 G MAC/s); on AVX2, Q3_K's 16-row groups in the signed
 * engine (sws_matmul, 3-bit levels with half scales: 62 -> 97, and 31 -> 53 at 9
 * tokens) and Q2_K's in k2_sideways16 (below: 16 rows x 2 tokens per pass, a
 * super-block in int32; kab, one Zen 4 thread, 1536 columns: 59 -> 94 G MAC/s at 64
 * tokens, 53 -> 82 at 16 with 2816 columns, as a 26B-A4B expert; 41 -> 53 at 4);
 * and otherwise 8 rows turned
 * sideways as kernels_x86_int8.h's sw_matmul does - 32-bit lane j of a vector holds four
 * consecutive levels of row j - so one VPMADDUBSW against a broadcast activation group
 * advances 8 rows, and each unpacked row group serves every token of the call. Per
 * block the four groups of each 16-value half are summed in int16 (Q3_K: 4 x 1778 plus
 * an offset of up to 4 x 16 x 127 = 8128 stays below 2^15), and VPMADDWD by the rows'
 * scales (lane j = [s_j, s_j]) widens both halves to one int32 sum per row.
 *
 * Single-thread rates on the 2-vCPU EPYC build machine (AVX2), for a 1536-column matrix
 * (make kbench; best of 3 runs in a quiet spell, int8 peak 128 G/s):
 *                  prefill, 64 tokens      decode, from DRAM
 *   Q2_K before:    1.0 G MAC/s            0.10 GB/s  (matmul_generic)
 *   Q3_K before:    1.0 G MAC/s            0.09 GB/s
 *   Q2_K after:    39 G MAC/s              7.3 GB/s   (22 G weights/s)
 *   Q3_K after:    45 G MAC/s              6.1 GB/s   (14 G weights/s)
 *   (same runs)    Q4_K 50 G MAC/s, 6.6 GB/s; Q6_K 40 G MAC/s, 7.0 GB/s
 * Decode at 2-3 bits per weight is near the instruction limit rather than DRAM's: Q3_K,
 * with the hmask to merge, draws about 85% of Q6_K's bytes/s. Taking the offsets off
 * once per super-block (below) rather than per block gave decode about 30%, and summing a
 * super-block in int32 with ACT_A8S activations (below) 1.3-1.5x more. */
#ifndef G4_KERNELS_X86_K23_H
#define G4_KERNELS_X86_K23_H

#define K23_INLINE static inline __attribute__((always_inline))

/* Byte offsets inside the blocks (quant-formats.md §6.0). */
enum {
    K2_SCALES = 0, K2_QS = 16, K2_D = 80, K2_DMIN = 82,    /* block_q2_K, 84 bytes */
    K3_HMASK = 0, K3_QS = 32, K3_SCALES = 96, K3_D = 108, /* block_q3_K, 110 bytes */
};

static inline float k23_h(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return h2f(h);
}

/* The 2-bit fields of activation block g (elements 32g..32g+31) of the 64 P2 bytes at qs:
 * byte 32 (g/4) + l, bits 2 (g%4). */
K23_INLINE __m256i k23_p2(const uint8_t *qs, const int g) {
    const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * (g / 4)));
    __m256i s;
    switch (g % 4) {
    case 0: s = q; break;
    case 1: s = _mm256_srli_epi16(q, 2); break;
    case 2: s = _mm256_srli_epi16(q, 4); break;
    default: s = _mm256_srli_epi16(q, 6); break;
    }
    return _mm256_and_si256(s, _mm256_set1_epi8(3));
}

/* Q3_K levels + 4 (0..7) of activation block g: bit g of hmask[l] moved to bit 2 (the
 * 16-bit shifts move bits across bytes, but never into bit 2 of a byte: masked away). */
K23_INLINE __m256i k3_levels(const uint8_t *blk, const int g) {
    const __m256i h = _mm256_loadu_si256((const __m256i *)(blk + K3_HMASK));
    __m256i hb;
    switch (g) {
    case 0: hb = _mm256_slli_epi16(h, 2); break;
    case 1: hb = _mm256_slli_epi16(h, 1); break;
    case 2: hb = h; break;
    case 3: hb = _mm256_srli_epi16(h, 1); break;
    case 4: hb = _mm256_srli_epi16(h, 2); break;
    case 5: hb = _mm256_srli_epi16(h, 3); break;
    case 6: hb = _mm256_srli_epi16(h, 4); break;
    default: hb = _mm256_srli_epi16(h, 5); break;
    }
    return _mm256_or_si256(k23_p2(blk + K3_QS, g), _mm256_and_si256(hb, _mm256_set1_epi8(4)));
}

/* Q3_K's 16 scales (unbiased, -32..31) as int16, lane j = sub-block j. The 12 bytes are
 * read as 8 + 4 (a 16-byte load would pass the block's end, and the matrix's in the last
 * one). Low 4 bits: the low nibbles of bytes 0..7 (j < 8), then their high nibbles; bits
 * 4, 5 of scale j = 4k + i: bits 2k, 2k+1 of byte 8 + i, i.e. byte i of the word of bytes
 * 8..11 shifted right by 2k (the 32-bit shifts bring higher bytes' bits only above bit 1,
 * masked away). */
static inline __m256i k3_scales16(const uint8_t *blk) {
    uint64_t lo8;
    uint32_t hi4;
    memcpy(&lo8, blk + K3_SCALES, 8);
    memcpy(&hi4, blk + K3_SCALES + 8, 4);
    const __m128i v = _mm_cvtsi64_si128((long long)lo8), m4 = _mm_set1_epi8(15);
    const __m128i low = _mm_unpacklo_epi64(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4));
    const __m128i h = _mm_srlv_epi32(_mm_set1_epi32((int)hi4), _mm_setr_epi32(0, 2, 4, 6));
    const __m128i high = _mm_slli_epi16(_mm_and_si128(h, _mm_set1_epi8(3)), 4); /* < 16 per byte: stays in it */
    return _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_or_si128(low, high)), _mm256_set1_epi16(32));
}

/* Q2_K's 16 scales (low nibbles) and mins (high nibbles) as int16, lane j = sub-block j. */
static inline void k2_scales16(const uint8_t *blk, __m256i *sc, __m256i *m) {
    const __m128i v = _mm_loadu_si128((const __m128i *)(blk + K2_SCALES)), m4 = _mm_set1_epi8(15);
    *sc = _mm256_cvtepu8_epi16(_mm_and_si128(v, m4));
    *m = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), m4));
}

/* ---- Decode: four rows at a time ------------------------------------------------------
 * Activations are ACT_A8S: one scale D per super-block of 256 values, so a super-block's
 * eight blocks add up in int32 and leave the integer domain once. Per token, scratch
 * holds D[nsb] and hs[2 nb] (int16: each block's two 16-value activation sums, |s| <=
 * 16 x 127). Per row and block: levels, VPMADDUBSW, and the pair sums times the block's
 * scale pair added into int32 lanes (VPDPWSSD with VNNI, else VPMADDWD and an add): lanes
 * 0-3 carry sub-block 2g, 4-7 sub-block 2g+1. Per row and super-block the offset term is
 * one VPMADDWD of 16 int16 factors with the 16 activation sums: Q3_K's -4 (k = the scale:
 * sum s (u - 4) a = s sum u a - 4 s sum a) comes off the int32 sums before their one
 * conversion, Q2_K's minimum (k = m) is one FNMADD by dmin D. The int32 sums stay small:
 * per lane at most 8 blocks x 2 x 7 x 127 x 2 x 32 (Q3_K) plus 4 x 2 x 32 x 2032 of
 * offset, under 2^21, so the conversion is exact. Against per-block float work with
 * ACT_A8 (one convert, one FMA and a broadcast scale per row and block), 1536 columns,
 * kab, Zen 4: AVX-512 table, one thread, Q2_K 1.49x in cache / 1.47x from memory (34 ->
 * 50 G multiply-adds/s), Q3_K 1.42x / 1.39x (28 -> 38); two threads from memory
 * 1.33-1.39x; AVX2 table 1.26-1.31x. E2B Q3_K_M decode, 2 threads: 20.7-21.5 ->
 * 24.1-25.7 tok/s. The accuracy cost, on the demo model's held-out text against the
 * unquantized file (g4 perplexity --kl-base): KL 0.1726 -> 0.1725 nats (Q2_K), 0.0571
 * -> 0.0574 (Q3_K_M). The scale pair of block g comes from one VPSHUFB of the 8 scales of
 * its half of the super-block. */

/* [s_2g x 8 | s_2g+1 x 8] for g%4 = k, from hv = the scales of sub-blocks 8 (g/4) ..
 * 8 (g/4) + 7 in both 128-bit halves (int16 lane 2k is at bytes 4k, 4k+1). */
#define K23_PAIR(hv, k)                                                                                   \
    _mm256_shuffle_epi8(hv, _mm256_setr_epi8(4 * (k), 4 * (k) + 1, 4 * (k), 4 * (k) + 1, 4 * (k), 4 * (k) + 1,   \
                                             4 * (k), 4 * (k) + 1, 4 * (k), 4 * (k) + 1, 4 * (k), 4 * (k) + 1,   \
                                             4 * (k), 4 * (k) + 1, 4 * (k), 4 * (k) + 1, 4 * (k) + 2, 4 * (k) + 3, \
                                             4 * (k) + 2, 4 * (k) + 3, 4 * (k) + 2, 4 * (k) + 3, 4 * (k) + 2,     \
                                             4 * (k) + 3, 4 * (k) + 2, 4 * (k) + 3, 4 * (k) + 2, 4 * (k) + 3,     \
                                             4 * (k) + 2, 4 * (k) + 3, 4 * (k) + 2, 4 * (k) + 3))

K23_INLINE void k23_rows(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                         int64_t n, float *scratch, const int q3) {
    const int64_t nsb = w->cols / QK_K, nb = w->cols / 32;
    const int64_t bs = q3 ? (int64_t)sizeof(block_q3_K) : (int64_t)sizeof(block_q2_K);
    float *D = scratch;
    int16_t *hs = (int16_t *)(scratch + nsb);
    for (int64_t t = 0; t < n; t++) {
        const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);
        for (int64_t i = 0; i < nsb; i++) D[i] = xb[8 * i].d;
        for (int64_t b = 0; b < nb; b++) {
            const int32_t s0 = a8_half_sum(xb + b);
            hs[2 * b] = (int16_t)s0;
            hs[2 * b + 1] = (int16_t)(xb[b].s - s0);
        }
        for (int64_t r = r0; r < r1; r += RB) {
            const int rows = (int)G4_MIN(RB, r1 - r);
            const uint8_t *wr[RB];
            for (int i = 0; i < RB; i++) /* past the last row, repeat it (results not stored) */
                wr[i] = w->data + (uint64_t)(r + G4_MIN(i, rows - 1)) * w->row_bytes;
            __m256 c[RB] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
            for (int64_t i = 0; i < nsb; i++) {
                const uint8_t *bk[RB] = {wr[0] + i * bs, wr[1] + i * bs, wr[2] + i * bs, wr[3] + i * bs};
                const __m256i hsv = _mm256_loadu_si256((const __m256i *)(hs + 16 * i));
                __m256i sa[RB], sb[RB], acc[RB], off[RB]; /* scales of sub-blocks 0..7 / 8..15, in both halves */
                prefetch_group_ahead(wr[0], w->row_bytes, i, 1, bs);
                #pragma GCC unroll 4
                for (int q = 0; q < RB; q++) {
                    __m256i s16, k16;
                    if (q3) s16 = k16 = k3_scales16(bk[q]);
                    else k2_scales16(bk[q], &s16, &k16);
                    off[q] = _mm256_madd_epi16(k16, hsv);
                    sa[q] = _mm256_permute2x128_si256(s16, s16, 0x00);
                    sb[q] = _mm256_permute2x128_si256(s16, s16, 0x11);
                    acc[q] = q3 ? _mm256_slli_epi32(_mm256_sub_epi32(_mm256_setzero_si256(), off[q]), 2) : _mm256_setzero_si256();
                }
                #pragma GCC unroll 8 /* constant g: the shifts and shuffles fold to immediates */
                for (int g = 0; g < 8; g++) {
                    const __m256i a = _mm256_loadu_si256((const __m256i *)xb[8 * i + g].qs);
                    #pragma GCC unroll 4
                    for (int q = 0; q < RB; q++) {
                        const __m256i u = q3 ? k3_levels(bk[q], g) : k23_p2(bk[q] + K2_QS, g);
                        acc[q] = kq_madd_acc(acc[q], _mm256_maddubs_epi16(u, a), K23_PAIR(g < 4 ? sa[q] : sb[q], g % 4));
                    }
                }
                #pragma GCC unroll 4
                for (int q = 0; q < RB; q++) {
                    const float d = k23_h(bk[q] + (q3 ? K3_D : K2_D)) * D[i];
                    c[q] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(acc[q]), c[q]);
                    if (!q3)
                        c[q] = _mm256_fnmadd_ps(_mm256_set1_ps(k23_h(bk[q] + K2_DMIN) * D[i]), _mm256_cvtepi32_ps(off[q]), c[q]);
                }
            }
            store_rows(&y[t * ldy + r], hsum256x4(c[0], c[1], c[2], c[3]), rows);
        }
    }
}

#undef K23_PAIR

/* ---- Prefill: 8 rows sideways ---------------------------------------------------------
 * Per 32-value block, q[g] lane j holds levels 4g..4g+3 of row j (unsigned; q[0..3] are
 * the block's first 16-value half, q[4..7] the second), and the halves' scales are int16
 * pairs: slo lane j = [s, s] with s row j's scale of the first half, shi the second's;
 * Q2_K adds mm lane j = [m_lo, m_hi], row j's two mins. Per super-block, d (and dmin)
 * lane j = row j's. Per token and block, the activation side is one int32 to broadcast
 * per half - Q3_K: 4 s_half in the low 16 bits (the offset, off one int16 of each pair);
 * Q2_K: one [s_lo, s_hi] int16 pair for the mins' VPMADDWD.
 * scratch (32-byte aligned): nb k23_sw (320 bytes), Q2_K's nb mm vectors (32 bytes), nsb x
 * 2 d/dmin vectors, then 4 tokens x nb x (Q3_K: 2, Q2_K: 1) int32: per 32 columns 360
 * bytes (Q3_K) or 376 (Q2_K), within KERNEL_SCRATCH_FLOATS' 384 (+ 64 of slack, of which
 * the alignment takes at most 31). */
typedef struct k23_sw {
    __m256i q[8];
    __m256i slo, shi;
} k23_sw;

/* [s_2g, s_2g] (lo) and [s_2g+1, s_2g+1] (hi) in 32-bit lane g, from int16 lane j = s_j */
static inline void k23_pairs(__m256i s16, __m256i *lo, __m256i *hi) {
    *lo = _mm256_shuffle_epi8(s16, _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13,
                                                    0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13));
    *hi = _mm256_shuffle_epi8(s16, _mm256_setr_epi8(2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15,
                                                    2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15));
}

K23_INLINE void k23_sw_unpack(const mat *w, int64_t r, k23_sw *out, __m256i *mmo, __m256 *dv, const int q3) {
    const int64_t nsb = w->cols / QK_K;
    const int64_t bs = q3 ? (int64_t)sizeof(block_q3_K) : (int64_t)sizeof(block_q2_K);
    for (int64_t i = 0; i < nsb; i++) {
        __m256i lv[8][SW_ROWS], lo[SW_ROWS], hi[SW_ROWS], mm[SW_ROWS], t[8]; /* [block][row], [row] */
        alignas(32) float d[SW_ROWS], dmin[SW_ROWS];
        for (int j = 0; j < SW_ROWS; j++) {
            const uint8_t *blk = w->data + (uint64_t)(r + j) * w->row_bytes + i * bs;
            #pragma GCC unroll 8
            for (int g = 0; g < 8; g++) lv[g][j] = q3 ? k3_levels(blk, g) : k23_p2(blk + K2_QS, g);
            __m256i s16;
            if (q3) {
                s16 = k3_scales16(blk);
                d[j] = k23_h(blk + K3_D);
            } else {
                k2_scales16(blk, &s16, &mm[j]); /* int16 lanes 2g, 2g+1 = [m_lo, m_hi] of block g */
                d[j] = k23_h(blk + K2_D);
                dmin[j] = k23_h(blk + K2_DMIN);
            }
            k23_pairs(s16, &lo[j], &hi[j]);
        }
        for (int g = 0; g < 8; g++) tr8x8_32(lv[g], out[8 * i + g].q);
        tr8x8_32(lo, t);
        for (int g = 0; g < 8; g++) out[8 * i + g].slo = t[g];
        tr8x8_32(hi, t);
        for (int g = 0; g < 8; g++) out[8 * i + g].shi = t[g];
        if (!q3) {
            tr8x8_32(mm, t);
            for (int g = 0; g < 8; g++) mmo[8 * i + g] = t[g];
        }
        dv[2 * i] = _mm256_load_ps(d);
        dv[2 * i + 1] = q3 ? _mm256_setzero_ps() : _mm256_load_ps(dmin);
    }
}

/* One token's block: acc += d d_a x (int32 of both halves), and for Q2_K
 * acc -= dmin d_a x (m_lo s_lo + m_hi s_hi) (mm: the block's mins). as: the token's
 * int32s for the block. */
K23_INLINE __m256 k23_sw_acc(__m256 acc, const k23_sw *b, const __m256i *mm, const __m256 *dv, const block_a8 *xb,
                             const int32_t *as, const int q3) {
    const int32_t *a = (const int32_t *)xb->qs;
    __m256i lo = _mm256_maddubs_epi16(b->q[0], _mm256_set1_epi32(a[0]));
    __m256i hi = _mm256_maddubs_epi16(b->q[4], _mm256_set1_epi32(a[4]));
    #pragma GCC unroll 4
    for (int g = 1; g < 4; g++) {
        lo = _mm256_add_epi16(lo, _mm256_maddubs_epi16(b->q[g], _mm256_set1_epi32(a[g])));
        hi = _mm256_add_epi16(hi, _mm256_maddubs_epi16(b->q[g + 4], _mm256_set1_epi32(a[g + 4])));
    }
    if (q3) {
        lo = _mm256_sub_epi16(lo, _mm256_set1_epi32(as[0]));
        hi = _mm256_sub_epi16(hi, _mm256_set1_epi32(as[1]));
    }
    const __m256i s = _mm256_add_epi32(_mm256_madd_epi16(lo, b->slo), _mm256_madd_epi16(hi, b->shi));
    const __m256 da = _mm256_set1_ps(xb->d);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dv[0], da), acc);
    if (!q3) {
        const __m256i m = _mm256_madd_epi16(*mm, _mm256_set1_epi32(as[0]));
        acc = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(m), _mm256_mul_ps(dv[1], da), acc);
    }
    return acc;
}

/* The activation side of block xb for k23_sw_acc. */
static inline void k23_act_sums(const block_a8 *xb, int32_t *as, const int q3) {
    const int32_t s0 = a8_half_sum(xb), s1 = xb->s - s0;
    if (q3) { /* 4 s in the low int16 of the lane, 0 in the high one */
        as[0] = (int32_t)(uint16_t)(int16_t)(4 * s0);
        as[1] = (int32_t)(uint16_t)(int16_t)(4 * s1);
    } else {
        as[0] = (int32_t)((uint32_t)(uint16_t)(int16_t)s0 | (uint32_t)(uint16_t)(int16_t)s1 << 16);
    }
}

K23_INLINE void k23_sideways(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r8, const void *xv, int64_t ldx,
                             int64_t n, float *scratch, const int q3) {
    const int64_t nb = w->cols / 32, nsb = w->cols / QK_K;
    k23_sw *blk = (k23_sw *)(((uintptr_t)scratch + 31) & ~(uintptr_t)31);
    __m256i *mm = (__m256i *)(blk + nb);
    __m256 *dv = (__m256 *)(mm + (q3 ? 0 : nb));
    int32_t *as = (int32_t *)(dv + 2 * nsb); /* [4][nb][na] */
    const int na = q3 ? 2 : 1;
    for (int64_t r = r0; r < r8; r += SW_ROWS) {
        k23_sw_unpack(w, r, blk, mm, dv, q3);
        for (int64_t t = 0; t < n; t += 4) {
            const int nt = (int)G4_MIN(4, n - t);
            const block_a8 *x[4];
            for (int k = 0; k < 4; k++) { /* past the last token, repeat it (results not stored) */
                x[k] = (const block_a8 *)((const char *)xv + (t + G4_MIN(k, nt - 1)) * ldx);
                for (int64_t b = 0; b < nb; b++) k23_act_sums(x[k] + b, as + (k * nb + b) * na, q3);
            }
            __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
            for (int64_t b = 0; b < nb; b++) {
                const __m256 *d = dv + 2 * (b / 8);
                c0 = k23_sw_acc(c0, blk + b, mm + b, d, x[0] + b, as + (0 * nb + b) * na, q3);
                c1 = k23_sw_acc(c1, blk + b, mm + b, d, x[1] + b, as + (1 * nb + b) * na, q3);
                c2 = k23_sw_acc(c2, blk + b, mm + b, d, x[2] + b, as + (2 * nb + b) * na, q3);
                c3 = k23_sw_acc(c3, blk + b, mm + b, d, x[3] + b, as + (3 * nb + b) * na, q3);
            }
            const __m256 c[4] = {c0, c1, c2, c3};
            for (int k = 0; k < nt; k++) _mm256_storeu_ps(y + (t + k) * ldy + r, c[k]);
        }
    }
}

#ifndef X86_AVX512
/* AVX2 Q2_K prefill, 16 rows at a time: two 8-row groups unpacked as k23_sideways does
 * (k23_sw_unpack), each activation group broadcast once for both; T tokens (2, or 1 for
 * the last) per pass over the unpacked rows, so each level vector loaded serves 2 x T
 * VPMADDUBSW. A super-block's activations share one scale (ACT_A8S), so its 8 blocks add
 * up in int32 - the scaled sums (|.| <= 8 x 2 x 16 x 3 x 127 x 15 < 2^21) and the
 * minimums' m_lo s_lo + m_hi s_hi (< 2^19), both exact in float - and leave the integer
 * domain once per super-block, where k23_sideways converts and scales every block. The
 * activations' half sums ([s_lo, s_hi] int16 pairs) are computed once per call and
 * token instead of once per 8 rows. */
K23_INLINE void k2_sb16(__m256 c[][2], const k23_sw *A, const k23_sw *B, const __m256i *mA, const __m256i *mB,
                        const __m256 *dA, const __m256 *dB, const block_a8 *const *x, const int32_t *const *as,
                        int64_t i, const int T) {
    /* the scaled sums, then the minimums' terms in a second pass, so that the first keeps
     * its 4 int16 and 4 int32 sums and the level and activation vectors in the 16
     * registers (in one pass with the 8 blocks unrolled it spilled) */
    __m256i acc[2][2], mac[2][2];
    for (int t = 0; t < T; t++) acc[t][0] = acc[t][1] = mac[t][0] = mac[t][1] = _mm256_setzero_si256();
    #pragma GCC unroll 1
    for (int k = 0; k < 8; k++) {
        const int64_t b = 8 * i + k;
        #pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i s[2][2];
            #pragma GCC unroll 4
            for (int g = 4 * h; g < 4 * h + 4; g++) {
                const __m256i qa = A[b].q[g], qb = B[b].q[g];
                #pragma GCC unroll 2
                for (int t = 0; t < T; t++) {
                    const __m256i a = _mm256_set1_epi32(((const int32_t *)x[t][b].qs)[g]);
                    const __m256i pa = _mm256_maddubs_epi16(qa, a), pb = _mm256_maddubs_epi16(qb, a);
                    s[t][0] = g > 4 * h ? _mm256_add_epi16(s[t][0], pa) : pa;
                    s[t][1] = g > 4 * h ? _mm256_add_epi16(s[t][1], pb) : pb;
                    /* chains, not trees: reassociated, the products are all live and spill */
                    __asm__("" : "+v"(s[t][0]), "+v"(s[t][1]));
                }
            }
            #pragma GCC unroll 2
            for (int t = 0; t < T; t++) {
                acc[t][0] = _mm256_add_epi32(acc[t][0], _mm256_madd_epi16(s[t][0], h ? A[b].shi : A[b].slo));
                acc[t][1] = _mm256_add_epi32(acc[t][1], _mm256_madd_epi16(s[t][1], h ? B[b].shi : B[b].slo));
            }
        }
    }
    #pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        const int64_t b = 8 * i + k;
        #pragma GCC unroll 2
        for (int t = 0; t < T; t++) {
            const __m256i a = _mm256_set1_epi32(as[t][b]);
            mac[t][0] = _mm256_add_epi32(mac[t][0], _mm256_madd_epi16(mA[b], a));
            mac[t][1] = _mm256_add_epi32(mac[t][1], _mm256_madd_epi16(mB[b], a));
        }
    }
    #pragma GCC unroll 2
    for (int t = 0; t < T; t++) {
        const __m256 D = _mm256_set1_ps(x[t][8 * i].d);
        c[t][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t][0]), _mm256_mul_ps(dA[2 * i], D), c[t][0]);
        c[t][0] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mac[t][0]), _mm256_mul_ps(dA[2 * i + 1], D), c[t][0]);
        c[t][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t][1]), _mm256_mul_ps(dB[2 * i], D), c[t][1]);
        c[t][1] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mac[t][1]), _mm256_mul_ps(dB[2 * i + 1], D), c[t][1]);
    }
}

/* Tokens [t, t + T) against the 16 unpacked rows (k2_sb16 per super-block); stores 16
 * outputs per token. */
K23_INLINE void k2_tokens16(float *y, int64_t ldy, int64_t r, const k23_sw *A, const k23_sw *B, const __m256i *mA,
                            const __m256i *mB, const __m256 *dA, const __m256 *dB, const void *xv, int64_t ldx,
                            const int32_t *as, int64_t nb, int64_t t, const int T) {
    const block_a8 *x[2];
    const int32_t *a[2];
    for (int k = 0; k < T; k++) {
        x[k] = (const block_a8 *)((const char *)xv + (t + k) * ldx);
        a[k] = as + (t + k) * nb;
    }
    __m256 c[2][2];
    for (int k = 0; k < T; k++) c[k][0] = c[k][1] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb / 8; i++) k2_sb16(c, A, B, mA, mB, dA, dB, x, a, i, T);
    for (int k = 0; k < T; k++) {
        _mm256_storeu_ps(y + (t + k) * ldy + r, c[k][0]);
        _mm256_storeu_ps(y + (t + k) * ldy + r + 8, c[k][1]);
    }
}

/* Rows [r0, r16) in groups of 16, every token; the caller covers the rest. scratch
 * (32-byte aligned): 2 x nb k23_sw and 2 x nb minimum vectors (rows r.. r+7, then r+8..
 * r+15), 2 x 2 nsb d / dmin vectors, then KERNEL_TILE_TOKENS x nb int32 activation
 * pairs: per 32 columns 1744 bytes, within the AVX2 table's scratch (kernels.h). */
_Static_assert(2 * (sizeof(k23_sw) + sizeof(__m256i)) + 16 + KERNEL_TILE_TOKENS * sizeof(int32_t) <=
                   KERNEL_SCRATCH_PER_COL_MAX * 32 * sizeof(float),
               "k2_sideways16's scratch per 32 columns must fit the AVX2 table's");
static void k2_sideways16(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r16, const void *xv, int64_t ldx,
                          int64_t n, float *scratch) {
    const int64_t nb = w->cols / 32, nsb = w->cols / QK_K;
    k23_sw *A = (k23_sw *)(((uintptr_t)scratch + 31) & ~(uintptr_t)31), *B = A + nb;
    __m256i *mA = (__m256i *)(B + nb), *mB = mA + nb;
    __m256 *dA = (__m256 *)(mB + nb), *dB = dA + 2 * nsb;
    int32_t *as = (int32_t *)(dB + 2 * nsb);
    for (int64_t t0 = 0; t0 < n; t0 += KERNEL_TILE_TOKENS) {
        const int64_t nt = G4_MIN(KERNEL_TILE_TOKENS, n - t0);
        const char *xt = (const char *)xv + t0 * ldx;
        for (int64_t t = 0; t < nt; t++)
            for (int64_t b = 0; b < nb; b++) k23_act_sums((const block_a8 *)(xt + t * ldx) + b, as + t * nb + b, 0);
        for (int64_t r = r0; r < r16; r += 16) {
            k23_sw_unpack(w, r, A, mA, dA, 0);
            k23_sw_unpack(w, r + 8, B, mB, dB, 0);
            /* the next 16 rows into L2 while these compute, a slice per token pair (as
             * sws_matmul does) */
            const char *next = r + 16 < r16 ? (const char *)w->data + (uint64_t)(r + 16) * w->row_bytes : NULL;
            const int64_t next_bytes = 16 * (int64_t)w->row_bytes, step = (next_bytes / ((nt + 1) / 2) + 63) / 64 * 64;
            int64_t pf = 0, t = 0;
            for (; t < nt; t += 2) {
                if (next)
                    for (const int64_t e = G4_MIN(pf + step, next_bytes); pf < e; pf += 64) _mm_prefetch(next + pf, _MM_HINT_T1);
                if (nt - t >= 2) k2_tokens16(y + t0 * ldy, ldy, r, A, B, mA, mB, dA, dB, xt, ldx, as, nb, t, 2);
                else k2_tokens16(y + t0 * ldy, ldy, r, A, B, mA, mB, dA, dB, xt, ldx, as, nb, t, 1);
            }
        }
    }
}
#endif

/* Q3_K for the 16-row engines (kernels_x86_int8.h: with VNNI swz6_tokens, centre 4;
 * without, the AVX2 signed engine sws_matmul, 3-bit levels centred on 4): levels + 4
 * (0..7), f = d, o the half scales (-32..31), by kernels_x86_kquant.h's sw_halves_unpack. */
static inline float k3_d(const uint8_t *blk) { return k23_h(blk + K3_D); }

static void q3_K_sw_unpack(const mat *w, int64_t r, sw_dst out) {
    sw_halves_unpack(w, r, out, sizeof(block_q3_K), k3_levels, k3_scales16, k3_d);
}

#ifdef X86_AVX512
/* Q2_K likewise (swz6_tokens' SWZ_MINS form): levels 0..3 sideways, f = d, o's lane j row
 * j's [sc0, sc1, m0, m1] bytes of the block's halves, sum row j's dmin as float bits. The
 * 16 scale bytes (scale | min << 4 per sub-block) split into scale and min bytes, and the
 * 16-bit pairs of block g interleaved as [sc pair, m pair] put block g in 32-bit lane g;
 * one 8 x 8 transpose gives every block's. */
static void q2_K_sw_unpack(const mat *w, int64_t r, sw_dst out) {
    const int64_t nsb = w->cols / QK_K, bs = sizeof(block_q2_K);
    const __m128i m4 = _mm_set1_epi8(15);
    for (int64_t i = 0; i < nsb; i++) {
        __m256i lv[8][SW_ROWS], sv[SW_ROWS], t[8]; /* lv[block][row] */
        alignas(32) float d[SW_ROWS], dmin[SW_ROWS];
        for (int j = 0; j < SW_ROWS; j++) {
            const uint8_t *blk = w->data + (uint64_t)(r + j) * w->row_bytes + i * bs;
            #pragma GCC unroll 8
            for (int g = 0; g < 8; g++) lv[g][j] = k23_p2(blk + K2_QS, g);
            const __m128i v = _mm_loadu_si128((const __m128i *)(blk + K2_SCALES));
            const __m128i sc = _mm_and_si128(v, m4), mn = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
            sv[j] = _mm256_setr_m128i(_mm_unpacklo_epi16(sc, mn), _mm_unpackhi_epi16(sc, mn));
            d[j] = k23_h(blk + K2_D);
            dmin[j] = k23_h(blk + K2_DMIN);
        }
        const __m256 f = _mm256_load_ps(d);
        const __m256i dm = _mm256_castps_si256(_mm256_load_ps(dmin));
        tr8x8_32(sv, t);
        for (int g = 0; g < 8; g++) {
            __m256i q[8];
            tr8x8_32(lv[g], q);
            swd_put_q(out, 8 * i + g, q);
            swd_put_fo(out, 8 * i + g, f, _mm256_castsi256_ps(t[g]));
            _mm256_store_si256((__m256i *)(out.sum + (8 * i + g) * out.bs), dm);
        }
    }
}
#endif

/* ---- Table entries -------------------------------------------------------------------
 * Decode by rows; prefill sideways (with VNNI 16-row groups in the zmm engine first),
 * with the rows past the last group of 8 by rows. */
K23_INLINE void k23_matmul(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                           int64_t n, float *scratch, const int q3) {
#ifdef X86_AVX512
    if (n >= 2 && r1 - r0 >= 16) {
        const int64_t r16 = r0 + (r1 - r0) / 16 * 16;
        if (q3) swz_matmul(y, ldy, w, r0, r16, xv, ldx, n, scratch, q3_K_sw_unpack, 4, SWZ_CENTRED);
        else swz_matmul(y, ldy, w, r0, r16, xv, ldx, n, scratch, q2_K_sw_unpack, 0, SWZ_MINS);
        r0 = r16;
        if (r0 == r1) return;
    }
#else
    if (n >= 2 && r1 - r0 >= 16) {
        const int64_t r16 = r0 + (r1 - r0) / 16 * 16;
        if (q3) sws_matmul(y, ldy, w, r0, r16, xv, ldx, n, scratch, q3_K_sw_unpack, 3, 0);
        else k2_sideways16(y, ldy, w, r0, r16, xv, ldx, n, scratch);
        r0 = r16;
        if (r0 == r1) return;
    }
#endif
    const int64_t r8 = r0 + (r1 - r0) / SW_ROWS * SW_ROWS;
    if (n < 2 || r8 == r0) { k23_rows(y, ldy, w, r0, r1, xv, ldx, n, scratch, q3); return; }
    k23_sideways(y, ldy, w, r0, r8, xv, ldx, n, scratch, q3);
    if (r8 < r1) k23_rows(y, ldy, w, r8, r1, xv, ldx, n, scratch, q3);
}

static void matmul_q2_K(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    k23_matmul(y, ldy, w, r0, r1, xv, ldx, n, scratch, 0);
}

static void matmul_q3_K(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    k23_matmul(y, ldy, w, r0, r1, xv, ldx, n, scratch, 1);
}

/* The Q2_K / Q3_K entries of every x86 table (act[] is ACT_A8S already, from the reference). */
static inline void x86_fill_k23(cpu_kernels *k) {
    k->matmul[QT_Q2_K] = matmul_q2_K;
    k->matmul[QT_Q3_K] = matmul_q3_K;
}

#undef K23_INLINE

#endif
