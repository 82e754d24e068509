/* kernels_neon_kquant.h - Q4_K, Q5_K and Q6_K weights x ACT_A8S activations (block_a8
 * rows with one scale per 256 values, kernels.h) for the AArch64 tables (SDOT), included
 * by kernels_neon.c after kernels_neon_int8.h. Phones and Apple-silicon laptops mostly
 * run Q4_K_M files (Q4_K with Q6_K for the embedding and half of ffn_down / attn_v), so
 * these must not fall back to the scalar reference.
 *
 * Same shape as the Q4_0 / Q8_0 kernel of kernels_neon.c: four weight rows x up to four
 * tokens, one vector [r0 r1 r2 r3] per token. A 256-value super-block spans 8 activation
 * blocks of 32; per block, the four rows' levels are unpacked once (signed bytes, so SDOT
 * takes them as they are) and used for every token of the tile. The super-block's
 * activations share one scale D, so its dot product stays in integers: each block's
 * folded SDOT sums are multiplied by the rows' integer sub-block scales and accumulated
 * (MLA), and converted and scaled by [d]_rows x D once per super-block:
 *   Q4_K / Q5_K: levels 0..15 / 0..31, w = d sc_j q - dmin m_j; the minimum's term
 *     accumulates [m_j]_rows x s_j (s_j = block_a8.s) the same way, scaled by dmin D.
 *   Q6_K: levels q - 32 in -32..31, a scale per 16 values, so each half of the block keeps
 *     its own sum (lo: activations 0..15, hi: 16..31) and its own scale vector.
 * Bounds: a Q5_K block sum is at most 32 x 31 x 127, times sc <= 63, 8 blocks: < 2^26;
 * Q6_K 16 x 32 x 127 x 128 x 16 halves < 2^28. The per-row scales are unpacked in scalar
 * code once per super-block and row group (amortised over 256 values x the tile's
 * tokens). quant-formats.md §6 has the layouts. */
#ifndef G4_KERNELS_NEON_KQUANT_H
#define G4_KERNELS_NEON_KQUANT_H

#include "../quant/quant.h"

#define NKQ_INLINE static inline __attribute__((always_inline))

/* Q4_K / Q5_K: sc[j], m[j] (6-bit) and *d, *dmin of the super-block at blk (scale bytes at 4). */
static inline void nkq_k45_scales(const uint8_t *blk, int32_t sc[8], int32_t m[8], float *d, float *dmin) {
    uint16_t hd, hm;
    memcpy(&hd, blk, 2);
    memcpy(&hm, blk + 2, 2);
    *d = h2f(hd);
    *dmin = h2f(hm);
    for (int j = 0; j < 8; j++) {
        int a, b;
        k4_scale_min(blk + 4, j, &a, &b);
        sc[j] = a;
        m[j] = b;
    }
}

/* Levels of sub-block j (elements 32j..32j+31) of a Q4_K (q5 = 0) or Q5_K block: the low
 * nibbles of qs[32 (j/2) ..] for even j, the high ones for odd j; Q5_K adds bit j of
 * qh[e] as 16. */
NKQ_INLINE w32 nkq_k45_levels(const uint8_t *blk, const int j, const int q5) {
    const uint8_t *qs = blk + (q5 ? 48 : 16) + 32 * (j / 2);
    uint8x16_t a = vld1q_u8(qs), b = vld1q_u8(qs + 16);
    if (j % 2) { a = vshrq_n_u8(a, 4); b = vshrq_n_u8(b, 4); }
    else { a = vandq_u8(a, vdupq_n_u8(15)); b = vandq_u8(b, vdupq_n_u8(15)); }
    if (q5) {
        const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << j)), sixteen = vdupq_n_u8(16);
        a = vorrq_u8(a, vandq_u8(vtstq_u8(vld1q_u8(blk + 16), bit), sixteen));
        b = vorrq_u8(b, vandq_u8(vtstq_u8(vld1q_u8(blk + 32), bit), sixteen));
    }
    w32 w = {vreinterpretq_s8_u8(a), vreinterpretq_s8_u8(b)};
    return w;
}

/* Q6_K (ql[128], qh[64], scales[16] int8, d at 208): sc[s] = scales[s]; returns d. */
static inline float nkq_q6_scales(const uint8_t *blk, int32_t sc[16]) {
    uint16_t hd;
    memcpy(&hd, blk + 208, 2);
    for (int s = 0; s < 16; s++) sc[s] = (int8_t)blk[192 + s];
    return h2f(hd);
}

/* Levels - 32 of activation block g = 4h + k of a Q6_K block: nibble k/2 of
 * ql[64h + 32 (k%2) ..], bits 2k, 2k+1 of qh[32h ..] above it. */
NKQ_INLINE w32 nkq_q6_levels(const uint8_t *blk, const int g) {
    const int h = g / 4, k = g % 4;
    const uint8_t *l = blk + 64 * h + 32 * (k % 2), *q = blk + 128 + 32 * h;
    uint8x16_t a = vld1q_u8(l), b = vld1q_u8(l + 16);
    if (k >= 2) { a = vshrq_n_u8(a, 4); b = vshrq_n_u8(b, 4); }
    else { a = vandq_u8(a, vdupq_n_u8(15)); b = vandq_u8(b, vdupq_n_u8(15)); }
    uint8x16_t ha = vld1q_u8(q), hb = vld1q_u8(q + 16);
    switch (k) { /* bits 2k, 2k+1 to bits 4, 5 */
    case 0: ha = vshlq_n_u8(ha, 4); hb = vshlq_n_u8(hb, 4); break;
    case 1: ha = vshlq_n_u8(ha, 2); hb = vshlq_n_u8(hb, 2); break;
    case 2: break;
    default: ha = vshrq_n_u8(ha, 2); hb = vshrq_n_u8(hb, 2); break;
    }
    const uint8x16_t m = vdupq_n_u8(0x30);
    a = vorrq_u8(a, vandq_u8(ha, m));
    b = vorrq_u8(b, vandq_u8(hb, m));
    w32 w = {vsubq_s8(vreinterpretq_s8_u8(a), vdupq_n_s8(32)), vsubq_s8(vreinterpretq_s8_u8(b), vdupq_n_s8(32))};
    return w;
}

/* Four rows' sums of one half-block each (lo or hi), folded to [r0 r1 r2 r3]. */
NKQ_INLINE int32x4_t nkq_fold(int32x4_t p0, int32x4_t p1, int32x4_t p2, int32x4_t p3) {
    return vpaddq_s32(vpaddq_s32(p0, p1), vpaddq_s32(p2, p3));
}

/* type: QT_Q4_K, QT_Q5_K or QT_Q6_K (a constant in each instantiation) */
NKQ_INLINE void nkq_matmul(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                           int64_t n, const int type) {
    const int q6 = type == QT_Q6_K, q5 = type == QT_Q5_K;
    const int64_t nsb = w->cols / QK_K;
    const size_t bs = q6 ? sizeof(block_q6_K) : q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const int32x4_t z = vdupq_n_s32(0);
    for (int64_t r = r0; r < r1; r += 4) {
        const uint8_t *p[4];
        const int rows = row_group(w, r, r1, p);
        for (int64_t t = 0; t < n; t += 4) {
            const block_a8 *x[4];
            const int nt = tok_group(xv, ldx, t, n, x);
            float32x4_t c[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
            for (int64_t i = 0; i < nsb; i++) {
                const uint8_t *b[4] = {p[0] + i * bs, p[1] + i * bs, p[2] + i * bs, p[3] + i * bs};
                int32_t sr[4][16], mr[4][8], SC[16][4], M[8][4]; /* per row, then per sub-block x row */
                float dr[4], mnr[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                for (int q = 0; q < 4; q++) {
                    if (q6) dr[q] = nkq_q6_scales(b[q], sr[q]);
                    else nkq_k45_scales(b[q], sr[q], mr[q], &dr[q], &mnr[q]);
                }
                for (int s = 0; s < (q6 ? 16 : 8); s++)
                    for (int q = 0; q < 4; q++) SC[s][q] = sr[q][s];
                if (!q6)
                    for (int s = 0; s < 8; s++)
                        for (int q = 0; q < 4; q++) M[s][q] = mr[q][s];
                int32x4_t acc[4] = {z, z, z, z}, accm[4] = {z, z, z, z};
                #pragma GCC unroll 8 /* constant j: shifts and bit masks fold to immediates */
                for (int j = 0; j < 8; j++) {
                    const w32 l0 = q6 ? nkq_q6_levels(b[0], j) : nkq_k45_levels(b[0], j, q5);
                    const w32 l1 = q6 ? nkq_q6_levels(b[1], j) : nkq_k45_levels(b[1], j, q5);
                    const w32 l2 = q6 ? nkq_q6_levels(b[2], j) : nkq_k45_levels(b[2], j, q5);
                    const w32 l3 = q6 ? nkq_q6_levels(b[3], j) : nkq_k45_levels(b[3], j, q5);
                    for (int k = 0; k < nt; k++) {
                        const block_a8 *xb = &x[k][8 * i + j];
                        const int8x16_t alo = vld1q_s8(xb->qs), ahi = vld1q_s8(xb->qs + 16);
                        if (q6) {
                            const int32x4_t slo = nkq_fold(vdotq_s32(z, l0.lo, alo), vdotq_s32(z, l1.lo, alo),
                                                           vdotq_s32(z, l2.lo, alo), vdotq_s32(z, l3.lo, alo));
                            const int32x4_t shi = nkq_fold(vdotq_s32(z, l0.hi, ahi), vdotq_s32(z, l1.hi, ahi),
                                                           vdotq_s32(z, l2.hi, ahi), vdotq_s32(z, l3.hi, ahi));
                            acc[k] = vmlaq_s32(vmlaq_s32(acc[k], slo, vld1q_s32(SC[2 * j])), shi, vld1q_s32(SC[2 * j + 1]));
                        } else {
                            const int32x4_t s = nkq_fold(vdotq_s32(vdotq_s32(z, l0.lo, alo), l0.hi, ahi),
                                                         vdotq_s32(vdotq_s32(z, l1.lo, alo), l1.hi, ahi),
                                                         vdotq_s32(vdotq_s32(z, l2.lo, alo), l2.hi, ahi),
                                                         vdotq_s32(vdotq_s32(z, l3.lo, alo), l3.hi, ahi));
                            acc[k] = vmlaq_s32(acc[k], s, vld1q_s32(SC[j]));
                            accm[k] = vmlaq_n_s32(accm[k], vld1q_s32(M[j]), xb->s);
                        }
                    }
                }
                const float32x4_t dv = vld1q_f32(dr), mv = vld1q_f32(mnr);
                for (int k = 0; k < nt; k++) { /* the super-block's shared activation scale */
                    const float D = x[k][8 * i].d;
                    c[k] = vfmaq_f32(c[k], vcvtq_f32_s32(acc[k]), vmulq_n_f32(dv, D));
                    if (!q6) c[k] = vfmsq_f32(c[k], vcvtq_f32_s32(accm[k]), vmulq_n_f32(mv, D));
                }
            }
            for (int k = 0; k < nt; k++) store_rows(y + (t + k) * ldy + r, c[k], rows);
        }
    }
}

static void neon_matmul_q4_K(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                             int64_t n, float *scratch) {
    (void)scratch;
    nkq_matmul(y, ldy, w, r0, r1, xv, ldx, n, QT_Q4_K);
}

static void neon_matmul_q5_K(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                             int64_t n, float *scratch) {
    (void)scratch;
    nkq_matmul(y, ldy, w, r0, r1, xv, ldx, n, QT_Q5_K);
}

static void neon_matmul_q6_K(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                             int64_t n, float *scratch) {
    (void)scratch;
    nkq_matmul(y, ldy, w, r0, r1, xv, ldx, n, QT_Q6_K);
}

#undef NKQ_INLINE

#endif
