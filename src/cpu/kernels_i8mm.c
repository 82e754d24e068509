/* kernels_i8mm.c - the NEON table plus the int8 matrix multiply extension (FEAT_I8MM,
 * SMMLA: Neoverse V1/N2/V2, Cortex-A510/A710/X2 and later). Only this file is compiled
 * with -march=armv8.2-a+dotprod+i8mm, and its table is built only when HWCAP2 says I8MM
 * (and HWCAP says ASIMDDP).
 *
 * SMMLA multiplies a 2x8 by an 8x2 matrix of signed bytes into a 2x2 int32 tile: 32
 * multiply-adds per instruction, twice SDOT's 16. So prefill works on pairs of weight rows
 * against pairs of tokens: a block's 32 bytes of two rows are interleaved 8 bytes at a
 * time (ZIP1/ZIP2 on 64-bit lanes) into 4 registers [rowA 8 bytes | rowB 8 bytes], the
 * two tokens' activation blocks likewise, and 4 SMMLAs give the pair x pair dot products
 * as [At Au Bt Bu] (rows A, B; tokens t, u). The tile is 4 rows x 4 tokens (4 such
 * int32 tiles per block, 8 weight and 4 activation registers); the float accumulators are
 * untangled into [r0 r1 r2 r3] per token with UZP1/UZP2 once, after the last block.
 *
 * Q8_0's 16-bit activations (kernels.h) go through as their two int8 planes
 * (kernels_neon_int8.h), two SMMLA sets per block combined as 256 hi + lo.
 *
 * Decode (one token: half of every SMMLA would be wasted) and the last n % 4 tokens use
 * the SDOT kernels of kernels_neon.c; everything else in the table is the NEON table's. */
#include "kernels.h"
#include "../dtype.h"

#include <arm_neon.h>

#include "kernels_neon_int8.h"

/* Rows (or tokens) a and b of one block, interleaved for SMMLA: k-th register holds bytes
 * 8k..8k+7 of a, then of b. */
typedef struct pair32 { int8x16_t k0, k1, k2, k3; } pair32;

static inline pair32 interleave(w32 a, w32 b) {
    const int64x2_t al = vreinterpretq_s64_s8(a.lo), bl = vreinterpretq_s64_s8(b.lo);
    const int64x2_t ah = vreinterpretq_s64_s8(a.hi), bh = vreinterpretq_s64_s8(b.hi);
    pair32 p = {vreinterpretq_s8_s64(vzip1q_s64(al, bl)), vreinterpretq_s8_s64(vzip2q_s64(al, bl)),
                vreinterpretq_s8_s64(vzip1q_s64(ah, bh)), vreinterpretq_s8_s64(vzip2q_s64(ah, bh))};
    return p;
}

static inline w32 load_a8(const block_a8 *x) {
    w32 v = {vld1q_s8(x->qs), vld1q_s8(x->qs + 16)};
    return v;
}

/* [A.t A.u B.t B.u] for weight rows (A, B) and tokens (t, u): exact int32 dot products. */
static inline int32x4_t mmla(pair32 w, pair32 x) {
    int32x4_t s = vmmlaq_s32(vdupq_n_s32(0), w.k0, x.k0);
    s = vmmlaq_s32(s, w.k1, x.k1);
    s = vmmlaq_s32(s, w.k2, x.k2);
    return vmmlaq_s32(s, w.k3, x.k3);
}

static inline __attribute__((always_inline)) void matmul_int8(float *y, int64_t ldy, const mat *w, int64_t r0,
                                                              int64_t r1, const void *xv, int64_t ldx, int64_t n,
                                                              const int q4) {
    const int64_t nb = w->cols / 32, n4 = n / 4 * 4;
    const size_t bs = q4 ? sizeof(block_q4_0) : sizeof(block_q8_0);
    for (int64_t r = r0; r < r1; r += 4) {
        const uint8_t *p[4];
        const int rows = row_group(w, r, r1, p);
        for (int64_t t = 0; t < n4; t += 4) {
            const char *x0 = (const char *)xv + t * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
            /* cRT: weight-row pair R (rows 0,1 / 2,3) x token pair T (tokens 0,1 / 2,3) */
            float32x4_t c00 = vdupq_n_f32(0.0f), c01 = c00, c10 = c00, c11 = c00;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *b0 = p[0] + b * bs, *b1 = p[1] + b * bs, *b2 = p[2] + b * bs, *b3 = p[3] + b * bs;
                const pair32 w01 = interleave(q4 ? load_q4_0(b0) : load_q8_0(b0), q4 ? load_q4_0(b1) : load_q8_0(b1));
                const pair32 w23 = interleave(q4 ? load_q4_0(b2) : load_q8_0(b2), q4 ? load_q4_0(b3) : load_q8_0(b3));
                const float32x4_t dw = scales4(b0, b1, b2, b3);              /* [d0 d1 d2 d3] */
                const float32x4_t dw01 = vzip1q_f32(dw, dw), dw23 = vzip2q_f32(dw, dw); /* [d0 d0 d1 d1] */
                float32x4_t dx = vdupq_n_f32(0.0f);
                dx = vld1q_lane_f32(q4 ? &((const block_a8 *)x0)[b].d : &((const block_a16 *)x0)[b].d, dx, 0);
                dx = vld1q_lane_f32(q4 ? &((const block_a8 *)x1)[b].d : &((const block_a16 *)x1)[b].d, dx, 1);
                dx = vld1q_lane_f32(q4 ? &((const block_a8 *)x2)[b].d : &((const block_a16 *)x2)[b].d, dx, 2);
                dx = vld1q_lane_f32(q4 ? &((const block_a8 *)x3)[b].d : &((const block_a16 *)x3)[b].d, dx, 3);
                const float32x4_t dx01 = vcombine_f32(vget_low_f32(dx), vget_low_f32(dx));   /* [e0 e1 e0 e1] */
                const float32x4_t dx23 = vcombine_f32(vget_high_f32(dx), vget_high_f32(dx)); /* [e2 e3 e2 e3] */
                if (q4) {
                    const pair32 a01 = interleave(load_a8((const block_a8 *)x0 + b), load_a8((const block_a8 *)x1 + b));
                    c00 = vfmaq_f32(c00, vcvtq_f32_s32(mmla(w01, a01)), vmulq_f32(dw01, dx01));
                    c10 = vfmaq_f32(c10, vcvtq_f32_s32(mmla(w23, a01)), vmulq_f32(dw23, dx01));
                    const pair32 a23 = interleave(load_a8((const block_a8 *)x2 + b), load_a8((const block_a8 *)x3 + b));
                    c01 = vfmaq_f32(c01, vcvtq_f32_s32(mmla(w01, a23)), vmulq_f32(dw01, dx23));
                    c11 = vfmaq_f32(c11, vcvtq_f32_s32(mmla(w23, a23)), vmulq_f32(dw23, dx23));
                } else { /* 16-bit activations: both int8 planes, sum = 256 hi + lo */
                    const a16_planes p0 = load_a16((const block_a16 *)x0 + b), p1 = load_a16((const block_a16 *)x1 + b);
                    const pair32 h01 = interleave(p0.hi, p1.hi), l01 = interleave(p0.lo, p1.lo);
                    c00 = vfmaq_f32(c00, vcvtq_f32_s32(vmlaq_n_s32(mmla(w01, l01), mmla(w01, h01), 256)), vmulq_f32(dw01, dx01));
                    c10 = vfmaq_f32(c10, vcvtq_f32_s32(vmlaq_n_s32(mmla(w23, l01), mmla(w23, h01), 256)), vmulq_f32(dw23, dx01));
                    const a16_planes p2 = load_a16((const block_a16 *)x2 + b), p3 = load_a16((const block_a16 *)x3 + b);
                    const pair32 h23 = interleave(p2.hi, p3.hi), l23 = interleave(p2.lo, p3.lo);
                    c01 = vfmaq_f32(c01, vcvtq_f32_s32(vmlaq_n_s32(mmla(w01, l23), mmla(w01, h23), 256)), vmulq_f32(dw01, dx23));
                    c11 = vfmaq_f32(c11, vcvtq_f32_s32(vmlaq_n_s32(mmla(w23, l23), mmla(w23, h23), 256)), vmulq_f32(dw23, dx23));
                }
            }
            /* c00 = [r0t0 r0t1 r1t0 r1t1], c10 = [r2t0 r2t1 r3t0 r3t1]: even lanes are token 0 */
            store_rows(y + t * ldy + r, vuzp1q_f32(c00, c10), rows);
            store_rows(y + (t + 1) * ldy + r, vuzp2q_f32(c00, c10), rows);
            store_rows(y + (t + 2) * ldy + r, vuzp1q_f32(c01, c11), rows);
            store_rows(y + (t + 3) * ldy + r, vuzp2q_f32(c01, c11), rows);
        }
    }
}

static void matmul_q4_0(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    const int64_t n4 = n / 4 * 4;
    matmul_int8(y, ldy, w, r0, r1, xv, ldx, n4, 1);
    if (n4 < n) neon_matmul_q4_0(y + n4 * ldy, ldy, w, r0, r1, (const char *)xv + n4 * ldx, ldx, n - n4, scratch);
}

static void matmul_q8_0(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    const int64_t n4 = n / 4 * 4;
    matmul_int8(y, ldy, w, r0, r1, xv, ldx, n4, 0);
    if (n4 < n) neon_matmul_q8_0(y + n4 * ldy, ldy, w, r0, r1, (const char *)xv + n4 * ldx, ldx, n - n4, scratch);
}

/* The ISA's int8 multiply-add peak: SMMLA's throughput, 32 multiply-adds per instruction. */
NEON_INT8_PEAK("smmla", 32)

void kernels_i8mm_fill(cpu_kernels *k) {
    kernels_neon_fill(k);
    k->isa = "i8mm";
    k->matmul[G4_DTYPE_Q4_0] = matmul_q4_0;
    k->matmul[G4_DTYPE_Q8_0] = matmul_q8_0;
    k->int8_peak = int8_peak;
}
