/* model.c - opening a checkpoint (GGUF file or HF safetensors directory), reading its
 * configuration and binding every tensor the forward pass uses to a field of g4_model,
 * with its shape checked against the configuration. Nothing is copied except small
 * vectors; a failure anywhere releases everything and names the file and the tensor. */
#include "model.h"
#include "../dtype.h"

#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct binder {
    g4_model *m;
    const char *prefix;   /* HF: "model.language_model." or "model."; GGUF: "" */
    float **owned;        /* vectors converted to float */
    int64_t n_owned, cap_owned;
    g4_error *err;
} binder;

static void tensor_name(const binder *b, char *out, size_t n, int32_t layer, const char *gguf, const char *hf) {
    if (b->m->is_gguf) {
        if (layer >= 0) snprintf(out, n, "blk.%d.%s", layer, gguf);
        else snprintf(out, n, "%s", gguf);
    } else {
        if (layer >= 0) snprintf(out, n, "%slayers.%d.%s", b->prefix, layer, hf);
        else snprintf(out, n, "%s%s", b->prefix, hf);
    }
}

/* Finds a tensor and checks its shape; NULL (with err set) when absent or wrong. */
static const tensor_entry *find_checked(binder *b, const char *name, int64_t ne0, int64_t ne1, int64_t ne2) {
    const tensor_entry *t = tensor_dir_find(b->m->dir, name);
    if (!t) {
        g4_fail(b->err, G4_ERR_FORMAT, "%s: missing tensor '%s'", b->m->path, name);
        return NULL;
    }
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != ne2 || t->ne[3] != 1) {
        g4_fail(b->err, G4_ERR_FORMAT, "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld, %lld] (ggml order)",
                t->file, name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                (long long)ne0, (long long)ne1, (long long)ne2);
        return NULL;
    }
    const dtype_traits *tr = dtype_get(t->type);
    if (!tr || !tr->computable) {
        g4_fail(b->err, G4_ERR_UNSUPPORTED, "%s: tensor '%s' has storage type %s, which g4 cannot compute with yet",
                t->file, name, tr ? tr->name : "(unsupported safetensors dtype)");
        return NULL;
    }
    b->m->info.n_params += tensor_nelem(t);
    b->m->info.weight_bytes += t->nbytes;
    return t;
}

static bool bind_mat(binder *b, mat *out, const char *name, int64_t ne0, int64_t ne1, int64_t ne2) {
    const tensor_entry *t = find_checked(b, name, ne0, ne1, ne2);
    if (!t) return false;
    uint64_t rb = 0;
    dtype_row_bytes(t->type, ne0, &rb);
    *out = (mat){t->data, t->type, ne1, ne0, rb, false};
    return true;
}

static bool bind_vec(binder *b, const float **out, const char *name, int64_t n) {
    const tensor_entry *t = find_checked(b, name, n, 1, 1);
    if (!t) return false;
    if (b->n_owned == b->cap_owned) {
        int64_t nc = b->cap_owned ? 2 * b->cap_owned : 64;
        float **no = realloc(b->owned, (size_t)nc * sizeof *no);
        if (!no) { g4_fail(b->err, G4_ERR_NOMEM, "out of memory"); return false; }
        b->owned = no;
        b->cap_owned = nc;
    }
    float *v = g4_malloc((size_t)n * sizeof *v);
    if (!v) { g4_fail(b->err, G4_ERR_NOMEM, "out of memory"); return false; }
    dequantize_row(t->type, t->data, v, n);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) {
            free(v);
            g4_fail(b->err, G4_ERR_FORMAT, "%s: tensor '%s' holds a non-finite value", t->file, name);
            return false;
        }
    b->owned[b->n_owned++] = v;
    *out = v;
    return true;
}

static bool bind_layers(binder *b) {
    g4_model *m = b->m;
    const g4_hparams *hp = &m->hp;
    char name[G4_MAX_NAME + 64];
    const int64_t H = hp->n_embd, P = hp->n_embd_per_layer, E = hp->n_expert, FE = hp->n_ff_expert;
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const layer_config *lc = &hp->layer[l];
        layer_weights *lw = &m->layers[l];
        const int64_t D = lc->head_dim, F = lc->n_ff, Q = (int64_t)hp->n_head * D, KV = (int64_t)lc->n_kv_head * D;
        (void)Q; (void)KV; (void)F; (void)FE; (void)P; (void)E;
#define X_VEC(f, g, h, a, bb, c, w)                                                  \
        if (layer_has(hp, l, w)) {                                                 \
            tensor_name(b, name, sizeof name, l, g, h);                              \
            if (!bind_vec(b, &lw->f, name, (a) * (bb) * (c))) return false;          \
        }
#define X_MAT(f, g, h, a, bb, c, w)                                                  \
        if (layer_has(hp, l, w)) {                                                 \
            tensor_name(b, name, sizeof name, l, g, h);                              \
            if (!bind_mat(b, &lw->f, name, a, bb, c)) return false;                  \
        }
        LAYER_VECS(X_VEC)
        LAYER_MATS(X_MAT)
#undef X_VEC
#undef X_MAT
    }
    return true;
}

static bool bind_globals(binder *b) {
    g4_model *m = b->m;
    const g4_hparams *hp = &m->hp;
    char name[G4_MAX_NAME + 64];
    const int64_t H = hp->n_embd, LP = (int64_t)hp->n_layer * hp->n_embd_per_layer;
    tensor_name(b, name, sizeof name, -1, "token_embd.weight", "embed_tokens.weight");
    if (!bind_mat(b, &m->tok_embd, name, H, hp->n_vocab, 1)) return false;
    m->output = m->tok_embd;
    if (m->is_gguf && tensor_dir_find(m->dir, "output.weight") && !bind_mat(b, &m->output, "output.weight", H, hp->n_vocab, 1))
        return false;
    tensor_name(b, name, sizeof name, -1, "output_norm.weight", "norm.weight");
    if (!bind_vec(b, &m->output_norm, name, H)) return false;
    if (hp->n_embd_per_layer > 0) {
        tensor_name(b, name, sizeof name, -1, "per_layer_token_embd.weight", "embed_tokens_per_layer.weight");
        if (!bind_mat(b, &m->ple_embd, name, LP, hp->n_vocab_per_layer, 1)) return false;
        tensor_name(b, name, sizeof name, -1, "per_layer_model_proj.weight", "per_layer_model_projection.weight");
        if (!bind_mat(b, &m->ple_model_proj, name, H, LP, 1)) return false;
        tensor_name(b, name, sizeof name, -1, "per_layer_proj_norm.weight", "per_layer_projection_norm.weight");
        if (!bind_vec(b, &m->ple_proj_norm, name, hp->n_embd_per_layer)) return false;
    }
    return true;
}

void model_for_each_mat(g4_model *m, void (*fn)(mat *w, int64_t copies, void *user), void *user) {
    const g4_hparams *hp = &m->hp;
    const int64_t E = G4_MAX(hp->n_expert, 1);
    mat *glob[2] = {&m->output, &m->ple_model_proj};
    for (int g = 0; g < 2; g++)
        if (glob[g]->data) fn(glob[g], 1, user);
    for (int32_t l = 0; l < hp->n_layer; l++) {
        layer_weights *lw = &m->layers[l];
#define X_MAT(f, g, h, a, bb, c, w) if (lw->f.data) fn(&lw->f, (c) > 1 ? E : 1, user);
        LAYER_MATS(X_MAT)
#undef X_MAT
    }
}

/* mat.act8: the Q8_0 matrices of a file whose multiplied matrices are mostly (by bytes)
 * stored in fewer bits take int8 activations, as with the Q8_0 tensors llama.cpp's K-quant
 * mixes write (26B-A4B's ffn_down_exps at Q4_K_M) their error is small beside the file's
 * own; in a Q8_0 file they keep 16-bit ones (kernels.h, ACT_A16). The token embedding
 * counts as the (tied) output head. */
typedef struct act8_count { uint64_t q8, fewer; } act8_count;

static void count_bytes(mat *w, int64_t copies, void *user) {
    act8_count *c = user;
    const dtype_traits *tr = dtype_get(w->type);
    const uint64_t bytes = (uint64_t)copies * (uint64_t)w->rows * w->row_bytes;
    if (w->type == G4_DTYPE_Q8_0) c->q8 += bytes;
    else if (tr && tr->block > 1) c->fewer += bytes;
}

static void set_act8(mat *w, int64_t copies, void *user) {
    (void)copies;
    const act8_count *c = user;
    w->act8 = w->type == G4_DTYPE_Q8_0 && c->fewer > c->q8;
}

static void mark_act8(g4_model *m) {
    act8_count c = {0, 0};
    model_for_each_mat(m, count_bytes, &c);
    model_for_each_mat(m, set_act8, &c);
}

/* RoPE angle per position for each (i, i + D/2) pair: base^(-2i/D) for the first
 * `pairs` pairs and 0 (no rotation) after them: transformers' "proportional" RoPE, whose
 * exponent denominator is the full head dim (gemma4.md §2.1). A GGUF file expresses the
 * same through rope_freqs factors that divide the frequency (1e30 ~ no rotation). */
static float *rope_table(int32_t D, int32_t pairs, float base, const float *factors) {
    float *f = g4_malloc((size_t)(D / 2) * sizeof *f);
    if (!f) return NULL;
    for (int32_t i = 0; i < D / 2; i++) {
        double v = i < pairs ? pow((double)base, -2.0 * i / D) : 0.0;
        if (factors) v = factors[i] >= 1e20f ? 0.0 : v / factors[i]; /* 1e30 marks a pair that does not rotate */
        f[i] = (float)v;
    }
    return f;
}

static float bf16_round(float x) { return bf16_to_f32(f32_to_bf16(x)); }

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static g4_status open_hf(g4_model *m, g4_error *err) {
    size_t n = strlen(m->path) + 32;
    char *cfg_path = malloc(n), *json = NULL;
    if (!cfg_path) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    snprintf(cfg_path, n, "%s/config.json", m->path);
    g4_status st = read_text_file(cfg_path, 16u << 20, &json, err);
    if (st != G4_OK) {
        g4_error_clear(err);
        st = g4_fail(err, G4_ERR_FORMAT, "%s: not a model: a directory needs config.json and model.safetensors", m->path);
    }
    if (st == G4_OK) st = config_from_hf_json(&m->hp, json, cfg_path, err);
    free(json);
    if (st == G4_OK) st = config_finish(&m->hp, cfg_path, err);
    free(cfg_path);
    if (st == G4_OK) st = st_open_dir(&m->st, m->path, err);
    if (st == G4_OK) m->dir = &m->st.tensors;
    return st;
}

/* The page cache may hold a model file in folios of up to 2 MiB, and a fault maps the
 * whole folio around the address read: a 5 KiB per-layer-embedding row (E2B) left about
 * 1 MiB mapped, so a 512-token prompt made 0.7 GB of the 1.3 GB table resident, and
 * neither MADV_RANDOM nor MADV_NOHUGEPAGE changed that. Dropping the mapping of the
 * 2 MiB-aligned span around the row (clipped to the table, rounded inward to pages) after
 * reading it keeps the table out of the process's memory; the file's pages stay cached.
 * Safe because every model matrix is a read-only private file mapping that is never
 * written: MADV_DONTNEED only discards page-table entries, and a later read faults the
 * same bytes back in. Advice only: a failure changes memory use, not results (and on
 * systems where MADV_DONTNEED keeps the mapping, only memory use is lost). Not
 * posix_madvise: glibc ignores POSIX_MADV_DONTNEED. */
void mat_unmap_row(const mat *t, int64_t r) {
    const uintptr_t span = (uintptr_t)2 << 20, page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t t0 = ((uintptr_t)t->data + page - 1) & ~(page - 1);
    const uintptr_t t1 = ((uintptr_t)t->data + (uintptr_t)(t->rows * t->row_bytes)) & ~(page - 1);
    const uintptr_t row = (uintptr_t)t->data + (uintptr_t)r * (uintptr_t)t->row_bytes;
    const uintptr_t a = G4_MAX(row & ~(span - 1), t0);
    const uintptr_t e = G4_MIN((row + (uintptr_t)t->row_bytes + span - 1) & ~(span - 1), t1);
    if (e > a) (void)madvise((void *)a, e - a, MADV_DONTNEED);
}

static g4_status open_gguf(g4_model *m, g4_error *err) {
    g4_status st = gguf_open(&m->gguf, m->path, err);
    if (st != G4_OK) return st;
    m->is_gguf = true;
    m->dir = &m->gguf.tensors;
    if ((st = config_from_gguf(&m->hp, &m->gguf, err)) != G4_OK) return st;
    const tensor_entry *te = tensor_dir_find(m->dir, "token_embd.weight");
    if (!te) return g4_fail(err, G4_ERR_FORMAT, "%s: missing tensor 'token_embd.weight'", m->path);
    if (te->ne[1] < 1 || te->ne[1] > (1 << 24)) return g4_fail(err, G4_ERR_FORMAT, "%s: bad vocabulary size", m->path);
    m->hp.n_vocab = (int32_t)te->ne[1];
    const tensor_entry *pe = tensor_dir_find(m->dir, "per_layer_token_embd.weight");
    if (pe && pe->ne[1] >= 1 && pe->ne[1] <= (1 << 24)) m->hp.n_vocab_per_layer = (int32_t)pe->ne[1];
    /* attention_k_eq_v shows as global layers without attn_v */
    for (int32_t l = 0; l < m->hp.n_layer; l++) {
        if (m->hp.swa_pattern[l]) continue;
        char name[64];
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", l);
        m->hp.k_eq_v = tensor_dir_find(m->dir, name) == NULL;
        break;
    }
    return config_finish(&m->hp, m->path, err);
}

g4_status g4_model_open(g4_model **out, const char *path, const g4_model_params *params, g4_error *err) {
    (void)params;
    g4_error_clear(err);
    *out = NULL;
    if (!path) return g4_fail(err, G4_ERR_ARG, "no model path given");
    g4_model *m = calloc(1, sizeof *m);
    binder b = {.m = m, .err = err};
    if (!m || !(m->path = g4_strdup(path))) { free(m); return g4_fail(err, G4_ERR_NOMEM, "out of memory"); }
    struct stat sb;
    g4_status st;
    if (stat(path, &sb) != 0) st = g4_fail(err, G4_ERR_IO, "%s: no such file or directory", path);
    else st = is_dir(path) ? open_hf(m, err) : open_gguf(m, err);
    if (st != G4_OK) goto fail;

    const g4_hparams *hp = &m->hp;
    if (!m->is_gguf) {
        b.prefix = tensor_dir_find(m->dir, "model.language_model.embed_tokens.weight") ? "model.language_model." : "model.";
    }
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto fail; }
    if (!bind_globals(&b) || !bind_layers(&b)) { st = err ? err->status : G4_ERR_FORMAT; goto fail; }
    mark_act8(m);

    /* Global-layer RoPE factors in llama.cpp's form (rope_freqs.weight): 1 for the pairs
     * that rotate, 1e30 (frequency ~0) for those that pass through. A GGUF carries them;
     * for an HF checkpoint they follow from partial_rotary_factor. Kept so that a
     * conversion writes them back unchanged. */
    const int32_t half_g = hp->head_dim_global / 2;
    m->rope_factors = g4_malloc((size_t)half_g * sizeof *m->rope_factors);
    if (!m->rope_factors) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto fail; }
    const tensor_entry *rf = m->is_gguf ? tensor_dir_find(m->dir, "rope_freqs.weight") : NULL;
    if (rf) {
        if (rf->ne[0] != half_g || rf->ne[1] != 1 || rf->ne[2] != 1 || !dtype_get(rf->type) || !dtype_get(rf->type)->computable) {
            st = g4_fail(err, G4_ERR_FORMAT, "%s: rope_freqs.weight must hold %d factors", path, half_g);
            goto fail;
        }
        dequantize_row(rf->type, rf->data, m->rope_factors, half_g);
        int32_t pairs = 0;
        for (int32_t i = 0; i < half_g; i++) {
            if (!(m->rope_factors[i] > 0) || !isfinite(m->rope_factors[i])) {
                st = g4_fail(err, G4_ERR_FORMAT, "%s: rope_freqs must be positive and finite", path);
                goto fail;
            }
            pairs += m->rope_factors[i] < 1e20f; /* for display: pairs that really rotate */
        }
        m->hp.rope_pairs_global = pairs;
    } else {
        for (int32_t i = 0; i < half_g; i++) m->rope_factors[i] = i < hp->rope_pairs_global ? 1.0f : 1e30f;
    }
    m->rope_freq_swa = rope_table(hp->head_dim_swa, hp->rope_pairs_swa, hp->rope_base_swa, NULL);
    m->rope_freq_global = rope_table(hp->head_dim_global, half_g, hp->rope_base_global, m->rope_factors);
    if (!m->rope_freq_swa || !m->rope_freq_global) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto fail; }

    /* transformers multiplies by sqrt(H) cast to the weight dtype (bf16 in released
     * checkpoints) and JAX does the same; gemma4.md §2.2 / pitfall 13. */
    m->embd_scale = bf16_round(sqrtf((float)hp->n_embd));
    m->ple_embd_scale = bf16_round(sqrtf((float)G4_MAX(hp->n_embd_per_layer, 1)));

    m->owned_vecs = b.owned; /* freed with their elements in g4_model_free */
    m->n_owned_vecs = b.n_owned;
    b.owned = NULL;
    b.n_owned = 0;
    g4_model_info *in = &m->info;
    /* What one token costs: every layer matrix (only the selected experts of a MoE
     * stack), the output matrix and two embedding rows; prefill counts the decoder layers
     * and the per-layer-input projection (logits are computed for the last token only). */
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const layer_weights *lw = &m->layers[l];
#define X_MAT(f, g, h, a, bb, c, wh)                                                                        \
        if (lw->f.data) {                                                                                   \
            const double per = (c) > 1 ? (double)hp->n_expert_used : 1.0;                                   \
            in->decode_bytes += (uint64_t)((double)lw->f.rows * (double)lw->f.row_bytes * per);             \
            in->prefill_ops += 2.0 * (double)lw->f.rows * (double)lw->f.cols * per;                        \
        }
        const int64_t E = hp->n_expert; (void)E;
        LAYER_MATS(X_MAT)
#undef X_MAT
    }
    in->decode_bytes += (uint64_t)m->output.rows * m->output.row_bytes + m->tok_embd.row_bytes;
    if (hp->n_embd_per_layer) {
        in->decode_bytes += (uint64_t)m->ple_model_proj.rows * m->ple_model_proj.row_bytes + m->ple_embd.row_bytes;
        in->prefill_ops += 2.0 * (double)m->ple_model_proj.rows * (double)m->ple_model_proj.cols;
    }
    in->variant = config_variant(hp);
    in->source = m->is_gguf ? "gguf" : "safetensors";
    in->n_vocab = hp->n_vocab;
    in->n_layer = hp->n_layer;
    in->n_embd = hp->n_embd;
    in->n_head = hp->n_head;
    in->n_head_kv_swa = hp->n_kv_swa;
    in->n_head_kv_global = hp->n_kv_global;
    in->head_dim_swa = hp->head_dim_swa;
    in->head_dim_global = hp->head_dim_global;
    in->n_ff = hp->layer[0].n_ff;
    in->sliding_window = hp->sliding_window;
    in->n_layer_kv_shared = hp->n_layer_kv_shared;
    in->n_embd_per_layer = hp->n_embd_per_layer;
    in->n_expert = hp->n_expert;
    in->n_expert_used = hp->n_expert_used;
    in->n_ff_expert = hp->n_ff_expert;
    in->n_ctx_train = hp->n_ctx_train;
    in->attention_k_eq_v = hp->k_eq_v;
    in->final_logit_softcap = hp->final_softcap;
    *out = m;
    return G4_OK;
fail:
    for (int64_t i = 0; i < b.n_owned; i++) free(b.owned[i]);
    free(b.owned);
    g4_model_free(m);
    return st;
}

void g4_model_free(g4_model *m) {
    if (!m) return;
    for (int64_t i = 0; i < m->n_owned_vecs; i++) free(m->owned_vecs[i]);
    free(m->owned_vecs);
    free(m->layers);
    free(m->rope_freq_swa);
    free(m->rope_freq_global);
    free(m->rope_factors);
    if (m->is_gguf) gguf_close(&m->gguf);
    else st_close(&m->st);
    free(m->path);
    free(m);
}

const g4_model_info *g4_model_get_info(const g4_model *m) { return &m->info; }

/* Reads the weights into the page cache ahead of the first token, in 64 MiB steps with
 * progress: a mapped model is otherwise read page by page by the first forward pass,
 * which makes the first answer of a large model stall with no sign of why. */
g4_status g4_model_prefetch(const g4_model *m, g4_progress_fn progress, void *user, g4_error *err) {
    g4_error_clear(err);
    const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), step = (uint64_t)64 << 20;
    uint64_t total = 0, done = 0;
    for (int64_t i = 0; i < m->dir->n; i++) total += m->dir->t[i].nbytes;
    volatile uint8_t sink = 0;
    for (int64_t i = 0; i < m->dir->n; i++) {
        const tensor_entry *t = &m->dir->t[i];
        /* the per-layer embeddings are read a row per token and unmapped after
         * (mat_unmap_row): read ahead into the page cache, but not touched, which would
         * map all 1.3 GB (E2B) into the process */
        const bool touch = !(m->ple_embd.data && t->data == m->ple_embd.data);
        for (uint64_t off = 0; off < t->nbytes; off += step) {
            const uint64_t len = G4_MIN(step, t->nbytes - off);
            const uintptr_t a = (uintptr_t)(t->data + off) & ~(uintptr_t)(page - 1);
            madvise((void *)a, (size_t)((uintptr_t)(t->data + off + len) - a), MADV_WILLNEED);
            for (uint64_t p = 0; touch && p < len; p += page) sink ^= t->data[off + p];
            done += len;
            if (progress) progress(user, (int64_t)(done >> 20), (int64_t)(total >> 20));
        }
    }
    (void)sink;
    return G4_OK;
}
