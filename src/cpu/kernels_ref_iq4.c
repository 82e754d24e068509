/* kernels_ref_iq4.c - scalar integer kernels (weights x block_a8 activations) for Q4_1,
 * Q5_1, IQ4_NL and IQ4_XS: the portable fallback, and the oracle that the AVX2, AVX-512
 * and NEON versions (kernels_x86_iq4.h, kernels_neon_iq4.h) are tested against. Without
 * them these types went through kernels_ref.c's matmul_generic (dequantize each row to
 * floats, then float dots), 50-100x slower than an int8 kernel.
 *
 * Every 32 weights meet one activation block (x ~ d_a * a, s_a = sum a = block_a8.s); the
 * integer block dot products are exact, and floats accumulate in the natural order:
 *   Q4_1 / Q5_1: w = d q + m, q in 0..15 / 0..31 (5th bit: bit e of the qh word), so a
 *     block adds d_a (d sum q a + m s_a).
 *   IQ4_NL: w = d kv[q], kv the 16 int8 non-linear levels (quant_iq4nl_values): a block
 *     adds d d_a sum kv[q] a.
 *   IQ4_XS: 256-value super-blocks with an fp16 d and eight 6-bit sub-block scales ls
 *     (low nibble in scales_l[j/2], nibble j%2; high 2 bits at bits 2j of scales_h),
 *     w = d (ls - 32) kv[q] for sub-block j = the j-th 32 values: d (ls_j - 32) d_a sum kv a.
 * All four keep Q4_0's nibble order: byte e of a 32-value group's 16 holds element e in
 * its low nibble and element e + 16 in its high one (quant-formats.md §5, §7; the
 * dequantizers in src/quant/legacy.c and iq4.c). */
#include "kernels.h"
#include "../dtype.h"
#include "../quant/quant.h"

/* Level e (0..31) of a 16-byte nibble group: Q4_0 order. */
static inline int nib(const uint8_t *qs, int e) { return e < 16 ? qs[e] & 15 : qs[e - 16] >> 4; }

static inline uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void matmul_q4_1(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    (void)scratch;
    const int64_t nb = w->cols / 32;
    for (int64_t r = r0; r < r1; r++) {
        const block_q4_1 *wb = (const block_q4_1 *)(w->data + (uint64_t)r * w->row_bytes);
        for (int64_t t = 0; t < n; t++) {
            const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                int32_t dot = 0;
                for (int e = 0; e < 32; e++) dot += nib(wb[b].qs, e) * xb[b].qs[e];
                acc += xb[b].d * (fp16_to_f32(wb[b].d) * (float)dot + fp16_to_f32(wb[b].m) * (float)xb[b].s);
            }
            y[t * ldy + r] = acc;
        }
    }
}

static void matmul_q5_1(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    (void)scratch;
    const int64_t nb = w->cols / 32;
    for (int64_t r = r0; r < r1; r++) {
        const block_q5_1 *wb = (const block_q5_1 *)(w->data + (uint64_t)r * w->row_bytes);
        for (int64_t t = 0; t < n; t++) {
            const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                const uint32_t qh = le32(wb[b].qh);
                int32_t dot = 0;
                for (int e = 0; e < 32; e++) dot += (nib(wb[b].qs, e) | (int)((qh >> e) & 1) << 4) * xb[b].qs[e];
                acc += xb[b].d * (fp16_to_f32(wb[b].d) * (float)dot + fp16_to_f32(wb[b].m) * (float)xb[b].s);
            }
            y[t * ldy + r] = acc;
        }
    }
}

static void matmul_iq4_nl(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                          int64_t n, float *scratch) {
    (void)scratch;
    const int64_t nb = w->cols / 32;
    const int8_t *kv = quant_iq4nl_values;
    for (int64_t r = r0; r < r1; r++) {
        const block_iq4_nl *wb = (const block_iq4_nl *)(w->data + (uint64_t)r * w->row_bytes);
        for (int64_t t = 0; t < n; t++) {
            const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                int32_t dot = 0;
                for (int e = 0; e < 32; e++) dot += kv[nib(wb[b].qs, e)] * xb[b].qs[e];
                acc += (float)dot * (fp16_to_f32(wb[b].d) * xb[b].d);
            }
            y[t * ldy + r] = acc;
        }
    }
}

/* IQ4_XS sub-block j's scale, ls - 32 in -32..31. */
static inline int iq4_xs_scale(const block_iq4_xs *b, int j) {
    return (((b->scales_l[j / 2] >> (4 * (j % 2))) & 15) | ((b->scales_h >> (2 * j)) & 3) << 4) - 32;
}

static void matmul_iq4_xs(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                          int64_t n, float *scratch) {
    (void)scratch;
    const int64_t nsb = w->cols / QK_K;
    const int8_t *kv = quant_iq4nl_values;
    for (int64_t r = r0; r < r1; r++) {
        const block_iq4_xs *wb = (const block_iq4_xs *)(w->data + (uint64_t)r * w->row_bytes);
        for (int64_t t = 0; t < n; t++) {
            const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);
            float acc = 0.0f;
            for (int64_t i = 0; i < nsb; i++) {
                const float d = fp16_to_f32(wb[i].d);
                for (int j = 0; j < 8; j++) {
                    const block_a8 *a = &xb[8 * i + j];
                    int32_t dot = 0;
                    for (int e = 0; e < 32; e++) dot += kv[nib(wb[i].qs + 16 * j, e)] * a->qs[e];
                    acc += (float)dot * (d * (float)iq4_xs_scale(&wb[i], j) * a->d);
                }
            }
            y[t * ldy + r] = acc;
        }
    }
}

void kernels_ref_fill_iq4(cpu_kernels *k) {
    k->matmul[QT_Q4_1] = matmul_q4_1;
    k->matmul[QT_Q5_1] = matmul_q5_1;
    k->matmul[QT_IQ4_NL] = matmul_iq4_nl;
    k->matmul[QT_IQ4_XS] = matmul_iq4_xs;
    k->act[QT_Q4_1] = k->act[QT_Q5_1] = k->act[QT_IQ4_NL] = k->act[QT_IQ4_XS] = ACT_A8;
}
