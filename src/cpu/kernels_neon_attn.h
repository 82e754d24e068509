/* kernels_neon_attn.h - grouped attention over the KV cache (kernels.h's attn_scores /
 * attn_wsum) for the NEON table, for F32, F16 and Q8_0 caches; included by kernels_neon.c
 * after its h4 (4 halves as floats). The i8mm table inherits these.
 *
 * The same shape as kernels_x86_attn.h (which explains it), in 4-lane vectors: Gemma 4's
 * q heads come in groups sharing a KV head (E2B: 8), and per-head dot / axpy calls loaded
 * and converted every cached row once per head, and loaded and stored the output for
 * every key. Here
 *  - scores: tiles of 4 heads x 2 keys, 8 accumulators over the head dim; each 8-value
 *    chunk of a key is loaded and converted once for the 4 heads;
 *  - weighted sum: a 16-float chunk of the output of 4 heads stays in 16 registers across
 *    a block of keys; each key's 16 values are converted once, and each weight enters by
 *    FMLA by element (no broadcast);
 * in key blocks of ATTN_KB = 32 rows, heads past the last multiple of 4 in 1-3-head tiles
 * (kernels_attn_blocks.h, shared with x86). Q8_0 values are scaled by their block's d as
 * they are widened. */
#ifndef G4_CPU_KERNELS_NEON_ATTN_H
#define G4_CPU_KERNELS_NEON_ATTN_H

#include "kernels_attn_blocks.h"

/* 8 values of a cached row from element c (c % 8 == 0) as floats, in two vectors */
ATTN_AI void attn_load8(const uint8_t *row, int64_t c, const int T, float32x4_t *lo, float32x4_t *hi) {
    if (T == KV_T_F32) {
        *lo = vld1q_f32((const float *)row + c);
        *hi = vld1q_f32((const float *)row + c + 4);
    } else if (T == KV_T_F16) {
        *lo = h4((const uint16_t *)row + c);
        *hi = h4((const uint16_t *)row + c + 4);
    } else {
        const block_q8_0 *b = (const block_q8_0 *)row + c / G4_QK;
        const int16x8_t w = vmovl_s8(vld1_s8(b->qs + c % G4_QK));
        const float d = h2f(b->d);
        *lo = vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(w))), d);
        *hi = vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(w))), d);
    }
}

/* one value, for the scalar path */
ATTN_AI float attn_load1(const uint8_t *row, int64_t c, const int T) {
    if (T == KV_T_F32) return ((const float *)row)[c];
    if (T == KV_T_F16) return h2f(((const uint16_t *)row)[c]);
    const block_q8_0 *b = (const block_q8_0 *)row + c / G4_QK;
    return h2f(b->d) * (float)b->qs[c % G4_QK];
}

/* Scores of H (1..4) heads against keys [j0, j1) of the run. */
ATTN_AI void attn_scores_tile(float *s, int64_t lds, const float *q, const uint8_t *kv, size_t stride, int64_t j0,
                              int64_t j1, int64_t D, const int H, const int T) {
    int64_t j = j0;
    for (; j + 2 <= j1; j += 2) {
        const uint8_t *k0 = kv + (size_t)j * stride, *k1 = k0 + stride;
        float32x4_t a[8];
        for (int i = 0; i < 8; i++) a[i] = vdupq_n_f32(0.0f);
        for (int64_t c = 0; c < D; c += 8) {
            float32x4_t v0l, v0h, v1l, v1h;
            attn_load8(k0, c, T, &v0l, &v0h);
            attn_load8(k1, c, T, &v1l, &v1h);
            for (int h = 0; h < H; h++) {
                const float32x4_t xl = vld1q_f32(q + h * D + c), xh = vld1q_f32(q + h * D + c + 4);
                a[2 * h] = vfmaq_f32(vfmaq_f32(a[2 * h], xl, v0l), xh, v0h);
                a[2 * h + 1] = vfmaq_f32(vfmaq_f32(a[2 * h + 1], xl, v1l), xh, v1h);
            }
        }
        for (int h = 0; h < H; h++) {
            s[h * lds + j] = vaddvq_f32(a[2 * h]);
            s[h * lds + j + 1] = vaddvq_f32(a[2 * h + 1]);
        }
    }
    if (j < j1) { /* an odd last key */
        const uint8_t *k0 = kv + (size_t)j * stride;
        float32x4_t a[4];
        for (int i = 0; i < 4; i++) a[i] = vdupq_n_f32(0.0f);
        for (int64_t c = 0; c < D; c += 8) {
            float32x4_t v0l, v0h;
            attn_load8(k0, c, T, &v0l, &v0h);
            for (int h = 0; h < H; h++)
                a[h] = vfmaq_f32(vfmaq_f32(a[h], vld1q_f32(q + h * D + c), v0l), vld1q_f32(q + h * D + c + 4), v0h);
        }
        for (int h = 0; h < H; h++) s[h * lds + j] = vaddvq_f32(a[h]);
    }
}

/* Weighted sum of keys [j0, j1) into the output of H (1..4) heads. */
ATTN_AI void attn_wsum_tile(float *o, const float *p, int64_t ldp, const uint8_t *kv, size_t stride, int64_t j0,
                            int64_t j1, int64_t D, const int H, const int T) {
    for (int64_t c = 0; c < D; c += 16) {
        float32x4_t a[16];
        for (int h = 0; h < H; h++)
            for (int i = 0; i < 4; i++) a[4 * h + i] = vld1q_f32(o + h * D + c + 4 * i);
        const uint8_t *v = kv + (size_t)j0 * stride;
        for (int64_t j = j0; j < j1; j++, v += stride) {
            float32x4_t x[4];
            attn_load8(v, c, T, &x[0], &x[1]);
            attn_load8(v, c + 8, T, &x[2], &x[3]);
            for (int h = 0; h < H; h++) {
                const float w = p[h * ldp + j];
                for (int i = 0; i < 4; i++) a[4 * h + i] = vfmaq_n_f32(a[4 * h + i], x[i], w);
            }
        }
        for (int h = 0; h < H; h++)
            for (int i = 0; i < 4; i++) vst1q_f32(o + h * D + c + 4 * i, a[4 * h + i]);
    }
}

ATTN_ENTRIES()

#endif
