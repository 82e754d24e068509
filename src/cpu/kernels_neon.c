/* kernels_neon.c - AArch64 NEON kernels with the dot-product extension (FEAT_DotProd,
 * SDOT: Cortex-A55/A76 and later, Neoverse N1 and later). Only this file is compiled with
 * -march=armv8.2-a+dotprod, and its table is built only when HWCAP says ASIMDDP
 * (features.c); the rest of an arm64 build is base Armv8-A.
 *
 * Int8 block kernels (Q4_0 weights x block_a8 activations; Q8_0 x block_a16, whose two
 * int8 planes (kernels_neon_int8.h) take two SDOTs per weight register). SDOT multiplies signed
 * by signed bytes, 16 products into 4 int32 lanes, so unlike x86 no sign trick is needed:
 * Q4_0 nibbles become bytes in -8..7 and meet the activations directly. Work goes in
 * tiles of 4 weight rows x 4 tokens (x 1 token for decode and the last n % 4 tokens). Per
 * block, the 4 rows are unpacked once into 8 registers and used for every token of the
 * tile; per token, the 4 rows' lane sums are folded by two rounds of ADDP into one vector
 * [r0 r1 r2 r3], converted to float (exact: |sum| <= 32*127*127 < 2^24) and added with one
 * FMA by the vector of 4 scale products. About 22 of the 32 vector registers are live.
 * Q4_K / Q5_K / Q6_K follow the same shape in kernels_neon_kquant.h.
 *
 * Float weights (F32 / F16 / BF16) x float activations: 4 rows x 8 columns per step, two
 * accumulators per row (8 independent FMA chains). F16 -> F32 is FCVTL and BF16 -> F32 a
 * 16-bit left shift, both base Armv8: nothing here needs FEAT_FP16 or FEAT_BF16. */
#include "kernels.h"
#include "../dtype.h"

#include <arm_neon.h>

#include "kernels_neon_int8.h"
#include "kernels_neon_kquant.h"
#include "kernels_neon_iq4.h"
#include "kernels_neon_k23.h"
#include "kernels_neon_vec.h"

/* ---- Int8 block kernels ------------------------------------------------------------ */

/* One block of each of four rows, unpacked (8 registers), and their scales. */
typedef struct w4 { w32 q0, q1, q2, q3; float32x4_t d; } w4;

/* The weight types of the one int8 kernel below (a compile-time argument). */
enum { KIND_Q8_0 = 0, KIND_Q4_0 = 1, KIND_Q5_0 = 2, KIND_Q8_A8 = 3 /* Q8_0 x block_a8 (matmul_q8_a8) */ };

static inline __attribute__((always_inline)) w32 load_kind(const uint8_t *b, const int kind) {
    return kind == KIND_Q4_0 ? load_q4_0(b) : kind == KIND_Q5_0 ? load_q5_0(b) : load_q8_0(b);
}

static inline __attribute__((always_inline)) w4 load4(const uint8_t *const p[4], size_t off, const int kind) {
    const uint8_t *b0 = p[0] + off, *b1 = p[1] + off, *b2 = p[2] + off, *b3 = p[3] + off;
    w4 v;
    v.q0 = load_kind(b0, kind);
    v.q1 = load_kind(b1, kind);
    v.q2 = load_kind(b2, kind);
    v.q3 = load_kind(b3, kind);
    v.d = scales4(b0, b1, b2, b3);
    return v;
}

/* acc + (the four rows' dots with block xb, folded to [r0 r1 r2 r3]) * (row scales * xb's) */
static inline float32x4_t step(float32x4_t acc, w4 v, const block_a8 *xb) {
    const int8x16_t lo = vld1q_s8(xb->qs), hi = vld1q_s8(xb->qs + 16);
    const int32x4_t z = vdupq_n_s32(0);
    const int32x4_t p0 = vdotq_s32(vdotq_s32(z, v.q0.lo, lo), v.q0.hi, hi);
    const int32x4_t p1 = vdotq_s32(vdotq_s32(z, v.q1.lo, lo), v.q1.hi, hi);
    const int32x4_t p2 = vdotq_s32(vdotq_s32(z, v.q2.lo, lo), v.q2.hi, hi);
    const int32x4_t p3 = vdotq_s32(vdotq_s32(z, v.q3.lo, lo), v.q3.hi, hi);
    const int32x4_t s = vpaddq_s32(vpaddq_s32(p0, p1), vpaddq_s32(p2, p3));
    return vfmaq_f32(acc, vcvtq_f32_s32(s), vmulq_n_f32(v.d, xb->d));
}

/* The same for a 16-bit activation block (Q8_0 weights): SDOT on both planes of
 * kernels_neon_int8.h's split, combined as 256 hi + lo after the folds. */
static inline float32x4_t step16(float32x4_t acc, w4 v, const block_a16 *xb) {
    const a16_planes a = load_a16(xb);
    const int32x4_t z = vdupq_n_s32(0);
#define DOT2(q, pl) vdotq_s32(vdotq_s32(z, q.lo, pl.lo), q.hi, pl.hi)
    const int32x4_t h = vpaddq_s32(vpaddq_s32(DOT2(v.q0, a.hi), DOT2(v.q1, a.hi)), vpaddq_s32(DOT2(v.q2, a.hi), DOT2(v.q3, a.hi)));
    const int32x4_t l = vpaddq_s32(vpaddq_s32(DOT2(v.q0, a.lo), DOT2(v.q1, a.lo)), vpaddq_s32(DOT2(v.q2, a.lo), DOT2(v.q3, a.lo)));
#undef DOT2
    return vfmaq_f32(acc, vcvtq_f32_s32(vmlaq_n_s32(l, h, 256)), vmulq_n_f32(v.d, xb->d));
}

/* One activation block of token row xt: block_a16 for Q8_0, block_a8 for the others */
#define STEP(acc, xt, b) \
    (kind != KIND_Q8_0 ? step(acc, v, (const block_a8 *)(xt) + (b)) : step16(acc, v, (const block_a16 *)(xt) + (b)))

/* The one int8 kernel, instantiated for Q4_0, Q5_0 and Q8_0 with block_a8 activations and
 * Q8_0 with block_a16. */
static inline __attribute__((always_inline)) void matmul_int8(float *y, int64_t ldy, const mat *w, int64_t r0,
                                                              int64_t r1, const void *xv, int64_t ldx, int64_t n,
                                                              const int kind) {
    const int64_t nb = w->cols / 32;
    const size_t bs = kind == KIND_Q4_0 ? sizeof(block_q4_0) : kind == KIND_Q5_0 ? sizeof(block_q5_0) : sizeof(block_q8_0);
    for (int64_t r = r0; r < r1; r += 4) {
        const uint8_t *p[4];
        const int rows = row_group(w, r, r1, p);
        int64_t t = 0;
        for (; t + 4 <= n; t += 4) {
            const char *x0 = (const char *)xv + t * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
            float32x4_t c0 = vdupq_n_f32(0.0f), c1 = c0, c2 = c0, c3 = c0;
            for (int64_t b = 0; b < nb; b++) {
                const w4 v = load4(p, (size_t)b * bs, kind);
                c0 = STEP(c0, x0, b);
                c1 = STEP(c1, x1, b);
                c2 = STEP(c2, x2, b);
                c3 = STEP(c3, x3, b);
            }
            store_rows(y + t * ldy + r, c0, rows);
            store_rows(y + (t + 1) * ldy + r, c1, rows);
            store_rows(y + (t + 2) * ldy + r, c2, rows);
            store_rows(y + (t + 3) * ldy + r, c3, rows);
        }
        for (; t < n; t++) { /* decode, and the last n % 4 tokens */
            const char *x0 = (const char *)xv + t * ldx;
            float32x4_t c0 = vdupq_n_f32(0.0f);
            for (int64_t b = 0; b < nb; b++) {
                const w4 v = load4(p, (size_t)b * bs, kind);
                c0 = STEP(c0, x0, b);
            }
            store_rows(y + t * ldy + r, c0, rows);
        }
    }
}
#undef STEP

void neon_matmul_q4_0(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                      int64_t n, float *scratch) {
    (void)scratch;
    matmul_int8(y, ldy, w, r0, r1, xv, ldx, n, KIND_Q4_0);
}

void neon_matmul_q8_0(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                      int64_t n, float *scratch) {
    (void)scratch;
    matmul_int8(y, ldy, w, r0, r1, xv, ldx, n, KIND_Q8_0);
}

/* Q8_0 x int8 activations (cpu_kernels.matmul_q8_a8: the Q8_0 matrices of a lower-bit
 * file): one SDOT per 16 products where the 16-bit activations' two planes take two. */
static void neon_matmul_q8_a8(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                              int64_t n, float *scratch) {
    (void)scratch;
    matmul_int8(y, ldy, w, r0, r1, xv, ldx, n, KIND_Q8_A8);
}

/* Q5_0 (what llama.cpp's K-quant mixes write for rows that are not whole super-blocks). */
static void neon_matmul_q5_0(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                             int64_t n, float *scratch) {
    (void)scratch;
    matmul_int8(y, ldy, w, r0, r1, xv, ldx, n, KIND_Q5_0);
}

/* d = max|x| / 127, q = round-half-away(x / d) exactly as the scalar table: the same
 * float multiply by 1/d, then FCVTAS (round to nearest, ties away from zero = roundf).
 * FMAXNM ignores NaN as fmaxf does. */
static inline int8x16_t quantize16(float32x4_t a, float32x4_t b, float32x4_t c, float32x4_t d, float id, int32x4_t *sum) {
    const int32x4_t qa = vcvtaq_s32_f32(vmulq_n_f32(a, id)), qb = vcvtaq_s32_f32(vmulq_n_f32(b, id));
    const int32x4_t qc = vcvtaq_s32_f32(vmulq_n_f32(c, id)), qd = vcvtaq_s32_f32(vmulq_n_f32(d, id));
    *sum = vaddq_s32(*sum, vaddq_s32(vaddq_s32(qa, qb), vaddq_s32(qc, qd)));
    const int16x8_t lo = vcombine_s16(vqmovn_s32(qa), vqmovn_s32(qb)), hi = vcombine_s16(vqmovn_s32(qc), vqmovn_s32(qd));
    return vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi)); /* |q| <= 127: never saturates */
}

/* Blocks of 32 with one scale per `group` blocks (1: quantize_a8; 8: quantize_a8s, the
 * row's last group possibly shorter). */
static inline void quantize_a8_groups(const float *x, block_a8 *y, int64_t cols, const int64_t group) {
    const int64_t nb = cols / 32;
    for (int64_t b0 = 0; b0 < nb; b0 += group) {
        const int64_t b1 = b0 + group < nb ? b0 + group : nb;
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int64_t i = b0 * 32; i < b1 * 32; i += 4) m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + i)));
        const float d = vmaxnmvq_f32(m) / 127.0f, id = inv_scale(d);
        for (int64_t b = b0; b < b1; b++) {
            const float *xb = x + b * 32;
            int32x4_t s = vdupq_n_s32(0);
            vst1q_s8(y[b].qs, quantize16(vld1q_f32(xb), vld1q_f32(xb + 4), vld1q_f32(xb + 8), vld1q_f32(xb + 12), id, &s));
            vst1q_s8(y[b].qs + 16, quantize16(vld1q_f32(xb + 16), vld1q_f32(xb + 20), vld1q_f32(xb + 24), vld1q_f32(xb + 28), id, &s));
            y[b].d = d;
            y[b].s = vaddvq_s32(s);
        }
    }
}

static void quantize_a8(const float *x, block_a8 *y, int64_t cols) { quantize_a8_groups(x, y, cols, 1); }
static void quantize_a8s(const float *x, block_a8 *y, int64_t cols) { quantize_a8_groups(x, y, cols, 8); }

/* d = max|x| / A16_MAX, q = round-half-away(x * (1/d)), as the scalar table. */
static void quantize_a16(const float *x, block_a16 *y, int64_t cols) {
    for (int64_t b = 0; b < cols / 32; b++) {
        const float *xb = x + b * 32;
        float32x4_t v[8], m = vdupq_n_f32(0.0f);
        for (int i = 0; i < 8; i++) {
            v[i] = vld1q_f32(xb + 4 * i);
            m = vmaxnmq_f32(m, vabsq_f32(v[i]));
        }
        const float d = vmaxnmvq_f32(m) / (float)A16_MAX, id = inv_scale(d);
        for (int i = 0; i < 8; i += 2) /* |q| <= A16_MAX: the narrowing never saturates */
            vst1q_s16(y[b].qs + 4 * i, vcombine_s16(vqmovn_s32(vcvtaq_s32_f32(vmulq_n_f32(v[i], id))),
                                                    vqmovn_s32(vcvtaq_s32_f32(vmulq_n_f32(v[i + 1], id)))));
        y[b].d = d;
    }
}

/* Sum of p[0..n) with 128-bit loads, four independent accumulators (the probe's memory
 * read: kernels.h's read_sum). */
static uint64_t read_sum(const uint64_t *p, int64_t n) {
    uint64x2_t a0 = vdupq_n_u64(0), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 = vaddq_u64(a0, vld1q_u64(p + i));
        a1 = vaddq_u64(a1, vld1q_u64(p + i + 2));
        a2 = vaddq_u64(a2, vld1q_u64(p + i + 4));
        a3 = vaddq_u64(a3, vld1q_u64(p + i + 6));
    }
    uint64_t s = vaddvq_u64(vaddq_u64(vaddq_u64(a0, a1), vaddq_u64(a2, a3)));
    for (; i < n; i++) s += p[i];
    return s;
}

/* The ISA's int8 multiply-add peak: SDOT's throughput, 16 multiply-adds per instruction. */
NEON_INT8_PEAK("sdot", 16)

/* ---- Float weights x float activations ------------------------------------------------ */

typedef struct f8 { float32x4_t lo, hi; } f8;

/* Eight consecutive weights of a float-type row, as float. */
static inline f8 load8(const uint8_t *p, const int type) {
    f8 v;
    if (type == G4_DTYPE_F32) {
        v.lo = vld1q_f32((const float *)p);
        v.hi = vld1q_f32((const float *)p + 4);
    } else {
        const uint16x8_t h = vld1q_u16((const uint16_t *)p);
        if (type == G4_DTYPE_F16) {
            v.lo = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h)));
            v.hi = vcvt_high_f32_f16(vreinterpretq_f16_u16(h));
        } else { /* BF16: the upper half of an F32 */
            v.lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
            v.hi = vreinterpretq_f32_u32(vshll_high_n_u16(h, 16));
        }
    }
    return v;
}

static inline float load1(const uint8_t *p, const int type, int64_t c) {
    if (type == G4_DTYPE_F32) return ((const float *)p)[c];
    uint16_t h;
    memcpy(&h, p + 2 * c, 2);
    return type == G4_DTYPE_F16 ? h2f(h) : bf16_to_f32(h);
}

static inline __attribute__((always_inline)) void matmul_float(float *y, int64_t ldy, const mat *w, int64_t r0,
                                                               int64_t r1, const void *xv, int64_t ldx, int64_t n,
                                                               const int type) {
    const int64_t cols = w->cols, c8 = cols / 8 * 8;
    const int es = type == G4_DTYPE_F32 ? 4 : 2;
    for (int64_t r = r0; r < r1; r += 4) {
        const uint8_t *p[4];
        const int rows = row_group(w, r, r1, p);
        for (int64_t t = 0; t < n; t++) {
            const float *x = (const float *)((const char *)xv + t * ldx);
            float32x4_t a0 = vdupq_n_f32(0.0f), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
            for (int64_t c = 0; c < c8; c += 8) {
                const float32x4_t xl = vld1q_f32(x + c), xh = vld1q_f32(x + c + 4);
                const f8 w0 = load8(p[0] + c * es, type), w1 = load8(p[1] + c * es, type);
                const f8 w2 = load8(p[2] + c * es, type), w3 = load8(p[3] + c * es, type);
                a0 = vfmaq_f32(a0, w0.lo, xl); b0 = vfmaq_f32(b0, w0.hi, xh);
                a1 = vfmaq_f32(a1, w1.lo, xl); b1 = vfmaq_f32(b1, w1.hi, xh);
                a2 = vfmaq_f32(a2, w2.lo, xl); b2 = vfmaq_f32(b2, w2.hi, xh);
                a3 = vfmaq_f32(a3, w3.lo, xl); b3 = vfmaq_f32(b3, w3.hi, xh);
            }
            float32x4_t s = vpaddq_f32(vpaddq_f32(vaddq_f32(a0, b0), vaddq_f32(a1, b1)),
                                       vpaddq_f32(vaddq_f32(a2, b2), vaddq_f32(a3, b3)));
            if (c8 < cols) { /* the last cols % 8 columns */
                float tail[4] = {0, 0, 0, 0};
                for (int i = 0; i < 4; i++)
                    for (int64_t c = c8; c < cols; c++) tail[i] += load1(p[i], type, c) * x[c];
                s = vaddq_f32(s, vld1q_f32(tail));
            }
            store_rows(y + t * ldy + r, s, rows);
        }
    }
}

#define MATMUL_FLOAT(NAME, TYPE)                                                                                  \
    static void NAME(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,  \
                     int64_t n, float *scratch) {                                                                \
        (void)scratch;                                                                                           \
        matmul_float(y, ldy, w, r0, r1, xv, ldx, n, TYPE);                                                       \
    }
MATMUL_FLOAT(matmul_f32, G4_DTYPE_F32)
MATMUL_FLOAT(matmul_f16, G4_DTYPE_F16)
MATMUL_FLOAT(matmul_bf16, G4_DTYPE_BF16)

/* 4 halves as floats (for the attention kernels) */
static inline float32x4_t h4(const uint16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

/* FCVTN rounds by FPCR's mode, round-to-nearest-even unless a program changes it (Linux
 * starts every thread with RNE), which is what f32_to_fp16 does; overflow goes to Inf
 * and subnormal halves are exact in both. */
static void to_f16(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float16x8_t h = vcvt_high_f16_f32(vcvt_f16_f32(vld1q_f32(x + i)), vld1q_f32(x + i + 4));
        vst1q_u16(y + i, vreinterpretq_u16_f16(h));
    }
    for (; i < n; i++) y[i] = f32_to_fp16(x[i]);
}

/* Grouped attention: tiles of heads x keys (kernels_neon_attn.h) */
#include "kernels_neon_attn.h"

/* Writing a Q8_0 KV cache row: the scalar quantizer's bytes. amax ignores NaN as fmaxf
 * does (a lane is taken only where |x| > acc), d and 1/d are scalar as in dtype.c, and
 * FRINTA is roundf (ties away). */
static void to_q8(const float *x, block_q8_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / 32; b++, x += 32) {
        float32x4_t v[8], m = vdupq_n_f32(0.0f);
        for (int j = 0; j < 8; j++) {
            v[j] = vld1q_f32(x + 4 * j);
            const float32x4_t a = vabsq_f32(v[j]);
            m = vbslq_f32(vcgtq_f32(a, m), a, m);
        }
        const float amax = vmaxvq_f32(m), d = amax / 127.0f, id = inv_scale(d);
        y[b].d = f32_to_fp16(d);
        int16x8_t h[4];
        for (int j = 0; j < 4; j++) {
            int32x4_t q[2];
            for (int i = 0; i < 2; i++) {
                const float32x4_t r = vrndaq_f32(vmulq_n_f32(v[2 * j + i], id));
                const uint32x4_t ok = vandq_u32(vcgeq_f32(r, vdupq_n_f32(-128.0f)), vcleq_f32(r, vdupq_n_f32(127.0f)));
                q[i] = vcvtq_s32_f32(vbslq_f32(ok, r, vdupq_n_f32(0.0f)));
            }
            h[j] = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
        }
        vst1q_s8(y[b].qs, vcombine_s8(vmovn_s16(h[0]), vmovn_s16(h[1])));
        vst1q_s8(y[b].qs + 16, vcombine_s8(vmovn_s16(h[2]), vmovn_s16(h[3])));
    }
}

void kernels_neon_fill(cpu_kernels *k) {
    kernels_ref_fill(k);
    k->isa = "neon";
    k->matmul[G4_DTYPE_Q4_0] = neon_matmul_q4_0;
    k->matmul[G4_DTYPE_Q8_0] = neon_matmul_q8_0; /* act[] is ACT_A16, from the reference */
    k->matmul_q8_a8 = neon_matmul_q8_a8;          /* ... but a lower-bit file's (kernels.h) */
    k->matmul[QT_Q5_0] = neon_matmul_q5_0;        /* ACT_A8 */
    k->quantize_a16 = quantize_a16;
    k->matmul[QT_Q4_K] = neon_matmul_q4_K; /* act[] is ACT_A8S already, from the reference */
    k->matmul[QT_Q5_K] = neon_matmul_q5_K;
    k->matmul[QT_Q6_K] = neon_matmul_q6_K;
    neon_fill_iq4(k);
    neon_fill_k23(k);
    k->matmul[G4_DTYPE_F32] = matmul_f32;
    k->matmul[G4_DTYPE_F16] = matmul_f16;
    k->matmul[G4_DTYPE_BF16] = matmul_bf16;
    k->quantize_a8 = quantize_a8;
    k->quantize_a8s = quantize_a8s;
    k->to_f16 = to_f16;
    k->to_q8 = to_q8;
    k->attn_scores_f32 = attn_scores_f32;
    k->attn_scores_f16 = attn_scores_f16;
    k->attn_scores_q8 = attn_scores_q8;
    k->attn_wsum_f32 = attn_wsum_f32;
    k->attn_wsum_f16 = attn_wsum_f16;
    k->attn_wsum_q8 = attn_wsum_q8;
    k->int8_peak = int8_peak;
    k->read_sum = read_sum;
    k->gelu_mul = neon_gelu_mul;
    k->softcap = neon_softcap;
    k->softmax = neon_softmax;
    k->rmsnorm = neon_rmsnorm;
}
