/* kernels_x86_int8.h - the int8 block kernels (Q4_0 weights x block_a8 activations; the
 * MATMUL_INT8 / MATMUL_TILE shapes that Q5_0 instantiates; the sideways prefill engines
 * the other 4-, 5- and 6-bit types share), and small helpers, shared by the x86 tables
 * (AVX2, AVX-VNNI, AVX-512). The including file is compiled with its ISA's flags and says
 * what the kernels may use: X86_VNNI the 256-bit VPDPBUSD / VPDPWSSD, X86_AVX512 512-bit
 * vectors, mask registers and 32 vector registers (the zmm engines). The byte products
 * below (dot_u8s8, dot_s16) follow from that; everything else is the same code.
 *
 * Decode (matvec_*, and calls of 2 tokens) walks four weight rows at a time with one
 * register accumulator per row, prefetching the rows ahead as one stream. Prefill: Q4_0,
 * Q4_1, Q5_0, Q5_1, Q4_K and Q5_K turn weight rows sideways (sideways_matmul, below: 16
 * rows with centred levels on AVX2, 16 rows in a zmm with VNNI, 8 rows in sw_matmul for
 * what is left); with VNNI the zmm engine also takes IQ4_NL/IQ4_XS (kernels_x86_iq4.h)
 * and, in its half-scale form, Q6_K, Q3_K and Q2_K (swz6_tokens). MATMUL_TILE's 2-row x 4-token tiles (Q5_0's rows past the last group)
 * unpack each weight block once for four tokens, with the sign trick: |w| is the unsigned
 * operand and w's sign moves onto the activation (VPSIGNB also zeroes it where w is 0).
 * (Q8_0 takes 16-bit activations: kernels_x86_q8.h.) Q4_0 decode keeps its nibbles
 * unsigned and corrects for their offset of 8 with the activation block's sum. */
#ifndef G4_KERNELS_X86_INT8_H
#define G4_KERNELS_X86_INT8_H

#include <stdalign.h>
#include <string.h>

#ifdef X86_VNNI
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
/* the AVX-512 table, and the AVX-VNNI table's test build (Makefile: G4_AVXVNNI_EVEX),
 * which runs on AVX-512 machines without AVX-VNNI (Zen 4): the EVEX encodings */
static inline __m256i dpbusd256(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
static inline __m256i dpwssd256(__m256i acc, __m256i a, __m256i b) { return _mm256_dpwssd_epi32(acc, a, b); }
#define X86_DPBUSD256 "vpdpbusd" /* for the int8 peak's assembly */
#else
/* AVX-VNNI: the VEX encodings */
static inline __m256i dpbusd256(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_avx_epi32(acc, u, s); }
static inline __m256i dpwssd256(__m256i acc, __m256i a, __m256i b) { return _mm256_dpwssd_avx_epi32(acc, a, b); }
#define X86_DPBUSD256 "%{vex%} vpdpbusd" /* braces escaped: asm dialect syntax */
#endif
/* dpbusd256: acc + 32 u8 x s8 products into 8 int32 lanes; dpwssd256: acc + 16 int16 x
 * int16 products, pair sums into 8 int32 lanes */
static inline __m256i dot_u8s8(__m256i u, __m256i s) { return dpbusd256(_mm256_setzero_si256(), u, s); }
static inline __m256i dot_s16(__m256i acc, __m256i a, __m256i b) { return dpwssd256(acc, a, b); }
#else
/* 32 u8 x s8 products into 8 int32 lanes: VPMADDUBSW (pairs summed to int16, exact while
 * the pair sums stay within int16) and VPMADDWD */
static inline __m256i dot_u8s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
/* 16 int16 x int16 products, pair sums added to acc's 8 int32 lanes (VPMADDWD + VPADDD) */
static inline __m256i dot_s16(__m256i acc, __m256i a, __m256i b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }
#endif

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* The sums of four accumulators' 8 lanes, as [a0, a1, a2, a3] (three horizontal adds
 * for the four instead of six operations each). */
static inline __m128 hsum256x4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* dst[0 .. rows) = v's first rows lanes (rows <= 4). A loop over a float array here
 * became a call to memcpy for every four rows, 1.3% of E2B's decode time. */
static inline void store_rows(float *dst, __m128 v, int rows) {
    if (rows == 4) _mm_storeu_ps(dst, v);
    else _mm_maskstore_ps(dst, _mm_cmpgt_epi32(_mm_set1_epi32(rows), _mm_setr_epi32(0, 1, 2, 3)), v);
}

/* Sum of the first 16 activations of a block (the second half's is s minus it): a signed
 * byte sum by SAD of a ^ 0x80 against zero, less 16 x 128. For the weight types with a
 * scale per 16 values (swz_matmul's halves, kernels_x86_k23.h). */
static inline int32_t a8_half_sum(const block_a8 *xb) {
    const __m128i lo = _mm_loadu_si128((const __m128i *)xb->qs);
    const __m128i sad = _mm_sad_epu8(_mm_xor_si128(lo, _mm_set1_epi8((char)0x80)), _mm_setzero_si128());
    return _mm_cvtsi128_si32(sad) + _mm_extract_epi16(sad, 4) - 128 * 16;
}

#define RB 4

/* Signed bytes w times signed bytes a, 32 pairs -> 8 int32 lane sums, as float. |w| goes
 * in the unsigned operand and w's sign onto a (VPSIGNB also zeroes a where w is 0). */
static inline __m256 dot_s8(__m256i w, __m256i a) {
    return _mm256_cvtepi32_ps(dot_u8s8(_mm256_abs_epi8(w), _mm256_sign_epi8(a, w)));
}

/* Decode streams each weight once from memory, RB rows at a time. Those rows are one
 * contiguous stretch of RB x row_bytes, but read side by side they are RB interleaved
 * streams, which the hardware prefetcher serves poorly. Measured on the 2-core Zen 3 VM,
 * one thread reading with vector loads: 9 GB/s as 4 interleaved streams of 864-byte rows
 * (E2B's 1536 columns of Q4_0), 14.5 GB/s as one stream; asking for each row's next
 * group at the same offset did not help. So the decode loops ask for the group of rows
 * PF_GROUPS ahead as one linear stream, in step with their own progress: at weight block
 * b (of bs bytes, the same in every row) its bytes [b, b + step) x RB x bs, which covers the
 * whole group by the end of the row. A fixed number of prefetches per call (step and bs
 * are constants, so the loop unrolls): a loop over the exact lines, with its varying
 * trip count, cost a third of the Q4_0 kernel's speed in cache (18.5 -> 12 GB/s). Past
 * the matrix's end prefetches are harmless (they do not fault). Always inlined: GCC
 * deletes an unused call to a function it finds side-effect free. */
#define PF_GROUPS 2
/* Where the prefetched lines go depends on how far ahead they are. The group two ahead
 * is 2 x RB x row_bytes away: for E2B's 1536 columns of Q4_0 7 KB, which L1 (32 KB on Zen 3
 * and 4) holds along with the activations, but for its 6144- and 12288-column down
 * projections 28-55 KB, so lines sent to L1 were evicted before they were read and the
 * kernel ran at half speed (Zen 4, one thread from memory: 11-14 GB/s against 26-28 GB/s
 * read). Beyond PF_L1_BYTES they go to L2 (prefetcht1). Measured there, T0 / T1 in GB/s:
 * Q4_0 2048 columns 25.5 / 22.5, 3072 23.7 / 25.4, 6144 13.0 / 26.7; Q8_0 1536 25.7 / 24.1,
 * 2048 22.6 / 24.9, 3072 14.6 / 27.3; Q6_K 1536 22.4 / 19.3, 2048 20.1 / 25.0; Q4_K 6144
 * 13.9 / 24.2. The crossing lies between 13.0 KB (Q8_0 x 1536: T0 better) and 13.4 KB
 * (Q6_K x 2048: T1 better). */
#define PF_L1_BYTES 13312
static inline __attribute__((always_inline)) void prefetch_group_ahead_to(const void *row0, uint64_t row_bytes, int64_t b,
                                                                          const int64_t step, const int64_t bs, int to_l1) {
    const char *p = (const char *)row0 + PF_GROUPS * RB * row_bytes + b * RB * bs;
    if (to_l1)
        for (int64_t k = 0; k <= (step * RB * bs + 63) / 64; k++) _mm_prefetch(p + 64 * k, _MM_HINT_T0);
    else
        for (int64_t k = 0; k <= (step * RB * bs + 63) / 64; k++) _mm_prefetch(p + 64 * k, _MM_HINT_T1);
}

static inline __attribute__((always_inline)) void prefetch_group_ahead(const void *row0, uint64_t row_bytes, int64_t b,
                                                                       const int64_t step, const int64_t bs) {
    prefetch_group_ahead_to(row0, row_bytes, b, step, bs, PF_GROUPS * RB * row_bytes <= PF_L1_BYTES);
}

/* The inner loops keep four independent accumulators in registers (one per weight row),
 * so consecutive blocks never wait on each other's FMA latency. */
#define MATMUL_INT8(NAME, BLOCK, LOADW)                                                                          \
static void NAME(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,        \
                 int64_t n, float *scratch) {                                                                    \
    (void)scratch;                                                                                               \
    const int64_t nb = w->cols / 32;                                                                             \
    int64_t r = r0;                                                                                              \
    for (; r + RB <= r1; r += RB) {                                                                              \
        const BLOCK *w0 = (const BLOCK *)(w->data + (uint64_t)r * w->row_bytes);                                \
        const BLOCK *w1 = (const BLOCK *)((const uint8_t *)w0 + w->row_bytes);                                  \
        const BLOCK *w2 = (const BLOCK *)((const uint8_t *)w1 + w->row_bytes);                                  \
        const BLOCK *w3 = (const BLOCK *)((const uint8_t *)w2 + w->row_bytes);                                  \
        const BLOCK *const wr[RB] = {w0, w1, w2, w3};                                                            \
        int64_t t = 0;                                                                                           \
        for (; t + 2 <= n; t += 2) { /* token pairs share each block's unpacking and |w| */                     \
            const block_a8 *xb0 = (const block_a8 *)((const char *)xv + t * ldx);                               \
            const block_a8 *xb1 = (const block_a8 *)((const char *)xb0 + ldx);                                   \
            __m256 c0[RB], c1[RB];                                                                               \
            for (int i = 0; i < RB; i++) c0[i] = c1[i] = _mm256_setzero_ps();                                   \
            for (int64_t b = 0; b < nb; b++) {                                                                   \
                if ((b & 1) == 0 && t == 0) prefetch_group_ahead(w0, w->row_bytes, b, 2, sizeof(BLOCK));         \
                const __m256i x0 = _mm256_loadu_si256((const __m256i *)xb0[b].qs);                               \
                const __m256i x1 = _mm256_loadu_si256((const __m256i *)xb1[b].qs);                               \
                const __m256 d0 = _mm256_set1_ps(xb0[b].d), d1 = _mm256_set1_ps(xb1[b].d);                      \
                _Pragma("GCC unroll 4")                                                                          \
                for (int i = 0; i < RB; i++) {                                                                   \
                    const __m256i wv = LOADW(wr[i][b].qs), au = _mm256_abs_epi8(wv);                             \
                    const __m256 f = _mm256_set1_ps(h2f(wr[i][b].d));                                            \
                    c0[i] = _mm256_fmadd_ps(_mm256_mul_ps(f, d0),                                                \
                                            _mm256_cvtepi32_ps(dot_u8s8(au, _mm256_sign_epi8(x0, wv))), c0[i]); \
                    c1[i] = _mm256_fmadd_ps(_mm256_mul_ps(f, d1),                                                \
                                            _mm256_cvtepi32_ps(dot_u8s8(au, _mm256_sign_epi8(x1, wv))), c1[i]); \
                }                                                                                                \
            }                                                                                                    \
            for (int i = 0; i < RB; i++) {                                                                       \
                y[t * ldy + r + i] = hsum256(c0[i]);                                                             \
                y[(t + 1) * ldy + r + i] = hsum256(c1[i]);                                                       \
            }                                                                                                    \
        }                                                                                                        \
        for (; t < n; t++) {                                                                                     \
            const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);                                \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                          \
            for (int64_t b = 0; b < nb; b++) {                                                                   \
                if ((b & 1) == 0 && t == 0) prefetch_group_ahead(w0, w->row_bytes, b, 2, sizeof(BLOCK));         \
                const __m256i a = _mm256_loadu_si256((const __m256i *)xb[b].qs);                                 \
                const __m256 da = _mm256_set1_ps(xb[b].d);                                                       \
                a0 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(h2f(w0[b].d)), da), dot_s8(LOADW(w0[b].qs), a), a0); \
                a1 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(h2f(w1[b].d)), da), dot_s8(LOADW(w1[b].qs), a), a1); \
                a2 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(h2f(w2[b].d)), da), dot_s8(LOADW(w2[b].qs), a), a2); \
                a3 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(h2f(w3[b].d)), da), dot_s8(LOADW(w3[b].qs), a), a3); \
            }                                                                                                    \
            y[t * ldy + r] = hsum256(a0);                                                                        \
            y[t * ldy + r + 1] = hsum256(a1);                                                                    \
            y[t * ldy + r + 2] = hsum256(a2);                                                                    \
            y[t * ldy + r + 3] = hsum256(a3);                                                                    \
        }                                                                                                        \
    }                                                                                                            \
    for (; r < r1; r++) {                                                                                        \
        const BLOCK *w0 = (const BLOCK *)(w->data + (uint64_t)r * w->row_bytes);                                \
        for (int64_t t = 0; t < n; t++) {                                                                        \
            const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);                                \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0;                                                            \
            int64_t b = 0;                                                                                       \
            for (; b + 2 <= nb; b += 2) {                                                                        \
                a0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w0[b].d) * xb[b].d),                                     \
                                     dot_s8(LOADW(w0[b].qs), _mm256_loadu_si256((const __m256i *)xb[b].qs)), a0);  \
                a1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w0[b + 1].d) * xb[b + 1].d),                             \
                                     dot_s8(LOADW(w0[b + 1].qs), _mm256_loadu_si256((const __m256i *)xb[b + 1].qs)), a1); \
            }                                                                                                    \
            for (; b < nb; b++)                                                                                  \
                a0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w0[b].d) * xb[b].d),                                     \
                                     dot_s8(LOADW(w0[b].qs), _mm256_loadu_si256((const __m256i *)xb[b].qs)), a0);  \
            y[t * ldy + r] = hsum256(_mm256_add_ps(a0, a1));                                                     \
        }                                                                                                        \
    }                                                                                                            \
}


/* Q4_0 block's nibbles as 32 unsigned bytes 0..15, in element order (the 16 low nibbles,
 * then the 16 high ones): one broadcast load, one variable shift (the upper lane by 4),
 * one mask. */
static inline __m256i q4_u8(const uint8_t *qs) {
    const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    return _mm256_and_si256(_mm256_srlv_epi64(b, _mm256_set_epi64x(4, 4, 0, 0)), _mm256_set1_epi8(15));
}

/* An F16 scale broadcast to 8 float lanes (a word broadcast and one conversion). */
static inline __m256 f16x8(uint16_t h) { return _mm256_cvtph_ps(_mm_set1_epi16((short)h)); }

/* Q4_0 decode works on pairs of blocks. A pair's nibbles, [b's 16 bytes | b+1's 16 bytes]
 * in one register, split with one shift and two masks into the low nibbles (elements
 * 0..15 of each block) and the high ones (16..31); the activations are laid out once per
 * token to match (q4_pair_act), so two VPMADDUBSW, a VPADDW and a VPMADDWD (two VPDPBUSD
 * with VNNI) give int32 lanes 0-3 summing block b and 4-7 block b+1, and the float work
 * (convert, scale, FMA) is shared by the two blocks. The weights stay unsigned:
 * sum (u - 8) a = sum u a - 8 sum a, where the activation block's sum (block_a8.s) enters
 * as -2 s in each of its 4 lanes. About 9 vector instructions per row and block, against
 * 11 block by block; with the linear prefetch above, one thread streaming a 173 MB matrix
 * of E2B's shape went from 7.7-9.0 to 12.0-13.4 GB/s here.
 * Tried on Zen 4 and not kept: eight blocks per 512-bit step (word permutes, VPERMT2W, of
 * overlapping 64-byte loads into each block's first and last 8 nibble bytes, so an int32
 * lane sums 16 products and the float work per weight halves) ran 1.21-1.31x in L2 but
 * 0.83-0.99x from memory at 1536 columns on two threads (kab with KAB_THREADS=2, 60
 * alternations; prefetching into L1 or L2, 2 groups to 32 KB ahead, in bursts or spread
 * per row), and one row at a time 0.65-0.85x. Decode reads its weights from memory.
 * Tried again (session 18): four blocks of four rows per step (a 64-byte load per row and
 * block group, one VPERMT2W gathering the nibbles into 128-bit lanes, two zmm VPDPBUSD,
 * the four rows' int32 lanes summed by two unpack-and-add rounds so that one scale
 * conversion, convert, multiply and FMA serve 16 (row, block) sums): 1.13-1.25x in L2 on
 * one thread, but from memory on two threads (259 MB, kab KAB_READ=1, 40 alternations)
 * 0.96-0.99x at 1536 columns with the prefetch schedule above and 0.86-0.89x with one
 * prefetch burst per group of four blocks, 0.9-1.17x at 6144-12288 (drifting with the
 * VM's memory); rows one quarter of the range apart (four long streams instead of one
 * group, with the four-block step) about 1.0x. */
typedef struct q4_pair_act {
    __m256i lo, hi; /* elements 0..15 / 16..31 of block b (lane 0-15), then of block b+1 */
    __m256i off;    /* -2 s of block b in lanes 0-3, of b+1 in 4-7 */
    __m256 da;      /* the blocks' scales, likewise */
} q4_pair_act;

/* centre: the weights' level offset (Q4_0 8, Q5_0 16), -centre s spread over 4 lanes */
static void q4_pair_layout(const block_a8 *x, int64_t nb, q4_pair_act *out, int centre) {
    for (int64_t b = 0; b + 1 < nb; b += 2) {
        const block_a8 *x0 = x + b, *x1 = x + b + 1;
        q4_pair_act *o = out + b / 2;
        o->lo = _mm256_loadu2_m128i((const __m128i *)x1->qs, (const __m128i *)x0->qs);
        o->hi = _mm256_loadu2_m128i((const __m128i *)(x1->qs + 16), (const __m128i *)(x0->qs + 16));
        o->off = _mm256_setr_m128i(_mm_set1_epi32(-centre / 4 * x0->s), _mm_set1_epi32(-centre / 4 * x1->s));
        o->da = _mm256_setr_m128(_mm_set1_ps(x0->d), _mm_set1_ps(x1->d));
    }
}

/* int32 lanes of a pair's dot products, offsets included */
static inline __m256i q4_pair_dot(__m256i lo, __m256i hi, const q4_pair_act *a) {
#ifdef X86_VNNI
    return dpbusd256(dpbusd256(a->off, lo, a->lo), hi, a->hi);
#else
    const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, a->lo), _mm256_maddubs_epi16(hi, a->hi));
    return _mm256_add_epi32(_mm256_madd_epi16(p, _mm256_set1_epi16(1)), a->off);
#endif
}

/* Decode, and calls of up to Q4_TOKENS tokens (MoE experts on a short prompt): tokens in
 * groups of Q4_TOKENS with the rows outside, so a row group comes from memory once per
 * group. scratch: Q4_TOKENS x (cols / 64) q4_pair_act (2 bytes per column each) at a
 * 32-byte boundary. */
#define Q4_TOKENS 2

/* One token against rows r.. r + rows - 1 (wr: RB row pointers, the last repeated). */
static inline __attribute__((always_inline)) void q4_rows_token(float *yt, int64_t r, int rows, const block_q4_0 *const wr[RB],
                                                                const block_a8 *xb, const q4_pair_act *act,
                                                                int64_t nb, uint64_t row_bytes) {
    const int64_t nb2 = nb & ~(int64_t)1;
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t b = 0; b < nb2; b += 2) {
        prefetch_group_ahead(wr[0], row_bytes, b, 2, sizeof(block_q4_0));
        const q4_pair_act *a = act + b / 2;
#define Q4PAIR(acc, i)                                                                                          \
    do {                                                                                                        \
        const __m256i q = _mm256_loadu2_m128i((const __m128i *)wr[i][b + 1].qs, (const __m128i *)wr[i][b].qs);  \
        const __m256i dot = q4_pair_dot(_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), a); \
        const __m256 d = _mm256_cvtph_ps(_mm_blend_epi32(_mm_set1_epi16((short)wr[i][b].d),                      \
                                                         _mm_set1_epi16((short)wr[i][b + 1].d), 0xC));          \
        acc = _mm256_fmadd_ps(_mm256_mul_ps(d, a->da), _mm256_cvtepi32_ps(dot), acc);                          \
    } while (0)
        Q4PAIR(a0, 0);
        Q4PAIR(a1, 1);
        Q4PAIR(a2, 2);
        Q4PAIR(a3, 3);
#undef Q4PAIR
    }
    if (nb2 < nb) { /* an odd last block */
        const int64_t b = nb2;
        const __m256i a = _mm256_loadu_si256((const __m256i *)xb[b].qs);
        const __m256i off = _mm256_set1_epi32(-xb[b].s);
        const __m256 da = _mm256_set1_ps(xb[b].d);
#define Q4ROW(acc, i)                                                                                           \
    acc = _mm256_fmadd_ps(_mm256_mul_ps(f16x8(wr[i][b].d), da),                                                 \
                          _mm256_cvtepi32_ps(_mm256_add_epi32(dot_u8s8(q4_u8(wr[i][b].qs), a), off)), acc)
        Q4ROW(a0, 0);
        Q4ROW(a1, 1);
        Q4ROW(a2, 2);
        Q4ROW(a3, 3);
#undef Q4ROW
    }
    store_rows(yt + r, hsum256x4(a0, a1, a2, a3), rows);
}

static void matvec_q4_0(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    const int64_t nb = w->cols / 32;
    q4_pair_act *acts = (q4_pair_act *)(((uintptr_t)scratch + 31) & ~(uintptr_t)31);
    for (int64_t t0 = 0; t0 < n; t0 += Q4_TOKENS) {
        const int64_t nt = G4_MIN(Q4_TOKENS, n - t0);
        for (int64_t k = 0; k < nt; k++)
            q4_pair_layout((const block_a8 *)((const char *)xv + (t0 + k) * ldx), nb, acts + k * (nb / 2), 8);
        for (int64_t r = r0; r < r1; r += RB) {
            const int rows = (int)G4_MIN(RB, r1 - r);
            const block_q4_0 *wr[RB];
            for (int i = 0; i < RB; i++) /* past the last row, repeat it (results not stored) */
                wr[i] = (const block_q4_0 *)(w->data + (uint64_t)(r + G4_MIN(i, rows - 1)) * w->row_bytes);
            if (nt == 1) /* decode: one copy of the loop for the common case */
                q4_rows_token(y + t0 * ldy, r, rows, wr, (const block_a8 *)((const char *)xv + t0 * ldx), acts, nb, w->row_bytes);
            else
                for (int64_t k = 0; k < nt; k++)
                    q4_rows_token(y + (t0 + k) * ldy, r, rows, wr, (const block_a8 *)((const char *)xv + (t0 + k) * ldx),
                                  acts + k * (nb / 2), nb, w->row_bytes);
        }
    }
}

/* ---- Prefill on 8 weight rows turned sideways ------------------------------------------
 * Each call unpacks 8 rows' blocks once into scratch as 32-byte vectors whose 32-bit lane
 * j holds four consecutive levels (unsigned bytes) of row j: an 8 x 8 transpose of 4-byte
 * groups. One VPMADDUBSW against an activation group broadcast to every lane then
 * advances 8 rows at once, and the lanes of the int32 result are already the 8 rows'
 * outputs: no horizontal sums, and the float work (one convert, one multiply, two FMAs)
 * is per 8 rows x token x block instead of per row. Unpacking is shared by every token
 * of the call (up to KERNEL_TILE_TOKENS, kernels.h).
 *
 * Every type reduces to the same form per 32-value block: w = f * q - o with levels q
 * >= 0 and per-row floats f (scale) and o (offset), so a block adds, per row,
 *   d_a * f * sum(q a)  -  o * d_a * s_a        (s_a = the activation block's sum).
 * Q4_0: f = d, o = 8 d. Q4_K / Q5_K: f = d sc_j, o = dmin m_j.
 *
 * The 8 groups' VPMADDUBSW results are summed as int16 `depth` at a time before each
 * VPMADDWD: a pair sum is at most 2 x qmax x 127 (quantize_a8 never writes -128), so
 * 8 groups are exact for 4-bit levels (30480 < 2^15), 4 for 5-bit ones. VNNI accumulates
 * in int32 with VPDPBUSD instead.
 *
 * scratch: nb sw_blocks (352 bytes each, 11 bytes per column) at a 32-byte boundary,
 * within KERNEL_SCRATCH_FLOATS(cols) (kernels.h). */
#define SW_ROWS 8

typedef struct sw_block {
    __m256i q[8]; /* q[g] lane j: levels 4g..4g+3 of row j */
    __m256 f, o;  /* per-row scale and offset of this block */
    __m256i sum;  /* the AVX2 signed engine's (sw_to_signed, below): 128 x row j's level sum;
                   * Q2_K's in the zmm engine (q2_K_sw_unpack): row j's dmin as float bits */
} sw_block;

/* Where an unpacker (sw_unpack_fn, below) puts 8 rows' blocks: sw_block's layout, for
 * the 8- and 16-row engines, or one 8-row column of the 32-row engine's swz32_block, which
 * then needs no regrouping (swz32_dst). Block b's group g lies at q + b bs + g gs bytes,
 * its f, o and sum at f, o and sum + b bs; sum only in sw_block's layout (the 32-row
 * engine takes no type that writes it). */
typedef struct sw_dst {
    char *q, *f, *o, *sum;
    int64_t bs, gs;
} sw_dst;

static inline sw_dst sw_dst_blocks(sw_block *b) {
    return (sw_dst){(char *)b->q, (char *)&b->f, (char *)&b->o, (char *)&b->sum, (int64_t)sizeof(sw_block), 32};
}
static inline __attribute__((always_inline)) __m256i *swd_q(sw_dst d, int64_t b, int g) {
    return (__m256i *)(d.q + b * d.bs + g * d.gs);
}
/* block b's 8 groups, and its factors */
static inline __attribute__((always_inline)) void swd_put_q(sw_dst d, int64_t b, const __m256i q[8]) {
    #pragma GCC unroll 8
    for (int g = 0; g < 8; g++) _mm256_store_si256(swd_q(d, b, g), q[g]);
}
static inline __attribute__((always_inline)) void swd_put_fo(sw_dst d, int64_t b, __m256 f, __m256 o) {
    _mm256_store_ps((float *)(d.f + b * d.bs), f);
    _mm256_store_ps((float *)(d.o + b * d.bs), o);
}

/* out[g] lane j = in[j] lane g: an 8 x 8 transpose of 32-bit lanes. */
static inline void tr8x8_32(const __m256i in[8], __m256i out[8]) {
    const __m256i t0 = _mm256_unpacklo_epi32(in[0], in[1]), t1 = _mm256_unpackhi_epi32(in[0], in[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(in[2], in[3]), t3 = _mm256_unpackhi_epi32(in[2], in[3]);
    const __m256i t4 = _mm256_unpacklo_epi32(in[4], in[5]), t5 = _mm256_unpackhi_epi32(in[4], in[5]);
    const __m256i t6 = _mm256_unpacklo_epi32(in[6], in[7]), t7 = _mm256_unpackhi_epi32(in[6], in[7]);
    const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    out[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    out[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    out[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    out[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    out[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    out[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    out[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    out[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

/* One token's 8 row sums for one block: lane j = sum over the block of q(row j) * a. */
static inline __attribute__((always_inline)) __m256i sw_dot(const sw_block *b, const block_a8 *xb, const int depth) {
    const int32_t *a = (const int32_t *)xb->qs; /* 4-byte groups, broadcast to every row's lane */
#ifdef X86_VNNI
    (void)depth;
    __m256i s = dpbusd256(_mm256_setzero_si256(), b->q[0], _mm256_set1_epi32(a[0]));
    #pragma GCC unroll 8
    for (int g = 1; g < 8; g++) s = dpbusd256(s, b->q[g], _mm256_set1_epi32(a[g]));
    return s;
#else
    const __m256i one = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256();
    #pragma GCC unroll 8
    for (int g0 = 0; g0 < 8; g0 += depth) {
        __m256i s = _mm256_maddubs_epi16(b->q[g0], _mm256_set1_epi32(a[g0]));
        #pragma GCC unroll 8
        for (int g = g0 + 1; g < g0 + depth; g++) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(b->q[g], _mm256_set1_epi32(a[g])));
        acc = g0 ? _mm256_add_epi32(acc, _mm256_madd_epi16(s, one)) : _mm256_madd_epi16(s, one);
    }
    return acc;
#endif
}

/* acc += d_a f * dot - o d_a s_a: the block's contribution to 8 rows of one token */
static inline __attribute__((always_inline)) __m256 sw_acc(__m256 acc, const sw_block *b, const block_a8 *xb, const int depth) {
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sw_dot(b, xb, depth)), _mm256_mul_ps(b->f, _mm256_set1_ps(xb->d)), acc);
    return _mm256_fnmadd_ps(b->o, _mm256_set1_ps(xb->d * (float)xb->s), acc);
}

/* One block's contribution to 8 rows of 4 tokens: each group of levels is loaded once
 * and serves the 4 tokens (a 4-byte activation group broadcast per token), so a
 * multiply costs 1.25 loads instead of 2. */
static inline __attribute__((always_inline)) void sw_acc4(__m256 c[4], const sw_block *b, const block_a8 *const x[4],
                                                          const int64_t bi, const int depth) {
    __m256i acc[4];
#ifdef X86_VNNI
    (void)depth;
    for (int t = 0; t < 4; t++) acc[t] = _mm256_setzero_si256();
    #pragma GCC unroll 8
    for (int g = 0; g < 8; g++) {
        const __m256i q = b->q[g];
        #pragma GCC unroll 4
        for (int t = 0; t < 4; t++) acc[t] = dpbusd256(acc[t], q, _mm256_set1_epi32(((const int32_t *)x[t][bi].qs)[g]));
    }
#else
    const __m256i one = _mm256_set1_epi16(1);
    #pragma GCC unroll 8
    for (int g0 = 0; g0 < 8; g0 += depth) {
        __m256i s[4];
        #pragma GCC unroll 8
        for (int g = g0; g < g0 + depth; g++) {
            const __m256i q = b->q[g];
            #pragma GCC unroll 4
            for (int t = 0; t < 4; t++) {
                const __m256i p = _mm256_maddubs_epi16(q, _mm256_set1_epi32(((const int32_t *)x[t][bi].qs)[g]));
                s[t] = g == g0 ? p : _mm256_add_epi16(s[t], p);
                __asm__("" : "+v"(s[t])); /* keep the sum a chain: reassociated into a tree, its
                                           * products all live at once and spill */
            }
        }
        #pragma GCC unroll 4
        for (int t = 0; t < 4; t++) acc[t] = g0 ? _mm256_add_epi32(acc[t], _mm256_madd_epi16(s[t], one)) : _mm256_madd_epi16(s[t], one);
    }
#endif
    #pragma GCC unroll 4
    for (int t = 0; t < 4; t++) {
        const block_a8 *xb = x[t] + bi;
        c[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t]), _mm256_mul_ps(b->f, _mm256_set1_ps(xb->d)), c[t]);
        c[t] = _mm256_fnmadd_ps(b->o, _mm256_set1_ps(xb->d * (float)xb->s), c[t]);
    }
}

/* Unpacks rows [r, r + 8) of w into out's cols/32 blocks (every 32-value block of the 8 rows). */
typedef void (*sw_unpack_fn)(const mat *w, int64_t r, sw_dst out);

/* Rows [r0, r8) in groups of 8, every token; the caller covers rows past r8. */
static inline __attribute__((always_inline)) void sw_matmul(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r8,
                                                           const void *xv, int64_t ldx, int64_t n, float *scratch,
                                                           sw_unpack_fn unpack, const int depth) {
    const int64_t nb = w->cols / 32, n4 = n / 4 * 4;
    sw_block *blk = (sw_block *)(((uintptr_t)scratch + 31) & ~(uintptr_t)31);
    for (int64_t r = r0; r < r8; r += SW_ROWS) {
        unpack(w, r, sw_dst_blocks(blk));
        int64_t t = 0;
        for (; t < n4; t += 4) {
            const block_a8 *x[4];
            for (int i = 0; i < 4; i++) x[i] = (const block_a8 *)((const char *)xv + (t + i) * ldx);
            __m256 c[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
            for (int64_t b = 0; b < nb; b++) sw_acc4(c, blk + b, x, b, depth);
            for (int i = 0; i < 4; i++) _mm256_storeu_ps(y + (t + i) * ldy + r, c[i]);
        }
        for (; t < n; t++) {
            const block_a8 *x0 = (const block_a8 *)((const char *)xv + t * ldx);
            __m256 c0 = _mm256_setzero_ps();
            for (int64_t b = 0; b < nb; b++) c0 = sw_acc(c0, blk + b, x0 + b, depth);
            _mm256_storeu_ps(y + t * ldy + r, c0);
        }
    }
}


/* Nibble-packed blocks sideways: q[g] lane j = levels 4g..4g+3 of row j, from qs[j], row
 * j's 16 bytes at row[j] + off of a 32-value block whose low nibbles are values 0..15 and high nibbles
 * 16..31 (Q4_0, Q4_1, Q5_0/Q5_1's low bits, IQ4). The packed bytes are transposed first
 * and split after: dword k of the 16 bytes holds group k (low nibbles) and group k + 4
 * (high nibbles), so a 4 x 4 dword transpose within each 128-bit lane (rows j and j + 4
 * share a register) gives, per k, the packed dword of all 8 rows, and one mask and one
 * shift-and-mask give q[k] and q[k + 4]. 8 loads, 8 unpacks and 12 nibble operations,
 * against 8 nibble splits (q4_u8) and a 24-instruction 8 x 8 transpose of the split
 * bytes (A/B, one thread, Q4_0 1536-wide in cache: 1.20x at 32 tokens, 1.56x at 8). */
static inline __attribute__((always_inline)) void sw_nibbles(const uint8_t *const row[SW_ROWS], size_t off, __m256i q[8]) {
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256i v[4];
    #pragma GCC unroll 4
    for (int j = 0; j < 4; j++) v[j] = _mm256_loadu2_m128i((const __m128i *)(row[j + 4] + off), (const __m128i *)(row[j] + off));
    const __m256i t0 = _mm256_unpacklo_epi32(v[0], v[1]), t1 = _mm256_unpackhi_epi32(v[0], v[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(v[2], v[3]), t3 = _mm256_unpackhi_epi32(v[2], v[3]);
    const __m256i p[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2), _mm256_unpacklo_epi64(t1, t3),
                          _mm256_unpackhi_epi64(t1, t3)};
    #pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        q[k] = _mm256_and_si256(p[k], m4);
        q[k + 4] = _mm256_and_si256(_mm256_srli_epi16(p[k], 4), m4);
    }
}

static inline uint16_t sw_ld16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* Block b's per-row factors for the types w = d (q - centre) whose block starts with its
 * F16 scale d (Q4_0, Q8_0 as w + 128): f = d, o = centre d, from the 8 rows' blocks at
 * byte o of each row. */
static inline void sw_d_factors(const uint8_t *const row[SW_ROWS], size_t o, float centre, sw_dst out, int64_t b) {
    const __m128i d = _mm_setr_epi16((short)sw_ld16(row[0] + o), (short)sw_ld16(row[1] + o), (short)sw_ld16(row[2] + o),
                                     (short)sw_ld16(row[3] + o), (short)sw_ld16(row[4] + o), (short)sw_ld16(row[5] + o),
                                     (short)sw_ld16(row[6] + o), (short)sw_ld16(row[7] + o));
    const __m256 f = _mm256_cvtph_ps(d);
    swd_put_fo(out, b, f, _mm256_mul_ps(f, _mm256_set1_ps(centre)));
}

static void q4_0_sw_unpack(const mat *w, int64_t r, sw_dst out) {
    const uint8_t *row[SW_ROWS];
    for (int j = 0; j < SW_ROWS; j++) row[j] = w->data + (uint64_t)(r + j) * w->row_bytes;
    for (int64_t b = 0; b < w->cols / 32; b++) {
        const size_t o = (size_t)b * sizeof(block_q4_0);
        __m256i q[8];
        sw_nibbles(row, o + offsetof(block_q4_0, qs), q);
        swd_put_q(out, b, q);
        sw_d_factors(row, o, 8.0f, out, b);
    }
}

#ifndef X86_AVX512
/* ---- AVX2 prefill: signed weights sideways, unsigned activations ----------------------
 * (Not compiled for the AVX-512 table: its 256 tokens of activations need 70 floats of
 * scratch per column, and that table gives 22; the zmm engine below serves every type
 * there. The AVX-VNNI table compiles it with X86_VNNI: VPDPBUSD sums the products of the
 * types without half scales straight into int32, so 5-bit levels go 3 tokens at a time
 * too, and a broadcast group costs one VPDPBUSD per 8 rows instead of three instructions.)
 * Without VNNI, VPMADDUBSW and the VPADDW that accumulates it are two of the four vector
 * pipes' instructions per 32 multiply-adds, and the 4-byte activation broadcast a third:
 * sw_matmul's loop is bound by instruction count, not multiplies (measured on Zen 3: 36%
 * of VPMADDUBSW's peak). This engine does less per multiply:
 *  - weight levels are the signed operand, centred (q - h with h = 8 for 4-bit levels,
 *    16 for 5-bit), so VPMADDUBSW takes them straight from memory, and activations the
 *    unsigned one, a + 128 in [1, 255], converted once per call into scratch. The +128
 *    comes back out as 128 x the row block's centred level sum (an integer subtract per
 *    8 rows), and the centring as (h f - o) d_a s_a, a term that is zero for Q4_0 and
 *    Q5_0-like types (o = h f), so they skip it;
 *  - each broadcast activation group feeds 16 rows (two sideways 8-row vectors), for 3
 *    tokens at a time with 4-bit levels (6 int16 sums and 6 float accumulators in
 *    registers) or 2 with 5-bit ones (which need int32 sums too).
 * Pair sums are at most 2 x 255 x h: 8 groups (32 values) add up exactly in int16 for
 * 4-bit levels (32640 < 2^15), 4 for 5-bit ones, 2 for 6-bit ones. Any sw_unpack_fn's
 * output works: the unpacked blocks are centred in place (sw_to_signed).
 *
 * 6-bit levels are Q6_K's, whose 32-value block is two 16-value halves with their own
 * int8 scales: the unpacker leaves f = d and puts the scales in o, lane j holding row j's
 * pair as int16 (first half low, second half high). Each int16 sum then covers 2 groups
 * of one half, and the VPMADDWD that widens it multiplies by that half's scales
 * (sw_half_scales) instead of by 1, so the block's int32 sum is already scaled. */

/* The int16 scale of each row's first (hi = 0) or second half in both int16 lanes of the
 * row's 32-bit lane, from o's packed pair (6-bit levels, above). */
static inline __m256i sw_half_scales(__m256 o, const int hi) {
    const __m256i lo_pat = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13,
                                            0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13);
    return _mm256_shuffle_epi8(_mm256_castps_si256(o), hi ? _mm256_add_epi8(lo_pat, _mm256_set1_epi8(2)) : lo_pat);
}

/* The levels of the types with an int8 scale per 16-value half, which the unpacker puts
 * in o as above: Q6_K's 6-bit ones and Q3_K's 3-bit ones (q3_K_sw_unpack, levels + 4,
 * pair sums at most 2 x 255 x 4, so 4 groups, a half, per int16 sum). */
#define SW_HALVES(bits) ((bits) == 6 || (bits) == 3)

/* Centres nb unpacked blocks in place: q - h, the level sums, and o := h f - o (half
 * scales: the sums scaled per half, o kept, it holds the scales). */
static void sw_to_signed(sw_block *blk, int64_t nb, const int bits) {
    const __m256i h = _mm256_set1_epi8((char)(1 << (bits - 1))), ones8 = _mm256_set1_epi8(1);
    const __m256 hf = _mm256_set1_ps((float)(1 << (bits - 1)));
    for (int64_t b = 0; b < nb; b++) {
        __m256i s16[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        #pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            blk[b].q[g] = _mm256_sub_epi8(blk[b].q[g], h);
            s16[g / 4] = _mm256_add_epi16(s16[g / 4], _mm256_maddubs_epi16(ones8, blk[b].q[g]));
        }
        if (SW_HALVES(bits)) {
            const __m256i s = _mm256_add_epi32(_mm256_madd_epi16(s16[0], sw_half_scales(blk[b].o, 0)),
                                               _mm256_madd_epi16(s16[1], sw_half_scales(blk[b].o, 1)));
            blk[b].sum = _mm256_slli_epi32(s, 7);
        } else {
            blk[b].sum = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_add_epi16(s16[0], s16[1]), _mm256_set1_epi16(1)), 7);
            blk[b].o = _mm256_fmsub_ps(hf, blk[b].f, blk[b].o);
        }
    }
}

/* 16 rows (blocks a and b: rows r..r+7 and r+8..r+15) x T tokens for one 32-value block.
 * Token t's unsigned activation bytes for the block are at u + 32 t (the T tokens' bytes
 * lie together, so one pointer walks them), its block (for the scale) x + t * xstride.
 * depth: groups per int16 sum (8, 4, or 2 for 6-bit levels); halves: the int16 sums are
 * widened by their half's scales (SW_HALVES); offs: add the centring term. */
static inline __attribute__((always_inline)) void sws_acc(__m256 c[][2], const sw_block *ba, const sw_block *bb,
                                                          const uint8_t *u, const block_a8 *x, int64_t xstride,
                                                          const int T, const int depth, const int halves, const int offs) {
    __m256i acc[3][2];
#ifdef X86_VNNI
    if (!halves) { /* VPDPBUSD: the sums go straight into int32, a chain per token and row group */
        #pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            #pragma GCC unroll 3
            for (int t = 0; t < T; t++) {
                const __m256i a = _mm256_set1_epi32(((const int32_t *)(u + 32 * t))[g]);
                acc[t][0] = dpbusd256(g ? acc[t][0] : _mm256_setzero_si256(), a, ba->q[g]);
                acc[t][1] = dpbusd256(g ? acc[t][1] : _mm256_setzero_si256(), a, bb->q[g]);
            }
        }
    } else
#endif
    {
        const __m256i one = _mm256_set1_epi16(1);
        #pragma GCC unroll 4
        for (int g0 = 0; g0 < 8; g0 += depth) {
            /* what widens the int16 sums: 1, or (6-bit levels) the half's scales */
            const __m256i wa = halves ? sw_half_scales(ba->o, g0 >= 4) : one;
            const __m256i wb = halves ? sw_half_scales(bb->o, g0 >= 4) : one;
            __m256i s[3][2];
            #pragma GCC unroll 8
            for (int g = g0; g < g0 + depth; g++) {
                #pragma GCC unroll 3
                for (int t = 0; t < T; t++) {
                    const __m256i a = _mm256_set1_epi32(((const int32_t *)(u + 32 * t))[g]);
                    const __m256i p0 = _mm256_maddubs_epi16(a, ba->q[g]), p1 = _mm256_maddubs_epi16(a, bb->q[g]);
                    s[t][0] = g > g0 ? _mm256_add_epi16(s[t][0], p0) : p0;
                    s[t][1] = g > g0 ? _mm256_add_epi16(s[t][1], p1) : p1;
                    /* keep each sum a chain: reassociated into a tree, the products are all
                     * live at once and spill */
                    __asm__("" : "+v"(s[t][0]), "+v"(s[t][1]));
                }
            }
            #pragma GCC unroll 3
            for (int t = 0; t < T; t++)
                for (int i = 0; i < 2; i++) {
#ifdef X86_VNNI
                    acc[t][i] = g0 ? dpwssd256(acc[t][i], s[t][i], i ? wb : wa) : _mm256_madd_epi16(s[t][i], i ? wb : wa);
#else
                    const __m256i wide = _mm256_madd_epi16(s[t][i], i ? wb : wa);
                    acc[t][i] = g0 ? _mm256_add_epi32(acc[t][i], wide) : wide;
#endif
                }
        }
    }
    #pragma GCC unroll 3
    for (int t = 0; t < T; t++) {
        const block_a8 *xb = x + t * xstride;
        const __m256 dt = _mm256_set1_ps(xb->d);
        c[t][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc[t][0], ba->sum)), _mm256_mul_ps(ba->f, dt), c[t][0]);
        c[t][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc[t][1], bb->sum)), _mm256_mul_ps(bb->f, dt), c[t][1]);
        if (offs) {
            const __m256 ds = _mm256_set1_ps(xb->d * (float)xb->s);
            c[t][0] = _mm256_fmadd_ps(ba->o, ds, c[t][0]);
            c[t][1] = _mm256_fmadd_ps(bb->o, ds, c[t][1]);
        }
    }
}

/* Tokens [t, t + T) against the 16 unpacked rows, all blocks; stores 16 outputs per
 * token. ub: the T tokens' unsigned activations, block by block (T x 32 bytes per
 * block); x: the first token's blocks, ldx bytes per token. */
static inline __attribute__((always_inline)) void sws_tokens(float *y, int64_t ldy, int64_t r, const sw_block *ba,
                                                             const sw_block *bb, const uint8_t *ub, const block_a8 *x,
                                                             int64_t ldx, int64_t nb, const int T, const int depth,
                                                             const int halves, const int offs) {
    __m256 c[3][2];
    for (int t = 0; t < T; t++) c[t][0] = c[t][1] = _mm256_setzero_ps();
    const int64_t xstride = ldx / (int64_t)sizeof(block_a8);
    for (int64_t b = 0; b < nb; b++) sws_acc(c, ba + b, bb + b, ub + b * T * 32, x + b, xstride, T, depth, halves, offs);
    for (int t = 0; t < T; t++) {
        _mm256_storeu_ps(y + t * ldy + r, c[t][0]);
        _mm256_storeu_ps(y + t * ldy + r + 8, c[t][1]);
    }
}

/* Rows [r0, r16) in groups of 16, every token (see above); the caller covers the rest.
 * scratch: SWS_TILE x nb x 32 bytes of activations, then 2 x nb sw_blocks. */
#define SWS_TILE KERNEL_TILE_TOKENS
static inline __attribute__((always_inline)) void sws_matmul(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r16,
                                                            const void *xv, int64_t ldx, int64_t n, float *scratch,
                                                            sw_unpack_fn unpack, const int bits, const int offs) {
    const int64_t nb = w->cols / 32;
    const int halves = SW_HALVES(bits), depth = bits == 4 ? 8 : bits == 6 ? 2 : 4;
#ifdef X86_VNNI
    const int TT = bits == 4 || !halves ? 3 : 2; /* VPDPBUSD's int32 sums: no int16 stage to hold */
#else
    const int TT = bits == 4 ? 3 : 2;
#endif
    uint8_t *ub = (uint8_t *)(((uintptr_t)scratch + 31) & ~(uintptr_t)31);
    sw_block *ba = (sw_block *)(ub + (size_t)SWS_TILE * nb * 32), *bb = ba + nb;
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int64_t t0 = 0; t0 < n; t0 += SWS_TILE) {
        const int64_t nt = G4_MIN(SWS_TILE, n - t0);
        for (int64_t t = 0; t < nt; t++) { /* a + 128 (the sign bit flipped), TT tokens together */
            const block_a8 *xb = (const block_a8 *)((const char *)xv + (t0 + t) * ldx);
            const int64_t g = t / TT * TT, T = G4_MIN(TT, nt - g);
            for (int64_t b = 0; b < nb; b++)
                _mm256_store_si256((__m256i *)(ub + (g * nb + b * T + (t - g)) * 32),
                                   _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)xb[b].qs), flip));
        }
        for (int64_t r = r0; r < r16; r += 16) {
            unpack(w, r, sw_dst_blocks(ba));
            unpack(w, r + 8, sw_dst_blocks(bb));
            sw_to_signed(ba, nb, bits);
            sw_to_signed(bb, nb, bits);
            /* The next 16 rows come from memory into L2 while these compute, a slice per
             * token group: otherwise their unpacking waits on DRAM (perf on a 32-token
             * prompt, where each forward streams all the weights: the unpacker was 19%
             * of the samples, 13% with this). */
            const char *next = r + 16 < r16 ? (const char *)w->data + (uint64_t)(r + 16) * w->row_bytes : NULL;
            const int64_t next_bytes = 16 * (int64_t)w->row_bytes, groups = (nt + TT - 1) / TT;
            const int64_t step = (next_bytes / groups + 63) / 64 * 64;
            int64_t pf = 0;
#define SWS_PREFETCH                                                                                \
    if (next)                                                                                       \
        for (const int64_t e = G4_MIN(pf + step, next_bytes); pf < e; pf += 64) _mm_prefetch(next + pf, _MM_HINT_T1)
            int64_t t = 0;
#define SWS_CALL(T) sws_tokens(y + (t0 + t) * ldy, ldy, r, ba, bb, ub + t * nb * 32, \
                               (const block_a8 *)((const char *)xv + (t0 + t) * ldx), ldx, nb, T, depth, halves, offs)
            if (TT == 3) {
                for (; t + 3 <= nt; t += 3) { SWS_PREFETCH; SWS_CALL(3); }
                if (nt - t == 2) { SWS_PREFETCH; SWS_CALL(2); }
            } else {
                for (; t + 2 <= nt; t += 2) { SWS_PREFETCH; SWS_CALL(2); }
            }
            if (nt - t == 1) { SWS_PREFETCH; SWS_CALL(1); }
#undef SWS_CALL
#undef SWS_PREFETCH
        }
    }
}
#endif /* !X86_AVX512 */

#ifdef X86_AVX512
/* ---- AVX-512 VNNI prefill: 16 rows sideways in one zmm, 8 tokens -----------------------
 * Two 8-row sw_blocks make one 512-bit vector whose 32-bit lane j holds 4 levels of row j
 * (rows r..r+15). VPDPBUSD takes the activation group as an embedded broadcast (a 4-byte
 * memory operand {1to16}, dpbusd_bcast), so one instruction is 64 multiply-adds with no
 * separate broadcast and no int16 stage, and 8 tokens share each weight vector (8 int32 and 8
 * float accumulators: 32 registers leave room; the half-scale form swz6_tokens keeps 24).
 * Per 16 rows x 8 tokens x 32 values that is 64 VPDPBUSD, 16 vector assemblies and about
 * 50 float instructions, against about 420 instructions for the 8-row ymm engine
 * (sw_matmul). Levels may be any unsigned bytes (2- to 6-bit, IQ4's kv + 128): nothing is
 * summed in 16 bits. */
#define SWZ_TOKENS 8

/* acc += q (unsigned bytes) . *p (4 signed bytes broadcast to all 16 lanes), the
 * broadcast embedded in VPDPBUSD's memory operand: GCC does not fold _mm512_set1_epi32
 * of a load into it and issues a separate VPBROADCASTD per instruction. */
static inline __attribute__((always_inline)) __m512i dpbusd_bcast(__m512i acc, __m512i q, const int32_t *p) {
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(q), "m"(*p));
    return acc;
}

static inline __attribute__((always_inline)) __m512 swz_join(__m256 lo, __m256 hi) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}

/* An engine call's share of the next rows' prefetch, spread over its blocks: blocks b <
 * `blocks` each ask for `lines` 64-byte lines, from p + b lines 64 (swz_pf_next). */
typedef struct swz_pf {
    const char *p;
    int64_t blocks, lines;
} swz_pf;
static inline __attribute__((always_inline)) void swz_pf_block(swz_pf pf, int64_t b) {
    if (b < pf.blocks)
        for (int64_t i = 0; i < pf.lines; i++) _mm_prefetch(pf.p + (b * pf.lines + i) * 64, _MM_HINT_T1);
}

/* Tokens [t, t + T) (x: the first one's blocks, xstride blocks apart) against rows r..r+15
 * (ba: the first 8, bb: the next 8), all blocks; stores 16 outputs per token. centre:
 * for the types whose offset is o = centre f (Q4_0: 8, Q5_0: 16; 0 for the others), the
 * offset comes off in the integers, -centre s starting each block's accumulator, which
 * saves a broadcast, a scalar multiply and an FMA per token and block (one thread,
 * 512 x 1536, 64-256 tokens: Q4_0 1.12-1.16x, Q5_0 1.25x).
 * Every loop over the T tokens is unrolled by pragma: left as loops, GCC kept seven of
 * the eight float accumulators on the stack (a load and a store per token and block);
 * unrolled, none spill, and one Zen 4 thread at 128 tokens ran Q4_K 1.17-1.21x, Q5_K
 * 1.29x, Q4_0 and Q5_0 1.06-1.07x faster (kab; the same outputs bit for bit). */
static inline __attribute__((always_inline)) void swz_tokens(float *y, int64_t ldy, int64_t r, const sw_block *ba,
                                                             const sw_block *bb, const block_a8 *x, int64_t xstride,
                                                             const float *ds, int64_t nb, const int T, const int centre,
                                                             swz_pf pf) {
    __m512 c[SWZ_TOKENS];
    #pragma GCC unroll 8
    for (int t = 0; t < T; t++) c[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        swz_pf_block(pf, b);
        __m512i acc[SWZ_TOKENS];
        #pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            acc[t] = centre ? _mm512_set1_epi32(-centre * x[t * xstride + b].s) : _mm512_setzero_si512();
        #pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(ba[b].q[g]), bb[b].q[g], 1);
            #pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                acc[t] = dpbusd_bcast(acc[t], q, (const int32_t *)x[t * xstride + b].qs + g);
        }
        const __m512 f = swz_join(ba[b].f, bb[b].f), o = swz_join(ba[b].o, bb[b].o);
        #pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const block_a8 *xb = x + t * xstride + b;
            c[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[t]), _mm512_mul_ps(f, _mm512_set1_ps(xb->d)), c[t]);
            if (!centre) c[t] = _mm512_fnmadd_ps(o, _mm512_set1_ps(ds[t * nb + b]), c[t]);
        }
    }
    #pragma GCC unroll 8
    for (int t = 0; t < T; t++) _mm512_storeu_ps(y + t * ldy + r, c[t]);
}

/* The same for levels with an int8 scale per 16-value half (swz_matmul's halves):
 *   SWZ_CENTRED, w = f sc (q - c): Q6_K (levels + 32, 0..63) and Q3_K (levels + 4, 0..7).
 *     The unpacker leaves f = d and the half scales as an int16 pair in o's lanes (as
 *     for the AVX2 signed engine above). Each half's int32 chain starts at -c x the
 *     half's activation sum (h: two int32 per token and block, the -c included), so it
 *     is sum (q - c) a exactly.
 *   SWZ_MINS, w = f sc q - dmin m (Q2_K: levels 0..3, scales and mins 0..15): o's lanes
 *     hold [sc0, sc1, m0, m1] as bytes and sum the rows' dmin (as float bits); chains
 *     start at 0, and the mins come off in floats, dmin m_half x (d_a x the half's
 *     activation sum) (h: two floats per token and block).
 * The two chains are multiplied by their halves' scales (VPMULLD) and added, and the
 * block's float work is then Q4_0's: one conversion, one multiply, one FMA per token (Q2_K
 * two FMAs more). |sum (q - 32) a| <= 16 x 32 x 127 per half, times |sc| <= 128: below
 * 2^24, exact in int32 (and in the float it becomes). One Zen 4 thread, 128 tokens: Q6_K
 * 135-141 G multiply-adds/s against 97-98 in the AVX2 signed engine, Q3_K 131 against
 * 62 in the 8-row one. */
#define SWZ_CENTRED 1
#define SWZ_MINS 2
static inline __attribute__((always_inline)) void swz6_tokens(float *y, int64_t ldy, int64_t r, const sw_block *ba,
                                                              const sw_block *bb, const block_a8 *x, int64_t xstride,
                                                              const int32_t *h, int64_t nb, const int T, const int halves,
                                                              swz_pf pf) {
    const float *hf32 = (const float *)h;
    __m512 c[SWZ_TOKENS];
    #pragma GCC unroll 8
    for (int t = 0; t < T; t++) c[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        swz_pf_block(pf, b);
        const __m512i o = _mm512_castps_si512(swz_join(ba[b].o, bb[b].o));
        __m512i sc0, sc1;
        __m512 m0 = _mm512_setzero_ps(), m1 = m0;
        if (halves == SWZ_MINS) {
            const __m512i b8 = _mm512_set1_epi32(255);
            const __m512 dmin = swz_join(_mm256_castsi256_ps(ba[b].sum), _mm256_castsi256_ps(bb[b].sum));
            sc0 = _mm512_and_si512(o, b8);
            sc1 = _mm512_and_si512(_mm512_srli_epi32(o, 8), b8);
            m0 = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(o, 16), b8)));
            m1 = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_srli_epi32(o, 24)));
        } else {
            sc0 = _mm512_srai_epi32(_mm512_slli_epi32(o, 16), 16);
            sc1 = _mm512_srai_epi32(o, 16);
        }
        __m512i acc[SWZ_TOKENS], half[SWZ_TOKENS];
        #pragma GCC unroll 2
        for (int hf = 0; hf < 2; hf++) {
            #pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                half[t] = halves == SWZ_MINS ? _mm512_setzero_si512() : _mm512_set1_epi32(h[2 * (t * nb + b) + hf]);
            #pragma GCC unroll 4
            for (int g = 4 * hf; g < 4 * hf + 4; g++) {
                const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(ba[b].q[g]), bb[b].q[g], 1);
                #pragma GCC unroll 8
                for (int t = 0; t < T; t++)
                    half[t] = dpbusd_bcast(half[t], q, (const int32_t *)x[t * xstride + b].qs + g);
            }
            #pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                acc[t] = hf ? _mm512_add_epi32(acc[t], _mm512_mullo_epi32(half[t], sc1)) : _mm512_mullo_epi32(half[t], sc0);
        }
        const __m512 f = swz_join(ba[b].f, bb[b].f);
        #pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            c[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[t]), _mm512_mul_ps(f, _mm512_set1_ps(x[t * xstride + b].d)), c[t]);
            if (halves == SWZ_MINS) {
                c[t] = _mm512_fnmadd_ps(m0, _mm512_set1_ps(hf32[2 * (t * nb + b)]), c[t]);
                c[t] = _mm512_fnmadd_ps(m1, _mm512_set1_ps(hf32[2 * (t * nb + b) + 1]), c[t]);
            }
        }
    }
    #pragma GCC unroll 8
    for (int t = 0; t < T; t++) _mm512_storeu_ps(y + t * ldy + r, c[t]);
}

/* ---- 32 rows at a time: each activation broadcast feeds two weight vectors -----------
 * On an Ice Lake Xeon (a 2-vCPU VM, one thread) a 512-bit VPDPBUSD that loads anything,
 * its {1to16} broadcast included, issued at about one per cycle against two for the
 * register form: 0.33-0.37 ns per instruction with a broadcast, a 64-byte load or a
 * memory operand against 0.19 register to register, and 0.24 when one register
 * broadcast serves two. There swz_matmul takes rows 32 at a time: the 4 8-row blocks
 * are unpacked into swz32_block's columns (per block and group two 512-bit vectors of
 * 16 rows each; swz32_dst), each token's 4-byte group is broadcast once into a register (VPBROADCASTD, a
 * load) and multiplied into both vectors, 6 tokens at a time (12 int32 + 12 float
 * accumulators, 2 weight vectors and the broadcast: 27 of the 32 registers). Per row the
 * arithmetic is swz_tokens' exactly: the same int32 sums, the same float operations in
 * the same order, so the outputs are bit for bit those of the 16-row engine.
 * One Ice Lake thread, 512 x 1536: Q4_0 1.44x at 64 tokens, 1.59x at 256; Q5_0 1.44x;
 * Q4_K 1.19x. On the GPU machine's Xeon (Emerald Rapids), where the broadcast operand
 * costs nothing, it lost 4-22% (scripts/device/results/2026-11-28-zmm-rows-xeon.txt).
 * So swz_rows32, which q8z_matmul's 32-row steps follow too, is set once by the AVX-512
 * table's fill from a timing of the two instruction forms on the CPU at hand
 * (kernels_avx512.c). */
static int swz_rows32;

typedef struct swz32_block {
    __m256i q[8][4]; /* q[g][k] lane j: levels 4g..4g+3 of row 8k + j */
    __m256 f[4], o[4];
} swz32_block;
#define SWZ32_TOKENS 6

/* Column k (rows 8k..8k+7) of z's blocks, as an unpacker's destination: the unpacker's
 * group and factor vectors land where the engine loads them, with no regrouping (one Ice
 * Lake thread, Q4_0 1536 or 6144 wide, 32 tokens, two kab runs: 1.10-1.24x over
 * unpacking into sw_blocks and copying them into z). */
static inline sw_dst swz32_dst(swz32_block *z, int k) {
    return (sw_dst){(char *)&z->q[0][k], (char *)&z->f[k], (char *)&z->o[k], NULL, (int64_t)sizeof(swz32_block),
                    (int64_t)sizeof z->q[0]};
}

/* The 32-row engines' shared steps (always inlined and unrolled, so the arrays stay in
 * registers). Groups [g0, g1) of block b for T tokens: each token's group broadcast
 * once, multiplied into both 16-row vectors, into s0 / s1. */
static inline __attribute__((always_inline)) void swz32_groups(__m512i *s0, __m512i *s1, const swz32_block *zb,
                                                               const block_a8 *xb, int64_t xstride, const int g0,
                                                               const int g1, const int T) {
    #pragma GCC unroll 8
    for (int g = g0; g < g1; g++) {
        const __m512i q0 = _mm512_load_si512(&zb->q[g][0]), q1 = _mm512_load_si512(&zb->q[g][2]);
        #pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            int32_t grp;
            memcpy(&grp, xb[t * xstride].qs + 4 * g, 4);
            const __m512i a = _mm512_set1_epi32(grp);
            s0[t] = _mm512_dpbusd_epi32(s0[t], q0, a);
            s1[t] = _mm512_dpbusd_epi32(s1[t], q1, a);
        }
    }
}

/* c += the block's int32 sums a times the rows' scales f and each token's d */
static inline __attribute__((always_inline)) void swz32_scale(__m512 *c0, __m512 *c1, const __m512i *a0,
                                                              const __m512i *a1, __m512 f0, __m512 f1,
                                                              const block_a8 *xb, int64_t xstride, const int T) {
    #pragma GCC unroll 6
    for (int t = 0; t < T; t++) {
        const __m512 d = _mm512_set1_ps(xb[t * xstride].d);
        c0[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a0[t]), _mm512_mul_ps(f0, d), c0[t]);
        c1[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1[t]), _mm512_mul_ps(f1, d), c1[t]);
    }
}

/* rows r..r+31 of T tokens' outputs */
static inline __attribute__((always_inline)) void swz32_store(float *y, int64_t ldy, int64_t r, const __m512 *c0,
                                                              const __m512 *c1, const int T) {
    #pragma GCC unroll 6
    for (int t = 0; t < T; t++) {
        _mm512_storeu_ps(y + t * ldy + r, c0[t]);
        _mm512_storeu_ps(y + t * ldy + r + 16, c1[t]);
    }
}
/* Fewer tokens than this go through the 16-row engine: with 4 or 5 tokens (3 or 4 for
 * the half-scale types, which the 32-row engine takes 4 at a time) its calls are fewer
 * and it was faster (Ice Lake, one thread, 2048 x 1536 in cache, 32 rows against 16:
 * Q4_0 0.77x at 3 tokens, 0.90x at 4, 0.95x at 5, 1.07x at 6, 1.12x at 10, 1.22x at 16;
 * Q4_K 0.98x at 5, 1.10x at 6; Q6_K 0.96x at 6, 0.99x at 10, 1.06x at 12; Q3_K 0.96x at
 * 8, 1.04x at 12). (Before the unpackers wrote z's columns directly, swz32_dst, the
 * 32-row engine needed 24 tokens to pay for the regrouping.) */
#define SWZ32_MIN_TOKENS 6
#define SWZ32H_MIN_TOKENS 12

static inline __attribute__((always_inline)) void swz32_tokens(float *y, int64_t ldy, int64_t r, const swz32_block *z,
                                                               const block_a8 *x, int64_t xstride, const float *ds,
                                                               int64_t nb, const int T, const int centre, swz_pf pf) {
    __m512 c0[SWZ32_TOKENS], c1[SWZ32_TOKENS];
    #pragma GCC unroll 6
    for (int t = 0; t < T; t++) c0[t] = c1[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        swz_pf_block(pf, b);
        __m512i a0[SWZ32_TOKENS], a1[SWZ32_TOKENS];
        #pragma GCC unroll 6
        for (int t = 0; t < T; t++)
            a0[t] = a1[t] = centre ? _mm512_set1_epi32(-centre * x[t * xstride + b].s) : _mm512_setzero_si512();
        swz32_groups(a0, a1, z + b, x + b, xstride, 0, 8, T);
        swz32_scale(c0, c1, a0, a1, _mm512_load_ps(&z[b].f[0]), _mm512_load_ps(&z[b].f[2]), x + b, xstride, T);
        #pragma GCC unroll 6
        for (int t = 0; t < T * !centre; t++) {
            const __m512 s = _mm512_set1_ps(ds[t * nb + b]);
            c0[t] = _mm512_fnmadd_ps(_mm512_load_ps(&z[b].o[0]), s, c0[t]);
            c1[t] = _mm512_fnmadd_ps(_mm512_load_ps(&z[b].o[2]), s, c1[t]);
        }
    }
    swz32_store(y, ldy, r, c0, c1, T);
}

/* The same for levels with an int8 scale per 16-value half and SWZ_CENTRED (Q6_K, Q3_K:
 * swz6_tokens' arithmetic, the o lanes holding the rows' two half scales), 4 tokens at a
 * time: 8 int32 sums of the half being summed, 8 of the block's scaled total and 8 float
 * accumulators, 2 weight vectors and the broadcast. h: two int32 per token and block. */
#define SWZ32H_TOKENS 4
static inline __attribute__((always_inline)) void swz32h_tokens(float *y, int64_t ldy, int64_t r, const swz32_block *z,
                                                                const block_a8 *x, int64_t xstride, const int32_t *h,
                                                                int64_t nb, const int T, swz_pf pf) {
    __m512 c0[SWZ32H_TOKENS], c1[SWZ32H_TOKENS];
    #pragma GCC unroll 4
    for (int t = 0; t < T; t++) c0[t] = c1[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        swz_pf_block(pf, b);
        __m512i a0[SWZ32H_TOKENS], a1[SWZ32H_TOKENS];
        #pragma GCC unroll 2
        for (int hf = 0; hf < 2; hf++) {
            __m512i s0[SWZ32H_TOKENS], s1[SWZ32H_TOKENS];
            #pragma GCC unroll 4
            for (int t = 0; t < T; t++) s0[t] = s1[t] = _mm512_set1_epi32(h[2 * (t * nb + b) + hf]);
            swz32_groups(s0, s1, z + b, x + b, xstride, 4 * hf, 4 * hf + 4, T);
            /* the half's scales: the low (hf 0) or high int16 of each row's o lane */
            const __m512i o0 = _mm512_load_si512(&z[b].o[0]), o1 = _mm512_load_si512(&z[b].o[2]);
            const __m512i sc0 = hf ? _mm512_srai_epi32(o0, 16) : _mm512_srai_epi32(_mm512_slli_epi32(o0, 16), 16);
            const __m512i sc1 = hf ? _mm512_srai_epi32(o1, 16) : _mm512_srai_epi32(_mm512_slli_epi32(o1, 16), 16);
            #pragma GCC unroll 4
            for (int t = 0; t < T; t++) {
                a0[t] = hf ? _mm512_add_epi32(a0[t], _mm512_mullo_epi32(s0[t], sc0)) : _mm512_mullo_epi32(s0[t], sc0);
                a1[t] = hf ? _mm512_add_epi32(a1[t], _mm512_mullo_epi32(s1[t], sc1)) : _mm512_mullo_epi32(s1[t], sc1);
            }
        }
        swz32_scale(c0, c1, a0, a1, _mm512_load_ps(&z[b].f[0]), _mm512_load_ps(&z[b].f[2]), x + b, xstride, T);
    }
    swz32_store(y, ldy, r, c0, c1, T);
}

/* T (1..6) tokens through swz32_tokens, or with half scales (halves, T 1..4)
 * swz32h_tokens (hs: their two h per token and block); otherwise ds. Not inlined:
 * swz_matmul is, into every type's matmul, and a copy of these engines for each T in
 * each of them made the AVX-512 table's file take minutes to compile under ASan. */
static __attribute__((noinline)) void swz32_call(float *y, int64_t ldy, int64_t r, const swz32_block *z,
                                                 const block_a8 *x, int64_t xstride, const float *ds,
                                                 const int32_t *hs, int64_t nb, int T, int centre, int halves, swz_pf pf) {
    if (halves) {
        if (T == 4) swz32h_tokens(y, ldy, r, z, x, xstride, hs, nb, 4, pf);
        else if (T == 2) swz32h_tokens(y, ldy, r, z, x, xstride, hs, nb, 2, pf);
        else swz32h_tokens(y, ldy, r, z, x, xstride, hs, nb, 1, pf);
    } else if (centre) { /* (the branches give GCC constant T, and a constant "no centre") */
        if (T == 6) swz32_tokens(y, ldy, r, z, x, xstride, ds, nb, 6, centre, pf);
        else if (T == 4) swz32_tokens(y, ldy, r, z, x, xstride, ds, nb, 4, centre, pf);
        else if (T == 2) swz32_tokens(y, ldy, r, z, x, xstride, ds, nb, 2, centre, pf);
        else swz32_tokens(y, ldy, r, z, x, xstride, ds, nb, 1, centre, pf);
    } else {
        if (T == 6) swz32_tokens(y, ldy, r, z, x, xstride, ds, nb, 6, 0, pf);
        else if (T == 4) swz32_tokens(y, ldy, r, z, x, xstride, ds, nb, 4, 0, pf);
        else if (T == 2) swz32_tokens(y, ldy, r, z, x, xstride, ds, nb, 2, 0, pf);
        else swz32_tokens(y, ldy, r, z, x, xstride, ds, nb, 1, 0, pf);
    }
}

/* How many engine calls n tokens take, per at a time, then 4, 2 and 1 (swz_matmul's
 * token loops): the next rows' prefetch is split into that many slices. */
static inline int64_t swz_calls(int64_t n, int per) {
    int64_t c = n / per, rem = n % per;
    if (rem >= 4) c++, rem -= 4;
    if (rem >= 2) c++, rem -= 2;
    return c + rem;
}
/* The next call's slice, for the engine to spread over its nb blocks (swz_pf_block)
 * rather than ask for at once before the call: a burst of prefetches waits for line-fill
 * buffers, and the call's work with it (a 32-token profile showed the burst's stalls;
 * with no prefetch the same time went to the unpacking instead). One Ice Lake thread,
 * Q4_0 40000 x 1536 from memory, spread against burst (kab, noisy): 32-row engine
 * 1.07-1.16x at 32 tokens, 1.23x at 16; 16-row engine 1.25-1.40x at 8, 1.03-1.17x at
 * 32, 0.89-1.00x at 128. E2B Q4_0, 2 threads, binaries alternating, 4 pairs: first
 * token (32) 326-407 -> 307-380 ms, pp512 unchanged within the noise. */
/* (*pf: the bytes of the next rows' `bytes` handed out so far; step: bytes per call) */
static inline swz_pf swz_pf_next(const char *next, int64_t *pf, int64_t step, int64_t bytes, int64_t nb) {
    const int64_t mine = next ? G4_MAX(G4_MIN(step, bytes - *pf), 0) : 0, lines = (step + 64 * nb - 1) / (64 * nb);
    const swz_pf s = {next ? next + *pf : NULL, mine ? (mine + 64 * lines - 1) / (64 * lines) : 0, G4_MAX(lines, 1)};
    *pf += step;
    return s;
}

/* Rows r..r+31 unpacked 8 at a time straight into z's columns (swz32_dst). */
static inline void swz32_unpack(const mat *w, int64_t r, sw_unpack_fn unpack, swz32_block *z) {
    for (int k = 0; k < 4; k++) unpack(w, r + 8 * k, swz32_dst(z, k));
}

/* Rows [r0, r16) in groups of 16, every token, in chunks of SWZ_DS_TOKENS tokens;
 * scratch: 2 x nb sw_blocks, then (types with their own offsets) each chunk token's
 * d s per block, so that the offset term is one FMA with a broadcast memory operand:
 * 22 + 32 bytes per column; with half scales (halves: SWZ_CENTRED or SWZ_MINS,
 * swz6_tokens) the two h per token and block instead: 22 + 64 bytes per column. */
#define SWZ_DS_TOKENS 256
static inline __attribute__((always_inline)) void swz_matmul(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r16,
                                                            const void *xv, int64_t ldx, int64_t n_all, float *scratch,
                                                            sw_unpack_fn unpack, const int centre, const int halves) {
    const int64_t nb = w->cols / 32, xstride = ldx / (int64_t)sizeof(block_a8);
    sw_block *ba = (sw_block *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63), *bb = ba + nb;
    /* the 32-row path's blocks z over ba and bb (each path uses only its own), ds or hs
     * after them: 40 + 32 or 64 bytes per column and alignment (within the table's
     * scratch_per_col) */
    swz32_block *z = (swz32_block *)ba;
    float *ds = (float *)(z + nb);
    int32_t *hs = (int32_t *)(z + nb);
    for (int64_t t0 = 0; t0 < n_all; t0 += SWZ_DS_TOKENS) {
        const int64_t n = G4_MIN(SWZ_DS_TOKENS, n_all - t0);
        float *yc = y + t0 * ldy;
        const char *xc = (const char *)xv + t0 * ldx;
        if (!centre && !halves)
            for (int64_t t = 0; t < n; t++) {
                const block_a8 *xb = (const block_a8 *)(xc + t * ldx);
                for (int64_t b = 0; b < nb; b++) ds[t * nb + b] = xb[b].d * (float)xb[b].s;
            }
        if (halves)
            for (int64_t t = 0; t < n; t++) {
                const block_a8 *xb = (const block_a8 *)(xc + t * ldx);
                float *hf = (float *)hs;
                for (int64_t b = 0; b < nb; b++) {
                    const int32_t h0 = a8_half_sum(xb + b);
                    if (halves == SWZ_MINS) {
                        hf[2 * (t * nb + b)] = xb[b].d * (float)h0;
                        hf[2 * (t * nb + b) + 1] = xb[b].d * (float)(xb[b].s - h0);
                    } else {
                        hs[2 * (t * nb + b)] = -centre * h0;
                        hs[2 * (t * nb + b) + 1] = -centre * (xb[b].s - h0);
                    }
                }
            }
        int64_t r = r0;
        const int64_t min32 = halves ? SWZ32H_MIN_TOKENS : SWZ32_MIN_TOKENS;
        for (; swz_rows32 && halves != SWZ_MINS && n >= min32 && r + 32 <= r16; r += 32) {
            swz32_unpack(w, r, unpack, z);
            const char *next = r + 32 < r16 ? (const char *)w->data + (uint64_t)(r + 32) * w->row_bytes : NULL;
            const int64_t next_bytes = (r + 64 <= r16 ? 32 : 16) * (int64_t)w->row_bytes;
            const int64_t groups = swz_calls(n, halves ? SWZ32H_TOKENS : SWZ32_TOKENS);
            const int64_t step = (next_bytes / groups + 63) / 64 * 64;
            int64_t pf = 0, t = 0;
#define SWZ32_CALL(T)                                                                                              \
    do {                                                                                                          \
        swz32_call(yc + t * ldy, ldy, r, z, (const block_a8 *)(xc + t * ldx), xstride, ds + t * nb,             \
                   hs + 2 * t * nb, nb, T, centre, halves, swz_pf_next(next, &pf, step, next_bytes, nb));        \
        t += T;                                                                                                   \
    } while (0)
            if (halves) {
                while (t + SWZ32H_TOKENS <= n) SWZ32_CALL(SWZ32H_TOKENS);
            } else {
                while (t + SWZ32_TOKENS <= n) SWZ32_CALL(SWZ32_TOKENS);
                if (n - t >= 4) SWZ32_CALL(4);
            }
            if (n - t >= 2) SWZ32_CALL(2);
            if (n - t >= 1) SWZ32_CALL(1);
#undef SWZ32_CALL
        }
        for (; r < r16; r += 16) {
            unpack(w, r, sw_dst_blocks(ba));
            unpack(w, r + 8, sw_dst_blocks(bb));
            /* the next 16 rows into L2 while these compute, a slice per token group, as
             * sws_matmul does: with few tokens per call (a prompt's share of a MoE expert) the
             * unpacking otherwise waits on memory */
            const char *next = r + 16 < r16 ? (const char *)w->data + (uint64_t)(r + 16) * w->row_bytes : NULL;
            const int64_t next_bytes = 16 * (int64_t)w->row_bytes, groups = swz_calls(n, SWZ_TOKENS);
            const int64_t step = (next_bytes / groups + 63) / 64 * 64;
            int64_t pf = 0;
            int64_t t = 0;
#define SWZ_CALL(T)                                                                                               \
    do {                                                                                                          \
        const swz_pf slice = swz_pf_next(next, &pf, step, next_bytes, nb);                                        \
        if (halves)                                                                                               \
            swz6_tokens(yc + t * ldy, ldy, r, ba, bb, (const block_a8 *)(xc + t * ldx), xstride, hs + 2 * t * nb, nb, T, halves, slice); \
        else                                                                                                      \
            swz_tokens(yc + t * ldy, ldy, r, ba, bb, (const block_a8 *)(xc + t * ldx), xstride, ds + t * nb, nb, T, centre, slice); \
    } while (0)
            for (; t + 8 <= n; t += 8) SWZ_CALL(8);
            if (n - t >= 4) { SWZ_CALL(4); t += 4; }
            if (n - t >= 2) { SWZ_CALL(2); t += 2; }
            if (n - t >= 1) SWZ_CALL(1);
#undef SWZ_CALL
        }
    }
}
#endif

/* Prefill for the types whose unpacker writes sw_blocks of levels below 2^bits (4 or 5):
 * rows [r0, r1) as far as whole groups go (16 rows on AVX2, 8 with VNNI), every token.
 * Returns the first row not done, for the caller's row kernel. offs: whether the type
 * has an offset other than 2^(bits-1) f (all but Q4_0). */
static inline __attribute__((always_inline)) int64_t sideways_matmul(float *y, int64_t ldy, const mat *w, int64_t r0,
                                                                     int64_t r1, const void *xv, int64_t ldx, int64_t n,
                                                                     float *scratch, sw_unpack_fn unpack, const int bits,
                                                                     const int offs) {
#ifdef X86_AVX512
    const int64_t r16 = r0 + (r1 - r0) / 16 * 16, rg = r0 + (r1 - r0) / SW_ROWS * SW_ROWS;
    if (r16 > r0) swz_matmul(y, ldy, w, r0, r16, xv, ldx, n, scratch, unpack, offs ? 0 : 1 << (bits - 1), 0);
    if (rg > r16) sw_matmul(y, ldy, w, r16, rg, xv, ldx, n, scratch, unpack, bits == 4 ? 8 : 4);
#else
    const int64_t rg = r0 + (r1 - r0) / 16 * 16;
    if (rg > r0) sws_matmul(y, ldy, w, r0, rg, xv, ldx, n, scratch, unpack, bits, offs);
#endif
    return rg;
}

static void matmul_q4_0(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    const int64_t rd = n <= Q4_TOKENS ? r0 : sideways_matmul(y, ldy, w, r0, r1, xv, ldx, n, scratch, q4_0_sw_unpack, 4, 0);
    if (rd < r1) matvec_q4_0(y, ldy, w, rd, r1, xv, ldx, n, scratch);
}

/* Prefill tile: 2 weight rows x 4 tokens per pass. Each weight block is unpacked and its
 * scale converted once and used for 4 tokens; the 8 accumulators, 4 activation vectors
 * and 2 weight vectors fit the 16 ymm registers. About 9.5 instructions per 32
 * multiply-adds, against 16 when every token unpacks the weights again. */
#define MATMUL_TILE(NAME, BLOCK, LOADW, FALLBACK)                                                                 \
static void NAME(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,         \
                 int64_t n, float *scratch) {                                                                     \
    const int64_t nb = w->cols / 32, n4 = n / 4 * 4, r2 = r0 + (r1 - r0) / 2 * 2;                                \
    for (int64_t r = r0; r < r2 && n4; r += 2) {                                                                  \
        const BLOCK *w0 = (const BLOCK *)(w->data + (uint64_t)r * w->row_bytes);                                 \
        const BLOCK *w1 = (const BLOCK *)((const uint8_t *)w0 + w->row_bytes);                                   \
        for (int64_t t = 0; t < n4; t += 4) {                                                                     \
            const block_a8 *x0 = (const block_a8 *)((const char *)xv + t * ldx);                                  \
            const block_a8 *x1 = (const block_a8 *)((const char *)x0 + ldx);                                      \
            const block_a8 *x2 = (const block_a8 *)((const char *)x1 + ldx);                                      \
            const block_a8 *x3 = (const block_a8 *)((const char *)x2 + ldx);                                      \
            __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;                                    \
            __m256 c10 = c00, c11 = c00, c12 = c00, c13 = c00;                                                    \
            for (int64_t b = 0; b < nb; b++) {                                                                    \
                const __m256i q0 = LOADW(w0[b].qs), q1 = LOADW(w1[b].qs);                                         \
                const __m256i u0 = _mm256_abs_epi8(q0), u1 = _mm256_abs_epi8(q1);                                 \
                const __m256 s0 = _mm256_set1_ps(h2f(w0[b].d)), s1 = _mm256_set1_ps(h2f(w1[b].d));                \
                __m256i a; __m256 d;                                                                              \
                a = _mm256_loadu_si256((const __m256i *)x0[b].qs); d = _mm256_set1_ps(x0[b].d);                   \
                c00 = _mm256_fmadd_ps(_mm256_mul_ps(s0, d), _mm256_cvtepi32_ps(dot_u8s8(u0, _mm256_sign_epi8(a, q0))), c00); \
                c10 = _mm256_fmadd_ps(_mm256_mul_ps(s1, d), _mm256_cvtepi32_ps(dot_u8s8(u1, _mm256_sign_epi8(a, q1))), c10); \
                a = _mm256_loadu_si256((const __m256i *)x1[b].qs); d = _mm256_set1_ps(x1[b].d);                   \
                c01 = _mm256_fmadd_ps(_mm256_mul_ps(s0, d), _mm256_cvtepi32_ps(dot_u8s8(u0, _mm256_sign_epi8(a, q0))), c01); \
                c11 = _mm256_fmadd_ps(_mm256_mul_ps(s1, d), _mm256_cvtepi32_ps(dot_u8s8(u1, _mm256_sign_epi8(a, q1))), c11); \
                a = _mm256_loadu_si256((const __m256i *)x2[b].qs); d = _mm256_set1_ps(x2[b].d);                   \
                c02 = _mm256_fmadd_ps(_mm256_mul_ps(s0, d), _mm256_cvtepi32_ps(dot_u8s8(u0, _mm256_sign_epi8(a, q0))), c02); \
                c12 = _mm256_fmadd_ps(_mm256_mul_ps(s1, d), _mm256_cvtepi32_ps(dot_u8s8(u1, _mm256_sign_epi8(a, q1))), c12); \
                a = _mm256_loadu_si256((const __m256i *)x3[b].qs); d = _mm256_set1_ps(x3[b].d);                   \
                c03 = _mm256_fmadd_ps(_mm256_mul_ps(s0, d), _mm256_cvtepi32_ps(dot_u8s8(u0, _mm256_sign_epi8(a, q0))), c03); \
                c13 = _mm256_fmadd_ps(_mm256_mul_ps(s1, d), _mm256_cvtepi32_ps(dot_u8s8(u1, _mm256_sign_epi8(a, q1))), c13); \
            }                                                                                                     \
            y[t * ldy + r] = hsum256(c00); y[(t + 1) * ldy + r] = hsum256(c01);                                   \
            y[(t + 2) * ldy + r] = hsum256(c02); y[(t + 3) * ldy + r] = hsum256(c03);                             \
            y[t * ldy + r + 1] = hsum256(c10); y[(t + 1) * ldy + r + 1] = hsum256(c11);                           \
            y[(t + 2) * ldy + r + 1] = hsum256(c12); y[(t + 3) * ldy + r + 1] = hsum256(c13);                     \
        }                                                                                                         \
    }                                                                                                             \
    /* what the tile did not cover: an odd last row, and tokens past the last multiple of 4 */                   \
    if (n4) FALLBACK(y, ldy, w, r2, r1, xv, ldx, n4, scratch);                                                   \
    if (n4 < n) FALLBACK(y + n4 * ldy, ldy, w, r0, r1, (const char *)xv + n4 * ldx, ldx, n - n4, scratch);        \
}

/* Rows of the F16 KV cache (round to nearest even, as the scalar f32_to_fp16). */
static inline void x86_to_f16(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) y[i] = f32_to_fp16(x[i]);
}

/* exp(z) for 8 lanes: z = n ln2 + r with |r| <= ln2/2 (ln2 split in two parts so n ln2
 * is exact), exp(r) by its degree-6 Taylor polynomial (error < 2e-7 relative on that
 * range), times 2^n built in the exponent field. z is clamped to [-87, 88], where 2^n
 * stays a normal float; below -87 the result is ~1e-38 rather than 0. Its callers can
 * take that: a sigmoid's denominator (GeGLU), tanh above 0.55 (soft-capping), and the
 * softmax, where a score 87 below the maximum weighs 1e-38 instead of nothing. */
static inline __m256 exp8(__m256 z) {
    z = _mm256_min_ps(_mm256_max_ps(z, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(z, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), z);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* GeGLU: 0.5 x (1 + tanh y) = x sigmoid(2 y) = x / (1 + exp(-2 y)), which has no
 * cancellation for negative x (1 + tanh y computed as written loses every digit there). */
static inline void x86_gelu_mul(float *g, const float *u, int64_t n) {
    const __m256 k2 = _mm256_set1_ps(-2.0f * 0.7978845608028654f), c = _mm256_set1_ps(0.044715f), one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i);
        const __m256 y = _mm256_mul_ps(x, _mm256_fmadd_ps(_mm256_mul_ps(c, x), x, one)); /* x + 0.044715 x^3 */
        const __m256 gl = _mm256_div_ps(x, _mm256_add_ps(one, exp8(_mm256_mul_ps(k2, y))));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(gl, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) {
        const float x = g[i], y = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        g[i] = x / (1.0f + expf(-2.0f * y)) * u[i];
    }
}

/* kernels.h's rmsnorm: the squares summed in double, 16 values (four 4-double FMAs, four
 * chains: one waits out the FMA latency) per step; the same float scale as the scalar
 * table's, then (x * inv) * w. */
static inline __m256d x86_sq4_acc(__m256d acc, const float *p) { /* acc + p[0..4)^2 in double */
    const __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(p));
    return _mm256_fmadd_pd(a, a, acc);
}

static inline void x86_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps) {
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = x86_sq4_acc(s0, x + i);
        s1 = x86_sq4_acc(s1, x + i + 4);
        s2 = x86_sq4_acc(s2, x + i + 8);
        s3 = x86_sq4_acc(s3, x + i + 12);
    }
    for (; i + 4 <= n; i += 4) s0 = x86_sq4_acc(s0, x + i);
    const __m256d t = _mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3));
    const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));
    double ss = _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
    for (int64_t j = i; j < n; j++) ss += (double)x[j] * x[j];
    const float inv = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    const __m256 iv = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), iv);
        _mm256_storeu_ps(y + i, w ? _mm256_mul_ps(v, _mm256_loadu_ps(w + i)) : v);
    }
    for (; i < n; i++) y[i] = w ? x[i] * inv * w[i] : x[i] * inv;
}

/* tanh for 8 lanes: below |y| = 0.55 its odd Taylor series to y^17 (the next term is
 * under 3e-9 of y there), above it 1 - 2 / (1 + exp(2|y|)), whose rounding stays under
 * 2e-7 relative once tanh >= 0.5; the sign is put back at the end. exp8 clamps at
 * exp(88), where the quotient is 0 and tanh 1. */
static inline __m256 tanh8(__m256 y) {
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    const __m256 a = _mm256_andnot_ps(sign, y), z = _mm256_mul_ps(a, a);
    __m256 p = _mm256_set1_ps(6404582.0f / 10854718875.0f);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-929569.0f / 638512875.0f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(21844.0f / 6081075.0f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-1382.0f / 155925.0f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(62.0f / 2835.0f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-17.0f / 315.0f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.0f / 15.0f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-1.0f / 3.0f));
    const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(a, z), p, a);
    const __m256 big = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(one, exp8(_mm256_add_ps(a, a)))));
    const __m256 t = _mm256_blendv_ps(big, small, _mm256_cmp_ps(a, _mm256_set1_ps(0.55f), _CMP_LT_OQ));
    return _mm256_or_ps(t, _mm256_and_ps(y, sign));
}

static inline void x86_softcap(float *x, int64_t n, float c) {
    const __m256 cv = _mm256_set1_ps(c), ic = _mm256_set1_ps(1.0f / c);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(cv, tanh8(_mm256_mul_ps(_mm256_loadu_ps(x + i), ic))));
    for (; i < n; i++) x[i] = c * tanhf(x[i] / c);
}

/* Activations rounded to integers, bit-identical to the scalar quantizers: d = max|x| /
 * qmax (127 for block_a8, A16_MAX for block_a16; the max over 32 values, or over 256
 * for ACT_A8S) and q = round-half-away(x / d), which is truncation plus a step away from
 * zero when the (exact) remainder is at least one half. */

/* max |x| over n floats (n a multiple of 8). NaN is skipped as fmaxf skips it: MAXPS
 * returns its second operand when either is NaN, and the running max is that operand. */
static inline float x86_amax(const float *x, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)), m);
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    return _mm_cvtss_f32(m4);
}

/* q = round-half-away(x * id) for 32 values (x86_round_block's second half) */
static inline void x86_round_scaled(const float *x, float id, __m256i q[4]) {
    const __m256 sign = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    for (int i = 0; i < 4; i++) {
        const __m256 s = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * i), _mm256_set1_ps(id));
        __m256 t = _mm256_round_ps(s, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        const __m256 up = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_sub_ps(s, t)), half, _CMP_GE_OQ);
        t = _mm256_add_ps(t, _mm256_and_ps(up, _mm256_or_ps(_mm256_and_ps(s, sign), one)));
        q[i] = _mm256_cvttps_epi32(t);
    }
}

/* One block of 32: returns d; q[i] holds elements 8i..8i+7 as int32. */
static inline float x86_round_block(const float *x, float qmax, __m256i q[4]) {
    const float d = x86_amax(x, 32) / qmax;
    x86_round_scaled(x, inv_scale(d), q);
    return d;
}

/* One block_a8 from 32 values rounded with 1/d = id (quantize_a8, quantize_a8s): the four
 * 8-lane results packed to bytes (the packs interleave 128-bit lanes; one permutation
 * restores the order), and their sum. */
static inline void x86_a8_block(const float *x, float d, float id, block_a8 *y) {
    __m256i q[4];
    x86_round_scaled(x, id, q);
    y->d = d;
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256((__m256i *)y->qs, _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    y->s = _mm_cvtsi128_si32(s4);
}

/* ACT_A8S rows (kernels.h): one scale per 8 blocks, bit-identical to the scalar table. */
static void x86_quantize_a8s(const float *x, block_a8 *y, int64_t cols) {
    const int64_t nb = cols / 32;
    for (int64_t b0 = 0; b0 < nb; b0 += 8) {
        const int64_t b1 = G4_MIN(b0 + 8, nb);
        const float d = x86_amax(x + b0 * 32, (b1 - b0) * 32) / 127.0f, id = inv_scale(d);
        for (int64_t b = b0; b < b1; b++) x86_a8_block(x + b * 32, d, id, y + b);
    }
}

/* The table entries both x86 ISAs share (their fill functions add the rest). */
/* The machine probe's int8 peak loop (kernels.h's int8_peak) for an x86 table: INIT sets
 * the constant operands R15 and R14 (R: "ymm" or "zmm"), then each round issues INS
 * 12 times into R0..R11, independent of each other, MACS multiply-adds each. Written
 * in assembly because the compiler, given the loop in intrinsics, moved its registers
 * through the stack and the probe timed loads and stores (it read 100-125 G
 * multiply-adds/s per core on a Zen 3 core whose VPMADDUBSW does 187). */
#define X86_PEAK_INS(INS, R, D) INS " %%" R "15, %%" R "14, %%" R D "\n\t"
#define X86_INT8_PEAK(INIT, INS, R, MACS)                                                                      \
    static int64_t int8_peak(int64_t iters, int32_t *sink) {                                                   \
        if (iters <= 0) return 0;                                                                               \
        int64_t n = iters;                                                                                      \
        __asm__ volatile(INIT "1:\n\t"                                                                          \
                         X86_PEAK_INS(INS, R, "0") X86_PEAK_INS(INS, R, "1") X86_PEAK_INS(INS, R, "2")          \
                         X86_PEAK_INS(INS, R, "3") X86_PEAK_INS(INS, R, "4") X86_PEAK_INS(INS, R, "5")          \
                         X86_PEAK_INS(INS, R, "6") X86_PEAK_INS(INS, R, "7") X86_PEAK_INS(INS, R, "8")          \
                         X86_PEAK_INS(INS, R, "9") X86_PEAK_INS(INS, R, "10") X86_PEAK_INS(INS, R, "11")        \
                         "dec %0\n\tjnz 1b\n\tvzeroupper"                                                      \
                         : "+r"(n)                                                                              \
                         :                                                                                      \
                         : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",     \
                           "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc"); /* all: vzeroupper */ \
        *sink = (int32_t)n;                                                                                     \
        return iters * 12 * (MACS);                                                                             \
    }

/* Sum of p[0..n) with 256-bit loads, four independent accumulators (the probe's memory
 * read: kernels.h's read_sum). */
static uint64_t x86_read_sum(const uint64_t *p, int64_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_add_epi64(a0, _mm256_loadu_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_loadu_si256((const __m256i *)(p + i + 4)));
        a2 = _mm256_add_epi64(a2, _mm256_loadu_si256((const __m256i *)(p + i + 8)));
        a3 = _mm256_add_epi64(a3, _mm256_loadu_si256((const __m256i *)(p + i + 12)));
    }
    const __m256i a = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t s = (uint64_t)_mm256_extract_epi64(a, 0) + (uint64_t)_mm256_extract_epi64(a, 1) +
                 (uint64_t)_mm256_extract_epi64(a, 2) + (uint64_t)_mm256_extract_epi64(a, 3);
    for (; i < n; i++) s += p[i];
    return s;
}

/* kernels.h's softmax: a vector max, exp8 (clamped at -87: a score that far below the
 * maximum weighs 1e-38 in the sum instead of 0), the sum in two double vectors, a scale
 * that sends the weights below SOFTMAX_MIN to 0. */
static inline void x86_softmax(float *x, int64_t n) {
    __m256 mv = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    alignas(32) float m8[8];
    _mm256_store_ps(m8, mv);
    float mx = -INFINITY;
    for (int j = 0; j < 8; j++) mx = m8[j] > mx ? m8[j] : mx;
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    const __m256 mb = _mm256_set1_ps(mx);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb));
        _mm256_storeu_ps(x + i, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    alignas(32) double d4[4];
    _mm256_store_pd(d4, _mm256_add_pd(s0, s1));
    double sum = d4[0] + d4[1] + d4[2] + d4[3];
    for (; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    const __m256 iv = _mm256_set1_ps(inv), lo = _mm256_set1_ps(SOFTMAX_MIN);
    for (i = 0; i + 8 <= n; i += 8) { /* weights below SOFTMAX_MIN to 0 (kernels.h) */
        const __m256 p = _mm256_mul_ps(_mm256_loadu_ps(x + i), iv);
        _mm256_storeu_ps(x + i, _mm256_and_ps(p, _mm256_cmp_ps(p, lo, _CMP_GE_OQ)));
    }
    for (; i < n; i++) {
        const float p = x[i] * inv;
        x[i] = p >= SOFTMAX_MIN ? p : 0.0f;
    }
}

static inline void x86_fill_shared(cpu_kernels *k) {
    k->quantize_a8s = x86_quantize_a8s;
    k->read_sum = x86_read_sum;
    k->matmul[G4_DTYPE_Q4_0] = matmul_q4_0;
    k->to_f16 = x86_to_f16;
    k->gelu_mul = x86_gelu_mul;
    k->softcap = x86_softcap;
    k->softmax = x86_softmax;
    k->rmsnorm = x86_rmsnorm;
}

/* One element of a float-type weight row (the tails of the float kernels). */
static inline float load1(const uint8_t *p, int32_t type, int64_t c) {
    switch (type) {
    case G4_DTYPE_F16: return fp16_to_f32((uint16_t)(p[2 * c] | p[2 * c + 1] << 8));
    case G4_DTYPE_BF16: return bf16_to_f32((uint16_t)(p[2 * c] | p[2 * c + 1] << 8));
    default: return ((const float *)p)[c];
    }
}

#endif
