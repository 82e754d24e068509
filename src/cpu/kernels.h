/* kernels.h - the CPU compute kernels, one table per instruction set, chosen once at
 * start-up (cpu_kernels_get). Entries an ISA does not implement are copied from the
 * scalar table, so every table is complete; the scalar table (kernels_ref.c) is the
 * oracle that tests/test_kernels.c compares every other table against.
 *
 * Matmul kernels compute y[t*ldy + r] = dot(W[r], x_t) for rows r in [r0, r1) and
 * tokens t in [0, n). Activations come in the format the weight type pairs with:
 *   ACT_F32 - float rows (F32/F16/BF16 weights, and the generic dequantizing path);
 *   ACT_A8  - rows of block_a8: int8 values with a float scale per 32 and their sum
 *             (Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL/XS weights: int8 x int8 products, int32
 *             sums, one float scale per block pair) - the VNNI / dot-product
 *             instructions' native shape. The sum corrects for offsets and minimums
 *             (Q4_0's -8, Q4_1's m).
 *   ACT_A8S - rows of block_a8 whose blocks share one scale per 256 values (d = max|x|
 *             over the 256 / 127; a row's last group may be shorter): the K-quants
 *             (Q2_K to Q6_K), as llama.cpp's Q8_K does for them. A super-block's
 *             sub-block scales are small integers, so with one activation scale per
 *             super-block its whole dot product is an integer sum (VPMADDWD by the
 *             sub-block scales), converted and scaled once, where per-32 activation
 *             scales cost a conversion, a broadcast and an FMA per 32 values. K-quant
 *             decode is compute-bound (the unpacking), and this made the x86 decode
 *             kernels 1.11-1.49x faster (kernels_x86_kquant.h; Q2_K and Q3_K
 *             1.26-1.49x, kernels_x86_k23.h); the cost is a little accuracy (README,
 *             Speed). Every block still carries d, so kernels written
 *             for ACT_A8 read these rows unchanged.
 *   ACT_A16 - rows of block_a16: 16-bit values with a float scale per 32 (Q8_0 weights).
 *             Q8_0 is the type people choose to be indistinguishable from the original,
 *             and rounding activations to int8 as well would more than double its error
 *             (the demo model's held-out text, against F16: KL 3.3e-4 and 98.7% top-1
 *             with int8 activations, 1.4e-4 and 99.1% with exact ones); 16 bits make the
 *             activation error negligible at about the same decode cost. x86 multiplies
 *             int16 pairs (VPMADDWD); NEON splits q = 256 hi + lo into two int8 planes
 *             and runs SDOT on each, which is why |q| <= 32512 = 127 x 256. The Q8_0
 *             matrices of a file of lower-bit types are the exception where a table has
 *             matmul_q8_a8 (below; mat.act8). */
#ifndef G4_CPU_KERNELS_H
#define G4_CPU_KERNELS_H

#include "../dtype.h"
#include "../model/model.h"
#include "features.h"

#include <float.h>

#define KERNEL_TYPES 40 /* GGUF type ids 0..39 */

/* 1/d for a block's quantization scale, or 0 for a block too small to quantize: below
 * FLT_MIN, 1/d overflows to inf, and every value of the block would round to INT_MIN
 * (x86's conversion, -128 after packing) or be undefined behaviour (scalar). The
 * activation quantizers of every table and the SIMD KV-cache ones use this, so the
 * tables agree on such blocks too (all levels 0). */
static inline float inv_scale(float d) { return d >= FLT_MIN ? 1.0f / d : 0.0f; }

/* Attention weights below 2^-100 (about 8e-31) are 0 (kernels' softmax), so that neither a
 * weight nor its product with a cached value (F16 and Q8_0 values are 0 or at least 6e-8
 * in magnitude) is a subnormal float: on x86 every FMA that reads or makes one takes a
 * microcode assist of ~100 cycles. With FLT_MIN as the bound (and before, with none: the
 * SIMD exp clamps at -87, ~1e-38, which the 1 / sum scaling made subnormal), a 2048-token
 * prefill of synthetic E2B spent 29% of its time in the weighted sum, 3x the scores' time
 * for the same multiply-adds, and one thread over 512 x 2048 keys of peaky scores ran it
 * at 4-5 G MAC/s against 22-26 for flat ones. What is dropped is below 8e-31 x 65504 per
 * key, 2e-22 over 4096 keys: nothing a float output of a softmax-weighted mean of values
 * can show. */
#define SOFTMAX_MIN 0x1p-100f

typedef struct block_a8 {
    float d;       /* scale: x ~ d * qs */
    int32_t s;     /* sum of qs, for weights stored with an offset (Q4_0's -8) */
    int8_t qs[32];
} block_a8;
_Static_assert(sizeof(block_a8) == 40, "block_a8 layout");

typedef struct block_a16 {
    float d;       /* scale: x ~ d * qs, d = max|x| / A16_MAX */
    int16_t qs[32];
} block_a16;
_Static_assert(sizeof(block_a16) == 68, "block_a16 layout");
#define A16_MAX 32512 /* 127 * 256: q splits into int8 hi and lo with q = 256 hi + lo */

typedef enum { ACT_F32 = 0, ACT_A8 = 1, ACT_A16 = 2, ACT_A8S = 3 } act_format;

/* Prefill calls from cpu.c pass at most this many tokens; kernels that keep a whole call's
 * activations in another form size that part of their scratch for it (and loop over
 * longer calls, which tests and benchmarks make). */
#define KERNEL_TILE_TOKENS 256

/* Per-thread scratch a table's matmul kernels may use, in floats, for weights of `cols`
 * columns: cpu_kernels.scratch_per_col floats per column plus 64 bytes of alignment
 * slack (kernel_scratch_floats). The AVX2 sideways prefill keeps KERNEL_TILE_TOKENS
 * tokens of activations as unsigned bytes (256 bytes per column) and 16 rows unpacked
 * and transposed (22 bytes per column) there: 70 floats per column; AVX-512 needs the
 * 16 rows and 256 tokens' activation terms (one float, or for the types with half
 * scales two 32-bit values, per token and 32 columns): 22 floats per column; the scalar and NEON tables 3 floats per column (the K-quant kernels 8
 * floats per 32 columns). KERNEL_SCRATCH_FLOATS is the most any table needs (for tests
 * that run every table from one buffer); the context allocates the table's own, so
 * that a phone's NEON build does not carry x86's 256-token buffer. */
#define KERNEL_SCRATCH_PER_COL_MAX ((KERNEL_TILE_TOKENS + 24) / 4)
#define KERNEL_SCRATCH_FLOATS(cols) (KERNEL_SCRATCH_PER_COL_MAX * (int64_t)(cols) + 16)

typedef void (*matmul_fn)(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *x, int64_t ldx,
                          int64_t n, float *scratch);

/* Grouped attention's two inner loops (G query heads that share one KV head), over a run
 * of n cached rows of one type (F32 floats, F16 halves or GGUF Q8_0 blocks), row j at
 * (const uint8_t *)kv + j * stride; head dim D (a multiple of 32 for Q8_0):
 *   attn_scores: s[g * lds + j] = dot(q + g * D, K_j)            for g < G, j < n
 *   attn_wsum:   o[g * D + i] += sum_j p[g * ldp + j] * V_j[i]   for g < G, i < D
 * q and o hold G rows D floats apart. One pass over a cached row serves all G heads
 * (the SIMD versions keep a tile of heads x keys or heads x D-chunk in registers), where
 * calling dot / axpy per head re-reads and re-converts every row G times and loads and
 * stores the output once per key. */
typedef void (*attn_scores_fn)(float *s, int64_t lds, const float *q, int32_t G, const void *kv, size_t stride,
                               int64_t n, int64_t D);
typedef void (*attn_wsum_fn)(float *o, const float *p, int64_t ldp, int32_t G, const void *kv, size_t stride,
                             int64_t n, int64_t D);

/* The grouped-attention entries done row by row with a table's dot / axpy for element type
 * ET: the scalar oracle, and tables without tiled versions (NEON). */
#define ATTN_BY_ROWS(SCORES, WSUM, ET, DOT, AXPY)                                                                \
    static void SCORES(float *s, int64_t lds, const float *q, int32_t G, const void *kv, size_t stride,          \
                       int64_t n, int64_t D) {                                                                   \
        for (int32_t g = 0; g < G; g++)                                                                          \
            for (int64_t j = 0; j < n; j++)                                                                      \
                s[g * lds + j] = DOT(q + g * D, (const ET *)((const uint8_t *)kv + (size_t)j * stride), D);      \
    }                                                                                                            \
    static void WSUM(float *o, const float *p, int64_t ldp, int32_t G, const void *kv, size_t stride, int64_t n, \
                     int64_t D) {                                                                                \
        for (int32_t g = 0; g < G; g++)                                                                          \
            for (int64_t j = 0; j < n; j++)                                                                      \
                AXPY(o + g * D, (const ET *)((const uint8_t *)kv + (size_t)j * stride), p[g * ldp + j], D);      \
    }

typedef struct cpu_kernels {
    const char *isa;
    act_format act[KERNEL_TYPES];     /* activation format each weight type wants */
    matmul_fn matmul[KERNEL_TYPES];   /* NULL: type not computable */
    /* float row -> block_a8 row (cols a multiple of 32) */
    void (*quantize_a8)(const float *x, block_a8 *y, int64_t cols);
    /* float row -> block_a16 row: d = max|x| / A16_MAX, q = round-half-away(x * (1/d)),
     * bit-identical in every table */
    void (*quantize_a16)(const float *x, block_a16 *y, int64_t cols);
    /* Writing the KV cache: to_f16 converts a row with round-to-nearest-even; to_q8 is
     * GGUF's reference Q8_0 quantizer (dtype.c's, so the bytes are llama.cpp's; n a
     * multiple of 32). Both bit-identical in every table. */
    void (*to_f16)(const float *x, uint16_t *y, int64_t n);
    void (*to_q8)(const float *x, block_q8_0 *y, int64_t n);
    /* grouped attention (above) over F32, F16 and Q8_0 caches (a Q8_0 row: block b's
     * values are d_b q_b[e], d_b its F16 scale) */
    attn_scores_fn attn_scores_f32, attn_scores_f16, attn_scores_q8;
    attn_wsum_fn attn_wsum_f32, attn_wsum_f16, attn_wsum_q8;
    /* The GeGLU activation: g[i] = gelu_tanh(g[i]) * u[i], gelu_tanh(x) = 0.5 x (1 +
     * tanh(sqrt(2/pi) (x + 0.044715 x^3))) as transformers' gelu_pytorch_tanh computes it
     * (the SIMD versions use the identical x / (1 + exp(-2 y)) with a polynomial exp,
     * within 2e-7 relative of the scalar one). */
    void (*gelu_mul)(float *g, const float *u, int64_t n);
    /* Logit soft-capping: x[i] = c tanh(x[i] / c) (the scalar table with tanhf; the SIMD
     * versions within 1e-6 relative of it: a polynomial near 0, 1 - 2 / (1 + exp(2y))
     * beyond). Over a 262144-token vocabulary per decoded token it is worth a kernel. */
    void (*softcap)(float *x, int64_t n, float c);
    /* Machine probe: `iters` rounds of the ISA's widest int8 multiply-accumulate over 16
     * independent register chains; returns the multiply-adds done (the result is only
     * kept alive through *sink). */
    int64_t (*int8_peak)(int64_t iters, int32_t *sink);
    /* Machine probe: the sum of p[0..n) (wrapping), read with the ISA's widest loads. A
     * scalar loop reads memory 20-30% slower than vector loads (measured here: 2 threads,
     * 16 vs 21.5 GB/s), so it would understate the bandwidth decode is compared with. */
    uint64_t (*read_sum)(const uint64_t *p, int64_t n);
    /* floats of matmul scratch per weight column this table's kernels need (see
     * KERNEL_SCRATCH_FLOATS above) */
    int32_t scratch_per_col;
    /* float row -> block_a8 row with one scale per 256 values (ACT_A8S above; cols a
     * multiple of 32), bit-identical in every table. */
    void (*quantize_a8s)(const float *x, block_a8 *y, int64_t cols);
    /* Attention's softmax over one head's scores: x[i] = exp(x[i] - max) / sum, the sum in
     * double (the scalar table with expf; the SIMD versions' polynomial exp within 1e-6
     * relative of it), and then every x[i] below SOFTMAX_MIN set to 0 (below). Per prompt
     * row, head and layer: done in scalar code with libm's expf and fmaxf it was 7% of a
     * 3.7K-token prefill. */
    void (*softmax)(float *x, int64_t n);
    /* RMS norm: y = x / sqrt(mean(x^2) + eps) * w (w NULL: no weight) over n values, y may
     * be x; the sum of squares in double (each square exact there; sums in another order
     * differ by ~1e-16 relative, which rounding the mean to float absorbs but for
     * ~1e-9 of inputs), the scaling as (x * inv) * w in float: the same floats in every
     * table (test_kernels). A decode step norms ~10 rows of 256-1536 per
     * layer on the calling thread while the others wait: in scalar code that was ~1% of
     * E2B decode. */
    void (*rmsnorm)(float *y, const float *x, const float *w, int64_t n, float eps);
    /* Q8_0 weights x ACT_A8 rows, for the Q8_0 matrices of a file whose weights are mostly
     * fewer bits (mat.act8: e.g. the ffn_down_exps that llama.cpp's Q4_K_M writes as Q8_0
     * for 26B-A4B). Against those files' 4- to 6-bit matrices, int8 rounding of the
     * activations adds little, and VNNI multiplies int8 at twice VPDPWSSD's rate (NEON: one
     * SDOT per 16 products where the 16-bit planes take two). The AVX-512, AVX-VNNI and
     * NEON tables have one. NULL: such matrices take ACT_A16 as every Q8_0 does (the AVX2
     * table: without VNNI its int8 route for signed 8-bit weights, VPSIGNB and VPMADDUBSW,
     * saves little, and its sideways engine's int16 sums would overflow with 8-bit levels). */
    matmul_fn matmul_q8_a8;
} cpu_kernels;

static inline int64_t kernel_scratch_floats(const cpu_kernels *k, int64_t cols) {
    return (int64_t)k->scratch_per_col * cols + 16;
}

const cpu_kernels *cpu_kernels_for(cpu_isa isa); /* NULL if not built for this target */
const cpu_kernels *cpu_kernels_get(void);        /* best for this CPU (honours G4_CPU_ISA) */

/* per-ISA table fillers: copy the reference entries, then override what they implement */
void kernels_ref_fill(cpu_kernels *k);
void kernels_ref_fill_iq4(cpu_kernels *k); /* Q4_1, Q5_1, IQ4_NL, IQ4_XS (kernels_ref_iq4.c) */
void kernels_avx2_fill(cpu_kernels *k);
void kernels_avxvnni_fill(cpu_kernels *k);      /* the AVX2 table with AVX-VNNI (kernels_avxvnni.c) */
void kernels_avxvnni_evex_fill(cpu_kernels *k); /* the same in AVX-512 VL encoding: test_kernels only */
void kernels_avx512_fill(cpu_kernels *k);
/* the AVX-512 table's sideways prefill engine as its fill chose it: "16" or "32" rows per
 * step (kernels_avx512.c; G4_ZMM_ROWS forces one) */
const char *kernels_avx512_rows(void);
const char *kernels_avx512_rows_why(void); /* what decided it */
void kernels_avx512bf16_fill(cpu_kernels *k); /* the AVX-512 table, BF16 weights by VDPBF16PS */
void kernels_neon_fill(cpu_kernels *k);
void kernels_i8mm_fill(cpu_kernels *k);
/* Q2_K / Q3_K integer reference kernels (kernels_ref_k23.c), called by kernels_ref_fill */
void kernels_ref_fill_k23(cpu_kernels *k);

/* The NEON (SDOT) int8 kernels, which the i8mm table keeps for what its 4 x 4 tiles do
 * not cover (decode, the last n % 4 tokens). */
void neon_matmul_q4_0(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *x, int64_t ldx,
                      int64_t n, float *scratch);
void neon_matmul_q8_0(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *x, int64_t ldx,
                      int64_t n, float *scratch);

#endif
