/* kernels_avx512_attn.h - grouped attention (kernels.h's attn_scores / attn_wsum) for the
 * AVX-512 table, F32, F16 and Q8_0 caches: tiles of 8 heads in 512-bit registers, then
 * kernels_x86_attn.h's 4-head tiles for the heads left (all of them in a call with fewer
 * than 8: E2B decode on 2 threads); head dims that are not a multiple of 32 take the x86
 * drivers whole. Included by kernels_avx512.c after kernels_x86_attn.h.
 *
 * Why: on Intel cores with two 512-bit FMA ports (this Ice Lake server VM), the 256-bit
 * tiles use half the FMA width, and a prompt's attention is compute work on cached rows
 * that stay in L2 across query rows (a 2048-token prefill of E2B: a fifth of its time).
 * A prefill item has the whole group of a KV head (E2B: 8 q heads), so 8 heads share
 * each key's load and conversion here, against 4 in the 256-bit tiles.
 *  - scores: 8 heads x 4 keys, 16 accumulators. Each holds two keys' 8-lane partial sums
 *    side by side ([key j, lanes c mod 8 | key j + 1, the same]), each query chunk of 8
 *    broadcast to both halves, so that every lane sums exactly what the 256-bit tile's
 *    lane sums, in the same order, and the halves go through the same reduction tree
 *    (attn_hsum8x8): a score is the one the other tables' x86 tiles give, bit for bit,
 *    whichever tile computed it (test_attn: each head alone against all G together).
 *  - weighted sum: 8 heads x 32 values of the output in 16 accumulators across a block
 *    of keys; each key's 32 values loaded and converted once, each weight broadcast once
 *    (2 loads + 8 broadcasts per 16 FMAs). Every output value is the same chain of FMAs
 *    over the keys in order as in the 256-bit tile, so the same bits.
 * Prefetching as in kernels_x86_attn.h: the scores ask for the rows ATTN_PF_KEYS keys
 * ahead, the weighted sum for the current line a block of keys ahead, into L2. */
#ifndef G4_CPU_KERNELS_AVX512_ATTN_H
#define G4_CPU_KERNELS_AVX512_ATTN_H

/* elements c .. c + 7 of rows r0 and r1 as [r0 | r1] floats, any cache type; for Q8_0 the
 * two blocks' scales are converted into *d at a block's first chunk (callers walk c
 * upward from a block boundary), each value their product with its scale, as
 * attn_load8d makes it */
ATTN_AI __m512 a512_pair8(const uint8_t *r0, const uint8_t *r1, int64_t c, const int T, __m512 *d) {
    if (T == KV_T_F32)
        return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps((const float *)r0 + c)),
                                  _mm256_loadu_ps((const float *)r1 + c), 1);
    if (T == KV_T_F16) {
        const __m128i h0 = _mm_loadu_si128((const __m128i *)((const uint16_t *)r0 + c));
        const __m128i h1 = _mm_loadu_si128((const __m128i *)((const uint16_t *)r1 + c));
        return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(h0), h1, 1));
    }
    const block_q8_0 *b0 = (const block_q8_0 *)r0 + c / G4_QK, *b1 = (const block_q8_0 *)r1 + c / G4_QK;
    if (c % G4_QK == 0) *d = _mm512_insertf32x8(_mm512_set1_ps(_cvtsh_ss(b0->d)), _mm256_set1_ps(_cvtsh_ss(b1->d)), 1);
    const __m128i q = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(b0->qs + c % G4_QK)),
                                         _mm_loadl_epi64((const __m128i *)(b1->qs + c % G4_QK)));
    return _mm512_mul_ps(*d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)));
}

/* elements c .. c + 31 of a row (c % 32 == 0: one Q8_0 block) as floats, any cache type
 * (Q8_0: each value times its block's scale, as attn_load16 makes it) */
ATTN_AI void a512_load32(const uint8_t *row, int64_t c, const int T, __m512 *v0, __m512 *v1) {
    if (T == KV_T_F32) {
        *v0 = _mm512_loadu_ps((const float *)row + c);
        *v1 = _mm512_loadu_ps((const float *)row + c + 16);
    } else if (T == KV_T_F16) {
        *v0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + c)));
        *v1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + c + 16)));
    } else {
        const block_q8_0 *b = (const block_q8_0 *)row + c / G4_QK;
        const __m512 d = _mm512_set1_ps(_cvtsh_ss(b->d));
        *v0 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b->qs))));
        *v1 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b->qs + 16)))));
    }
}

/* Scores of 8 heads against keys [j0, j1): 4 keys at a time, 1-3 left by the 4-head tiles */
ATTN_AI void a512_scores_tile8(float *s, int64_t lds, const float *q, const uint8_t *kv, size_t stride, int64_t j0,
                               int64_t j1, int64_t D, const int T) {
    int64_t j = j0;
    for (; j + 4 <= j1; j += 4) {
        const uint8_t *k0 = kv + (size_t)j * stride, *k1 = k0 + stride, *k2 = k1 + stride, *k3 = k2 + stride;
        __m512 a[16]; /* a[2 h]: head h, keys j | j + 1; a[2 h + 1]: keys j + 2 | j + 3 */
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) a[i] = _mm512_setzero_ps();
        __m512 d0 = _mm512_setzero_ps(), d1 = d0; /* Q8_0: the key pairs' block scales */
        for (int64_t c = 0; c < D; c += 8) {
            if (ATTN_PF_AT(T, c)) /* the rows ATTN_PF_KEYS keys ahead, a line at a time */
                for (int r = 0; r < 4; r++)
                    _mm_prefetch((const char *)k0 + (ATTN_PF_KEYS + r) * stride + ATTN_OFF(T, c), _MM_HINT_T1);
            const __m512 p0 = a512_pair8(k0, k1, c, T, &d0), p1 = a512_pair8(k2, k3, c, T, &d1);
#pragma GCC unroll 8
            for (int h = 0; h < 8; h++) {
                const __m512 x = _mm512_broadcast_f32x8(_mm256_loadu_ps(q + h * D + c));
                a[2 * h] = _mm512_fmadd_ps(x, p0, a[2 * h]);
                a[2 * h + 1] = _mm512_fmadd_ps(x, p1, a[2 * h + 1]);
            }
        }
        /* two heads' 4 keys per reduction: the halves as the 256-bit tile's accumulators */
#pragma GCC unroll 4
        for (int hp = 0; hp < 4; hp++) {
            __m256 v[8];
            for (int hh = 0; hh < 2; hh++) {
                const int h = 2 * hp + hh;
                v[4 * hh] = _mm512_castps512_ps256(a[2 * h]);
                v[4 * hh + 1] = _mm512_extractf32x8_ps(a[2 * h], 1);
                v[4 * hh + 2] = _mm512_castps512_ps256(a[2 * h + 1]);
                v[4 * hh + 3] = _mm512_extractf32x8_ps(a[2 * h + 1], 1);
            }
            float r[8];
            _mm256_storeu_ps(r, attn_hsum8x8(v));
            for (int hh = 0; hh < 2; hh++)
                for (int kk = 0; kk < 4; kk++) s[(2 * hp + hh) * lds + j + kk] = r[4 * hh + kk];
        }
    }
    if (j < j1) attn_scores_heads(s, lds, q, 0, 8, kv, stride, j, j1, D, T);
}

/* Weighted sum of keys [j0, j1) into the output of 8 heads, 32 values at a time (D % 32 == 0) */
ATTN_AI void a512_wsum_tile8(float *o, const float *p, int64_t ldp, const uint8_t *kv, size_t stride, int64_t j0,
                             int64_t j1, int64_t D, const int T) {
    for (int64_t c = 0; c < D; c += 32) {
        __m512 a[16];
#pragma GCC unroll 8
        for (int h = 0; h < 8; h++) {
            a[2 * h] = _mm512_loadu_ps(o + h * D + c);
            a[2 * h + 1] = _mm512_loadu_ps(o + h * D + c + 16);
        }
        const uint8_t *v = kv + (size_t)j0 * stride;
        for (int64_t j = j0; j < j1; j++, v += stride) {
            /* the bytes being read (F16 64, Q8_0 a 34-byte block, F32 128), a block of keys ahead */
            _mm_prefetch((const char *)v + (size_t)ATTN_KB * stride + ATTN_OFF(T, c), _MM_HINT_T1);
            if (T == KV_T_F32) _mm_prefetch((const char *)v + (size_t)ATTN_KB * stride + ATTN_OFF(T, c + 16), _MM_HINT_T1);
            __m512 v0, v1;
            a512_load32(v, c, T, &v0, &v1);
#pragma GCC unroll 8
            for (int h = 0; h < 8; h++) {
                const __m512 w = _mm512_set1_ps(p[h * ldp + j]);
                a[2 * h] = _mm512_fmadd_ps(w, v0, a[2 * h]);
                a[2 * h + 1] = _mm512_fmadd_ps(w, v1, a[2 * h + 1]);
            }
        }
#pragma GCC unroll 8
        for (int h = 0; h < 8; h++) {
            _mm512_storeu_ps(o + h * D + c, a[2 * h]);
            _mm512_storeu_ps(o + h * D + c + 16, a[2 * h + 1]);
        }
    }
}

/* the key-block drivers: per block of ATTN_KB keys, 8-head tiles, then the 4-head ones */
ATTN_AI void a512_scores_t(float *s, int64_t lds, const float *q, int32_t G, const void *kvv, size_t stride, int64_t n,
                           int64_t D, const int T) {
    if (D % 32) { attn_scores_t(s, lds, q, G, kvv, stride, n, D, T); return; }
    const uint8_t *kv = kvv;
    for (int64_t jb = 0; jb < n; jb += ATTN_KB) {
        const int64_t je = jb + ATTN_KB < n ? jb + ATTN_KB : n;
        int32_t g = 0;
        for (; g + 8 <= G; g += 8) a512_scores_tile8(s + g * lds, lds, q + g * D, kv, stride, jb, je, D, T);
        attn_scores_heads(s, lds, q, g, G, kv, stride, jb, je, D, T);
    }
}

ATTN_AI void a512_wsum_t(float *o, const float *p, int64_t ldp, int32_t G, const void *kvv, size_t stride, int64_t n,
                         int64_t D, const int T) {
    if (D % 32) { attn_wsum_t(o, p, ldp, G, kvv, stride, n, D, T); return; }
    const uint8_t *kv = kvv;
    for (int64_t jb = 0; jb < n; jb += ATTN_KB) {
        const int64_t je = jb + ATTN_KB < n ? jb + ATTN_KB : n;
        int32_t g = 0;
        for (; g + 8 <= G; g += 8) a512_wsum_tile8(o + g * D, p + g * ldp, ldp, kv, stride, jb, je, D, T);
        attn_wsum_heads(o, p, ldp, g, G, kv, stride, jb, je, D, T);
    }
}

ATTN_ENTRIES_OF(a512_, a512_scores_t, a512_wsum_t)

/* after x86_fill_attn */
static inline void avx512_fill_attn(cpu_kernels *k) { ATTN_SET(k, a512_); }

#endif
