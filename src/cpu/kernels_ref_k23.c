/* kernels_ref_k23.c - scalar integer kernels for Q2_K and Q3_K weights x block_a8
 * activations (ACT_A8S: one scale per 256 values, which every block carries, so this
 * per-block algebra holds for them as for ACT_A8): the reference (oracle) that the SIMD
 * versions in kernels_x86_k23.h and kernels_neon_k23.h are tested against. Before these,
 * both types went through kernels_ref.c's matmul_generic (dequantize each row to floats,
 * then a float dot), which every SIMD table also inherited; they are the 2- and 3-bit
 * types of the popular Q2_K / Q3_K_S / Q3_K_M GGUF mixes.
 *
 * Both types cut a 256-value super-block into 16 sub-blocks of 16 values, each with its
 * own small integer scale (quant-formats.md §6.0, and kquants.c's dequantizers):
 *   Q2_K: w = d * sc_j * q - dmin * m_j, q in 0..3, sc_j and m_j 4-bit (0..15);
 *   Q3_K: w = d * s_j * q,               q in -4..3, s_j 6-bit stored +32 (-32..31).
 * An activation block of 32 (block_a8: x ~ d_a * a) meets two sub-blocks, 2b and 2b+1.
 * With dot_k = sum over sub-block k of q * a (exact int32) and its activation sum
 * s_k = sum of the 16 a (block_a8.s covers 32 values, so s_2b is summed from qs and
 * s_2b+1 = s - s_2b), block b adds, exactly in integers up to the last step:
 *   Q3_K: d_a * d * (s_2b dot_2b + s_2b+1 dot_2b+1)
 *   Q2_K: d_a * (d * (sc_2b dot_2b + sc_2b+1 dot_2b+1) - dmin * (m_2b s_2b + m_2b+1 s_2b+1))
 * (the int32 sums stay below 2^20, so their conversion to float is exact). Floats
 * accumulate the blocks in natural order.
 *
 * Each row is unpacked once into scratch (its levels as int8, its per-16 scales and
 * minimums as int8, its super-block scales as float), reading every field one element at
 * a time the way the format states it, then every token takes plain integer dots. */
#include "kernels.h"
#include "../dtype.h"
#include "../quant/quant.h"

/* 2-bit field of element e (pattern P2: byte 32*(e/128) + e%32, bits 2*((e/32)%4)). */
static inline int k23_p2(const uint8_t *qs, int e) { return (qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3; }
/* High bit of element e (pattern PH: bit e/32 of byte e%32). */
static inline int k23_ph(const uint8_t *h, int e) { return (h[e % 32] >> (e / 32)) & 1; }

/* Q3_K scale of sub-block j (0..15), unbiased: low 4 bits from scales[j] (j < 8) or the
 * high nibble of scales[j-8]; bits 4, 5 from bits 2(j/4), 2(j/4)+1 of scales[8 + j%4]. */
static inline int k23_q3_scale(const uint8_t *S, int j) {
    const int lo = j < 8 ? S[j] & 15 : S[j - 8] >> 4;
    const int hi = (S[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | hi << 4) - 32;
}

/* Row r of w -> q[cols] levels, sc[cols/16] and m[cols/16] (Q2_K only) integer scales,
 * d[cols/256] and dmin[cols/256] (Q2_K only) super-block scales. */
static void k23_unpack(const mat *w, int64_t r, int8_t *q, int8_t *sc, int8_t *m, float *d, float *dmin) {
    const uint8_t *row = w->data + (uint64_t)r * w->row_bytes;
    for (int64_t i = 0; i < w->cols / QK_K; i++, q += QK_K, sc += 16, m += 16) {
        if (w->type == QT_Q3_K) {
            const block_q3_K *b = (const block_q3_K *)row + i;
            for (int e = 0; e < QK_K; e++) q[e] = (int8_t)(k23_p2(b->qs, e) - (k23_ph(b->hmask, e) ? 0 : 4));
            for (int j = 0; j < 16; j++) sc[j] = (int8_t)k23_q3_scale(b->scales, j);
            d[i] = fp16_to_f32(b->d);
        } else {
            const block_q2_K *b = (const block_q2_K *)row + i;
            for (int e = 0; e < QK_K; e++) q[e] = (int8_t)k23_p2(b->qs, e);
            for (int j = 0; j < 16; j++) {
                sc[j] = (int8_t)(b->scales[j] & 15);
                m[j] = (int8_t)(b->scales[j] >> 4);
            }
            d[i] = fp16_to_f32(b->d);
            dmin[i] = fp16_to_f32(b->dmin);
        }
    }
}

/* scratch (in floats): levels cols/4, scales cols/64, mins cols/64, d and dmin cols/256
 * each - well within KERNEL_SCRATCH_FLOATS(cols). */
static void matmul_k23(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                       int64_t n, float *scratch) {
    const int64_t nb = w->cols / 32;
    int8_t *q = (int8_t *)scratch, *sc = q + w->cols, *m = sc + w->cols / 16;
    float *d = scratch + w->cols / 4 + w->cols / 32, *dmin = d + w->cols / QK_K;
    const bool q2 = w->type == QT_Q2_K;
    for (int64_t r = r0; r < r1; r++) {
        k23_unpack(w, r, q, sc, m, d, dmin);
        for (int64_t t = 0; t < n; t++) {
            const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                const int8_t *qb = q + 32 * b;
                int32_t dot0 = 0, dot1 = 0, s0 = 0;
                for (int e = 0; e < 16; e++) {
                    dot0 += qb[e] * xb[b].qs[e];
                    dot1 += qb[e + 16] * xb[b].qs[e + 16];
                    s0 += xb[b].qs[e];
                }
                const int32_t isum = sc[2 * b] * dot0 + sc[2 * b + 1] * dot1;
                if (q2) {
                    const int32_t msum = m[2 * b] * s0 + m[2 * b + 1] * (xb[b].s - s0);
                    acc += xb[b].d * (d[b / 8] * (float)isum - dmin[b / 8] * (float)msum);
                } else {
                    acc += xb[b].d * (d[b / 8] * (float)isum);
                }
            }
            y[t * ldy + r] = acc;
        }
    }
}

void kernels_ref_fill_k23(cpu_kernels *k) {
    k->matmul[QT_Q2_K] = k->matmul[QT_Q3_K] = matmul_k23;
    k->act[QT_Q2_K] = k->act[QT_Q3_K] = ACT_A8S;
}
