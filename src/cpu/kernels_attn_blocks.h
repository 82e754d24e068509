/* kernels_attn_blocks.h - the part of grouped attention (kernels.h's attn_scores /
 * attn_wsum) that does not depend on the vector ISA: key blocks of ATTN_KB rows, within
 * each tiles of 4 heads and one of the G % 4 left, a scalar loop for head dims that are
 * not a multiple of 16, and the six table entries. kernels_x86_attn.h and
 * kernels_neon_attn.h include it and then define the tiles it calls (attn_scores_tile,
 * attn_wsum_tile) and attn_load1 for their vectors. */
#ifndef G4_CPU_KERNELS_ATTN_BLOCKS_H
#define G4_CPU_KERNELS_ATTN_BLOCKS_H

enum { KV_T_F32 = 0, KV_T_F16 = 1, KV_T_Q8 = 2, ATTN_KB = 32 };

#define ATTN_AI static inline __attribute__((always_inline))

/* defined by the including file */
ATTN_AI float attn_load1(const uint8_t *row, int64_t c, const int T);
ATTN_AI void attn_scores_tile(float *s, int64_t lds, const float *q, const uint8_t *kv, size_t stride, int64_t j0,
                              int64_t j1, int64_t D, const int H, const int T);
ATTN_AI void attn_wsum_tile(float *o, const float *p, int64_t ldp, const uint8_t *kv, size_t stride, int64_t j0,
                            int64_t j1, int64_t D, const int H, const int T);

/* Heads [g, G) of one key block [jb, je): tiles of 4 heads and one of the rest. (The
 * AVX-512 table takes 8 heads at a time first, kernels_avx512_attn.h, and these for the
 * heads left.) */
ATTN_AI void attn_scores_heads(float *s, int64_t lds, const float *q, int32_t g, int32_t G, const uint8_t *kv,
                               size_t stride, int64_t jb, int64_t je, int64_t D, const int T) {
    for (; g + 4 <= G; g += 4) attn_scores_tile(s + g * lds, lds, q + g * D, kv, stride, jb, je, D, 4, T);
    switch (G - g) {
    case 3: attn_scores_tile(s + g * lds, lds, q + g * D, kv, stride, jb, je, D, 3, T); break;
    case 2: attn_scores_tile(s + g * lds, lds, q + g * D, kv, stride, jb, je, D, 2, T); break;
    case 1: attn_scores_tile(s + g * lds, lds, q + g * D, kv, stride, jb, je, D, 1, T); break;
    default: break;
    }
}

ATTN_AI void attn_wsum_heads(float *o, const float *p, int64_t ldp, int32_t g, int32_t G, const uint8_t *kv,
                             size_t stride, int64_t jb, int64_t je, int64_t D, const int T) {
    for (; g + 4 <= G; g += 4) attn_wsum_tile(o + g * D, p + g * ldp, ldp, kv, stride, jb, je, D, 4, T);
    switch (G - g) {
    case 3: attn_wsum_tile(o + g * D, p + g * ldp, ldp, kv, stride, jb, je, D, 3, T); break;
    case 2: attn_wsum_tile(o + g * D, p + g * ldp, ldp, kv, stride, jb, je, D, 2, T); break;
    case 1: attn_wsum_tile(o + g * D, p + g * ldp, ldp, kv, stride, jb, je, D, 1, T); break;
    default: break;
    }
}

/* Key blocks of ATTN_KB, within each tiles of 4 heads and one of the G % 4 left. */
ATTN_AI void attn_scores_t(float *s, int64_t lds, const float *q, int32_t G, const void *kvv, size_t stride,
                           int64_t n, int64_t D, const int T) {
    const uint8_t *kv = kvv;
    if (D % 16) { /* not a Gemma 4 head dim: scalar */
        for (int32_t g = 0; g < G; g++)
            for (int64_t j = 0; j < n; j++) {
                float acc = 0.0f;
                for (int64_t c = 0; c < D; c++) acc += q[g * D + c] * attn_load1(kv + (size_t)j * stride, c, T);
                s[g * lds + j] = acc;
            }
        return;
    }
    for (int64_t jb = 0; jb < n; jb += ATTN_KB)
        attn_scores_heads(s, lds, q, 0, G, kv, stride, jb, jb + ATTN_KB < n ? jb + ATTN_KB : n, D, T);
}

ATTN_AI void attn_wsum_t(float *o, const float *p, int64_t ldp, int32_t G, const void *kvv, size_t stride, int64_t n,
                         int64_t D, const int T) {
    const uint8_t *kv = kvv;
    if (D % 16) {
        for (int32_t g = 0; g < G; g++)
            for (int64_t j = 0; j < n; j++)
                for (int64_t c = 0; c < D; c++) o[g * D + c] += p[g * ldp + j] * attn_load1(kv + (size_t)j * stride, c, T);
        return;
    }
    for (int64_t jb = 0; jb < n; jb += ATTN_KB)
        attn_wsum_heads(o, p, ldp, 0, G, kv, stride, jb, jb + ATTN_KB < n ? jb + ATTN_KB : n, D, T);
}

/* The table entries PREFIX##attn_scores_f32 ... PREFIX##attn_wsum_q8, over the key-block
 * drivers SCORES_T / WSUM_T (attn_scores_t / attn_wsum_t above, or a table's own), and
 * ATTN_SET, which puts them in a table. */
#define ATTN_ENTRIES(PREFIX) ATTN_ENTRIES_OF(PREFIX, attn_scores_t, attn_wsum_t)
#define ATTN_ENTRIES_OF(PREFIX, SCORES_T, WSUM_T)                                                                \
    ATTN_ENTRY(PREFIX, KV_T_F32, f32, SCORES_T, WSUM_T)                                                          \
    ATTN_ENTRY(PREFIX, KV_T_F16, f16, SCORES_T, WSUM_T)                                                          \
    ATTN_ENTRY(PREFIX, KV_T_Q8, q8, SCORES_T, WSUM_T)
#define ATTN_ENTRY(PREFIX, T, SUF, SCORES_T, WSUM_T)                                                             \
    static void PREFIX##attn_scores_##SUF(float *s, int64_t lds, const float *q, int32_t G, const void *kv,      \
                                          size_t stride, int64_t n, int64_t D) {                                 \
        SCORES_T(s, lds, q, G, kv, stride, n, D, T);                                                             \
    }                                                                                                            \
    static void PREFIX##attn_wsum_##SUF(float *o, const float *p, int64_t ldp, int32_t G, const void *kv,        \
                                        size_t stride, int64_t n, int64_t D) {                                   \
        WSUM_T(o, p, ldp, G, kv, stride, n, D, T);                                                               \
    }
#define ATTN_SET(k, PREFIX)                                                                                      \
    do {                                                                                                         \
        (k)->attn_scores_f32 = PREFIX##attn_scores_f32;                                                          \
        (k)->attn_scores_f16 = PREFIX##attn_scores_f16;                                                          \
        (k)->attn_scores_q8 = PREFIX##attn_scores_q8;                                                            \
        (k)->attn_wsum_f32 = PREFIX##attn_wsum_f32;                                                              \
        (k)->attn_wsum_f16 = PREFIX##attn_wsum_f16;                                                              \
        (k)->attn_wsum_q8 = PREFIX##attn_wsum_q8;                                                                \
    } while (0)

#endif
