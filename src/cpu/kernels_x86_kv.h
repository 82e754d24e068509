/* kernels_x86_kv.h - writing a Q8_0 KV cache (GGUF block_q8_0 rows: an F16 scale and 32
 * int8 values; attention reads them in kernels_x86_attn.h), included by kernels_avx2.c and
 * kernels_avx512.c after their other kernels; it needs only AVX2, FMA and F16C, which
 * both tables have.
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
        const float amax = _mm_cvtss_f32(h), d = amax / 127.0f, id = inv_scale(d);
        y[b].d = f32_to_fp16(d);
        const __m256 idv = _mm256_set1_ps(id);
        __m256i q[4];
        for (int j = 0; j < 4; j++) q[j] = kv_round_i8(_mm256_mul_ps(v[j], idv));
        /* 4 x 8 int32 -> 32 int8: the packs work per 128-bit lane, the permute undoes that */
        const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        _mm256_storeu_si256((__m256i *)y[b].qs, _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }
}

/* The Q8_0 KV entries of every x86 table. */
static inline void x86_fill_kv(cpu_kernels *k) {
    k->to_q8 = x86_to_q8;
}

#endif
