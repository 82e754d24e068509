/* kernels_neon_int8.h - what the two AArch64 tables (kernels_neon.c: SDOT,
 * kernels_i8mm.c: SMMLA) share for the int8 block kernels: reading a Q4_0 / Q5_0 / Q8_0 block
 * as 32 signed bytes, splitting a 16-bit activation block into two int8 planes, gathering four rows' scales into one vector, and storing a vector
 * of four consecutive outputs of which only the first `rows` are real. Included by each
 * table's file, so it is compiled with that file's flags; only base Armv8 NEON is used
 * here.
 *
 * Both tables work on four weight rows at a time and keep, per token, one float vector
 * holding the four rows' outputs [r0 r1 r2 r3], so results leave with one store and no
 * horizontal sum. A row range that is not a multiple of four (threads split rows
 * anywhere) repeats its last row in the missing places and stores only the real lanes. */
#ifndef G4_KERNELS_NEON_INT8_H
#define G4_KERNELS_NEON_INT8_H

#include <arm_neon.h>
#include <string.h>

#include "../quant/quant.h" /* block_q5_0 */

/* One weight block as signed bytes: lo = elements 0..15, hi = elements 16..31 (the
 * halves block_a8's qs[0..15] and qs[16..31] meet). */
typedef struct w32 { int8x16_t lo, hi; } w32;

/* Q4_0: element e is the low nibble of qs[e], element e+16 the high one, minus 8. */
static inline w32 load_q4_0(const void *blk) {
    const uint8x16_t b = vld1q_u8(((const block_q4_0 *)blk)->qs);
    const int8x16_t eight = vdupq_n_s8(8);
    w32 w = {vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(15))), eight),
             vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), eight)};
    return w;
}

/* Q5_0: the low nibbles as Q4_0's, the fifth bit of element e bit e of the little-endian
 * qh word (TST against a byte's 8 bit positions, repeated), levels stored +16. */
static inline w32 load_q5_0(const void *blk) {
    const block_q5_0 *b = blk;
    uint32_t qh;
    memcpy(&qh, b->qh, sizeof qh);
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t sel = vld1q_u8(bit), sixteen = vdupq_n_u8(16);
    const uint8x16_t h0 = vcombine_u8(vdup_n_u8((uint8_t)qh), vdup_n_u8((uint8_t)(qh >> 8)));
    const uint8x16_t h1 = vcombine_u8(vdup_n_u8((uint8_t)(qh >> 16)), vdup_n_u8((uint8_t)(qh >> 24)));
    const uint8x16_t q = vld1q_u8(b->qs);
    const uint8x16_t lo = vorrq_u8(vandq_u8(q, vdupq_n_u8(15)), vandq_u8(vtstq_u8(h0, sel), sixteen));
    const uint8x16_t hi = vorrq_u8(vshrq_n_u8(q, 4), vandq_u8(vtstq_u8(h1, sel), sixteen));
    w32 w = {vsubq_s8(vreinterpretq_s8_u8(lo), vreinterpretq_s8_u8(sixteen)),
             vsubq_s8(vreinterpretq_s8_u8(hi), vreinterpretq_s8_u8(sixteen))};
    return w;
}

static inline w32 load_q8_0(const void *blk) {
    const int8_t *q = ((const block_q8_0 *)blk)->qs;
    w32 w = {vld1q_s8(q), vld1q_s8(q + 16)};
    return w;
}

/* A block_a16 as two int8 planes with q = 256 hi + lo, lo in [-128, 127]: lo is q's low
 * byte (XTN) and hi = (q + 128) >> 8 (RSHRN), in [-127, 127] since |q| <= A16_MAX. SDOT
 * on each plane then gives sum w q = 256 (sum w hi) + (sum w lo), exact in int32. */
typedef struct a16_planes { w32 hi, lo; } a16_planes;

static inline a16_planes load_a16(const block_a16 *x) {
    const int16x8_t q0 = vld1q_s16(x->qs), q1 = vld1q_s16(x->qs + 8), q2 = vld1q_s16(x->qs + 16), q3 = vld1q_s16(x->qs + 24);
    a16_planes p = {{vrshrn_high_n_s16(vrshrn_n_s16(q0, 8), q1, 8), vrshrn_high_n_s16(vrshrn_n_s16(q2, 8), q3, 8)},
                    {vmovn_high_s16(vmovn_s16(q0), q1), vmovn_high_s16(vmovn_s16(q2), q3)}};
    return p;
}

/* Both block types start with their scale as IEEE half. */
static inline uint16_t block_d(const void *blk) { return ((const block_q8_0 *)blk)->d; }

static inline float h2f(uint16_t h) {
    __fp16 f; /* storage-only half: the conversion is base Armv8 FCVT, no FEAT_FP16 */
    memcpy(&f, &h, sizeof f);
    return (float)f;
}

/* The half scales of four blocks (one per row) as [d0 d1 d2 d3]. */
static inline float32x4_t scales4(const void *b0, const void *b1, const void *b2, const void *b3) {
    uint16x4_t h = vdup_n_u16(0);
    h = vld1_lane_u16(&((const block_q8_0 *)b0)->d, h, 0);
    h = vld1_lane_u16(&((const block_q8_0 *)b1)->d, h, 1);
    h = vld1_lane_u16(&((const block_q8_0 *)b2)->d, h, 2);
    h = vld1_lane_u16(&((const block_q8_0 *)b3)->d, h, 3);
    return vcvt_f32_f16(vreinterpret_f16_u16(h));
}

/* Stores the first `rows` (1..4) lanes of v at y. */
static inline void store_rows(float *y, float32x4_t v, int rows) {
    if (rows == 4) { vst1q_f32(y, v); return; }
    float t[4];
    vst1q_f32(t, v);
    memcpy(y, t, sizeof(float) * (size_t)rows);
}

/* The four row pointers of a group starting at row r, the missing ones repeating the last
 * real row (r1 is the end of the caller's range). */
static inline int row_group(const mat *w, int64_t r, int64_t r1, const uint8_t *p[4]) {
    const int rows = r1 - r < 4 ? (int)(r1 - r) : 4;
    for (int i = 0; i < 4; i++) p[i] = w->data + (uint64_t)(r + (i < rows ? i : rows - 1)) * w->row_bytes;
    return rows;
}

/* The activation rows of a group of up to 4 tokens starting at token t (of n): the
 * missing ones repeat the last real token (their results are not stored). Returns how
 * many are real. */
static inline int tok_group(const void *xv, int64_t ldx, int64_t t, int64_t n, const block_a8 *x[4]) {
    const int nt = n - t < 4 ? (int)(n - t) : 4;
    for (int k = 0; k < 4; k++) x[k] = (const block_a8 *)((const char *)xv + (t + (k < nt ? k : nt - 1)) * ldx);
    return nt;
}

/* The machine probe's int8 peak loop (kernels.h's int8_peak) for an ARM table: each
 * round issues INS (SDOT or SMMLA) 16 times, accumulating into v0..v15 from the constant
 * operands v16 and v17, MACS multiply-adds each. Written in assembly because the
 * compiler, given the loop in intrinsics over an array of accumulators, loaded and
 * stored each one around every instruction and the probe timed memory. */
#define NEON_PEAK_INS(INS, D) INS " v" D ".4s, v16.16b, v17.16b\n\t"
#define NEON_INT8_PEAK(INS, MACS)                                                                              \
    static int64_t int8_peak(int64_t iters, int32_t *sink) {                                                   \
        if (iters <= 0) return 0;                                                                               \
        int64_t n = iters;                                                                                      \
        __asm__ volatile("movi v16.16b, #3\n\tmovi v17.16b, #254\n\t1:\n\t"                                  \
                         NEON_PEAK_INS(INS, "0") NEON_PEAK_INS(INS, "1") NEON_PEAK_INS(INS, "2")                \
                         NEON_PEAK_INS(INS, "3") NEON_PEAK_INS(INS, "4") NEON_PEAK_INS(INS, "5")                \
                         NEON_PEAK_INS(INS, "6") NEON_PEAK_INS(INS, "7") NEON_PEAK_INS(INS, "8")                \
                         NEON_PEAK_INS(INS, "9") NEON_PEAK_INS(INS, "10") NEON_PEAK_INS(INS, "11")              \
                         NEON_PEAK_INS(INS, "12") NEON_PEAK_INS(INS, "13") NEON_PEAK_INS(INS, "14")             \
                         NEON_PEAK_INS(INS, "15")                                                               \
                         "subs %0, %0, #1\n\tb.ne 1b"                                                           \
                         : "+r"(n)                                                                              \
                         :                                                                                      \
                         : "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12",     \
                           "v13", "v14", "v15", "v16", "v17", "cc");                                            \
        *sink = (int32_t)n;                                                                                     \
        return iters * 16 * (MACS);                                                                             \
    }

#endif
