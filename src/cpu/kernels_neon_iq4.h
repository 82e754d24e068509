/* kernels_neon_iq4.h - Q4_1, Q5_1, IQ4_NL and IQ4_XS weights x block_a8 activations for
 * the AArch64 tables (SDOT), included by kernels_neon.c after kernels_neon_int8.h (the
 * i8mm table keeps these entries: its fill starts from the NEON one). Without them these
 * types ran through the scalar dequantize-then-float-dot path; kernels_ref_iq4.c is the
 * oracle and states the algebra.
 *
 * Same shape as kernels_neon.c's Q4_0 kernel: four weight rows x up to four tokens, one
 * float vector [r0 r1 r2 r3] per token. Per 32-value block the four rows' levels are
 * unpacked once into signed bytes (SDOT multiplies signed by signed, so no sign trick)
 * and used for every token of the tile, with the rows' factors as one vector:
 *   Q4_1 / Q5_1: levels 0..15 / 0..31 (the fifth bit, bit e of the qh word, by a TST
 *     of each byte of qh spread over 8 lanes), f = [d]_rows; the offset adds
 *     [m]_rows x d_a s_a with one more FMA.
 *   IQ4_NL: levels kv[q] by one TBL of the 16 int8 levels, f = [d]_rows.
 *   IQ4_XS: as IQ4_NL per 32 values, f = [d (ls_j - 32)]_rows, the eight sub-block
 *     factors of each row computed in scalar code once per super-block and tile. */
#ifndef G4_KERNELS_NEON_IQ4_H
#define G4_KERNELS_NEON_IQ4_H

#include "../quant/quant.h"

#define NIQ_INLINE static inline __attribute__((always_inline))

/* Nibble levels of the 16 bytes at qs: lo = elements 0..15 (low nibbles), hi = 16..31. */
static inline w32 niq_nibbles(const uint8_t *qs) {
    const uint8x16_t b = vld1q_u8(qs);
    w32 v = {vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(15))), vreinterpretq_s8_u8(vshrq_n_u8(b, 4))};
    return v;
}

/* Q5_1: bit e of the little-endian word at qh as 16, added to level e. */
static inline w32 niq_fifth(w32 v, const uint8_t *qh) {
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t m = vld1q_u8(bits), sixteen = vdupq_n_u8(16);
    const uint8x16_t lo = vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1]));
    const uint8x16_t hi = vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3]));
    v.lo = vorrq_s8(v.lo, vreinterpretq_s8_u8(vandq_u8(vtstq_u8(lo, m), sixteen)));
    v.hi = vorrq_s8(v.hi, vreinterpretq_s8_u8(vandq_u8(vtstq_u8(hi, m), sixteen)));
    return v;
}

/* IQ4: levels kv[q] of the 16 nibble bytes at qs (kv: the 16 levels in a register). */
static inline w32 niq_iq4(int8x16_t kv, const uint8_t *qs) {
    const w32 q = niq_nibbles(qs);
    w32 v = {vqtbl1q_s8(kv, vreinterpretq_u8_s8(q.lo)), vqtbl1q_s8(kv, vreinterpretq_u8_s8(q.hi))};
    return v;
}

/* The 16-bit fields at byte offset off of four blocks, as floats [h0 h1 h2 h3]. */
static inline float32x4_t niq_halves(const uint8_t *b0, const uint8_t *b1, const uint8_t *b2, const uint8_t *b3, int off) {
    uint16_t h[4];
    memcpy(&h[0], b0 + off, 2);
    memcpy(&h[1], b1 + off, 2);
    memcpy(&h[2], b2 + off, 2);
    memcpy(&h[3], b3 + off, 2);
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
}

/* IQ4_XS super-block of one row: f[j] = d (ls_j - 32), j = 0..7. */
static inline void niq_xs_factors(const block_iq4_xs *b, float f[8]) {
    const float d = h2f(b->d);
    for (int j = 0; j < 8; j++) {
        const int ls = ((b->scales_l[j / 2] >> (4 * (j % 2))) & 15) | ((b->scales_h >> (2 * j)) & 3) << 4;
        f[j] = d * (float)(ls - 32);
    }
}

/* type: QT_Q4_1, QT_Q5_1, QT_IQ4_NL or QT_IQ4_XS (a constant in each instantiation) */
NIQ_INLINE void niq_matmul(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                           int64_t n, const int type) {
    const int offset = type == QT_Q4_1 || type == QT_Q5_1, xs = type == QT_IQ4_XS;
    const size_t bs = type == QT_Q4_1 ? sizeof(block_q4_1) : type == QT_Q5_1 ? sizeof(block_q5_1) : sizeof(block_iq4_nl);
    const int64_t nb = w->cols / 32;
    const int8x16_t kv = vld1q_s8(quant_iq4nl_values);
    const int32x4_t z = vdupq_n_s32(0);
    for (int64_t r = r0; r < r1; r += 4) {
        const uint8_t *p[4];
        const int rows = row_group(w, r, r1, p);
        for (int64_t t = 0; t < n; t += 4) {
            const block_a8 *x[4];
            const int nt = tok_group(xv, ldx, t, n, x);
            float32x4_t c[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
            float F[8][4]; /* IQ4_XS: factors of the current super-block, [sub-block][row] */
            for (int64_t b = 0; b < nb; b++) {
                w32 l[4];
                float32x4_t f, o = vdupq_n_f32(0.0f);
                if (xs) {
                    const block_iq4_xs *sb[4];
                    for (int q = 0; q < 4; q++) sb[q] = (const block_iq4_xs *)p[q] + b / 8;
                    if (b % 8 == 0)
                        for (int q = 0; q < 4; q++) {
                            float fr[8];
                            niq_xs_factors(sb[q], fr);
                            for (int j = 0; j < 8; j++) F[j][q] = fr[j];
                        }
                    for (int q = 0; q < 4; q++) l[q] = niq_iq4(kv, sb[q]->qs + 16 * (b % 8));
                    f = vld1q_f32(F[b % 8]);
                } else {
                    const uint8_t *bk[4] = {p[0] + b * bs, p[1] + b * bs, p[2] + b * bs, p[3] + b * bs};
                    for (int q = 0; q < 4; q++) {
                        if (type == QT_IQ4_NL) l[q] = niq_iq4(kv, bk[q] + offsetof(block_iq4_nl, qs));
                        else if (type == QT_Q4_1) l[q] = niq_nibbles(bk[q] + offsetof(block_q4_1, qs));
                        else l[q] = niq_fifth(niq_nibbles(bk[q] + offsetof(block_q5_1, qs)), bk[q] + offsetof(block_q5_1, qh));
                    }
                    f = niq_halves(bk[0], bk[1], bk[2], bk[3], 0);
                    if (offset) o = niq_halves(bk[0], bk[1], bk[2], bk[3], 2); /* m follows d */
                }
                for (int k = 0; k < nt; k++) {
                    const block_a8 *xb = &x[k][b];
                    const int8x16_t alo = vld1q_s8(xb->qs), ahi = vld1q_s8(xb->qs + 16);
                    const int32x4_t s = vpaddq_s32(vpaddq_s32(vdotq_s32(vdotq_s32(z, l[0].lo, alo), l[0].hi, ahi),
                                                              vdotq_s32(vdotq_s32(z, l[1].lo, alo), l[1].hi, ahi)),
                                                   vpaddq_s32(vdotq_s32(vdotq_s32(z, l[2].lo, alo), l[2].hi, ahi),
                                                              vdotq_s32(vdotq_s32(z, l[3].lo, alo), l[3].hi, ahi)));
                    c[k] = vfmaq_f32(c[k], vcvtq_f32_s32(s), vmulq_n_f32(f, xb->d));
                    if (offset) c[k] = vfmaq_n_f32(c[k], o, xb->d * (float)xb->s);
                }
            }
            for (int k = 0; k < nt; k++) store_rows(y + (t + k) * ldy + r, c[k], rows);
        }
    }
}

#define NIQ_ENTRY(NAME, TYPE)                                                                                     \
    static void NAME(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,  \
                     int64_t n, float *scratch) {                                                                \
        (void)scratch;                                                                                           \
        niq_matmul(y, ldy, w, r0, r1, xv, ldx, n, TYPE);                                                         \
    }
NIQ_ENTRY(neon_matmul_q4_1, QT_Q4_1)
NIQ_ENTRY(neon_matmul_q5_1, QT_Q5_1)
NIQ_ENTRY(neon_matmul_iq4_nl, QT_IQ4_NL)
NIQ_ENTRY(neon_matmul_iq4_xs, QT_IQ4_XS)
#undef NIQ_ENTRY

/* The entries of the NEON table (and so of the i8mm one); act[] is ACT_A8 already. */
static inline void neon_fill_iq4(cpu_kernels *k) {
    k->matmul[QT_Q4_1] = neon_matmul_q4_1;
    k->matmul[QT_Q5_1] = neon_matmul_q5_1;
    k->matmul[QT_IQ4_NL] = neon_matmul_iq4_nl;
    k->matmul[QT_IQ4_XS] = neon_matmul_iq4_xs;
}

#undef NIQ_INLINE

#endif
