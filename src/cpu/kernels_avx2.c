/* kernels_avx2.c - AVX2 + FMA + F16C kernels (Haswell-class x86-64 and later); only this
 * file is compiled with those flags. Same structure as kernels_avx512.c (groups of four
 * weight rows, every token per group), but without VNNI: byte products go through
 * VPMADDUBSW (u8 x s8 -> pairs summed to int16) and VPMADDWD (int16 pairs -> int32).
 * Q4_0 nibbles times int8 activations stay within int16 (2 x 15 x 127); Q8_0 uses the
 * sign trick so the unsigned operand is |w| <= 127 (2 x 127 x 127 < 32768 as well). */
#include "kernels.h"
#include "../dtype.h"

#include <immintrin.h>

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __m256i unpack_q4(const uint8_t *qs) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    __m128i lo = _mm_and_si128(b, _mm_set1_epi8(15));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(15));
    return _mm256_set_m128i(hi, lo);
}

static inline __m256i dot_u8s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

#define RB 4

/* One group of `rows` (1..RB) weight rows against every token. */
static void q4_group(float *y, int64_t ldy, const block_q4_0 *const *wb, int rows, int64_t r, const void *xv, int64_t ldx,
                     int64_t n, int64_t nb) {
    for (int64_t t = 0; t < n; t++) {
        const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);
        __m256 acc[RB] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        float corr[RB] = {0};
        for (int64_t b = 0; b < nb; b++) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)xb[b].qs);
            const float da = xb[b].d, s8 = 8.0f * (float)xb[b].s;
            for (int i = 0; i < rows; i++) {
                const float sc = h2f(wb[i][b].d) * da;
                acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_u8s8(unpack_q4(wb[i][b].qs), a)), _mm256_set1_ps(sc), acc[i]);
                corr[i] += sc * s8; /* the -8 offset of every nibble */
            }
        }
        for (int i = 0; i < rows; i++) y[t * ldy + r + i] = hsum256(acc[i]) - corr[i];
    }
}

static void matmul_q4_0(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    (void)scratch;
    const int64_t nb = w->cols / 32;
    for (int64_t r = r0; r < r1; r += RB) {
        const int rows = (int)(r1 - r < RB ? r1 - r : RB);
        const block_q4_0 *wb[RB];
        for (int i = 0; i < rows; i++) wb[i] = (const block_q4_0 *)(w->data + (uint64_t)(r + i) * w->row_bytes);
        q4_group(y, ldy, wb, rows, r, xv, ldx, n, nb);
    }
}

static void matmul_q8_0(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    (void)scratch;
    const int64_t nb = w->cols / 32;
    for (int64_t r = r0; r < r1; r += RB) {
        const int rows = (int)(r1 - r < RB ? r1 - r : RB);
        const block_q8_0 *wb[RB];
        for (int i = 0; i < rows; i++) wb[i] = (const block_q8_0 *)(w->data + (uint64_t)(r + i) * w->row_bytes);
        for (int64_t t = 0; t < n; t++) {
            const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);
            __m256 acc[RB] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
            for (int64_t b = 0; b < nb; b++) {
                const __m256i a = _mm256_loadu_si256((const __m256i *)xb[b].qs);
                for (int i = 0; i < rows; i++) {
                    const __m256i wv = _mm256_loadu_si256((const __m256i *)wb[i][b].qs);
                    const __m256i dot = dot_u8s8(_mm256_abs_epi8(wv), _mm256_sign_epi8(a, wv));
                    acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(h2f(wb[i][b].d) * xb[b].d), acc[i]);
                }
            }
            for (int i = 0; i < rows; i++) y[t * ldy + r + i] = hsum256(acc[i]);
        }
    }
}

static inline __m256 load8(const uint8_t *p, int32_t type) {
    switch (type) {
    case G4_DTYPE_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    case G4_DTYPE_BF16: return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    default: return _mm256_loadu_ps((const float *)p);
    }
}
static inline float load1(const uint8_t *p, int32_t type, int64_t c) {
    switch (type) {
    case G4_DTYPE_F16: return fp16_to_f32((uint16_t)(p[2 * c] | p[2 * c + 1] << 8));
    case G4_DTYPE_BF16: return bf16_to_f32((uint16_t)(p[2 * c] | p[2 * c + 1] << 8));
    default: return ((const float *)p)[c];
    }
}

static void matmul_float(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                         int64_t n, float *scratch) {
    (void)scratch;
    const int64_t cols = w->cols, c8 = cols / 8 * 8;
    const int es = w->type == G4_DTYPE_F32 ? 4 : 2;
    for (int64_t r = r0; r < r1; r += RB) {
        const int rows = (int)(r1 - r < RB ? r1 - r : RB);
        const uint8_t *wr[RB];
        for (int i = 0; i < rows; i++) wr[i] = w->data + (uint64_t)(r + i) * w->row_bytes;
        for (int64_t t = 0; t < n; t++) {
            const float *x = (const float *)((const char *)xv + t * ldx);
            __m256 acc[RB] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
            for (int64_t c = 0; c < c8; c += 8) {
                const __m256 x8 = _mm256_loadu_ps(x + c);
                for (int i = 0; i < rows; i++) acc[i] = _mm256_fmadd_ps(load8(wr[i] + c * es, w->type), x8, acc[i]);
            }
            for (int i = 0; i < rows; i++) {
                float s = hsum256(acc[i]);
                for (int64_t c = c8; c < cols; c++) s += load1(wr[i], w->type, c) * x[c];
                y[t * ldy + r + i] = s;
            }
        }
    }
}

void kernels_avx2_fill(cpu_kernels *k) {
    kernels_ref_fill(k);
    k->isa = "avx2";
    k->matmul[G4_DTYPE_Q4_0] = matmul_q4_0;
    k->matmul[G4_DTYPE_Q8_0] = matmul_q8_0;
    k->matmul[G4_DTYPE_F32] = matmul_float;
    k->matmul[G4_DTYPE_F16] = matmul_float;
    k->matmul[G4_DTYPE_BF16] = matmul_float;
}
