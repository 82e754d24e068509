/* kernels_x86_attn.h - grouped attention over the KV cache (kernels.h's attn_scores /
 * attn_wsum), for F32, F16 and Q8_0 caches; included by kernels_avx2.c and
 * kernels_avx512.c after kernels_x86_kv.h (8-lane AVX2 + FMA + F16C code, which both
 * tables compile; hsum256 comes from kernels_x86_int8.h).
 *
 * Gemma 4's q heads come in groups (E2B: 8) sharing one KV head, so every cached row is
 * used by G heads. Per-head dot / axpy calls load and convert each row G times, and the
 * axpy loads and stores the output for every key. Here:
 *  - scores: a tile of 4 heads x 2 keys keeps 8 accumulators in registers over the head
 *    dim; each 8-value chunk of a key is loaded and converted once for 4 heads, each
 *    query chunk loaded once for 2 keys (6 loads per 8 FMAs). The 8 sums are reduced
 *    together (one horizontal-add tree, not 8).
 *  - weighted sum: the loops are swapped; a 16-float chunk of the output of 4 heads stays
 *    in 8 registers across a block of keys, each key's 16 values are loaded and converted
 *    once and each weight broadcast once (2 row loads + 4 broadcasts per 8 FMAs); the
 *    output is loaded and stored once per block, not per key.
 * Keys go in blocks of KB = 32 so that the block's rows stay in L1/L2 while the head
 * tiles (G = 8: two) and output chunks pass over them; heads past the last multiple of 4
 * use 1-3-head tiles of the same code (that blocking, and the entries, are shared with
 * NEON: kernels_attn_blocks.h).
 * Q8_0 values are scaled by their block's d as they are widened ((d q) x rather than the
 * reference's d (sum q x): rounding differences only). F32 / F16 need D % 16 == 0 (every
 * Gemma 4 head dim), other D go through a scalar loop. */
#ifndef G4_CPU_KERNELS_X86_ATTN_H
#define G4_CPU_KERNELS_X86_ATTN_H

#include "kernels_attn_blocks.h"

/* Software prefetch. A decode step's cache rows come from memory (a 3072-token global
 * layer of E2B is 6 MB of K and V), two keys' rows at a time in the scores and 32 rows in
 * step in the weighted sum: streams the hardware prefetcher served poorly (perf put the
 * samples on the key loads). The scores ask for the rows ATTN_PF_KEYS keys ahead a line
 * at a time as they walk the current ones; the weighted sum for each row's current line a
 * block of keys (ATTN_KB) ahead. Both into L2 (PREFETCHT1), as the decode matvecs do for
 * distances past a few KB: sent to L1, lines 8-32 KB ahead were evicted before use.
 * kbench on the Zen 4 VM, one thread, 4 heads over 3072 keys of head dim 512 from memory
 * (2 MiB pages, as session.c maps the cache), scores / weighted sum alone in us per layer:
 * 2 keys ahead into L1 307-315 / 246-250; 4 or 8 keys into L1 308-328; 8 keys into L2
 * 139-171, 16 166-181, 32 141-142; the weighted sum's block ahead into L2 177-180 (16 keys
 * ahead, inside the block being read, 353). (Earlier, 4 KiB pages: 1052 -> 633-713 us
 * for both with the L1 prefetches. AVX-512 tiles, 4 keys x 4 heads per score step and 64
 * values per head in the weighted sum, prefetching likewise, ran 745-797 us from memory
 * and 23-24 in cache, and were dropped.) */
#define ATTN_PF_KEYS 8
/* Where the prefetches go: element c's byte offset in a cached row, and whether c starts
 * a stretch to ask for. F32 / F16: every 64 bytes. Q8_0 (34-byte blocks): every block,
 * some lines twice; asked for every 64 elements, the last line or two of a head dim 512
 * row (544 bytes) were never fetched ahead: kbench's Q8_0 scores from memory (3072 keys)
 * 282-294 -> 187-215 us, weighted sum 222-229 -> 211 (F16's: 139-142 and 175-180). */
#define ATTN_OFF(T, c) ((T) == KV_T_F32 ? (c) * 4 : (T) == KV_T_F16 ? (c) * 2 : (c) / G4_QK * (int64_t)sizeof(block_q8_0))
#define ATTN_PF_AT(T, c) ((T) == KV_T_Q8 ? (c) % G4_QK == 0 : ATTN_OFF(T, c) % 64 == 0)

/* 8 values of an F32 or F16 cached row from element c (c % 8 == 0) as floats */
ATTN_AI __m256 attn_load8(const uint8_t *row, int64_t c, const int T) {
    if (T == KV_T_F32) return _mm256_loadu_ps((const float *)row + c);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + c)));
}

/* 8 values from element c as floats, any cache type; a Q8_0 block's scale is converted
 * once, into *d at the block's first chunk (callers walk c upward from a block boundary),
 * not for every 8 values: kbench (one thread, 4 heads, 512 keys of head dim 512 in
 * cache), Q8_0 scores 35 -> 29 us, from memory (3072 keys) 319-332 -> 282-294 us. */
ATTN_AI __m256 attn_load8d(const uint8_t *row, int64_t c, const int T, __m256 *d) {
    if (T != KV_T_Q8) return attn_load8(row, c, T);
    const block_q8_0 *b = (const block_q8_0 *)row + c / G4_QK;
    if (c % G4_QK == 0) *d = _mm256_set1_ps(_cvtsh_ss(b->d));
    const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b->qs + c % G4_QK))));
    return _mm256_mul_ps(*d, q);
}

/* 16 values from element c (c % 16 == 0: within one Q8_0 block, whose scale is
 * converted once) as floats, any cache type */
ATTN_AI void attn_load16(const uint8_t *row, int64_t c, const int T, __m256 *v0, __m256 *v1) {
    if (T != KV_T_Q8) {
        *v0 = attn_load8(row, c, T);
        *v1 = attn_load8(row, c + 8, T);
        return;
    }
    const block_q8_0 *b = (const block_q8_0 *)row + c / G4_QK;
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(b->d));
    const __m128i q = _mm_loadu_si128((const __m128i *)(b->qs + c % G4_QK));
    *v0 = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
    *v1 = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8))));
}

/* one value, for the scalar path */
ATTN_AI float attn_load1(const uint8_t *row, int64_t c, const int T) {
    if (T == KV_T_F32) return ((const float *)row)[c];
    if (T == KV_T_F16) return fp16_to_f32(((const uint16_t *)row)[c]);
    const block_q8_0 *b = (const block_q8_0 *)row + c / G4_QK;
    return fp16_to_f32(b->d) * (float)b->qs[c % G4_QK];
}

/* lane i of the result = the sum of v[i]'s lanes */
ATTN_AI __m256 attn_hsum8x8(const __m256 v[8]) {
    const __m256 t0 = _mm256_hadd_ps(v[0], v[1]), t1 = _mm256_hadd_ps(v[2], v[3]);
    const __m256 t2 = _mm256_hadd_ps(v[4], v[5]), t3 = _mm256_hadd_ps(v[6], v[7]);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3); /* [v0..v3 low | v0..v3 high] */
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* Scores of H (1..4) heads against keys [j0, j1) of the run. */
ATTN_AI void attn_scores_tile(float *s, int64_t lds, const float *q, const uint8_t *kv, size_t stride, int64_t j0,
                              int64_t j1, int64_t D, const int H, const int T) {
    int64_t j = j0;
    for (; j + 2 <= j1; j += 2) {
        const uint8_t *k0 = kv + (size_t)j * stride, *k1 = k0 + stride;
        __m256 a[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) a[i] = _mm256_setzero_ps();
        __m256 d0 = _mm256_setzero_ps(), d1 = d0; /* Q8_0: the keys' block scales */
        for (int64_t c = 0; c < D; c += 8) {
            if (ATTN_PF_AT(T, c)) { /* the rows ATTN_PF_KEYS keys ahead, a line at a time */
                _mm_prefetch((const char *)k0 + ATTN_PF_KEYS * stride + ATTN_OFF(T, c), _MM_HINT_T1);
                _mm_prefetch((const char *)k0 + (ATTN_PF_KEYS + 1) * stride + ATTN_OFF(T, c), _MM_HINT_T1);
            }
            const __m256 v0 = attn_load8d(k0, c, T, &d0), v1 = attn_load8d(k1, c, T, &d1);
#pragma GCC unroll 4
            for (int h = 0; h < H; h++) {
                __m256 x = _mm256_loadu_ps(q + h * D + c);
                /* in a register: GCC otherwise folds the load into both FMAs, 10 loads per 8
                 * FMAs, and the scores in cache ran at half the FMA rate (512 keys of head
                 * dim 512, 4 heads: 34 -> 21 us on Zen 4) */
                __asm__("" : "+x"(x));
                a[2 * h] = _mm256_fmadd_ps(x, v0, a[2 * h]);
                a[2 * h + 1] = _mm256_fmadd_ps(x, v1, a[2 * h + 1]);
            }
        }
        float r[8];
        _mm256_storeu_ps(r, attn_hsum8x8(a));
        for (int h = 0; h < H; h++) {
            s[h * lds + j] = r[2 * h];
            s[h * lds + j + 1] = r[2 * h + 1];
        }
    }
    if (j < j1) { /* an odd last key, reduced by the pairs' tree (attn_hsum8x8): a key's
                   * score must not depend on whether it has a partner, since session.c
                   * stacks rows whose windows end at different keys into one call */
        const uint8_t *k0 = kv + (size_t)j * stride;
        __m256 a[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) a[i] = _mm256_setzero_ps();
        __m256 d0 = _mm256_setzero_ps();
        for (int64_t c = 0; c < D; c += 8) {
            const __m256 v0 = attn_load8d(k0, c, T, &d0);
#pragma GCC unroll 4
            for (int h = 0; h < H; h++) a[2 * h] = _mm256_fmadd_ps(_mm256_loadu_ps(q + h * D + c), v0, a[2 * h]);
        }
        float r[8];
        _mm256_storeu_ps(r, attn_hsum8x8(a));
        for (int h = 0; h < H; h++) s[h * lds + j] = r[2 * h];
    }
}

/* Weighted sum of keys [j0, j1) into the output of H (1..4) heads. */
ATTN_AI void attn_wsum_tile(float *o, const float *p, int64_t ldp, const uint8_t *kv, size_t stride, int64_t j0,
                            int64_t j1, int64_t D, const int H, const int T) {
    for (int64_t c = 0; c < D; c += 16) {
        __m256 a[8];
#pragma GCC unroll 4
        for (int h = 0; h < H; h++) {
            a[2 * h] = _mm256_loadu_ps(o + h * D + c);
            a[2 * h + 1] = _mm256_loadu_ps(o + h * D + c + 8);
        }
        const uint8_t *v = kv + (size_t)j0 * stride;
        const int pf = ATTN_PF_AT(T, c); /* this part of the rows starts a line */
        for (int64_t j = j0; j < j1; j++, v += stride) {
            if (pf) /* ... which a block of keys ahead is asked for */
                _mm_prefetch((const char *)v + (size_t)ATTN_KB * stride + ATTN_OFF(T, c), _MM_HINT_T1);
            __m256 v0, v1;
            attn_load16(v, c, T, &v0, &v1);
#pragma GCC unroll 4
            for (int h = 0; h < H; h++) {
                const __m256 w = _mm256_broadcast_ss(p + h * ldp + j);
                a[2 * h] = _mm256_fmadd_ps(w, v0, a[2 * h]);
                a[2 * h + 1] = _mm256_fmadd_ps(w, v1, a[2 * h + 1]);
            }
        }
#pragma GCC unroll 4
        for (int h = 0; h < H; h++) {
            _mm256_storeu_ps(o + h * D + c, a[2 * h]);
            _mm256_storeu_ps(o + h * D + c + 8, a[2 * h + 1]);
        }
    }
}

ATTN_ENTRIES(x86_)

static inline void x86_fill_attn(cpu_kernels *k) { ATTN_SET(k, x86_); }

#endif
