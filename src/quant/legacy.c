/* legacy.c - the 32-element block formats other than Q4_0/Q8_0 (which dtype.c owns):
 * Q4_1, Q5_0, Q5_1, the Q8_1 activation type and MXFP4, plus the importance-matrix
 * quantizers of Q4_0, Q4_1, Q5_0 and Q5_1 (quant-formats.md §5, §8).
 *
 * Every block splits its 32 elements in halves: byte j of qs holds element j in the low
 * nibble and element j+16 in the high nibble; Q5_* keep each element's fifth bit in bit e
 * of the little-endian qh word. The reference quantizers pick levels with the binary32
 * scale and only round the stored field to fp16, multiply by a stored reciprocal rather
 * than divide, and round with trunc(t + 0.5) (Q4_1, Q5_*) or ties-away (Q8_1): each of
 * these choices is visible in the bytes, so they follow §5.3 exactly. */
#include "quant.h"

#include "../dtype.h"

#include <float.h>
#include <math.h>

#define QK 32 /* elements per block of every format in this file */

static inline void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- Dequantization (§5.2, §8) ---------------------------------------------------- */

void q4_1_dequantize_row(const void *src, float *dst, int64_t n) {
    const block_q4_1 *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)(b[i].qs[j] & 15) * d + m;
            dst[j + 16] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

void q5_0_dequantize_row(const void *src, float *dst, int64_t n) {
    const block_q5_0 *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        float d = fp16_to_f32(b[i].d);
        uint32_t qh = get_u32(b[i].qh);
        for (int j = 0; j < 16; j++) {
            int q0 = (b[i].qs[j] & 15) | (int)((qh >> j) & 1) << 4;
            int q1 = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            dst[j] = (float)(q0 - 16) * d;
            dst[j + 16] = (float)(q1 - 16) * d;
        }
    }
}

void q5_1_dequantize_row(const void *src, float *dst, int64_t n) {
    const block_q5_1 *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
        uint32_t qh = get_u32(b[i].qh);
        for (int j = 0; j < 16; j++) {
            int q0 = (b[i].qs[j] & 15) | (int)((qh >> j) & 1) << 4;
            int q1 = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            dst[j] = (float)q0 * d + m;
            dst[j + 16] = (float)q1 * d + m;
        }
    }
}

void q8_1_dequantize_row(const void *src, float *dst, int64_t n) {
    const block_q8_1 *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < QK; j++) dst[j] = (float)b[i].qs[j] * d;
    }
}

/* MXFP4 codes hold twice the E2M1 value, so that they are integers; the scale below is
 * halved to compensate (§8). Data from llama.cpp's kvalues_mxfp4 (MIT). */
static const int8_t mxfp4_values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* 2^(e-128): the E8M0 scale 2^(e-127) times 1/2, built from bits so it is exact even where
 * it is a subnormal float (e = 0, 1). */
static float mxfp4_half_scale(uint8_t e) {
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void mxfp4_dequantize_row(const void *src, float *dst, int64_t n) {
    const block_mxfp4 *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        float d = mxfp4_half_scale(b[i].e);
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)mxfp4_values[b[i].qs[j] & 15] * d;
            dst[j + 16] = (float)mxfp4_values[b[i].qs[j] >> 4] * d;
        }
    }
}

/* ---- Reference quantizers (§5.3, §8) ---------------------------------------------- */

/* Q4_1 / Q5_1 without imatrix: scale (max-min)/nmax, offset min, q = trunc((x-min)/d + .5).
 * Writes d, m and the levels q[0..31]. */
static void affine_ref_block(const float *x, int nmax, uint16_t *d16, uint16_t *m16, uint8_t *q) {
    float lo = FLT_MAX, hi = -FLT_MAX; /* running min/max from the extremes, as §5.3 says */
    for (int j = 0; j < QK; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    float d = (hi - lo) / (float)nmax, id = d != 0.0f ? 1.0f / d : 0.0f;
    *d16 = f32_to_fp16(d);
    *m16 = f32_to_fp16(lo);
    for (int j = 0; j < QK; j++) q[j] = (uint8_t)G4_MIN(nmax, quant_trunc_level((x[j] - lo) * id + 0.5f));
}

/* Q5_0 without imatrix: d = signed max / -16, q = min(31, trunc(x/d + 16.5)). */
static void q5_0_ref_block(const float *x, uint16_t *d16, uint8_t *q) {
    float mx = quant_signed_max(x, QK, NULL);
    float d = mx / -16.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    *d16 = f32_to_fp16(d);
    for (int j = 0; j < QK; j++) q[j] = (uint8_t)G4_MIN(31, quant_trunc_level(x[j] * id + 16.5f));
}

/* Packs 32 levels (0..15, or 0..31 with qh) in the half-split nibble order. */
static void pack_nibbles(const uint8_t *q, uint8_t *qs, uint8_t *qh) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
        h |= (uint32_t)(q[j] >> 4) << j | (uint32_t)(q[j + 16] >> 4) << (j + 16);
    }
    if (qh) put_u32(qh, h);
}

void q8_1_quantize_row(const float *src, void *dst, int64_t n) {
    block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, src += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(src[j]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK; j++) {
            b[i].qs[j] = quant_round_i8(src[j] * id); /* ties away from zero, like Q8_0 */
            sum += b[i].qs[j];
        }
        b[i].d = f32_to_fp16(d);
        b[i].s = f32_to_fp16((float)sum * d);
    }
}

/* Index of the first code whose value (times the scale) is nearest x: strict <, so ties
 * go to the smaller magnitude and zero is code 0 (§8). */
static int mxfp4_best(float x, float d) {
    int best = 0;
    float best_err = fabsf((float)mxfp4_values[0] * d - x);
    for (int k = 1; k < 16; k++) {
        float err = fabsf((float)mxfp4_values[k] * d - x);
        if (err < best_err) { best = k; best_err = err; }
    }
    return best;
}

void mxfp4_quantize_row(const float *src, void *dst, int64_t n) {
    block_mxfp4 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, src += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(src[j]));
        /* e = floor(log2(amax)) - 2 + 127 puts amax at 4..8 times the E8M0 scale, around
         * the largest E2M1 value 6. log2f's rounding is part of the format (§8: just
         * below a power of two it rounds up). amax < 2^-125 would make e negative, undefined in llama.cpp; we
         * clamp to 0 (and an infinite amax gives 0 too; finite ones stay <= 252). */
        float e = amax > 0.0f ? floorf(log2f(amax)) - 2.0f + 127.0f : 0.0f;
        b[i].e = (uint8_t)(e > 0.0f && e < 255.0f ? e : 0.0f);
        float d = mxfp4_half_scale(b[i].e);
        uint8_t q[QK];
        for (int j = 0; j < QK; j++) q[j] = (uint8_t)mxfp4_best(src[j], d);
        pack_nibbles(q, b[i].qs, NULL);
    }
}

/* ---- Importance-matrix variants (§5.4) -------------------------------------------- */

/* sigma^2 = mean of x^2 over the whole row; each element's weight is
 * qw * sqrt(sigma^2 + x^2). */
static float row_sigma2(const float *x, int64_t n) {
    float sum = 0.0f;
    for (int64_t j = 0; j < n; j++) sum += x[j] * x[j];
    return sum / (float)n;
}

static void block_weights(const float *x, const float *qw, float sigma2, float *w) {
    for (int j = 0; j < QK; j++) w[j] = qw[j] * sqrtf(sigma2 + x[j] * x[j]);
}

/* Q4_0 and Q5_0 with imatrix: the symmetric search SYM with nmax 8 or 16 picks d and the
 * levels together. A block with nothing above 1e-15 stores d = 0 and levels 0 (unlike the
 * reference's d = -0.0 and level 8). */
void q4_0_quantize_row_imatrix(const float *src, void *dst, int64_t n, const float *qw) {
    if (!qw) { quantize_row(QT_Q4_0, src, dst, n); return; }
    block_q4_0 *b = dst;
    float sigma2 = row_sigma2(src, n), w[QK];
    uint8_t q[QK];
    for (int64_t i = 0; i < n / QK; i++) {
        block_weights(src + i * QK, qw + i * QK, sigma2, w);
        b[i].d = f32_to_fp16(quant_search_sym(QK, 8, src + i * QK, q, w));
        pack_nibbles(q, b[i].qs, NULL);
    }
}

void q5_0_quantize_row(const float *src, void *dst, int64_t n, const float *qw) {
    block_q5_0 *b = dst;
    float sigma2 = qw ? row_sigma2(src, n) : 0.0f, w[QK];
    uint8_t q[QK];
    for (int64_t i = 0; i < n / QK; i++) {
        if (qw) {
            block_weights(src + i * QK, qw + i * QK, sigma2, w);
            b[i].d = f32_to_fp16(quant_search_sym(QK, 16, src + i * QK, q, w));
        } else {
            q5_0_ref_block(src + i * QK, &b[i].d, q);
        }
        pack_nibbles(q, b[i].qs, b[i].qh);
    }
}

/* Q4_1 and Q5_1 with imatrix: AFFINE with the make_qkx3 parameters llama.cpp uses here
 * (rmin -0.9, rdelta 0.05, 36 steps, squared error); m = the fitted offset. */
static void affine_imatrix_block(const float *x, const float *w, int nmax, uint16_t *d16,
                                 uint16_t *m16, uint8_t *q) {
    float m;
    float d = quant_search_affine(QK, nmax, x, w, q, &m, -0.9f, 0.05f, 36, false);
    *d16 = f32_to_fp16(d);
    *m16 = f32_to_fp16(-m);
}

void q4_1_quantize_row(const float *src, void *dst, int64_t n, const float *qw) {
    block_q4_1 *b = dst;
    float sigma2 = qw ? row_sigma2(src, n) : 0.0f, w[QK];
    uint8_t q[QK];
    for (int64_t i = 0; i < n / QK; i++) {
        const float *x = src + i * QK;
        if (qw) {
            block_weights(x, qw + i * QK, sigma2, w);
            affine_imatrix_block(x, w, 15, &b[i].d, &b[i].m, q);
        } else {
            affine_ref_block(x, 15, &b[i].d, &b[i].m, q);
        }
        pack_nibbles(q, b[i].qs, NULL);
    }
}

void q5_1_quantize_row(const float *src, void *dst, int64_t n, const float *qw) {
    block_q5_1 *b = dst;
    float sigma2 = qw ? row_sigma2(src, n) : 0.0f, w[QK];
    uint8_t q[QK];
    for (int64_t i = 0; i < n / QK; i++) {
        const float *x = src + i * QK;
        if (qw) {
            block_weights(x, qw + i * QK, sigma2, w);
            affine_imatrix_block(x, w, 31, &b[i].d, &b[i].m, q);
        } else {
            affine_ref_block(x, 31, &b[i].d, &b[i].m, q);
        }
        pack_nibbles(q, b[i].qs, b[i].qh);
    }
}
