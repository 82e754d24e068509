/* kernels_ref.c - portable scalar kernels: the fallback on any CPU and the oracle for
 * every SIMD table. Integer block dot products are exact; floats accumulate in the
 * natural order. */
#include "kernels.h"
#include "../dtype.h"
#include "../quant/quant.h"

#include <math.h>
#include <string.h>

/* Any computable type: dequantize each row (into scratch, `cols` floats), then dot. */
static void matmul_generic(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                           int64_t n, float *scratch) {
    const float *x = xv;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *src = w->data + (uint64_t)r * w->row_bytes;
        const float *wr = scratch;
        if (w->type == G4_DTYPE_F32) wr = (const float *)src;
        else dequantize_row(w->type, src, scratch, w->cols);
        for (int64_t t = 0; t < n; t++) {
            const float *xt = (const float *)((const char *)x + t * ldx);
            float acc = 0.0f;
            for (int64_t c = 0; c < w->cols; c++) acc += wr[c] * xt[c];
            y[t * ldy + r] = acc;
        }
    }
}

static void matmul_q4_0(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    (void)scratch;
    const int64_t nb = w->cols / 32;
    for (int64_t r = r0; r < r1; r++) {
        const block_q4_0 *wb = (const block_q4_0 *)(w->data + (uint64_t)r * w->row_bytes);
        for (int64_t t = 0; t < n; t++) {
            const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                int32_t dot = 0;
                for (int e = 0; e < 16; e++)
                    dot += (wb[b].qs[e] & 15) * xb[b].qs[e] + (wb[b].qs[e] >> 4) * xb[b].qs[e + 16];
                dot -= 8 * xb[b].s;
                acc += (float)dot * (fp16_to_f32(wb[b].d) * xb[b].d);
            }
            y[t * ldy + r] = acc;
        }
    }
}

/* Q8_0 x activation blocks of type ACT (both have d and qs[32]): exact int32 block sums,
 * scaled by the two block scales. block_a16 (kernels.h says why 16 bits): |sum| <= 32 x
 * 127 x 32512 < 2^27; block_a8 (cpu_kernels.matmul_q8_a8) far less. */
#define REF_MATMUL_Q8_0(NAME, ACT)                                                                            \
    static void NAME(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx, \
                     int64_t n, float *scratch) {                                                             \
        (void)scratch;                                                                                        \
        const int64_t nb = w->cols / 32;                                                                      \
        for (int64_t r = r0; r < r1; r++) {                                                                   \
            const block_q8_0 *wb = (const block_q8_0 *)(w->data + (uint64_t)r * w->row_bytes);                \
            for (int64_t t = 0; t < n; t++) {                                                                 \
                const ACT *xb = (const ACT *)((const char *)xv + t * ldx);                                    \
                float acc = 0.0f;                                                                             \
                for (int64_t b = 0; b < nb; b++) {                                                            \
                    int32_t dot = 0;                                                                          \
                    for (int e = 0; e < 32; e++) dot += wb[b].qs[e] * xb[b].qs[e];                            \
                    acc += (float)dot * (fp16_to_f32(wb[b].d) * xb[b].d);                                     \
                }                                                                                             \
                y[t * ldy + r] = acc;                                                                         \
            }                                                                                                 \
        }                                                                                                     \
    }
REF_MATMUL_Q8_0(matmul_q8_0, block_a16)
REF_MATMUL_Q8_0(matmul_q8_0_a8, block_a8)
#undef REF_MATMUL_Q8_0

/* Q5_0 (llama.cpp's K-quant mixes fall back to it for rows that are not a whole number
 * of 256 values): 5-bit levels q, the low nibble as in Q4_0 and the fifth bit of element e
 * bit e of the little-endian qh word, stored +16: sum (q-16)*a = sum q*a - 16 s_a. */
static void matmul_q5_0(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    (void)scratch;
    const int64_t nb = w->cols / 32;
    for (int64_t r = r0; r < r1; r++) {
        const block_q5_0 *wb = (const block_q5_0 *)(w->data + (uint64_t)r * w->row_bytes);
        for (int64_t t = 0; t < n; t++) {
            const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                const uint32_t qh = (uint32_t)wb[b].qh[0] | (uint32_t)wb[b].qh[1] << 8 | (uint32_t)wb[b].qh[2] << 16 |
                                    (uint32_t)wb[b].qh[3] << 24;
                int32_t dot = 0;
                for (int e = 0; e < 16; e++) {
                    const int q0 = (wb[b].qs[e] & 15) | (int)((qh >> e) & 1) << 4;
                    const int q1 = (wb[b].qs[e] >> 4) | (int)((qh >> (e + 16)) & 1) << 4;
                    dot += q0 * xb[b].qs[e] + q1 * xb[b].qs[e + 16];
                }
                dot -= 16 * xb[b].s;
                acc += (float)dot * (fp16_to_f32(wb[b].d) * xb[b].d);
            }
            y[t * ldy + r] = acc;
        }
    }
}

/* ---- K-quants x block_a8 ------------------------------------------------------------
 * A 256-value super-block spans eight activation blocks; block b of a row meets weights
 * 32b .. 32b+31. Q4_K and Q5_K give each such 32 a 6-bit scale sc and min m,
 * w = d*sc*q - dmin*m with q unsigned, so with x ~ d_a*a:
 *     sum w*x ~ d_a * (d*sc * sum q*a - dmin*m * s_a)      (s_a = sum a = block_a8.s).
 * Q6_K gives each 16 a signed 8-bit scale and q in -32..31: one activation block meets
 * two sub-blocks, sum w*x ~ d_a * (d*sc0 * sum_0..15 q*a + d*sc1 * sum_16..31 q*a).
 * Each row is unpacked once into scratch - its int8 levels, then two floats per block
 * (d*sc, dmin*m; or Q6_K's two d*sc) - reading the fields one element at a time the way
 * quant-formats.md §6.0 states them; the SIMD kernels unpack differently and are tested
 * against these. Then every token takes plain int8 dot products. */

/* The low 4 bits of element e of a super-block (pattern P4: byte 32*(e/64) + e%32, high
 * nibble in odd sub-blocks), and Q5_K's fifth bit (pattern PH: bit e/32 of byte e%32). */
static inline int k_p4(const uint8_t *qs, int e) { return (qs[32 * (e / 64) + e % 32] >> (4 * ((e / 32) % 2))) & 15; }
static inline int k_ph(const uint8_t *qh, int e) { return (qh[e % 32] >> (e / 32)) & 1; }

/* Q6_K element e: low 4 bits in ql, high 2 in qh, minus 32 (§6.0). */
static inline int k_q6(const block_q6_K *b, int e) {
    const int h = e / 128, k = (e % 128) / 32, l = e % 32;
    const int lo = (b->ql[64 * h + 32 * (k % 2) + l] >> (k < 2 ? 0 : 4)) & 15;
    const int hi = (b->qh[32 * h + l] >> (2 * k)) & 3;
    return (lo | hi << 4) - 32;
}

/* Row r of w -> q[cols] levels and f[2 * cols/32] factors. */
static void kq_unpack(const mat *w, int64_t r, int8_t *q, float *f) {
    const uint8_t *row = w->data + (uint64_t)r * w->row_bytes;
    for (int64_t i = 0; i < w->cols / QK_K; i++, q += QK_K, f += 16) {
        if (w->type == QT_Q6_K) {
            const block_q6_K *b = (const block_q6_K *)row + i;
            const float d = fp16_to_f32(b->d);
            for (int e = 0; e < QK_K; e++) q[e] = (int8_t)k_q6(b, e);
            for (int k = 0; k < 16; k++) f[k] = d * (float)b->scales[k];
            continue;
        }
        const bool q5 = w->type == QT_Q5_K;
        const block_q4_K *b4 = (const block_q4_K *)row + i;
        const block_q5_K *b5 = (const block_q5_K *)row + i;
        const uint8_t *S = q5 ? b5->scales : b4->scales, *qs = q5 ? b5->qs : b4->qs;
        const float d = fp16_to_f32(q5 ? b5->d : b4->d), dmin = fp16_to_f32(q5 ? b5->dmin : b4->dmin);
        for (int e = 0; e < QK_K; e++) q[e] = (int8_t)(k_p4(qs, e) + (q5 ? 16 * k_ph(b5->qh, e) : 0));
        for (int j = 0; j < 8; j++) {
            int sc, m;
            k4_scale_min(S, j, &sc, &m);
            f[2 * j] = d * (float)sc;
            f[2 * j + 1] = dmin * (float)m;
        }
    }
}

static void matmul_kq(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                      int64_t n, float *scratch) {
    const int64_t nb = w->cols / 32;
    int8_t *q = (int8_t *)scratch;       /* cols bytes */
    float *f = scratch + w->cols / 4;    /* 2 * cols/32 floats: within the cols floats */
    const bool q6 = w->type == QT_Q6_K;
    for (int64_t r = r0; r < r1; r++) {
        kq_unpack(w, r, q, f);
        for (int64_t t = 0; t < n; t++) {
            const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                const int8_t *qb = q + 32 * b;
                int32_t dot0 = 0, dot1 = 0;
                for (int e = 0; e < 16; e++) {
                    dot0 += qb[e] * xb[b].qs[e];
                    dot1 += qb[e + 16] * xb[b].qs[e + 16];
                }
                if (q6) acc += xb[b].d * (f[2 * b] * (float)dot0 + f[2 * b + 1] * (float)dot1);
                else acc += xb[b].d * (f[2 * b] * (float)(dot0 + dot1) - f[2 * b + 1] * (float)xb[b].s);
            }
            y[t * ldy + r] = acc;
        }
    }
}

/* d = max|x| / 127 over each group of `group` blocks (the row's last group may be
 * shorter), q = round-half-away(x / d), as Q8_0 does for weights. */
static void quantize_a8_groups(const float *x, block_a8 *y, int64_t cols, int64_t group) {
    const int64_t nb = cols / 32;
    for (int64_t b0 = 0; b0 < nb; b0 += group) {
        const int64_t b1 = b0 + group < nb ? b0 + group : nb;
        float amax = 0.0f;
        for (int64_t i = b0 * 32; i < b1 * 32; i++) amax = fmaxf(amax, fabsf(x[i]));
        const float d = amax / 127.0f, id = inv_scale(d);
        for (int64_t b = b0; b < b1; b++) {
            const float *xb = x + b * 32;
            int32_t s = 0;
            for (int e = 0; e < 32; e++) {
                int q = (int)roundf(xb[e] * id);
                y[b].qs[e] = (int8_t)q;
                s += q;
            }
            y[b].d = d;
            y[b].s = s;
        }
    }
}

static void quantize_a8(const float *x, block_a8 *y, int64_t cols) { quantize_a8_groups(x, y, cols, 1); }
static void quantize_a8s(const float *x, block_a8 *y, int64_t cols) { quantize_a8_groups(x, y, cols, 8); }

static void quantize_a16(const float *x, block_a16 *y, int64_t cols) {
    for (int64_t b = 0; b < cols / 32; b++) {
        const float *xb = x + b * 32;
        float amax = 0.0f;
        for (int e = 0; e < 32; e++) amax = fmaxf(amax, fabsf(xb[e]));
        const float d = amax / (float)A16_MAX, id = inv_scale(d);
        for (int e = 0; e < 32; e++) y[b].qs[e] = (int16_t)roundf(xb[e] * id);
        y[b].d = d;
    }
}

static float dot_f32(const float *x, const float *y, int64_t n) {
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) acc += x[i] * y[i];
    return acc;
}

static void axpy_f32(float *y, const float *x, float a, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static float dot_f16(const float *x, const uint16_t *y, int64_t n) {
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) acc += x[i] * fp16_to_f32(y[i]);
    return acc;
}

static void axpy_f16(float *y, const uint16_t *x, float a, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * fp16_to_f32(x[i]);
}

static void to_f16(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = f32_to_fp16(x[i]);
}

static float dot_q8(const float *x, const block_q8_0 *y, int64_t n) {
    float acc = 0.0f;
    for (int64_t b = 0; b < n / G4_QK; b++) {
        float s = 0.0f;
        for (int e = 0; e < G4_QK; e++) s += x[b * G4_QK + e] * (float)y[b].qs[e];
        acc += s * fp16_to_f32(y[b].d);
    }
    return acc;
}

static void axpy_q8(float *y, const block_q8_0 *x, float a, int64_t n) {
    for (int64_t b = 0; b < n / G4_QK; b++) {
        const float ad = a * fp16_to_f32(x[b].d);
        for (int e = 0; e < G4_QK; e++) y[b * G4_QK + e] += ad * (float)x[b].qs[e];
    }
}

/* Grouped attention, the oracle: per head and key the row ops above (kernels.h). */
ATTN_BY_ROWS(attn_scores_f32, attn_wsum_f32, float, dot_f32, axpy_f32)
ATTN_BY_ROWS(attn_scores_f16, attn_wsum_f16, uint16_t, dot_f16, axpy_f16)
ATTN_BY_ROWS(attn_scores_q8, attn_wsum_q8, block_q8_0, dot_q8, axpy_q8)

static void to_q8(const float *x, block_q8_0 *y, int64_t n) { quantize_row(G4_DTYPE_Q8_0, x, y, n); }

static void gelu_mul(float *g, const float *u, int64_t n) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        const float x = g[i];
        g[i] = 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x))) * u[i];
    }
}

static void rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps) {
    /* four partial sums: one chain of double adds waited 4 cycles per element */
    double p[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) p[k] += (double)x[i + k] * x[i + k];
    for (; i < n; i++) p[0] += (double)x[i] * x[i];
    const double ss = (p[0] + p[1]) + (p[2] + p[3]);
    const float inv = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    for (i = 0; i < n; i++) y[i] = w ? x[i] * inv * w[i] : x[i] * inv;
}

static void softcap(float *x, int64_t n, float c) {
    for (int64_t i = 0; i < n; i++) x[i] = c * tanhf(x[i] / c);
}

static void softmax(float *x, int64_t n) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) mx = fmaxf(mx, x[i]);
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) {
        const float p = x[i] * inv;
        x[i] = p >= SOFTMAX_MIN ? p : 0.0f; /* weights below SOFTMAX_MIN to 0 (kernels.h) */
    }
}

static uint64_t read_sum(const uint64_t *p, int64_t n) {
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) { s0 += p[i]; s1 += p[i + 1]; s2 += p[i + 2]; s3 += p[i + 3]; }
    for (; i < n; i++) s0 += p[i];
    return s0 + s1 + s2 + s3;
}

static int64_t int8_peak(int64_t iters, int32_t *sink) {
    int32_t acc[16] = {0};
    for (int64_t i = 0; i < iters; i++)
        for (int j = 0; j < 16; j++) acc[j] += (int8_t)(i + j) * (int8_t)(j - (int)i);
    int32_t s = 0;
    for (int j = 0; j < 16; j++) s += acc[j];
    *sink = s;
    return iters * 16;
}

void kernels_ref_fill(cpu_kernels *k) {
    memset(k, 0, sizeof *k);
    k->isa = "scalar";
    for (int t = 0; t < KERNEL_TYPES; t++) {
        const dtype_traits *tr = dtype_get(t);
        if (tr && tr->computable) { k->matmul[t] = matmul_generic; k->act[t] = ACT_F32; }
    }
    k->matmul[G4_DTYPE_Q4_0] = matmul_q4_0;
    k->act[G4_DTYPE_Q4_0] = ACT_A8;
    k->matmul[G4_DTYPE_Q8_0] = matmul_q8_0;
    k->act[G4_DTYPE_Q8_0] = ACT_A16;
    k->matmul_q8_a8 = matmul_q8_0_a8;
    k->matmul[QT_Q4_K] = k->matmul[QT_Q5_K] = k->matmul[QT_Q6_K] = matmul_kq;
    k->matmul[QT_Q5_0] = matmul_q5_0;
    k->act[QT_Q5_0] = ACT_A8;
    k->act[QT_Q4_K] = k->act[QT_Q5_K] = k->act[QT_Q6_K] = ACT_A8S;
    kernels_ref_fill_iq4(k);
    kernels_ref_fill_k23(k);
    k->quantize_a8 = quantize_a8;
    k->quantize_a8s = quantize_a8s;
    k->quantize_a16 = quantize_a16;
    k->int8_peak = int8_peak;
    k->read_sum = read_sum;
    k->scratch_per_col = 3;
    k->to_f16 = to_f16;
    k->to_q8 = to_q8;
    k->attn_scores_f32 = attn_scores_f32;
    k->attn_scores_f16 = attn_scores_f16;
    k->attn_scores_q8 = attn_scores_q8;
    k->attn_wsum_f32 = attn_wsum_f32;
    k->attn_wsum_f16 = attn_wsum_f16;
    k->attn_wsum_q8 = attn_wsum_q8;
    k->gelu_mul = gelu_mul;
    k->softcap = softcap;
    k->softmax = softmax;
    k->rmsnorm = rmsnorm;
}
