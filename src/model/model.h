/* model.h - the loaded model: hyper-parameters, and every weight bound to a named field.
 *
 * Large matrices stay where the checkpoint put them (a `mat` view into the mapping, in
 * any computable storage type). Vectors (norm weights, scales) are converted to float at
 * load time into one owned block: they are tiny and read on every token.
 *
 * The X-macro lists below are the single source of tensor names: the loader, the shape
 * checks, `g4 inspect` and the GGUF writer all read them. Columns: field, GGUF name
 * (after "blk.N."), Hugging Face name (after "layers.N."), ggml shape (ne0, ne1, ne2),
 * and when the tensor exists. Shapes use the locals H (hidden), P (per-layer input
 * width), E (experts), FE (expert width), F (this layer's MLP width), D (this layer's
 * head dim), Q (= n_head * D), KV (= this layer's KV heads * D). */
#ifndef G4_MODEL_H
#define G4_MODEL_H

#include "../format/gguf.h"
#include "../format/safetensors.h"
#include "config.h"

/* A 2-D matrix (or one matrix of a 3-D stack) in its storage type, rows of `cols`. */
typedef struct mat {
    const uint8_t *data;
    int32_t type;
    int64_t rows, cols;
    uint64_t row_bytes;
    /* Q8_0 matrices of a file whose weights are mostly fewer bits (set at load, model.c):
     * they take int8 activations where the kernel table has cpu_kernels.matmul_q8_a8 */
    bool act8;
} mat;

/* when-conditions */
#define W_ALL 0    /* every layer */
#define W_OWNKV 1  /* layers that compute their own K/V */
#define W_OWNV 2   /* layers that compute their own K/V and have a V projection */
#define W_PLE 3    /* models with per-layer embeddings */
#define W_MOE 4    /* mixture-of-experts models */

/*        field           GGUF                        HF                                         ne0 ne1 ne2  when */
#define LAYER_VECS(X)                                                                                                  \
    X(attn_norm,       "attn_norm.weight",          "input_layernorm.weight",                  H,  1,  1, W_ALL)  \
    X(q_norm,          "attn_q_norm.weight",        "self_attn.q_norm.weight",                 D,  1,  1, W_ALL)  \
    X(k_norm,          "attn_k_norm.weight",        "self_attn.k_norm.weight",                 D,  1,  1, W_OWNKV) \
    X(post_attn_norm,  "post_attention_norm.weight","post_attention_layernorm.weight",         H,  1,  1, W_ALL)  \
    X(ffn_norm,        "ffn_norm.weight",           "pre_feedforward_layernorm.weight",        H,  1,  1, W_ALL)  \
    X(post_ffn_norm,   "post_ffw_norm.weight",      "post_feedforward_layernorm.weight",       H,  1,  1, W_ALL)  \
    X(out_scale,       "layer_output_scale.weight", "layer_scalar",                            1,  1,  1, W_ALL)  \
    X(ple_post_norm,   "post_norm.weight",          "post_per_layer_input_norm.weight",        H,  1,  1, W_PLE)  \
    X(router_scale,    "ffn_gate_inp.scale",        "router.scale",                            H,  1,  1, W_MOE)  \
    X(expert_scale,    "ffn_down_exps.scale",       "router.per_expert_scale",                 E,  1,  1, W_MOE)  \
    X(pre_ffn_norm_2,  "pre_ffw_norm_2.weight",     "pre_feedforward_layernorm_2.weight",      H,  1,  1, W_MOE)  \
    X(post_ffn_norm_1, "post_ffw_norm_1.weight",    "post_feedforward_layernorm_1.weight",     H,  1,  1, W_MOE)  \
    X(post_ffn_norm_2, "post_ffw_norm_2.weight",    "post_feedforward_layernorm_2.weight",     H,  1,  1, W_MOE)

#define LAYER_MATS(X)                                                                                                  \
    X(wq,              "attn_q.weight",             "self_attn.q_proj.weight",                 H,  Q,  1, W_ALL)  \
    X(wk,              "attn_k.weight",             "self_attn.k_proj.weight",                 H,  KV, 1, W_OWNKV) \
    X(wv,              "attn_v.weight",             "self_attn.v_proj.weight",                 H,  KV, 1, W_OWNV) \
    X(wo,              "attn_output.weight",        "self_attn.o_proj.weight",                 Q,  H,  1, W_ALL)  \
    X(ffn_gate,        "ffn_gate.weight",           "mlp.gate_proj.weight",                    H,  F,  1, W_ALL)  \
    X(ffn_up,          "ffn_up.weight",             "mlp.up_proj.weight",                      H,  F,  1, W_ALL)  \
    X(ffn_down,        "ffn_down.weight",           "mlp.down_proj.weight",                    F,  H,  1, W_ALL)  \
    X(ple_gate,        "inp_gate.weight",           "per_layer_input_gate.weight",             H,  P,  1, W_PLE)  \
    X(ple_proj,        "proj.weight",               "per_layer_projection.weight",             P,  H,  1, W_PLE)  \
    X(router,          "ffn_gate_inp.weight",       "router.proj.weight",                      H,  E,  1, W_MOE)  \
    X(exp_gate_up,     "ffn_gate_up_exps.weight",   "experts.gate_up_proj",                    H, 2*FE, E, W_MOE) \
    X(exp_down,        "ffn_down_exps.weight",      "experts.down_proj",                       FE, H,  E, W_MOE)

typedef struct layer_weights {
#define X_VEC(f, g, h, a, b, c, w) const float *f;
#define X_MAT(f, g, h, a, b, c, w) mat f;
    LAYER_VECS(X_VEC)
    LAYER_MATS(X_MAT)
#undef X_VEC
#undef X_MAT
} layer_weights;

struct g4_model {
    g4_hparams hp;
    g4_model_info info;
    bool is_gguf;
    gguf_file gguf;
    st_checkpoint st;
    const tensor_dir *dir;
    char *path;

    mat tok_embd;      /* (V, H)          checkpoint: embed_tokens / token_embd */
    mat output;        /* (V, H)          tied: the same bytes as tok_embd unless output.weight exists */
    const float *output_norm;        /* (H) */
    mat ple_embd;      /* (V_ple, L*P)    embed_tokens_per_layer / per_layer_token_embd */
    mat ple_model_proj;/* (L*P, H)        per_layer_model_projection / per_layer_model_proj */
    const float *ple_proj_norm;      /* (P) */
    layer_weights *layers;           /* n_layer */

    float *rope_freq_swa;    /* (head_dim_swa/2) angle per position; 0 = no rotation */
    float *rope_freq_global; /* (head_dim_global/2) */
    float *rope_factors;     /* (head_dim_global/2) llama.cpp rope_freqs: 1 rotates, 1e30 does not */
    float embd_scale;        /* sqrt(H) rounded to bf16, as transformers/JAX apply it */
    float ple_embd_scale;    /* sqrt(P) rounded to bf16 */

    float **owned_vecs;      /* owned storage behind every `const float *` above */
    int64_t n_owned_vecs;
};

/* Whether layer l of hp has the tensors of a LAYER_VECS/LAYER_MATS `when` column. */
static inline bool layer_has(const g4_hparams *hp, int32_t l, int when) {
    const layer_config *lc = &hp->layer[l];
    switch (when) {
    case W_OWNKV: return lc->kv_source == l;
    case W_OWNV: return lc->kv_source == l && lc->has_v;
    case W_PLE: return hp->n_embd_per_layer > 0;
    case W_MOE: return hp->n_expert > 0;
    default: return true;
    }
}

/* The row-major matrix at stack index i of a 2-D or 3-D tensor view. */
static inline mat mat_index(mat m, int64_t i) {
    m.data += (uint64_t)i * (uint64_t)m.rows * m.row_bytes;
    return m;
}

/* Unmaps what reading row r of a table looked up one row per token left mapped (the
 * file stays in the page cache); see model.c. Only for a matrix of an opened model, whose
 * data is a read-only private file mapping: on heap memory MADV_DONTNEED would zero it. */
void mat_unmap_row(const mat *t, int64_t r);

/* Calls fn for every matrix the kernels multiply (the output head, the per-layer model
 * projection, each layer's LAYER_MATS) that the model has, with how many stacked copies
 * it holds (an expert stack: n_expert). */
void model_for_each_mat(g4_model *m, void (*fn)(mat *w, int64_t copies, void *user), void *user);

#endif
