/* iq4.c - the non-linear 4-bit formats IQ4_NL (blocks of 32, one fp16 scale) and IQ4_XS
 * (super-blocks of 256: one fp16 scale and eight 6-bit sub-block scales), quant-formats.md
 * §7. A 4-bit index selects one of 16 fixed levels, denser near zero than a uniform grid,
 * which fits the bell-shaped distribution of weights better than Q4_0 at the same size.
 * Both formats store their indices in the Q4_0 nibble order (byte j: element j low,
 * element j+16 high, per 32 elements).
 *
 * The quantizers are what llama.cpp's quantize tool writes: a per-32 scale search
 * (NLSEARCH, 15 trial scales around amax/127) followed by a final choice of indices with
 * the chosen binary32 scale. Compile without FP contraction. */
#include "quant.h"

#include "../dtype.h"

#include <math.h>

/* The 16 levels, from llama.cpp's kvalues_iq4nl (ggml-common.h, MIT licence). */
const int8_t quant_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                       1,    13,   25,  38,  53,  69,  89,  113};
#define K quant_iq4nl_values

/* Sub-blocks whose largest magnitude is below this get scale 0 (llama.cpp GROUP_MAX_EPS). */
#define GROUP_EPS 1e-15f

/* NEAREST (§7): the index of the level nearest v; a tie goes to the upper index. */
static int nearest_level(float v) {
    if (v <= (float)K[0]) return 0;
    if (v >= (float)K[15]) return 15;
    int k = 0; /* the count of levels 1..14 at or below v: then K[k] <= v < K[k+1] */
    for (int j = 1; j < 15; j++) k += v >= (float)K[j];
    return v - (float)K[k] < (float)K[k + 1] - v ? k : k + 1;
}

/* NLSEARCH (§7.2) over 32 values with weights w. ntry 7 is the quantize tool's search;
 * ntry -1 is llama.cpp's reference, which keeps the first least-squares fit. Writes the
 * indices chosen with the starting scale to L (the reference stores them) and returns the
 * signed scale, or 0 for an all-zero block (L untouched). */
static float nl_search(const float *x, const float *w, int ntry, uint8_t *L) {
    float amax = 0.0f, mx = quant_signed_max(x, 32, &amax);
    if (amax < GROUP_EPS) return 0.0f;
    /* start from amax/127 (the outermost level -127 fits the largest value); the
     * reference starts from its negation, mapping the largest value to -127 */
    float d = ntry > 0 ? -mx / (float)K[0] : mx / (float)K[0];
    float id = 1.0f / d, sqx = 0.0f, sqq = 0.0f;
    for (int j = 0; j < 32; j++) {
        L[j] = (uint8_t)nearest_level(id * x[j]);
        float q = (float)K[L[j]];
        sqx += w[j] * q * x[j];
        sqq += w[j] * q * q;
    }
    d = sqq > 0.0f ? sqx / sqq : 0.0f;
    float best = d * sqx;
    for (int t = -ntry; t <= ntry; t++) {
        id = (float)(t + K[0]) / mx;
        sqx = sqq = 0.0f;
        for (int j = 0; j < 32; j++) {
            float q = (float)K[nearest_level(id * x[j])];
            sqx += w[j] * q * x[j];
            sqq += w[j] * q * q;
        }
        if (sqq > 0.0f && sqx * sqx > best * sqq) {
            d = sqx / sqq;
            best = d * sqx;
        }
    }
    return d;
}

/* Weights for one 32-element block: qw * sqrt(sigma2 + x^2) with an imatrix, else x^2. */
static void nl_weights(const float *x, const float *qw, float sigma2, float *w) {
    for (int j = 0; j < 32; j++) w[j] = qw ? qw[j] * sqrtf(sigma2 + x[j] * x[j]) : x[j] * x[j];
}

/* sigma^2 = sum(x^2) * 2/n over a (super-)block of n values; 2/n is exact for n = 32, 256. */
static float nl_sigma2(const float *x, int n) {
    float s = 0.0f;
    for (int j = 0; j < n; j++) s += x[j] * x[j];
    return s * (2.0f / (float)n);
}

static void pack_indices(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
}

/* ---- IQ4_NL ------------------------------------------------------------------------ */

void iq4_nl_dequantize_row(const void *src, float *dst, int64_t n) {
    const block_iq4_nl *b = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            dst[j] = d * (float)K[b[i].qs[j] & 15];
            dst[j + 16] = d * (float)K[b[i].qs[j] >> 4];
        }
    }
}

void iq4_nl_quantize_row(const float *src, void *dst, int64_t n, const float *qw) {
    block_iq4_nl *b = dst;
    float w[32];
    uint8_t L[32];
    for (int64_t i = 0; i < n / 32; i++) {
        const float *x = src + 32 * i;
        nl_weights(x, qw ? qw + 32 * i : NULL, qw ? nl_sigma2(x, 32) : 0.0f, w);
        float d = nl_search(x, w, 7, L);
        b[i].d = f32_to_fp16(d);
        /* final indices from the binary32 scale; an all-zero block gets index 8 (level 1,
         * the one nearest 0) everywhere */
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int j = 0; j < 32; j++) L[j] = (uint8_t)nearest_level(id * x[j]);
        pack_indices(L, b[i].qs);
    }
}

void iq4_nl_quantize_row_ref(const float *src, void *dst, int64_t n) {
    block_iq4_nl *b = dst;
    float w[32];
    uint8_t L[32];
    for (int64_t i = 0; i < n / 32; i++) {
        const float *x = src + 32 * i;
        nl_weights(x, NULL, 0.0f, w);
        memset(L, 8, sizeof L); /* defined output for an all-zero block (§13) */
        b[i].d = f32_to_fp16(nl_search(x, w, -1, L));
        pack_indices(L, b[i].qs);
    }
}

/* ---- IQ4_XS ------------------------------------------------------------------------ */

void iq4_xs_dequantize_row(const void *src, float *dst, int64_t n) {
    const block_iq4_xs *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        float d = fp16_to_f32(b[i].d);
        for (int s = 0; s < 8; s++) {
            int ls = ((b[i].scales_l[s / 2] >> (4 * (s % 2))) & 15) | ((b[i].scales_h >> (2 * s)) & 3) << 4;
            float dl = d * (float)(ls - 32);
            const uint8_t *qs = b[i].qs + 16 * s;
            for (int j = 0; j < 16; j++) {
                dst[32 * s + j] = dl * (float)K[qs[j] & 15];
                dst[32 * s + j + 16] = dl * (float)K[qs[j] >> 4];
            }
        }
    }
}

void iq4_xs_quantize_row(const float *src, void *dst, int64_t n, const float *qw) {
    block_iq4_xs *b = dst;
    float w[32], sc[8];
    uint8_t L[32];
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + QK_K * i;
        float sigma2 = qw ? nl_sigma2(x, QK_K) : 0.0f, amax = 0.0f, max_sc = 0.0f;
        for (int s = 0; s < 8; s++) {
            nl_weights(x + 32 * s, qw ? qw + QK_K * i + 32 * s : NULL, sigma2, w);
            sc[s] = nl_search(x + 32 * s, w, 7, L);
            if (fabsf(sc[s]) > amax) { amax = fabsf(sc[s]); max_sc = sc[s]; }
        }
        /* 6-bit signed sub-block scales against D: the largest lands on -32. A zero
         * super-block stores D = -0.0 (0x8000). */
        float D = -max_sc / 32.0f, id = D != 0.0f ? 1.0f / D : 0.0f;
        b[i].d = f32_to_fp16(D);
        b[i].scales_h = 0;
        for (int s = 0; s < 8; s++) {
            int l = quant_rne(id * sc[s]);
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            float dl = D * (float)l, idl = dl != 0.0f ? 1.0f / dl : 0.0f;
            for (int j = 0; j < 32; j++) L[j] = (uint8_t)nearest_level(idl * x[32 * s + j]);
            pack_indices(L, b[i].qs + 16 * s);
            l += 32;
            if (s % 2 == 0) b[i].scales_l[s / 2] = (uint8_t)(l & 15);
            else b[i].scales_l[s / 2] |= (uint8_t)((l & 15) << 4);
            b[i].scales_h |= (uint16_t)((l >> 4) << (2 * s));
        }
    }
}
