/* kernels_neon_k23.h - Q2_K and Q3_K weights x block_a8 activations for the AArch64
 * tables (SDOT), included by kernels_neon.c after kernels_neon_kquant.h (whose nkq_fold
 * it uses, with kernels_neon_int8.h's w32, h2f, row_group and store_rows). These are the
 * 2- and 3-bit types of the Q2_K / Q3_K_S / Q3_K_M GGUF mixes, which otherwise run
 * through the scalar dequantize-then-float-dot path; kernels_ref_k23.c is the reference
 * they are tested against and gives the algebra. The i8mm table (kernels_i8mm.c) starts
 * from the NEON one, so it keeps these entries.
 *
 * Same shape as the Q6_K kernel of kernels_neon_kquant.h: four weight rows x up to four
 * tokens, one float vector [r0 r1 r2 r3] per token. Both types give each 16 values an
 * integer scale, so an activation block of 32 meets two sub-blocks; per block the four
 * rows' levels are unpacked once as signed bytes (Q2_K: q in 0..3; Q3_K: q in -4..3, the
 * 2 low bits minus 4 where the hmask bit is clear) and used for every token of the tile.
 * Per token, SDOT gives each half's int32 sum per row (folded to [r0 r1 r2 r3]); the
 * halves' integer scales are applied in int32 (|scale| <= 32, |sum| <= 16 x 4 x 127) and,
 * as the activations are ACT_A8S (one d_a per 256 values), a super-block's 8 blocks add
 * up in int32 (at most 8 x 2 x 32 x 8128 < 2^23, exact as a float) and leave the integer
 * domain once, with one FMA by [d]_rows x d_a. Q2_K's minimum is an integer too: [m_lo]_rows
 * s_lo + [m_hi]_rows s_hi (the 16-value activation sums, from one across-vector add),
 * summed likewise and taken off with one FMS by [dmin]_rows x d_a (before ACT_A8S: two
 * conversions, two scale products and two FMAs per block; not timed, as there is no ARM
 * machine here; the x86 kernels gained 1.3-1.5x from the same change). The per-row
 * scales are unpacked in scalar code once per super-block and row group (amortised over
 * 256 values x the tile's tokens). quant-formats.md §6.0 has the layouts. */
#ifndef G4_KERNELS_NEON_K23_H
#define G4_KERNELS_NEON_K23_H

#define NK23_INLINE static inline __attribute__((always_inline))

/* The 2-bit fields of activation block g (elements 32g..32g+31) of the 64 P2 bytes at
 * qs: byte 32 (g/4) + l, bits 2 (g%4). */
NK23_INLINE void nk23_p2(const uint8_t *qs, const int g, uint8x16_t *a, uint8x16_t *b) {
    uint8x16_t x = vld1q_u8(qs + 32 * (g / 4)), y = vld1q_u8(qs + 32 * (g / 4) + 16);
    switch (g % 4) {
    case 0: break;
    case 1: x = vshrq_n_u8(x, 2); y = vshrq_n_u8(y, 2); break;
    case 2: x = vshrq_n_u8(x, 4); y = vshrq_n_u8(y, 4); break;
    default: x = vshrq_n_u8(x, 6); y = vshrq_n_u8(y, 6); break;
    }
    *a = vandq_u8(x, vdupq_n_u8(3));
    *b = vandq_u8(y, vdupq_n_u8(3));
}

/* Levels of activation block g of a Q2_K (q3 = 0: qs at 16) or Q3_K block (hmask at 0,
 * qs at 32: minus 4 where bit g of hmask[l] is clear). */
NK23_INLINE w32 nk23_levels(const uint8_t *blk, const int g, const int q3) {
    uint8x16_t a, b;
    nk23_p2(blk + (q3 ? 32 : 16), g, &a, &b);
    if (q3) {
        const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << g)), four = vdupq_n_u8(4);
        a = vsubq_u8(a, vbicq_u8(four, vtstq_u8(vld1q_u8(blk), bit)));
        b = vsubq_u8(b, vbicq_u8(four, vtstq_u8(vld1q_u8(blk + 16), bit)));
    }
    w32 w = {vreinterpretq_s8_u8(a), vreinterpretq_s8_u8(b)};
    return w;
}

/* One row's super-block factors: sc[j] (Q3_K: the unbiased 6-bit scale of sub-block j;
 * Q2_K: the low nibble of scales[j], with the high nibble in m[j]), d and dmin. */
static inline void nk23_factors(const uint8_t *blk, const int q3, int32_t sc[16], int32_t m[16], float *d,
                                float *dmin) {
    uint16_t h;
    if (q3) {
        const uint8_t *S = blk + 96;
        for (int j = 0; j < 16; j++) {
            const int lo = j < 8 ? S[j] & 15 : S[j - 8] >> 4;
            const int hi = (S[8 + j % 4] >> (2 * (j / 4))) & 3;
            sc[j] = (lo | hi << 4) - 32;
        }
        memcpy(&h, blk + 108, 2);
        *d = h2f(h);
        *dmin = 0.0f;
    } else {
        for (int j = 0; j < 16; j++) {
            sc[j] = blk[j] & 15;
            m[j] = blk[j] >> 4;
        }
        memcpy(&h, blk + 80, 2);
        *d = h2f(h);
        memcpy(&h, blk + 82, 2);
        *dmin = h2f(h);
    }
}

NK23_INLINE void nk23_matmul(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                             int64_t n, const int q3) {
    const int64_t nsb = w->cols / QK_K;
    const size_t bs = q3 ? sizeof(block_q3_K) : sizeof(block_q2_K);
    const int32x4_t z = vdupq_n_s32(0);
    for (int64_t r = r0; r < r1; r += 4) {
        const uint8_t *p[4];
        const int rows = row_group(w, r, r1, p);
        for (int64_t t = 0; t < n; t += 4) {
            const block_a8 *x[4];
            const int nt = tok_group(xv, ldx, t, n, x);
            float32x4_t c[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
            for (int64_t i = 0; i < nsb; i++) {
                int32x4_t acc[4] = {z, z, z, z}, macc[4] = {z, z, z, z}; /* the super-block's int32 sums per token */
                const uint8_t *b[4] = {p[0] + i * bs, p[1] + i * bs, p[2] + i * bs, p[3] + i * bs};
                int32_t sr[4][16], mr[4][16], S[16][4], M[16][4]; /* per row, then per sub-block x row */
                float dr[4], mnr[4];
                for (int q = 0; q < 4; q++) nk23_factors(b[q], q3, sr[q], mr[q], &dr[q], &mnr[q]);
                for (int s = 0; s < 16; s++)
                    for (int q = 0; q < 4; q++) {
                        S[s][q] = sr[q][s];
                        M[s][q] = q3 ? 0 : mr[q][s];
                    }
                const float32x4_t D = vld1q_f32(dr), DM = vld1q_f32(mnr);
                #pragma GCC unroll 8 /* constant g: shifts and bit masks fold to immediates */
                for (int g = 0; g < 8; g++) {
                    const w32 l0 = nk23_levels(b[0], g, q3), l1 = nk23_levels(b[1], g, q3);
                    const w32 l2 = nk23_levels(b[2], g, q3), l3 = nk23_levels(b[3], g, q3);
                    const int32x4_t slo_sc = vld1q_s32(S[2 * g]), shi_sc = vld1q_s32(S[2 * g + 1]);
                    for (int k = 0; k < nt; k++) {
                        const block_a8 *xb = &x[k][8 * i + g];
                        const int8x16_t alo = vld1q_s8(xb->qs), ahi = vld1q_s8(xb->qs + 16);
                        const int32x4_t slo = nkq_fold(vdotq_s32(z, l0.lo, alo), vdotq_s32(z, l1.lo, alo),
                                                       vdotq_s32(z, l2.lo, alo), vdotq_s32(z, l3.lo, alo));
                        const int32x4_t shi = nkq_fold(vdotq_s32(z, l0.hi, ahi), vdotq_s32(z, l1.hi, ahi),
                                                       vdotq_s32(z, l2.hi, ahi), vdotq_s32(z, l3.hi, ahi));
                        acc[k] = vmlaq_s32(vmlaq_s32(acc[k], slo, slo_sc), shi, shi_sc);
                        if (!q3) { /* [m_lo]_rows s_lo + [m_hi]_rows s_hi */
                            const int32_t hlo = vaddlvq_s8(alo), hhi = xb->s - hlo;
                            macc[k] = vmlaq_n_s32(vmlaq_n_s32(macc[k], vld1q_s32(M[2 * g]), hlo), vld1q_s32(M[2 * g + 1]), hhi);
                        }
                    }
                }
                for (int k = 0; k < nt; k++) { /* ACT_A8S: one d_a for the super-block's 8 blocks */
                    const float da = x[k][8 * i].d;
                    c[k] = vfmaq_f32(c[k], vcvtq_f32_s32(acc[k]), vmulq_n_f32(D, da));
                    if (!q3) c[k] = vfmsq_f32(c[k], vcvtq_f32_s32(macc[k]), vmulq_n_f32(DM, da));
                }
            }
            for (int k = 0; k < nt; k++) store_rows(y + (t + k) * ldy + r, c[k], rows);
        }
    }
}

static void neon_matmul_q2_K(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                             int64_t n, float *scratch) {
    (void)scratch;
    nk23_matmul(y, ldy, w, r0, r1, xv, ldx, n, 0);
}

static void neon_matmul_q3_K(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                             int64_t n, float *scratch) {
    (void)scratch;
    nk23_matmul(y, ldy, w, r0, r1, xv, ldx, n, 1);
}

/* The Q2_K / Q3_K entries of the NEON table (act[] is ACT_A8S already, from the reference). */
static inline void neon_fill_k23(cpu_kernels *k) {
    k->matmul[QT_Q2_K] = neon_matmul_q2_K;
    k->matmul[QT_Q3_K] = neon_matmul_q3_K;
}

#undef NK23_INLINE

#endif
