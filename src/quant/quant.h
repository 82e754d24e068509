/* quant.h - GGUF block quantization formats beyond the ones dtype.c does itself:
 * Q4_1, Q5_0, Q5_1, Q8_1 and MXFP4 (legacy.c), the K-quants Q2_K..Q6_K and Q8_K
 * (kquants.c), IQ4_NL and IQ4_XS (iq4.c), the importance-matrix quantizers of every type
 * that uses one (quant.c dispatches), and the per-tensor type choice of llama.cpp's
 * quantize tool for the K-quant mixes (mix.c).
 *
 * Everything here follows shared/design/quant-formats.md (llama.cpp de3ff81) bit for bit:
 * dequantization is exact, and the quantizers write the bytes llama.cpp's quantize tool
 * writes on x86-64. Section numbers (§N) below refer to that document. The quantizers
 * must be compiled without FP contraction (-ffp-contract=off): a fused multiply-add
 * changes which level a search picks (§1).
 *
 * Conventions shared by every function below:
 *   - n is the number of elements, a whole number of the type's blocks;
 *   - blocks are written and read as little-endian bytes (the struct layouts are the file
 *     layouts; g4 runs on little-endian hosts only, which the check below enforces);
 *   - quantizers never read past n elements of src and never write past the row's bytes;
 *   - a `qw` importance matrix holds one non-negative weight per column of the row, and
 *     the imatrix quantizers take exactly one row (their statistics span the row, §5.4);
 *     a 3-D expert stack has one such vector per expert (llama.cpp's imatrix files store
 *     ne[0]*ne[2] values), which the caller selects for each expert's rows. */
#ifndef G4_QUANT_H
#define G4_QUANT_H

#include "../base.h"

#include <math.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "g4's block structs are GGUF's little-endian layouts; big-endian hosts are unsupported"
#endif

/* ---- Type ids (ggml_type, as stored in GGUF tensor records; §2) ------------------ */

enum {
    QT_F32 = 0, QT_F16 = 1, QT_Q4_0 = 2, QT_Q4_1 = 3, QT_Q5_0 = 6, QT_Q5_1 = 7,
    QT_Q8_0 = 8, QT_Q8_1 = 9, QT_Q2_K = 10, QT_Q3_K = 11, QT_Q4_K = 12, QT_Q5_K = 13,
    QT_Q6_K = 14, QT_Q8_K = 15, QT_IQ2_XXS = 16, QT_IQ2_XS = 17, QT_IQ3_XXS = 18,
    QT_IQ1_S = 19, QT_IQ4_NL = 20, QT_IQ3_S = 21, QT_IQ2_S = 22, QT_IQ4_XS = 23,
    QT_IQ1_M = 29, QT_BF16 = 30, QT_TQ1_0 = 34, QT_TQ2_0 = 35, QT_MXFP4 = 39,
};

/* The ids g4.h's public g4_dtype enum names must agree with these. */
_Static_assert((int)QT_F32 == (int)G4_DTYPE_F32 && (int)QT_F16 == (int)G4_DTYPE_F16 &&
                   (int)QT_Q4_0 == (int)G4_DTYPE_Q4_0 && (int)QT_Q8_0 == (int)G4_DTYPE_Q8_0 &&
                   (int)QT_BF16 == (int)G4_DTYPE_BF16,
               "ggml type ids");

#define QK_K 256 /* elements per K-quant / IQ4_XS super-block */

/* ---- Block layouts (§5.1, §6.0, §7.1, §8). Field order is file order. ------------ */

typedef struct { uint16_t d, m; uint8_t qs[16]; } block_q4_1;            /* x = q*d + m */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } block_q5_0; /* x = (q-16)*d */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } block_q5_1; /* x = q*d + m */
typedef struct { uint16_t d, s; int8_t qs[32]; } block_q8_1;   /* s = fp16(sum(qs) * d) */
typedef struct { uint8_t e; uint8_t qs[16]; } block_mxfp4;     /* E8M0 scale + E2M1 codes */
_Static_assert(sizeof(block_q4_1) == 20, "wrong q4_1 block size/padding");
_Static_assert(sizeof(block_q5_0) == 22, "wrong q5_0 block size/padding");
_Static_assert(sizeof(block_q5_1) == 24, "wrong q5_1 block size/padding");
_Static_assert(sizeof(block_q8_1) == 36, "wrong q8_1 block size/padding");
_Static_assert(sizeof(block_mxfp4) == 17, "wrong mxfp4 block size/padding");

typedef struct {
    uint8_t scales[16]; /* sub-block j: scale in the low nibble, min in the high nibble */
    uint8_t qs[64];     /* 2-bit levels, pattern P2 */
    uint16_t d, dmin;   /* fp16 super-scales of the scales and of the mins */
} block_q2_K;
typedef struct {
    uint8_t hmask[32];  /* pattern PH: set = level >= 0 */
    uint8_t qs[64];     /* low 2 bits, pattern P2 */
    uint8_t scales[12]; /* sixteen 6-bit scales, biased by 32 */
    uint16_t d;
} block_q3_K;
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12]; /* eight 6-bit scales and eight 6-bit mins */
    uint8_t qs[128];    /* 4-bit levels, pattern P4 */
} block_q4_K;
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[32];     /* fifth bit, pattern PH */
    uint8_t qs[128];    /* low 4 bits, pattern P4 */
} block_q5_K;
typedef struct {
    uint8_t ql[128];    /* low 4 bits */
    uint8_t qh[64];     /* high 2 bits */
    int8_t scales[16];  /* one signed scale per 16 elements */
    uint16_t d;
} block_q6_K;
typedef struct {
    float d;            /* float32 scale, negative when the largest value is positive */
    int8_t qs[QK_K];
    int16_t bsums[16];  /* sum of each 16 consecutive qs */
} block_q8_K;
typedef struct { uint16_t d; uint8_t qs[16]; } block_iq4_nl;
typedef struct {
    uint16_t d;
    uint16_t scales_h;  /* high 2 bits of the eight 6-bit sub-block scales */
    uint8_t scales_l[4];/* low 4 bits, two per byte */
    uint8_t qs[128];
} block_iq4_xs;
_Static_assert(sizeof(block_q2_K) == 84, "wrong q2_K block size/padding");
_Static_assert(sizeof(block_q3_K) == 110, "wrong q3_K block size/padding");
_Static_assert(sizeof(block_q4_K) == 144, "wrong q4_K block size/padding");
_Static_assert(sizeof(block_q5_K) == 176, "wrong q5_K block size/padding");
_Static_assert(sizeof(block_q6_K) == 210, "wrong q6_K block size/padding");
_Static_assert(sizeof(block_q8_K) == 292, "wrong q8_K block size/padding");
_Static_assert(sizeof(block_iq4_nl) == 18, "wrong iq4_nl block size/padding");
_Static_assert(sizeof(block_iq4_xs) == 136, "wrong iq4_xs block size/padding");

/* The 16 non-linear levels shared by IQ4_NL and IQ4_XS (§7; data from llama.cpp, MIT). */
extern const int8_t quant_iq4nl_values[16];

/* ---- Rounding helpers (§1) ------------------------------------------------------- */

/* Nearest integer, ties to even, the way llama.cpp's nearest_int does it: adding 1.5*2^23
 * leaves the rounded integer in the low mantissa bits. Exact for |v| < 2^22, which every
 * caller respects; defined (if meaningless) for any other input, NaN included, so a bad
 * value can never trip a float-to-int conversion trap. */
/* Q4_K/Q5_K: the 6-bit scale and min of sub-block j (0..7) from the 12 scale bytes S
 * (quant-formats.md §6.0). Shared by the quantizers, the reference kernels and the NEON
 * kernels. */
static inline void k4_scale_min(const uint8_t *S, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = S[j] & 63;
        *m = S[j + 4] & 63;
    } else {
        *sc = (S[j + 4] & 15) | (S[j - 4] >> 6) << 4;
        *m = (S[j + 4] >> 4) | (S[j] >> 6) << 4;
    }
}

static inline int quant_rne(float v) {
    float t = v + 12582912.0f;
    uint32_t u;
    memcpy(&u, &t, 4);
    return (int)(u & 0x7fffffu) - 0x400000;
}

/* Truncation toward zero of a level candidate t (a C float-to-int cast) for the legacy
 * quantizers, where t lies in [0, nmax + 0.5] whenever the block's scale is finite. Where
 * llama.cpp's reference is undefined (|d| so small that 1/d overflows, §13) t is infinite
 * or NaN; x86-64 then yields level 0, and so does this, without a float-cast trap. */
static inline int quant_trunc_level(float t) {
    return t >= 0.0f && t < 256.0f ? (int)t : 0;
}

/* Round half away from zero (C roundf) to an int8 level, for Q8_0 and Q8_1. Non-finite
 * or out-of-range products (1/d overflow, §13) give 0, as on x86-64. */
static inline int8_t quant_round_i8(float v) {
    float r = roundf(v);
    return (int8_t)(r >= -128.0f && r <= 127.0f ? r : 0.0f);
}

/* The element of largest magnitude, keeping its sign; the first one wins a tie (§1). */
static inline float quant_signed_max(const float *x, int n, float *amax_out) {
    float amax = 0.0f, mx = 0.0f;
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > amax) { amax = a; mx = x[i]; }
    }
    if (amax_out) *amax_out = amax;
    return mx;
}

/* ---- Scale searches (§6.1-6.4), shared by the legacy imatrix paths and the K-quants -- */

/* AFFINE (§6.1): fits x ~ scale*L + lo with L in [0, nmax] and lo <= 0, weights w.
 * Writes L[0..n-1], *m_out = -lo, returns scale. abs_err selects |t| over t*t. */
float quant_search_affine(int n, int nmax, const float *x, const float *w, uint8_t *L,
                          float *m_out, float rmin, float rdelta, int nstep, bool abs_err);
/* SYM (§6.2): signed scale with L in [0, 2*nmax-1] biased by nmax; w NULL means x*x. */
float quant_search_sym(int n, int nmax, const float *x, uint8_t *L, const float *w);

/* ---- Per-type row functions ------------------------------------------------------ */
/* dequantize: n elements of src blocks to floats, exact (§1.1).
 * quantize: n floats to blocks. qw NULL is the reference quantizer (what llama.cpp's
 * quantize tool writes without --imatrix); non-NULL is the importance-matrix variant and
 * then n must be one whole row. Types whose llama.cpp quantizer ignores the imatrix
 * (Q8_0, Q8_1, Q8_K, MXFP4) have no qw argument. */

void q4_1_dequantize_row(const void *src, float *dst, int64_t n);
void q5_0_dequantize_row(const void *src, float *dst, int64_t n);
void q5_1_dequantize_row(const void *src, float *dst, int64_t n);
void q8_1_dequantize_row(const void *src, float *dst, int64_t n);
void mxfp4_dequantize_row(const void *src, float *dst, int64_t n);
void q4_0_quantize_row_imatrix(const float *src, void *dst, int64_t n, const float *qw);
void q4_1_quantize_row(const float *src, void *dst, int64_t n, const float *qw);
void q5_0_quantize_row(const float *src, void *dst, int64_t n, const float *qw);
void q5_1_quantize_row(const float *src, void *dst, int64_t n, const float *qw);
void q8_1_quantize_row(const float *src, void *dst, int64_t n);
void mxfp4_quantize_row(const float *src, void *dst, int64_t n);

void q2_K_dequantize_row(const void *src, float *dst, int64_t n);
void q3_K_dequantize_row(const void *src, float *dst, int64_t n);
void q4_K_dequantize_row(const void *src, float *dst, int64_t n);
void q5_K_dequantize_row(const void *src, float *dst, int64_t n);
void q6_K_dequantize_row(const void *src, float *dst, int64_t n);
void q8_K_dequantize_row(const void *src, float *dst, int64_t n);
void q2_K_quantize_row(const float *src, void *dst, int64_t n, const float *qw);
void q3_K_quantize_row(const float *src, void *dst, int64_t n, const float *qw);
void q4_K_quantize_row(const float *src, void *dst, int64_t n, const float *qw);
void q5_K_quantize_row(const float *src, void *dst, int64_t n, const float *qw);
void q6_K_quantize_row(const float *src, void *dst, int64_t n, const float *qw);
/* Q8_K is an activation type (never in files): the reference quantizer, with bsums
 * written as zeros for an all-zero block where llama.cpp leaves them unwritten (§13). */
void q8_K_quantize_row(const float *src, void *dst, int64_t n);

void iq4_nl_dequantize_row(const void *src, float *dst, int64_t n);
void iq4_xs_dequantize_row(const void *src, float *dst, int64_t n);
/* What llama.cpp's quantize tool writes (its quantize_iq4_nl, ntry 7, §7.2). */
void iq4_nl_quantize_row(const float *src, void *dst, int64_t n, const float *qw);
/* llama.cpp's quantize_row_iq4_nl_ref (ntry -1), which no file is written with; kept to
 * check the §12.1 known answer. An all-zero block, undefined there, gets d = 0 and every
 * index 8 (the level nearest 0), as the quantize tool writes it. */
void iq4_nl_quantize_row_ref(const float *src, void *dst, int64_t n);
void iq4_xs_quantize_row(const float *src, void *dst, int64_t n, const float *qw);

/* ---- Dispatch (quant.c) ---------------------------------------------------------- */

/* True for the types whose llama.cpp quantizer uses an importance matrix. */
bool quant_uses_imatrix(int32_t type);

/* Quantizes one row of n floats to type with per-column importance weights qw[0..n-1]
 * (§5.4, §6.6, §7.2), byte-identical to llama.cpp's quantize tool run with --imatrix.
 * qw NULL, or a type that ignores the imatrix, gives quantize_row's reference output.
 * type must be one quantize_row supports. */
void quantize_row_imatrix(int32_t type, const float *src, void *dst, int64_t n, const float *qw);

/* ---- Tensor-type choice of llama.cpp's quantize tool (mix.c, §10) ---------------- */

/* File types (llama_ftype, stored as general.file_type; §2). */
enum {
    FTYPE_ALL_F32 = 0, FTYPE_F16 = 1, FTYPE_Q4_0 = 2, FTYPE_Q4_1 = 3, FTYPE_Q8_0 = 7,
    FTYPE_Q5_0 = 8, FTYPE_Q5_1 = 9, FTYPE_Q2_K = 10, FTYPE_Q3_K_S = 11, FTYPE_Q3_K_M = 12,
    FTYPE_Q3_K_L = 13, FTYPE_Q4_K_S = 14, FTYPE_Q4_K_M = 15, FTYPE_Q5_K_S = 16,
    FTYPE_Q5_K_M = 17, FTYPE_Q6_K = 18, FTYPE_IQ2_XXS = 19, FTYPE_IQ2_XS = 20,
    FTYPE_Q2_K_S = 21, FTYPE_IQ3_XS = 22, FTYPE_IQ3_XXS = 23, FTYPE_IQ1_S = 24,
    FTYPE_IQ4_NL = 25, FTYPE_IQ3_S = 26, FTYPE_IQ3_M = 27, FTYPE_IQ2_S = 28,
    FTYPE_IQ2_M = 29, FTYPE_IQ4_XS = 30, FTYPE_IQ1_M = 31, FTYPE_BF16 = 32,
    FTYPE_TQ1_0 = 36, FTYPE_TQ2_0 = 37, FTYPE_MXFP4_MOE = 38,
};

/* The file type named by s, case-insensitive ("q4_k_m", "Q8_0", "f16", "bf16", "f32"),
 * or -1. */
int32_t quant_ftype_from_name(const char *s);
/* The canonical name ("Q4_K_M") of a file type, or NULL. */
const char *quant_ftype_name(int32_t ftype);
/* The tensor type a file type uses by default (its "base" type), or -1 if unknown. */
int32_t quant_ftype_default_type(int32_t ftype);

/* One tensor of the model being quantized. */
typedef struct quant_mix_tensor {
    const char *name;   /* GGUF name: "token_embd.weight", "blk.3.attn_v.weight", ... */
    int32_t n_dims;     /* 1..4 */
    int64_t ne[4];      /* ggml order: ne[0] is the row length; unused dims are 1 */
    int32_t src_type;   /* the type it has in the input file */
    int32_t type;       /* OUT (quant_mix_plan): the type llama.cpp would write */
} quant_mix_tensor;

/* Model facts the rules read. Zero-initialise and fill what applies. */
typedef struct quant_mix_params {
    int32_t ftype;      /* FTYPE_* */
    int32_t n_layer;    /* block count, MTP layers included (llama.cpp n_layer_all) */
    int32_t n_expert;   /* experts per MoE layer; 0 or 1 for dense models */
    int32_t n_gqa;      /* n_head / n_head_kv of layer 0 (0 if unknown) */
    bool has_imatrix;   /* an importance matrix will be used */
    bool pure;          /* --pure: only the fallback rule, no mix rules */
} quant_mix_params;

/* The running state of one pass over a model's tensors: some rules count tensors
 * (attn_v, and ffn_down in dense models) in llama.cpp's processing order. */
typedef struct quant_mix_state {
    quant_mix_params p;
    int32_t n_attn_v;       /* attn_v-category tensors in the model */
    bool has_output;        /* output.weight exists, so the embeddings are untied */
    int32_t i_attn_v, i_ffn_down, i_ffn_gate, i_ffn_up; /* counters, advanced per call */
} quant_mix_state;

/* Starts a pass over the names[0..n-1] of every tensor of the model. */
void quant_mix_begin(quant_mix_state *st, const quant_mix_params *p, const char *const *names,
                     int64_t n);
/* The type of one tensor. Must be called for every tensor, quantized or not, in
 * llama.cpp's order (quant_mix_order) for the counting rules to agree with it. */
int32_t quant_mix_type(quant_mix_state *st, const char *name, int32_t n_dims,
                       const int64_t ne[4], int32_t src_type);
/* Whole model in one call: sorts a copy of the order, runs begin + type over it and
 * fills t[i].type. Returns false on an allocation failure. */
bool quant_mix_plan(const quant_mix_params *p, quant_mix_tensor *t, int64_t n);
/* llama.cpp's tensor order (§10.1): by the layer number of "blk.N." (names without it
 * first), then by name (strcmp). A qsort-style comparison of two names. */
int quant_mix_order(const char *a, const char *b);
/* True if llama.cpp's quantize tool quantizes a tensor of this name and rank (§10.1);
 * false means it is copied unchanged. */
bool quant_mix_quantizable(const char *name, int32_t n_dims);

#endif /* G4_QUANT_H */
