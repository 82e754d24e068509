/* kernels_x86_kv.h - attention over a Q8_0 KV cache (GGUF block_q8_0 rows: an F16 scale
 * and 32 int8 values), included by kernels_avx2.c and kernels_avx512.c after their other
 * kernels; it needs only AVX2, FMA and F16C, which both tables have.
 *
 * dot_q8 and axpy_q8 keep the query / output in float: each block's 32 int8 values are
 * widened to four vectors of 8 floats (VPMOVSXBD + VCVTDQ2PS); a block's products are
 * summed, then scaled by its d with one FMA (the scalar reference's order, but 8 lanes
 * and FMAs, so results differ from it by rounding only).
 *
 * to_q8 must write the scalar quantizer's bytes exactly (dtype.c: d = amax/127, q =
 * roundf(x/d) with ties away from zero, 0 for a non-finite or out-of-range product).
 * amax: MAXPS returns its second operand when the first is NaN, so max(|x|, acc)
 * ignores NaN as fmaxf does; d, 1/d and the F16 scale are computed in scalar code as the
 * reference does. x * id is one IEEE multiply in both. roundf has no AVX instruction
 * (VROUNDPS rounds ties to even), so r = trunc(v) + sign(v) where |v - trunc(v)| >= 0.5:
 * v - trunc(v) is exact (Sterbenz), so this is roundf for every float. */
#ifndef G4_CPU_KERNELS_X86_KV_H
#define G4_CPU_KERNELS_X86_KV_H

/* included after kernels_x86_int8.h, whose hsum256 it uses */

/* The 32 int8 values of a block as four vectors of 8 floats. */
static inline void kv_widen32(const int8_t *q, __m256 f[4]) {
    const __m128i lo = _mm_loadu_si128((const __m128i *)q), hi = _mm_loadu_si128((const __m128i *)(q + 16));
    f[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
    f[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
    f[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
    f[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
}

static float x86_dot_q8(const float *x, const block_q8_0 *y, int64_t n) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / G4_QK; b++, x += G4_QK) {
        __m256 f[4];
        kv_widen32(y[b].qs, f);
        __m256 s0 = _mm256_mul_ps(_mm256_loadu_ps(x), f[0]), s1 = _mm256_mul_ps(_mm256_loadu_ps(x + 8), f[1]);
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 16), f[2], s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 24), f[3], s1);
        acc = _mm256_fmadd_ps(_mm256_add_ps(s0, s1), _mm256_set1_ps(_cvtsh_ss(y[b].d)), acc);
    }
    return hsum256(acc);
}

static void x86_axpy_q8(float *y, const block_q8_0 *x, float a, int64_t n) {
    for (int64_t b = 0; b < n / G4_QK; b++, y += G4_QK) {
        const __m256 ad = _mm256_set1_ps(a * _cvtsh_ss(x[b].d));
        __m256 f[4];
        kv_widen32(x[b].qs, f);
        for (int j = 0; j < 4; j++) _mm256_storeu_ps(y + 8 * j, _mm256_fmadd_ps(ad, f[j], _mm256_loadu_ps(y + 8 * j)));
    }
}

/* roundf(v) for 8 lanes, then 0 where the result is NaN or outside [-128, 127] */
static inline __m256i kv_round_i8(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 half = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_sub_ps(v, t)), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    const __m256 step = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0f)); /* copysign(1, v) */
    __m256 r = _mm256_add_ps(t, _mm256_and_ps(half, step));
    const __m256 ok = _mm256_and_ps(_mm256_cmp_ps(r, _mm256_set1_ps(-128.0f), _CMP_GE_OQ),
                                    _mm256_cmp_ps(r, _mm256_set1_ps(127.0f), _CMP_LE_OQ));
    return _mm256_cvtps_epi32(_mm256_and_ps(ok, r));
}

static void x86_to_q8(const float *x, block_q8_0 *y, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / G4_QK; b++, x += G4_QK) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int j = 0; j < 4; j++) {
            v[j] = _mm256_loadu_ps(x + 8 * j);
            m = _mm256_max_ps(_mm256_andnot_ps(sign, v[j]), m); /* NaN lanes keep m */
        }
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float amax = _mm_cvtss_f32(h), d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_fp16(d);
        const __m256 idv = _mm256_set1_ps(id);
        __m256i q[4];
        for (int j = 0; j < 4; j++) q[j] = kv_round_i8(_mm256_mul_ps(v[j], idv));
        /* 4 x 8 int32 -> 32 int8: the packs work per 128-bit lane, the permute undoes that */
        const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        _mm256_storeu_si256((__m256i *)y[b].qs, _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }
}

/* The Q8_0 KV entries of both x86 tables. */
static inline void x86_fill_kv(cpu_kernels *k) {
    k->dot_q8 = x86_dot_q8;
    k->axpy_q8 = x86_axpy_q8;
    k->to_q8 = x86_to_q8;
}

#endif
