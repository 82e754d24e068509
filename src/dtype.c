/* dtype.c - type table and the plain-C reference conversions. These are the oracle that
 * every fast kernel is tested against, so they favour clarity and exactness over speed.
 * Compile without FP contraction (the Makefile passes -ffp-contract=off) so the
 * quantizers round exactly as llama.cpp's do. */
#include "dtype.h"

#include "quant/quant.h"

#include <math.h>
#include <string.h>

/* Block sizes and bytes from quant-formats.md §2. Ids not listed there are retired or
 * unknown and make a file unreadable. */
static const dtype_traits traits[] = {
    [0] = {"F32", 1, 4, true},       [1] = {"F16", 1, 2, true},
    [2] = {"Q4_0", 32, 18, true},    [3] = {"Q4_1", 32, 20, true},
    [6] = {"Q5_0", 32, 22, true},    [7] = {"Q5_1", 32, 24, true},
    [8] = {"Q8_0", 32, 34, true},    [9] = {"Q8_1", 32, 36, true},
    [10] = {"Q2_K", 256, 84, true},  [11] = {"Q3_K", 256, 110, true},
    [12] = {"Q4_K", 256, 144, true}, [13] = {"Q5_K", 256, 176, true},
    [14] = {"Q6_K", 256, 210, true}, [15] = {"Q8_K", 256, 292, true},
    [16] = {"IQ2_XXS", 256, 66, false}, [17] = {"IQ2_XS", 256, 74, false},
    [18] = {"IQ3_XXS", 256, 98, false}, [19] = {"IQ1_S", 256, 50, false},
    [20] = {"IQ4_NL", 32, 18, true},    [21] = {"IQ3_S", 256, 110, false},
    [22] = {"IQ2_S", 256, 82, false},   [23] = {"IQ4_XS", 256, 136, true},
    [24] = {"I8", 1, 1, false},  [25] = {"I16", 1, 2, false}, [26] = {"I32", 1, 4, false},
    [27] = {"I64", 1, 8, false}, [28] = {"F64", 1, 8, false}, [29] = {"IQ1_M", 256, 56, false},
    [30] = {"BF16", 1, 2, true}, [34] = {"TQ1_0", 256, 54, false},
    [35] = {"TQ2_0", 256, 66, false}, [39] = {"MXFP4", 32, 17, true},
};

const dtype_traits *dtype_get(int32_t type) {
    if (type < 0 || (size_t)type >= G4_ARRAY_LEN(traits) || !traits[type].name) return NULL;
    return &traits[type];
}

const char *g4_dtype_name(g4_dtype t) {
    const dtype_traits *tr = dtype_get((int32_t)t);
    return tr ? tr->name : "?";
}

bool dtype_row_bytes(int32_t type, int64_t n, uint64_t *out) {
    const dtype_traits *tr = dtype_get(type);
    if (!tr || n < 0 || n % tr->block) return false;
    return g4_mul_u64((uint64_t)(n / tr->block), (uint64_t)tr->block_bytes, out);
}

static inline float f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t bits_from_f32(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

float fp16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 31, man = h & 1023;
    if (exp == 0) { /* zero or subnormal: man * 2^-24, exact */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31) return f32_from_bits(sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0));
    return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t f32_to_fp16(float f) {
    uint32_t u = bits_from_f32(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00;          /* NaN */
    if (a >= 0x477ff000u) return sign | 0x7c00;         /* >= 65520 rounds to Inf */
    if (a < 0x38800000u) {                              /* below 2^-14: subnormal half */
        float v = f32_from_bits(a) * 0x1p24f;           /* exact scaling */
        return sign | (uint16_t)lrintf(v);              /* RNE; 1024 carries to normal */
    }
    /* normal: round mantissa from 23 to 10 bits, ties to even */
    uint32_t r = a + 0xfffu + ((a >> 13) & 1);
    return sign | (uint16_t)((r - 0x38000000u) >> 13);
}

uint16_t f32_to_bf16(float f) {
    uint32_t u = bits_from_f32(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

void dequantize_row(int32_t type, const void *src, float *dst, int64_t n) {
    switch (type) {
    case G4_DTYPE_F32: memcpy(dst, src, (size_t)n * 4); return;
    case G4_DTYPE_F16: {
        const uint8_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = fp16_to_f32((uint16_t)(s[2 * i] | s[2 * i + 1] << 8));
        return;
    }
    case G4_DTYPE_BF16: {
        const uint8_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32((uint16_t)(s[2 * i] | s[2 * i + 1] << 8));
        return;
    }
    case G4_DTYPE_Q8_0: {
        const block_q8_0 *b = src;
        for (int64_t i = 0; i < n / G4_QK; i++) {
            float d = fp16_to_f32(b[i].d);
            for (int e = 0; e < G4_QK; e++) dst[i * G4_QK + e] = (float)b[i].qs[e] * d;
        }
        return;
    }
    case G4_DTYPE_Q4_0: {
        const block_q4_0 *b = src;
        for (int64_t i = 0; i < n / G4_QK; i++) {
            float d = fp16_to_f32(b[i].d);
            for (int e = 0; e < G4_QK / 2; e++) {
                dst[i * G4_QK + e] = (float)((b[i].qs[e] & 15) - 8) * d;
                dst[i * G4_QK + e + 16] = (float)((b[i].qs[e] >> 4) - 8) * d;
            }
        }
        return;
    }
    /* the other block formats live in src/quant/ */
    case QT_Q4_1: q4_1_dequantize_row(src, dst, n); return;
    case QT_Q5_0: q5_0_dequantize_row(src, dst, n); return;
    case QT_Q5_1: q5_1_dequantize_row(src, dst, n); return;
    case QT_Q8_1: q8_1_dequantize_row(src, dst, n); return;
    case QT_Q2_K: q2_K_dequantize_row(src, dst, n); return;
    case QT_Q3_K: q3_K_dequantize_row(src, dst, n); return;
    case QT_Q4_K: q4_K_dequantize_row(src, dst, n); return;
    case QT_Q5_K: q5_K_dequantize_row(src, dst, n); return;
    case QT_Q6_K: q6_K_dequantize_row(src, dst, n); return;
    case QT_Q8_K: q8_K_dequantize_row(src, dst, n); return;
    case QT_IQ4_NL: iq4_nl_dequantize_row(src, dst, n); return;
    case QT_IQ4_XS: iq4_xs_dequantize_row(src, dst, n); return;
    case QT_MXFP4: mxfp4_dequantize_row(src, dst, n); return;
    default: G4_ASSERT(!"dequantize_row: type not computable");
    }
}

void quantize_row(int32_t type, const float *src, void *dst, int64_t n) {
    switch (type) {
    case G4_DTYPE_F32: memcpy(dst, src, (size_t)n * 4); return;
    case G4_DTYPE_F16:
    case G4_DTYPE_BF16: {
        uint8_t *d = dst;
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = type == G4_DTYPE_F16 ? f32_to_fp16(src[i]) : f32_to_bf16(src[i]);
            d[2 * i] = (uint8_t)h;
            d[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return;
    }
    case G4_DTYPE_Q8_0: { /* quant-formats.md §5.3: d = amax/127, q = round-half-away(x/d) */
        block_q8_0 *b = dst;
        for (int64_t i = 0; i < n / G4_QK; i++) {
            const float *x = src + i * G4_QK;
            float amax = 0.0f;
            for (int e = 0; e < G4_QK; e++) amax = fmaxf(amax, fabsf(x[e]));
            float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            b[i].d = f32_to_fp16(d);
            for (int e = 0; e < G4_QK; e++) b[i].qs[e] = quant_round_i8(x[e] * id);
        }
        return;
    }
    case G4_DTYPE_Q4_0: { /* §5.3: d = signed max / -8, q = min(15, trunc(x/d + 8.5)) */
        block_q4_0 *b = dst;
        for (int64_t i = 0; i < n / G4_QK; i++) {
            const float *x = src + i * G4_QK;
            float amax = 0.0f, mx = 0.0f;
            for (int e = 0; e < G4_QK; e++)
                if (fabsf(x[e]) > amax) { amax = fabsf(x[e]); mx = x[e]; }
            float d = mx / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            b[i].d = f32_to_fp16(d);
            for (int e = 0; e < G4_QK / 2; e++) {
                float t0 = x[e] * id + 8.5f, t1 = x[e + 16] * id + 8.5f;
                int q0 = G4_MIN(15, quant_trunc_level(t0)), q1 = G4_MIN(15, quant_trunc_level(t1));
                b[i].qs[e] = (uint8_t)(q0 | q1 << 4);
            }
        }
        return;
    }
    /* the other block formats live in src/quant/; NULL = no importance matrix */
    case QT_Q4_1: q4_1_quantize_row(src, dst, n, NULL); return;
    case QT_Q5_0: q5_0_quantize_row(src, dst, n, NULL); return;
    case QT_Q5_1: q5_1_quantize_row(src, dst, n, NULL); return;
    case QT_Q8_1: q8_1_quantize_row(src, dst, n); return;
    case QT_Q2_K: q2_K_quantize_row(src, dst, n, NULL); return;
    case QT_Q3_K: q3_K_quantize_row(src, dst, n, NULL); return;
    case QT_Q4_K: q4_K_quantize_row(src, dst, n, NULL); return;
    case QT_Q5_K: q5_K_quantize_row(src, dst, n, NULL); return;
    case QT_Q6_K: q6_K_quantize_row(src, dst, n, NULL); return;
    case QT_Q8_K: q8_K_quantize_row(src, dst, n); return;
    case QT_IQ4_NL: iq4_nl_quantize_row(src, dst, n, NULL); return;
    case QT_IQ4_XS: iq4_xs_quantize_row(src, dst, n, NULL); return;
    case QT_MXFP4: mxfp4_quantize_row(src, dst, n); return;
    default: G4_ASSERT(!"quantize_row: type not supported");
    }
}
