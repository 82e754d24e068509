/* kernels_neon_vec.h - the element-wise float entries of the NEON table (kernels.h's
 * gelu_mul, softcap, softmax, rmsnorm), with the same polynomial exp and tanh as the x86 tables
 * (kernels_x86_int8.h's exp8 / tanh8), 4 lanes. The scalar ones call libm's expf / tanhf
 * per value: on a phone that is the GeGLU over every prompt token's feed-forward
 * activations and the soft-capping of 262144 logits per decoded token. Included by
 * kernels_neon.c (AArch64: FRINTN, FDIV and FMAXNMV are base Armv8). */
#ifndef G4_CPU_KERNELS_NEON_VEC_H
#define G4_CPU_KERNELS_NEON_VEC_H

#include <math.h>

/* e^z: z = n ln2 + r (ln2 in two parts, |r| <= ln2 / 2), a degree-6 Taylor polynomial in
 * r, times 2^n built in the exponent bits; z clamped to [-87, 88] (no infinities or
 * denormals: e^-100 comes out 1.6e-38). */
static inline float32x4_t neon_exp4(float32x4_t z) {
    z = vminq_f32(vmaxq_f32(z, vdupq_n_f32(-87.0f)), vdupq_n_f32(88.0f));
    const float32x4_t n = vrndnq_f32(vmulq_n_f32(z, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(z, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.0f / 720);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtnq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

/* tanh: an odd Taylor polynomial below |y| = 0.55, 1 - 2 / (1 + e^(2|y|)) above, y's sign */
static inline float32x4_t neon_tanh4(float32x4_t y) {
    const float32x4_t a = vabsq_f32(y), z = vmulq_f32(a, a), one = vdupq_n_f32(1.0f);
    float32x4_t p = vdupq_n_f32(6404582.0f / 10854718875.0f);
    p = vfmaq_f32(vdupq_n_f32(-929569.0f / 638512875.0f), p, z);
    p = vfmaq_f32(vdupq_n_f32(21844.0f / 6081075.0f), p, z);
    p = vfmaq_f32(vdupq_n_f32(-1382.0f / 155925.0f), p, z);
    p = vfmaq_f32(vdupq_n_f32(62.0f / 2835.0f), p, z);
    p = vfmaq_f32(vdupq_n_f32(-17.0f / 315.0f), p, z);
    p = vfmaq_f32(vdupq_n_f32(2.0f / 15.0f), p, z);
    p = vfmaq_f32(vdupq_n_f32(-1.0f / 3.0f), p, z);
    const float32x4_t small = vfmaq_f32(a, vmulq_f32(a, z), p);
    const float32x4_t big = vsubq_f32(one, vdivq_f32(vdupq_n_f32(2.0f), vaddq_f32(one, neon_exp4(vaddq_f32(a, a)))));
    const uint32x4_t t = vreinterpretq_u32_f32(vbslq_f32(vcltq_f32(a, vdupq_n_f32(0.55f)), small, big));
    const uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(y), vdupq_n_u32(0x80000000u));
    return vreinterpretq_f32_u32(vorrq_u32(t, sign));
}

/* kernels.h's gelu_mul: g = x / (1 + e^(-2 sqrt(2/pi) (x + 0.044715 x^3))) * u */
static void neon_gelu_mul(float *g, const float *u, int64_t n) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t x = vld1q_f32(g + i);
        const float32x4_t y = vmulq_f32(x, vfmaq_f32(one, vmulq_n_f32(x, 0.044715f), x)); /* x + 0.044715 x^3 */
        const float32x4_t gl = vdivq_f32(x, vaddq_f32(one, neon_exp4(vmulq_n_f32(y, -2.0f * 0.7978845608028654f))));
        vst1q_f32(g + i, vmulq_f32(gl, vld1q_f32(u + i)));
    }
    for (; i < n; i++) {
        const float x = g[i], y = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        g[i] = x / (1.0f + expf(-2.0f * y)) * u[i];
    }
}

/* kernels.h's softcap: x = c tanh(x / c) */
static void neon_softcap(float *x, int64_t n, float c) {
    const float ic = 1.0f / c;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vmulq_n_f32(neon_tanh4(vmulq_n_f32(vld1q_f32(x + i), ic)), c));
    for (; i < n; i++) x[i] = c * tanhf(x[i] / c);
}

/* kernels.h's softmax: FMAXNM (NaN-ignoring, as fmaxf), the exp above, the sum in double,
 * the weights below SOFTMAX_MIN to 0 */
static void neon_softmax(float *x, int64_t n) {
    float32x4_t mv = vdupq_n_f32(-INFINITY);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) mv = vmaxnmq_f32(mv, vld1q_f32(x + i));
    float mx = vmaxnmvq_f32(mv);
    for (; i < n; i++) mx = fmaxf(mx, x[i]);
    float64x2_t s = vdupq_n_f64(0.0);
    for (i = 0; i + 4 <= n; i += 4) {
        const float32x4_t e = neon_exp4(vsubq_f32(vld1q_f32(x + i), vdupq_n_f32(mx)));
        vst1q_f32(x + i, e);
        s = vaddq_f64(s, vaddq_f64(vcvt_f64_f32(vget_low_f32(e)), vcvt_high_f64_f32(e)));
    }
    double sum = vaddvq_f64(s);
    for (; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (i = 0; i + 4 <= n; i += 4) { /* weights below SOFTMAX_MIN to 0 (kernels.h) */
        const float32x4_t p = vmulq_n_f32(vld1q_f32(x + i), inv);
        vst1q_f32(x + i, vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(p), vcgeq_f32(p, vdupq_n_f32(SOFTMAX_MIN)))));
    }
    for (; i < n; i++) {
        const float p = x[i] * inv;
        x[i] = p >= SOFTMAX_MIN ? p : 0.0f;
    }
}

/* kernels.h's rmsnorm: squares summed in double, 4 values (two 2-double FMAs) per step */
static void neon_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps) {
    float64x2_t s0 = vdupq_n_f64(0.0), s1 = s0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        const float64x2_t a = vcvt_f64_f32(vget_low_f32(v)), b = vcvt_high_f64_f32(v);
        s0 = vfmaq_f64(s0, a, a);
        s1 = vfmaq_f64(s1, b, b);
    }
    double ss = vaddvq_f64(vaddq_f64(s0, s1));
    for (int64_t t = i; t < n; t++) ss += (double)x[t] * x[t];
    const float inv = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    for (i = 0; i + 4 <= n; i += 4) {
        const float32x4_t v = vmulq_n_f32(vld1q_f32(x + i), inv);
        vst1q_f32(y + i, w ? vmulq_f32(v, vld1q_f32(w + i)) : v);
    }
    for (; i < n; i++) y[i] = w ? x[i] * inv * w[i] : x[i] * inv;
}

#endif
