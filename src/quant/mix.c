/* mix.c - which type each tensor gets when a model is quantized to a file type such as
 * Q4_K_M, decided the way llama.cpp's quantize tool decides it (src/llama-quant.cpp at
 * de3ff81; quant-formats.md §10), so that `--type q4_k_m` here gives the tensor types a
 * llama.cpp Q4_K_M file has.
 *
 * A file type names a default tensor type plus rules that raise sensitive tensors (the
 * output head and tied embeddings, attn_v, ffn_down) to a better type. Some rules count
 * tensors in llama.cpp's processing order (by layer, then by name), so a pass over a model
 * carries state: quant_mix_begin counts what the rules need, quant_mix_type is then
 * called once per tensor in that order. quant_mix_plan does both for a whole model.
 *
 * Not modelled, because they never apply to Gemma 4 or to g4's writer: user overrides
 * (--tensor-type, --token-embedding-type, --output-tensor-type, --leave-output-tensor),
 * the Falcon and "70B" special cases, and the NVFP4/Q1_0/Q2_0 file types. */
#include "quant.h"

#include "../dtype.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* ---- File types ------------------------------------------------------------------- */

static const struct {
    int32_t ftype;
    const char *name;
    int32_t type; /* default tensor type (llama_ftype_get_default_type) */
} ftypes[] = {
    {FTYPE_ALL_F32, "F32", QT_F32},       {FTYPE_F16, "F16", QT_F16},
    {FTYPE_BF16, "BF16", QT_BF16},        {FTYPE_Q4_0, "Q4_0", QT_Q4_0},
    {FTYPE_Q4_1, "Q4_1", QT_Q4_1},        {FTYPE_Q5_0, "Q5_0", QT_Q5_0},
    {FTYPE_Q5_1, "Q5_1", QT_Q5_1},        {FTYPE_Q8_0, "Q8_0", QT_Q8_0},
    {FTYPE_Q2_K, "Q2_K", QT_Q2_K},        {FTYPE_Q2_K_S, "Q2_K_S", QT_Q2_K},
    {FTYPE_Q3_K_S, "Q3_K_S", QT_Q3_K},    {FTYPE_Q3_K_M, "Q3_K_M", QT_Q3_K},
    {FTYPE_Q3_K_L, "Q3_K_L", QT_Q3_K},    {FTYPE_Q4_K_S, "Q4_K_S", QT_Q4_K},
    {FTYPE_Q4_K_M, "Q4_K_M", QT_Q4_K},    {FTYPE_Q5_K_S, "Q5_K_S", QT_Q5_K},
    {FTYPE_Q5_K_M, "Q5_K_M", QT_Q5_K},    {FTYPE_Q6_K, "Q6_K", QT_Q6_K},
    {FTYPE_IQ2_XXS, "IQ2_XXS", QT_IQ2_XXS}, {FTYPE_IQ2_XS, "IQ2_XS", QT_IQ2_XS},
    {FTYPE_IQ2_S, "IQ2_S", QT_IQ2_XS},    {FTYPE_IQ2_M, "IQ2_M", QT_IQ2_S},
    {FTYPE_IQ3_XS, "IQ3_XS", QT_IQ3_S},   {FTYPE_IQ3_XXS, "IQ3_XXS", QT_IQ3_XXS},
    {FTYPE_IQ3_S, "IQ3_S", QT_IQ3_S},     {FTYPE_IQ3_M, "IQ3_M", QT_IQ3_S},
    {FTYPE_IQ1_S, "IQ1_S", QT_IQ1_S},     {FTYPE_IQ1_M, "IQ1_M", QT_IQ1_M},
    {FTYPE_IQ4_NL, "IQ4_NL", QT_IQ4_NL},  {FTYPE_IQ4_XS, "IQ4_XS", QT_IQ4_XS},
    {FTYPE_TQ1_0, "TQ1_0", QT_TQ1_0},     {FTYPE_TQ2_0, "TQ2_0", QT_TQ2_0},
    {FTYPE_MXFP4_MOE, "MXFP4_MOE", QT_MXFP4},
};

int32_t quant_ftype_from_name(const char *s) {
    for (size_t i = 0; i < G4_ARRAY_LEN(ftypes); i++) {
        const char *a = ftypes[i].name, *b = s;
        while (*a && *b && toupper((unsigned char)*b) == *a) a++, b++;
        if (!*a && !*b) return ftypes[i].ftype;
    }
    return -1;
}

const char *quant_ftype_name(int32_t ftype) {
    for (size_t i = 0; i < G4_ARRAY_LEN(ftypes); i++)
        if (ftypes[i].ftype == ftype) return ftypes[i].name;
    return NULL;
}

int32_t quant_ftype_default_type(int32_t ftype) {
    for (size_t i = 0; i < G4_ARRAY_LEN(ftypes); i++)
        if (ftypes[i].ftype == ftype) return ftypes[i].type;
    return -1;
}

/* ---- Which tensors are quantized (§10.1, llama-quant.cpp tensor_allows_quantization) */

static bool contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

bool quant_mix_quantizable(const char *name, int32_t n_dims) {
    /* substrings llama.cpp never quantizes: norms, the MoE router, Gemma 3n/4's small
     * altup/laurel tensors and per_layer_model_proj ("not too big"), conv and RWKV
     * weights, relative position biases, and multimodal position/patch tensors */
    static const char *const never[] = {
        "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
        "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
        "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight",
        "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight",
        "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight",
        "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight",
        "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
        ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
        ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
    };
    if (n_dims < 2 || !ends_with(name, "weight")) return false;
    /* BERT's positional and token-type embeddings */
    if (!strcmp(name, "position_embd.weight") || !strcmp(name, "token_types.weight")) return false;
    for (size_t i = 0; i < G4_ARRAY_LEN(never); i++)
        if (contains(name, never[i])) return false;
    return true;
}

/* ---- Categories (§10.2 rule 3, llama-quant.cpp tensor_get_category) --------------- */

typedef enum {
    CAT_OTHER, CAT_OUTPUT, CAT_TOKEN_EMBD, CAT_ATTN_V, CAT_ATTN_K, CAT_ATTN_Q,
    CAT_ATTN_OUTPUT, CAT_FFN_UP, CAT_FFN_GATE, CAT_FFN_DOWN,
} category;

/* First match wins, in this order: attn_qkv and attn_kv_b count as attn_v (which is why
 * llama.cpp's separate attn_qkv rule never runs, §10.3), and "ffn_up" is tested before
 * "ffn_gate" (so ffn_gate_up_exps is a gate tensor only because it lacks "ffn_up"). */
static category get_category(const char *name) {
    if (!strcmp(name, "output.weight")) return CAT_OUTPUT;
    if (!strcmp(name, "token_embd.weight") || !strcmp(name, "per_layer_token_embd.weight"))
        return CAT_TOKEN_EMBD;
    if (contains(name, "attn_qkv.weight") || contains(name, "attn_kv_b.weight") ||
        contains(name, "attn_v.weight"))
        return CAT_ATTN_V;
    if (contains(name, "attn_k.weight")) return CAT_ATTN_K;
    if (contains(name, "attn_q.weight")) return CAT_ATTN_Q;
    if (contains(name, "attn_output.weight")) return CAT_ATTN_OUTPUT;
    if (contains(name, "ffn_up")) return CAT_FFN_UP;
    if (contains(name, "ffn_gate")) return CAT_FFN_GATE;
    if (contains(name, "ffn_down")) return CAT_FFN_DOWN;
    return CAT_OTHER;
}

/* ---- Order and state -------------------------------------------------------------- */

/* The N of a "blk.N." prefix, or -1 (sscanf "blk.%d." semantics). */
static int layer_of(const char *name) {
    int l = -1;
    if (sscanf(name, "blk.%d.", &l) != 1) return -1;
    return l;
}

int quant_mix_order(const char *a, const char *b) {
    int la = layer_of(a), lb = layer_of(b);
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(a, b);
}

void quant_mix_begin(quant_mix_state *st, const quant_mix_params *p, const char *const *names,
                     int64_t n) {
    memset(st, 0, sizeof *st);
    st->p = *p;
    for (int64_t i = 0; i < n; i++) {
        category c = get_category(names[i]);
        if (c == CAT_ATTN_V) st->n_attn_v++;
        if (c == CAT_OUTPUT) st->has_output = true; /* untied: embeddings keep the default */
    }
}

static bool is_block_quant(int32_t type) {
    const dtype_traits *tr = dtype_get(type);
    return tr && tr->block > 1;
}

static int32_t block_of(int32_t type) {
    const dtype_traits *tr = dtype_get(type);
    return tr ? tr->block : 1;
}

/* use_more_bits (§10.2): the first and last eighth of the layers and every third in
 * between get the better type in the _M mixes. */
static bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* ---- The rules (§10.2-10.3, llama-quant.cpp llama_tensor_get_type_impl) ------------ */

static bool ftype_in(int32_t f, const int32_t *set, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (set[i] == f) return true;
    return false;
}
#define FTYPE_IN(f, ...) ftype_in(f, (const int32_t[]){__VA_ARGS__}, sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t))

static int32_t mix_rules(quant_mix_state *st, int32_t t, const char *name, const int64_t ne[4], category cat) {
    const quant_mix_params *p = &st->p;
    const int32_t f = p->ftype;
    const int n_expert = p->n_expert > 1 ? p->n_expert : 1;
    /* In MoE models the layer of an ffn tensor comes from its name; in dense models it
     * is the running count of tensors of that category (llama-quant.cpp layer_info). */
    int n_layer = p->n_layer;

    if (cat == CAT_OUTPUT || (!st->has_output && cat == CAT_TOKEN_EMBD)) {
        /* Rule 1, the output head and tied embeddings: Q6_K, or Q8_0 where a row is not a
         * whole number of the default type's blocks. Applies to Q4_0 files too. */
        if (f == FTYPE_MXFP4_MOE || ne[0] % block_of(t) != 0) t = QT_Q8_0;
        else if (FTYPE_IN(f, FTYPE_IQ2_XXS, FTYPE_IQ2_XS, FTYPE_IQ3_XXS, FTYPE_IQ1_S, FTYPE_IQ2_S,
                          FTYPE_IQ2_M, FTYPE_IQ1_M))
            t = QT_Q5_K;
        else if (t != QT_Q8_0) t = QT_Q6_K;
    } else if (f == FTYPE_MXFP4_MOE) {
        /* expert stacks MXFP4, everything else Q8_0 */
        t = ne[2] > 1 ? QT_MXFP4 : QT_Q8_0;
    } else if (cat == CAT_TOKEN_EMBD) {
        /* Rule 2, untied token embeddings: the default, except for the tiniest mixes */
        if (FTYPE_IN(f, FTYPE_IQ2_XXS, FTYPE_IQ2_XS, FTYPE_IQ1_S, FTYPE_IQ1_M)) t = QT_Q2_K;
        else if (FTYPE_IN(f, FTYPE_IQ2_S, FTYPE_IQ2_M, FTYPE_IQ3_XXS)) t = QT_IQ3_S;
        else if (FTYPE_IN(f, FTYPE_TQ1_0, FTYPE_TQ2_0)) t = QT_Q4_K;
    } else if (FTYPE_IN(f, FTYPE_IQ2_XXS, FTYPE_IQ2_XS, FTYPE_IQ1_S, FTYPE_IQ2_S, FTYPE_IQ2_M,
                        FTYPE_IQ1_M)) {
        /* the 1- and 2-bit IQ mixes */
        bool iq3 = f == FTYPE_IQ2_S || f == FTYPE_IQ2_M;
        if (cat == CAT_ATTN_V) {
            if (p->n_gqa >= 4 || p->n_expert >= 4) t = QT_Q4_K;
            else t = iq3 ? QT_IQ3_S : QT_Q2_K;
            st->i_attn_v++;
        } else if (p->n_expert == 8 && cat == CAT_ATTN_K) {
            t = QT_Q4_K;
        } else if (cat == CAT_FFN_DOWN) {
            if (st->i_ffn_down < n_layer / 8) t = iq3 ? QT_IQ3_S : QT_Q2_K;
            st->i_ffn_down++;
        } else if (cat == CAT_ATTN_OUTPUT) {
            if (p->n_expert == 8) t = QT_Q5_K;
            else if (f == FTYPE_IQ1_S || f == FTYPE_IQ1_M) t = QT_IQ2_XXS;
            else if (iq3) t = QT_IQ3_S;
        }
    } else if (cat == CAT_ATTN_V) {
        /* attn_v is the most sensitive projection; i counts attn_v tensors, not layers */
        int i = st->i_attn_v, n = st->n_attn_v;
        if (f == FTYPE_Q2_K) t = p->n_gqa >= 4 ? QT_Q4_K : QT_Q3_K;
        else if (f == FTYPE_Q2_K_S && p->n_gqa >= 4) t = QT_Q4_K;
        else if (f == FTYPE_IQ3_XXS) t = p->n_gqa >= 4 ? QT_Q4_K : !p->has_imatrix ? QT_IQ3_S : QT_IQ3_XXS;
        else if ((f == FTYPE_IQ3_XS || f == FTYPE_IQ3_S) && p->n_gqa >= 4) t = QT_Q4_K;
        else if (f == FTYPE_IQ3_M) t = QT_Q4_K;
        else if (f == FTYPE_Q3_K_M) t = i < 2 ? QT_Q5_K : QT_Q4_K;
        else if (f == FTYPE_Q3_K_L) t = QT_Q5_K;
        else if ((f == FTYPE_IQ4_NL || f == FTYPE_IQ4_XS) && p->n_gqa >= 4) t = QT_Q5_K;
        else if ((f == FTYPE_Q4_K_M || f == FTYPE_Q5_K_M) && use_more_bits(i, n)) t = QT_Q6_K;
        else if (f == FTYPE_Q4_K_S && i < 4) t = QT_Q5_K;
        if (p->n_expert == 8) t = QT_Q8_0; /* Mixtral-style: V is cheap, keep it sharp */
        st->i_attn_v++;
    } else if (cat == CAT_ATTN_K) {
        if (p->n_expert == 8) t = QT_Q8_0;
        else if (f == FTYPE_IQ3_XS) t = QT_IQ3_XXS;
        else if (f == FTYPE_IQ3_XXS) t = QT_IQ2_S;
    } else if (cat == CAT_ATTN_Q) {
        if (f == FTYPE_IQ3_XS) t = QT_IQ3_XXS;
        else if (f == FTYPE_IQ3_XXS) t = QT_IQ2_S;
    } else if (cat == CAT_FFN_DOWN) {
        int i = n_expert > 1 ? layer_of(name) : st->i_ffn_down, n = n_layer;
        if (f == FTYPE_Q2_K) t = QT_Q3_K;
        else if (f == FTYPE_Q2_K_S) { if (i < n / 8) t = QT_Q4_K; }
        else if (f == FTYPE_IQ3_XXS && !p->has_imatrix) t = i < n / 8 ? QT_Q4_K : QT_Q3_K;
        else if (f == FTYPE_Q3_K_M) t = i < n / 16 ? QT_Q5_K : QT_Q4_K; /* non-Falcon */
        else if (f == FTYPE_IQ3_M && (i < n / 8 || (p->n_expert == 8 && use_more_bits(i, n)))) t = QT_Q4_K;
        else if (f == FTYPE_Q3_K_L) t = QT_Q5_K;
        else if (f == FTYPE_Q4_K_M) { if (use_more_bits(i, n)) t = QT_Q6_K; }
        else if (i < n / 8 && (f == FTYPE_IQ4_NL || f == FTYPE_IQ4_XS) && !p->has_imatrix) t = QT_Q5_K;
        else if (f == FTYPE_Q5_K_M && use_more_bits(i, n)) t = QT_Q6_K;
        else if (f == FTYPE_Q4_K_S && i < n / 8) t = QT_Q5_K;
        else if ((f == FTYPE_Q4_0 || f == FTYPE_Q5_0) && p->has_imatrix && i < n / 8)
            t = f == FTYPE_Q4_0 ? QT_Q4_1 : QT_Q5_1; /* guards the first ffn_down layers */
        st->i_ffn_down++;
    } else if (cat == CAT_ATTN_OUTPUT) {
        if (p->n_expert == 8) {
            if (FTYPE_IN(f, FTYPE_Q2_K, FTYPE_IQ3_XS, FTYPE_IQ3_XXS, FTYPE_Q3_K_S, FTYPE_Q3_K_M,
                         FTYPE_IQ4_NL, FTYPE_Q4_K_S, FTYPE_Q4_K_M, FTYPE_IQ3_S, FTYPE_IQ3_M,
                         FTYPE_IQ4_XS))
                t = QT_Q5_K;
        } else {
            if (f == FTYPE_Q2_K) t = QT_Q3_K;
            else if (f == FTYPE_IQ3_XXS) t = QT_IQ3_S;
            else if (f == FTYPE_Q3_K_M) t = QT_Q4_K;
            else if (f == FTYPE_Q3_K_L) t = QT_Q5_K;
            else if (f == FTYPE_IQ3_M) t = QT_Q4_K;
        }
    } else if (cat == CAT_FFN_GATE || cat == CAT_FFN_UP) {
        int32_t *ctr = cat == CAT_FFN_GATE ? &st->i_ffn_gate : &st->i_ffn_up;
        int i = n_expert > 1 ? layer_of(name) : *ctr, n = n_layer;
        if (f == FTYPE_IQ3_XS && i >= n / 8 && i < 7 * n / 8) t = QT_IQ3_XXS;
        (*ctr)++;
    }
    return t;
}

/* Rule 4 (§10.2, llama-quant.cpp tensor_type_fallback): a type whose block does not
 * divide the row length falls back to a 32-block type of similar size, and to F16 if
 * even that does not divide. */
static int32_t fallback(int32_t t, int64_t ne0) {
    if (ne0 % block_of(t) == 0) return t;
    int32_t r;
    switch (t) {
    case QT_IQ1_S: case QT_IQ1_M: case QT_IQ2_XXS: case QT_IQ2_XS: case QT_IQ2_S:
    case QT_IQ3_XXS: case QT_IQ3_S: case QT_IQ4_XS: r = QT_IQ4_NL; break;
    case QT_Q2_K: case QT_Q3_K: case QT_TQ1_0: case QT_TQ2_0: r = QT_Q4_0; break;
    case QT_Q4_K: r = QT_Q5_0; break;
    case QT_Q5_K: r = QT_Q5_1; break;
    case QT_Q6_K: r = QT_Q8_0; break;
    default: r = t; break; /* a 32-block type: nothing smaller to demote to */
    }
    return ne0 % block_of(r) == 0 ? r : QT_F16;
}

int32_t quant_mix_type(quant_mix_state *st, const char *name, int32_t n_dims,
                       const int64_t ne[4], int32_t src_type) {
    if (!quant_mix_quantizable(name, n_dims)) return src_type;
    int32_t t = quant_ftype_default_type(st->p.ftype);
    G4_ASSERT(t >= 0);
    /* F32/F16/BF16 files: every quantizable tensor simply takes the file's type */
    if (!is_block_quant(t)) return t;
    if (!st->p.pure) t = mix_rules(st, t, name, ne, get_category(name));
    return fallback(t, ne[0]);
}

/* ---- Whole model ------------------------------------------------------------------ */

static int cmp_tensor_ptr(const void *a, const void *b) {
    const quant_mix_tensor *const *x = a, *const *y = b;
    return quant_mix_order((*x)->name, (*y)->name);
}

bool quant_mix_plan(const quant_mix_params *p, quant_mix_tensor *t, int64_t n) {
    quant_mix_tensor **order = calloc((size_t)(n > 0 ? n : 1), sizeof *order);
    const char **names = calloc((size_t)(n > 0 ? n : 1), sizeof *names);
    if (!order || !names) { free(order); free(names); return false; }
    for (int64_t i = 0; i < n; i++) { order[i] = &t[i]; names[i] = t[i].name; }
    qsort(order, (size_t)n, sizeof *order, cmp_tensor_ptr);
    quant_mix_state st;
    quant_mix_begin(&st, p, names, n);
    for (int64_t i = 0; i < n; i++)
        order[i]->type = quant_mix_type(&st, order[i]->name, order[i]->n_dims, order[i]->ne, order[i]->src_type);
    free(order);
    free(names);
    return true;
}
