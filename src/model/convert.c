/* convert.c - writing a loaded model as a GGUF file that llama.cpp runs
 * (g4_model_save_gguf): llama.cpp's gemma4 metadata keys and tensor names
 * (gemma4.md §4, docs/llamacpp-gemma4.md), tensors re-encoded to the requested type,
 * and the vocabulary carried over from the source (GGUF metadata, or the HF
 * tokenizer.json + tokenizer_config.json next to the safetensors).
 *
 * Matrices take the requested type; vectors (norms, scales, rope_freqs) stay F32 as in
 * llama.cpp's converter. A matrix whose rows are not a whole number of blocks of the
 * requested quantized type falls back to F16. The K-quant storage names (q4_k_m, q4_k,
 * ...) instead choose each tensor's type the way llama.cpp's quantize tool does for that
 * file type (quant_mix_plan: the mix rules, which tensors stay unquantized, and its
 * fallbacks for short rows), so the file holds the tensor types a llama.cpp Q4_K_M has. */
#include "../dtype.h"
#include "../quant/quant.h"
#include "model.h"
#include "sampling_defaults.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

typedef struct job {
    char name[64];
    int32_t type;        /* target type */
    int32_t n_dims;
    int64_t ne[3];
    mat src;             /* matrices: rows = ne1*ne2 rows of ne0 */
    const float *vec;    /* vectors */
    float rope_freqs;    /* generated rope_freqs tensor when nonzero */
} job;

typedef struct convert_ctx {
    const g4_model *m;
    job *jobs;
    int64_t n, cap;
    float *row;
} convert_ctx;

static job *add_job(convert_ctx *c, const char *name, int32_t n_dims, int64_t ne0, int64_t ne1, int64_t ne2) {
    if (c->n == c->cap) {
        int64_t nc = c->cap ? c->cap * 2 : 256;
        job *nj = realloc(c->jobs, (size_t)nc * sizeof *nj);
        if (!nj) return NULL;
        c->jobs = nj;
        c->cap = nc;
    }
    job *j = &c->jobs[c->n++];
    memset(j, 0, sizeof *j);
    snprintf(j->name, sizeof j->name, "%s", name);
    j->n_dims = n_dims;
    j->ne[0] = ne0; j->ne[1] = ne1; j->ne[2] = ne2;
    return j;
}

static bool add_mat(convert_ctx *c, const char *name, const mat *m, int64_t ne2, int32_t type) {
    job *j = add_job(c, name, ne2 > 1 ? 3 : 2, m->cols, m->rows, ne2);
    if (!j) return false;
    uint64_t rb;
    j->type = dtype_row_bytes(type, m->cols, &rb) ? type : G4_DTYPE_F16;
    j->src = *m;
    return true;
}

static bool add_vec(convert_ctx *c, const char *name, const float *v, int64_t n) {
    job *j = add_job(c, name, 1, n, 1, 1);
    if (!j) return false;
    j->type = G4_DTYPE_F32;
    j->vec = v;
    return true;
}

static g4_status fill(void *user, int64_t i, void *buf, uint64_t nbytes, g4_error *err) {
    convert_ctx *c = user;
    const job *j = &c->jobs[i];
    (void)nbytes;
    (void)err;
    if (j->rope_freqs != 0.0f) {
        memcpy(buf, c->m->rope_factors, (size_t)j->ne[0] * sizeof(float));
        return G4_OK;
    }
    if (j->vec) {
        memcpy(buf, j->vec, (size_t)j->ne[0] * sizeof(float));
        return G4_OK;
    }
    uint64_t out_rb;
    dtype_row_bytes(j->type, j->ne[0], &out_rb);
    const int64_t rows = j->ne[1] * j->ne[2];
    uint8_t *dst = buf;
    if (!j->src.data) { /* g4_synth_gguf: random weights, about N(0, 1/cols) */
        uint32_t st = 0x9e3779b9u * (uint32_t)(i + 1);
        const float scale = 1.7320508f / sqrtf((float)j->ne[0]); /* uniform(-1,1) has variance 1/3 */
        /* The searching quantizers (K-quants and the like) take ~0.3 us a value, an hour
         * for a 26B model, and a benchmark subject's speed does not depend on its values:
         * past the first SYNTH_ROWS rows of a matrix those types repeat them (row r is row
         * r % SYNTH_ROWS). The simple types' rows are all distinct, as before. */
        enum { SYNTH_ROWS = 1024 };
        const bool repeat = j->type != G4_DTYPE_F32 && j->type != G4_DTYPE_F16 && j->type != G4_DTYPE_BF16 &&
                            j->type != G4_DTYPE_Q8_0 && j->type != G4_DTYPE_Q4_0;
        for (int64_t r = 0; r < rows; r++) {
            if (repeat && r >= SYNTH_ROWS) {
                memcpy(dst + (uint64_t)r * out_rb, dst + (uint64_t)(r % SYNTH_ROWS) * out_rb, out_rb);
                continue;
            }
            for (int64_t k = 0; k < j->ne[0]; k++) {
                st ^= st << 13; st ^= st >> 17; st ^= st << 5;
                c->row[k] = ((float)(st >> 8) * (1.0f / 8388608.0f) - 1.0f) * scale;
            }
            quantize_row(j->type, c->row, dst + (uint64_t)r * out_rb, j->ne[0]);
        }
        return G4_OK;
    }
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *src = j->src.data + (uint64_t)r * j->src.row_bytes;
        if (j->src.type == j->type) memcpy(dst + (uint64_t)r * out_rb, src, out_rb);
        else {
            dequantize_row(j->src.type, src, c->row, j->ne[0]);
            quantize_row(j->type, c->row, dst + (uint64_t)r * out_rb, j->ne[0]);
        }
    }
    return G4_OK;
}

/* How the large matrices are stored: one type for all (mix false: the F16 fallback
 * above), or a llama.cpp file type's per-tensor choice (mix true). */
typedef struct quant_spec {
    int32_t type;    /* single type; with mix, a placeholder until the plan runs */
    int32_t ftype;   /* general.file_type (llama_ftype) */
    bool mix, pure;  /* pure: llama.cpp's --pure (the file type's base type everywhere) */
} quant_spec;

static uint32_t file_type_of(g4_dtype t);

static bool name_is(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if ((*a | 0x20) != (*b | 0x20)) return false;
    return !*a && !*b;
}

/* "f16", "q4_0", "q4_k", "q4_k_m", ... (any case) -> a spec; false for other names. */
static bool quant_spec_parse(const char *name, quant_spec *q) {
    static const struct { const char *name; g4_dtype t; } single[] = {
        {"f32", G4_DTYPE_F32}, {"f16", G4_DTYPE_F16}, {"bf16", G4_DTYPE_BF16}, {"q8_0", G4_DTYPE_Q8_0}, {"q4_0", G4_DTYPE_Q4_0},
    };
    memset(q, 0, sizeof *q);
    for (size_t i = 0; i < G4_ARRAY_LEN(single); i++)
        if (name_is(name, single[i].name)) {
            *q = (quant_spec){single[i].t, (int32_t)file_type_of(single[i].t), false, false};
            return true;
        }
    /* one K-quant type throughout: llama.cpp's --pure with the "mostly" file type */
    if (name_is(name, "q4_k")) { *q = (quant_spec){QT_Q4_K, FTYPE_Q4_K_S, true, true}; return true; }
    if (name_is(name, "q5_k")) { *q = (quant_spec){QT_Q5_K, FTYPE_Q5_K_S, true, true}; return true; }
    /* the K-quant mixes, whose every tensor type g4 can write */
    static const int32_t mixes[] = {FTYPE_Q2_K, FTYPE_Q2_K_S, FTYPE_Q3_K_S, FTYPE_Q3_K_M, FTYPE_Q3_K_L,
                                    FTYPE_Q4_K_S, FTYPE_Q4_K_M, FTYPE_Q5_K_S, FTYPE_Q5_K_M, FTYPE_Q6_K};
    const int32_t f = quant_ftype_from_name(name);
    for (size_t i = 0; i < G4_ARRAY_LEN(mixes); i++)
        if (f == mixes[i]) { *q = (quant_spec){quant_ftype_default_type(f), f, true, false}; return true; }
    return false;
}

static uint32_t file_type_of(g4_dtype t) {
    switch (t) {
    case G4_DTYPE_F32: return 0;
    case G4_DTYPE_F16: return 1;
    case G4_DTYPE_Q4_0: return 2;
    case G4_DTYPE_Q8_0: return 7;
    case G4_DTYPE_BF16: return 32;
    }
    return 0;
}

/* ---- vocabulary ------------------------------------------------------------------ */

/* Copies every tokenizer.* key of a GGUF source unchanged. */
static bool copy_gguf_vocab(gguf_writer *w, const gguf_file *g) {
    for (int64_t i = 0; i < g->n_kv; i++) {
        const gguf_kv *kv = &g->kv[i];
        if (strncmp(kv->key, "tokenizer.", 10)) continue;
        bool ok = true;
        if (kv->type == GGUF_TYPE_STRING) {
            char *s = g4_malloc(kv->v.str.n + 1);
            if (!s) return false;
            memcpy(s, kv->v.str.s, kv->v.str.n);
            s[kv->v.str.n] = 0;
            ok = gguf_set_str(w, kv->key, s);
            free(s);
        } else if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_STRING) {
            gguf_str *strs = NULL;
            if (gguf_arr_strings(kv, &strs, NULL) != G4_OK) return false;
            char **cs = g4_calloc((size_t)kv->arr_n, sizeof *cs);
            ok = cs != NULL;
            for (uint64_t k = 0; ok && k < kv->arr_n; k++) {
                cs[k] = g4_malloc(strs[k].n + 1);
                if (!cs[k]) { ok = false; break; }
                memcpy(cs[k], strs[k].s, strs[k].n);
                cs[k][strs[k].n] = 0;
            }
            if (ok) ok = gguf_set_arr_str(w, kv->key, (const char *const *)cs, kv->arr_n);
            for (uint64_t k = 0; cs && k < kv->arr_n; k++) free(cs[k]);
            free(cs);
            free(strs);
        } else if (kv->type == GGUF_TYPE_ARRAY) {
            ok = gguf_set_arr(w, kv->key, kv->arr_type, kv->arr_data, kv->arr_n);
        } else if (kv->type == GGUF_TYPE_BOOL) {
            ok = gguf_set_bool(w, kv->key, kv->v.u64 != 0);
        } else if (kv->type == GGUF_TYPE_FLOAT32 || kv->type == GGUF_TYPE_FLOAT64) {
            ok = gguf_set_f32(w, kv->key, (float)kv->v.f64);
        } else {
            ok = gguf_set_u32(w, kv->key, (uint32_t)kv->v.u64);
        }
        if (!ok) return false;
    }
    return true;
}

enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_USER_DEFINED = 4, TOK_BYTE = 6 }; /* llama.cpp's token types */

static bool is_byte_token(const char *s) {
    return strlen(s) == 6 && !strncmp(s, "<0x", 3) && s[5] == '>';
}

/* HF tokenizer.json (BPE with byte fallback) -> tokenizer.ggml.* keys. */
static g4_status hf_vocab(gguf_writer *w, const g4_model *m, g4_error *err) {
    const int32_t V = m->hp.n_vocab;
    size_t n = strlen(m->path) + 40;
    char *path = malloc(n), *text = NULL;
    if (!path) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    snprintf(path, n, "%s/tokenizer.json", m->path);
    g4_status st = read_text_file(path, 256u << 20, &text, err);
    if (st != G4_OK) {
        g4_error_clear(err);
        st = g4_fail(err, G4_ERR_FORMAT, "%s: missing; a GGUF needs the vocabulary for llama.cpp to load it", path);
        free(path);
        return st;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    const cJSON *mtype = cJSON_GetObjectItemCaseSensitive(model, "type");
    char **tok = g4_calloc((size_t)V, sizeof *tok);
    int32_t *types = g4_calloc((size_t)V, sizeof *types);
    float *scores = g4_calloc((size_t)V, sizeof *scores);
    char **mg = NULL;
    int64_t n_merges = 0;
    if (!tok || !types || !scores) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto done; }
    if (!cJSON_IsObject(vocab) || !cJSON_IsString(mtype) || strcmp(mtype->valuestring, "BPE")) {
        st = g4_fail(err, G4_ERR_UNSUPPORTED, "%s: only BPE tokenizers with a vocab object are supported", path);
        goto done;
    }
    for (const cJSON *it = vocab->child; it; it = it->next) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= V) {
            st = g4_fail(err, G4_ERR_FORMAT, "%s: token '%.40s' has an id outside the model's %d", path, it->string, V);
            goto done;
        }
        int32_t id = (int32_t)it->valuedouble;
        free(tok[id]);
        if (!(tok[id] = g4_strdup(it->string))) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto done; }
        types[id] = is_byte_token(it->string) ? TOK_BYTE : TOK_NORMAL;
    }
    for (const cJSON *it = cJSON_IsArray(added) ? added->child : NULL; it; it = it->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id"), *c = cJSON_GetObjectItemCaseSensitive(it, "content");
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "special");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(c) || id->valuedouble < 0 || id->valuedouble >= V) continue;
        int32_t k = (int32_t)id->valuedouble;
        free(tok[k]);
        if (!(tok[k] = g4_strdup(c->valuestring))) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto done; }
        types[k] = cJSON_IsTrue(sp) ? TOK_CONTROL : TOK_USER_DEFINED;
        if (!strcmp(c->valuestring, "<unk>")) types[k] = TOK_UNKNOWN;
    }
    for (int32_t i = 0; i < V; i++) {
        if (tok[i]) { scores[i] = -(float)i; continue; }
        char buf[32];
        snprintf(buf, sizeof buf, "<unused%d>", i); /* ids the tokenizer never produces */
        if (!(tok[i] = g4_strdup(buf))) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto done; }
        types[i] = TOK_CONTROL;
    }
    n_merges = cJSON_IsArray(merges) ? cJSON_GetArraySize(merges) : 0;
    mg = g4_calloc((size_t)n_merges, sizeof *mg);
    if (!mg) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto done; }
    int64_t k = 0;
    for (const cJSON *it = merges ? merges->child : NULL; it; it = it->next, k++) {
        if (cJSON_IsString(it)) mg[k] = g4_strdup(it->valuestring);
        else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(it->child) && cJSON_IsString(it->child->next)) {
            size_t l = strlen(it->child->valuestring) + strlen(it->child->next->valuestring) + 2;
            if ((mg[k] = malloc(l))) snprintf(mg[k], l, "%s %s", it->child->valuestring, it->child->next->valuestring);
        } else {
            st = g4_fail(err, G4_ERR_FORMAT, "%s: merge %lld is neither \"a b\" nor [a, b]", path, (long long)k);
            goto done;
        }
        if (!mg[k]) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto done; }
    }
    bool ok = gguf_set_str(w, "tokenizer.ggml.model", "gemma4") && gguf_set_str(w, "tokenizer.ggml.pre", "gemma4") &&
              gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, (uint64_t)V) &&
              gguf_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, (uint64_t)V) &&
              gguf_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, (uint64_t)V) &&
              gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)mg, (uint64_t)n_merges);
    /* special ids by their conventional Gemma strings */
    static const struct { const char *tok, *key; } sp[] = {
        {"<bos>", "tokenizer.ggml.bos_token_id"}, {"<eos>", "tokenizer.ggml.eos_token_id"},
        {"<unk>", "tokenizer.ggml.unknown_token_id"}, {"<pad>", "tokenizer.ggml.padding_token_id"},
    };
    for (size_t s = 0; ok && s < G4_ARRAY_LEN(sp); s++)
        for (int32_t i = 0; i < V; i++)
            if (!strcmp(tok[i], sp[s].tok)) { ok = gguf_set_u32(w, sp[s].key, (uint32_t)i); break; }
    ok = ok && gguf_set_bool(w, "tokenizer.ggml.add_bos_token", true) && gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", false);
    /* the chat template, from tokenizer_config.json or chat_template.jinja */
    snprintf(path, n, "%s/chat_template.jinja", m->path);
    char *tmpl = NULL;
    g4_error e2 = {0};
    if (read_text_file(path, 16u << 20, &tmpl, &e2) != G4_OK) {
        snprintf(path, n, "%s/tokenizer_config.json", m->path);
        char *tc = NULL;
        if (read_text_file(path, 64u << 20, &tc, &e2) == G4_OK) {
            cJSON *tj = cJSON_Parse(tc);
            const cJSON *ct = cJSON_GetObjectItemCaseSensitive(tj, "chat_template");
            if (cJSON_IsString(ct)) tmpl = g4_strdup(ct->valuestring);
            cJSON_Delete(tj);
        }
        free(tc);
    }
    if (ok && tmpl) ok = gguf_set_str(w, "tokenizer.chat_template", tmpl);
    free(tmpl);
    if (!ok) st = g4_fail(err, G4_ERR_NOMEM, "out of memory writing the vocabulary");
done:
    for (int32_t i = 0; tok && i < V; i++) free(tok[i]);
    for (int64_t i = 0; mg && i < n_merges; i++) free(mg[i]);
    free(tok);
    free(types);
    free(scores);
    free(mg);
    cJSON_Delete(root);
    free(path);
    return st;
}

/* ---- metadata and tensors --------------------------------------------------------- */

static bool write_hparams(gguf_writer *w, const g4_model *m, uint32_t file_type) {
    const g4_hparams *hp = &m->hp;
    const int32_t L = hp->n_layer;
    uint32_t ff[G4_MAX_LAYERS], kvh[G4_MAX_LAYERS];
    uint8_t swa[G4_MAX_LAYERS];
    bool ff_same = true, kv_same = true;
    for (int32_t l = 0; l < L; l++) {
        ff[l] = (uint32_t)hp->layer[l].n_ff;
        kvh[l] = (uint32_t)hp->layer[l].n_kv_head;
        swa[l] = hp->layer[l].swa;
        ff_same &= ff[l] == ff[0];
        kv_same &= kvh[l] == kvh[0];
    }
    bool ok = gguf_set_str(w, "general.architecture", "gemma4") && gguf_set_str(w, "general.name", "gemma4") &&
              gguf_set_u32(w, "general.file_type", file_type) &&
              gguf_set_u32(w, "general.quantization_version", 2) &&
              gguf_set_u32(w, "gemma4.context_length", (uint32_t)hp->n_ctx_train) &&
              gguf_set_u32(w, "gemma4.embedding_length", (uint32_t)hp->n_embd) &&
              gguf_set_u32(w, "gemma4.block_count", (uint32_t)L) &&
              (ff_same ? gguf_set_u32(w, "gemma4.feed_forward_length", ff[0])
                       : gguf_set_arr(w, "gemma4.feed_forward_length", GGUF_TYPE_UINT32, ff, (uint64_t)L)) &&
              gguf_set_u32(w, "gemma4.attention.head_count", (uint32_t)hp->n_head) &&
              (kv_same ? gguf_set_u32(w, "gemma4.attention.head_count_kv", kvh[0])
                       : gguf_set_arr(w, "gemma4.attention.head_count_kv", GGUF_TYPE_UINT32, kvh, (uint64_t)L)) &&
              gguf_set_u32(w, "gemma4.attention.key_length", (uint32_t)hp->head_dim_global) &&
              gguf_set_u32(w, "gemma4.attention.value_length", (uint32_t)hp->head_dim_global) &&
              gguf_set_u32(w, "gemma4.attention.key_length_swa", (uint32_t)hp->head_dim_swa) &&
              gguf_set_u32(w, "gemma4.attention.value_length_swa", (uint32_t)hp->head_dim_swa) &&
              gguf_set_f32(w, "gemma4.attention.layer_norm_rms_epsilon", hp->rms_eps) &&
              gguf_set_u32(w, "gemma4.attention.sliding_window", (uint32_t)hp->sliding_window) &&
              gguf_set_arr(w, "gemma4.attention.sliding_window_pattern", GGUF_TYPE_BOOL, swa, (uint64_t)L) &&
              gguf_set_u32(w, "gemma4.attention.shared_kv_layers", (uint32_t)hp->n_layer_kv_shared) &&
              gguf_set_u32(w, "gemma4.embedding_length_per_layer_input", (uint32_t)hp->n_embd_per_layer) &&
              gguf_set_f32(w, "gemma4.rope.freq_base", hp->rope_base_global) &&
              gguf_set_f32(w, "gemma4.rope.freq_base_swa", hp->rope_base_swa) &&
              gguf_set_u32(w, "gemma4.rope.dimension_count", (uint32_t)hp->head_dim_global) &&
              gguf_set_u32(w, "gemma4.rope.dimension_count_swa", (uint32_t)hp->head_dim_swa) &&
              gguf_set_f32(w, "gemma4.final_logit_softcapping", hp->final_softcap);
    ok = ok && sampling_defaults_write(w, m);
    if (ok && hp->n_expert)
        ok = gguf_set_u32(w, "gemma4.expert_count", (uint32_t)hp->n_expert) &&
             gguf_set_u32(w, "gemma4.expert_used_count", (uint32_t)hp->n_expert_used) &&
             gguf_set_u32(w, "gemma4.expert_feed_forward_length", (uint32_t)hp->n_ff_expert);
    return ok;
}

static bool plan_tensors(convert_ctx *c, g4_dtype type) {
    const g4_model *m = c->m;
    const g4_hparams *hp = &m->hp;
    char name[96];
    bool ok = add_mat(c, "token_embd.weight", &m->tok_embd, 1, type) &&
              add_vec(c, "output_norm.weight", m->output_norm, hp->n_embd);
    if (ok && m->output.data != m->tok_embd.data) ok = add_mat(c, "output.weight", &m->output, 1, type);
    if (ok) {
        job *j = add_job(c, "rope_freqs.weight", 1, hp->head_dim_global / 2, 1, 1);
        ok = j != NULL;
        if (ok) { j->type = G4_DTYPE_F32; j->rope_freqs = 1.0f; }
    }
    if (ok && hp->n_embd_per_layer)
        ok = add_mat(c, "per_layer_token_embd.weight", &m->ple_embd, 1, type) &&
             add_mat(c, "per_layer_model_proj.weight", &m->ple_model_proj, 1, type) &&
             add_vec(c, "per_layer_proj_norm.weight", m->ple_proj_norm, hp->n_embd_per_layer);
    for (int32_t l = 0; ok && l < hp->n_layer; l++) {
        const layer_weights *lw = &m->layers[l];
        const int64_t H = hp->n_embd, D = hp->layer[l].head_dim, E = hp->n_expert;
        (void)D; (void)E;
#define X_VEC(f, g, h, a, bb, cc, w) \
        if (ok && layer_has(hp, l, w)) { snprintf(name, sizeof name, "blk.%d.%s", l, g); ok = add_vec(c, name, lw->f, (a) * (bb) * (cc)); }
#define X_MAT(f, g, h, a, bb, cc, w) \
        if (ok && layer_has(hp, l, w)) { snprintf(name, sizeof name, "blk.%d.%s", l, g); ok = add_mat(c, name, &lw->f, (cc), type); }
        const int64_t P = hp->n_embd_per_layer, FE = hp->n_ff_expert, F = 0, Q = 0, KV = 0;
        (void)P; (void)FE; (void)F; (void)Q; (void)KV; (void)H;
        LAYER_VECS(X_VEC)
        LAYER_MATS(X_MAT)
#undef X_VEC
#undef X_MAT
    }
    return ok;
}

/* The K-quant mixes: every tensor's type as llama.cpp's quantize tool would choose it,
 * quantizing from the matrices' float source (F16 for synthetic weights, which is what
 * llama.cpp's converter writes; a quantized source counts as F16 too). Tensors the tool
 * leaves alone (vectors, per_layer_model_proj) keep that source type. */
static bool plan_mix(convert_ctx *c, const quant_spec *q) {
    const g4_hparams *hp = &c->m->hp;
    quant_mix_tensor *t = g4_calloc((size_t)c->n, sizeof *t);
    if (!t) return false;
    for (int64_t i = 0; i < c->n; i++) {
        const job *j = &c->jobs[i];
        int32_t src = G4_DTYPE_F32;
        if (j->n_dims > 1) {
            src = j->src.data ? j->src.type : G4_DTYPE_F16;
            if (src != G4_DTYPE_F32 && src != G4_DTYPE_F16 && src != G4_DTYPE_BF16) src = G4_DTYPE_F16;
        }
        t[i] = (quant_mix_tensor){.name = j->name, .n_dims = j->n_dims, .ne = {j->ne[0], j->ne[1], j->ne[2], 1}, .src_type = src};
    }
    const quant_mix_params p = {.ftype = q->ftype, .n_layer = hp->n_layer, .n_expert = hp->n_expert,
                                .n_gqa = hp->layer[0].n_kv_head ? hp->n_head / hp->layer[0].n_kv_head : 0,
                                .pure = q->pure};
    const bool ok = quant_mix_plan(&p, t, c->n);
    for (int64_t i = 0; ok && i < c->n; i++) c->jobs[i].type = t[i].type;
    free(t);
    return ok;
}

/* Writes m as GGUF; the vocabulary comes from vocab(w, m) (NULL: the model's source). */
typedef g4_status (*vocab_fn)(gguf_writer *w, const g4_model *m, g4_error *err);

static g4_status source_vocab(gguf_writer *w, const g4_model *m, g4_error *err) {
    if (!m->is_gguf) return hf_vocab(w, m, err);
    return copy_gguf_vocab(w, &m->gguf) ? G4_OK : g4_fail(err, G4_ERR_NOMEM, "out of memory copying the vocabulary");
}

static g4_status write_gguf(const g4_model *m, const char *path, const quant_spec *q, vocab_fn vocab,
                            g4_progress_fn progress, void *user, g4_error *err) {
    convert_ctx c = {.m = m};
    gguf_writer *w = gguf_writer_create();
    g4_status st = G4_OK;
    if (!w || !write_hparams(w, m, (uint32_t)q->ftype)) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto done; }
    if ((st = vocab(w, m, err)) != G4_OK) goto done;
    if (!plan_tensors(&c, (g4_dtype)q->type) || (q->mix && !plan_mix(&c, q))) {
        st = g4_fail(err, G4_ERR_NOMEM, "out of memory");
        goto done;
    }
    int64_t widest = 1;
    for (int64_t i = 0; i < c.n; i++) {
        if (!gguf_add_tensor(w, c.jobs[i].name, c.jobs[i].type, c.jobs[i].n_dims, c.jobs[i].ne)) {
            st = g4_fail(err, G4_ERR_ARG, "cannot store tensor '%s' as %s", c.jobs[i].name, g4_dtype_name(c.jobs[i].type));
            goto done;
        }
        widest = G4_MAX(widest, c.jobs[i].ne[0]);
    }
    c.row = g4_malloc((size_t)widest * sizeof(float));
    if (!c.row) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto done; }
    st = gguf_writer_write(w, path, fill, &c, progress, user, err);
done:
    free(c.row);
    free(c.jobs);
    gguf_writer_free(w);
    return st;
}

/* The single types the g4_dtype entry points take. */
static g4_status spec_of_dtype(g4_dtype type, quant_spec *q, g4_error *err) {
    g4_error_clear(err);
    if (type != G4_DTYPE_F32 && type != G4_DTYPE_F16 && type != G4_DTYPE_BF16 && type != G4_DTYPE_Q8_0 && type != G4_DTYPE_Q4_0)
        return g4_fail(err, G4_ERR_ARG, "cannot write tensors as %s", g4_dtype_name(type));
    *q = (quant_spec){type, (int32_t)file_type_of(type), false, false};
    return G4_OK;
}

static g4_status spec_of_name(const char *quant, quant_spec *q, g4_error *err) {
    g4_error_clear(err);
    if (!quant || !quant_spec_parse(quant, q))
        return g4_fail(err, G4_ERR_ARG, "unknown storage type '%s' (f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k, "
                       "q4_k_m, q4_k_s, q5_k_m, q5_k_s, q3_k_m, ...)", quant ? quant : "");
    return G4_OK;
}

g4_status g4_model_save_gguf(const g4_model *m, const char *path, g4_dtype type, g4_progress_fn progress, void *user,
                             g4_error *err) {
    quant_spec q;
    g4_status st = spec_of_dtype(type, &q, err);
    return st != G4_OK ? st : write_gguf(m, path, &q, source_vocab, progress, user, err);
}

g4_status g4_model_save_gguf_as(const g4_model *m, const char *path, const char *quant, g4_progress_fn progress,
                                void *user, g4_error *err) {
    quant_spec q;
    g4_status st = spec_of_name(quant, &q, err);
    return st != G4_OK ? st : write_gguf(m, path, &q, source_vocab, progress, user, err);
}

/* ---- synthetic models ------------------------------------------------------------ */

/* A placeholder vocabulary of the model's size: the Gemma specials, the 256 byte tokens
 * and unique dummy pieces. Enough for llama.cpp to load the file; not for text. */
static g4_status dummy_vocab(gguf_writer *w, const g4_model *m, g4_error *err) {
    const int32_t V = m->hp.n_vocab;
    char **tok = g4_calloc((size_t)V, sizeof *tok);
    int32_t *types = g4_calloc((size_t)V, sizeof *types);
    float *scores = g4_calloc((size_t)V, sizeof *scores);
    g4_status st = G4_OK;
    static const char *specials[] = {"<pad>", "<eos>", "<bos>", "<unk>"};
    for (int32_t i = 0; tok && types && scores && i < V; i++) {
        char buf[32];
        if (i < 4) { snprintf(buf, sizeof buf, "%s", specials[i]); types[i] = i == 3 ? TOK_UNKNOWN : TOK_CONTROL; }
        else if (i < 260) { snprintf(buf, sizeof buf, "<0x%02X>", i - 4); types[i] = TOK_BYTE; }
        else { snprintf(buf, sizeof buf, "<tok%d>", i); types[i] = TOK_NORMAL; }
        if (!(tok[i] = g4_strdup(buf))) break;
        scores[i] = -(float)i;
    }
    const char *none[1] = {NULL};
    bool ok = tok && types && scores && tok[V - 1] && gguf_set_str(w, "tokenizer.ggml.model", "gemma4") &&
              gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, (uint64_t)V) &&
              gguf_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, (uint64_t)V) &&
              gguf_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, (uint64_t)V) &&
              gguf_set_arr_str(w, "tokenizer.ggml.merges", none, 0) && gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 2) &&
              gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 1) && gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", 3) &&
              gguf_set_u32(w, "tokenizer.ggml.padding_token_id", 0);
    if (!ok) st = g4_fail(err, G4_ERR_NOMEM, "out of memory writing the placeholder vocabulary");
    for (int32_t i = 0; tok && i < V; i++) free(tok[i]);
    free(tok);
    free(types);
    free(scores);
    return st;
}

/* The released shapes (gemma4.md §1.1). */
static bool variant_hparams(const char *v, g4_hparams *hp) {
    memset(hp, 0, sizeof *hp);
    int period;
    if (!strcmp(v, "e2b")) {
        *hp = (g4_hparams){.n_layer = 35, .n_embd = 1536, .n_head = 8, .n_kv_swa = 1, .n_kv_global = 1, .n_ff = 6144,
                           .double_wide_mlp = true, .sliding_window = 512, .n_layer_kv_shared = 20, .n_embd_per_layer = 256};
        period = 5;
    } else if (!strcmp(v, "e4b")) {
        *hp = (g4_hparams){.n_layer = 42, .n_embd = 2560, .n_head = 8, .n_kv_swa = 2, .n_kv_global = 2, .n_ff = 10240,
                           .sliding_window = 512, .n_layer_kv_shared = 18, .n_embd_per_layer = 256};
        period = 6;
    } else if (!strcmp(v, "26b-a4b")) {
        *hp = (g4_hparams){.n_layer = 30, .n_embd = 2816, .n_head = 16, .n_kv_swa = 8, .n_kv_global = 2, .n_ff = 2112,
                           .sliding_window = 1024, .n_expert = 128, .n_expert_used = 8, .n_ff_expert = 704, .k_eq_v = true};
        period = 6;
    } else if (!strcmp(v, "31b")) {
        *hp = (g4_hparams){.n_layer = 60, .n_embd = 5376, .n_head = 32, .n_kv_swa = 16, .n_kv_global = 4, .n_ff = 21504,
                           .sliding_window = 1024, .k_eq_v = true};
        period = 6;
    } else {
        return false;
    }
    hp->n_vocab = 262144;
    hp->head_dim_swa = 256;
    hp->head_dim_global = 512;
    hp->rope_base_swa = 10000.0f;
    hp->rope_base_global = 1000000.0f;
    hp->rope_pairs_swa = 128;
    hp->rope_pairs_global = 64; /* partial_rotary_factor 0.25 of 512 / 2 */
    hp->rms_eps = 1e-6f;
    hp->final_softcap = 30.0f;
    hp->n_ctx_train = hp->n_expert ? 262144 : 131072;
    for (int32_t l = 0; l < hp->n_layer; l++) hp->swa_pattern[l] = (l + 1) % period != 0;
    hp->swa_pattern[hp->n_layer - 1] = false; /* the last layer is always global */
    return true;
}

static g4_status synth(const char *variant, const char *path, const quant_spec *q, g4_progress_fn progress, void *user,
                       g4_error *err) {
    const g4_dtype type = (g4_dtype)q->type;
    g4_model m = {0};
    if (!variant || !variant_hparams(variant, &m.hp))
        return g4_fail(err, G4_ERR_ARG, "unknown variant '%s' (e2b, e4b, 26b-a4b, 31b)", variant ? variant : "");
    g4_status st = config_finish(&m.hp, variant, err);
    if (st != G4_OK) return st;
    const g4_hparams *hp = &m.hp;
    const int64_t H = hp->n_embd, P = hp->n_embd_per_layer, E = hp->n_expert, FE = hp->n_ff_expert;
    int64_t widest = G4_MAX(G4_MAX(H, 512), G4_MAX(E, P));
    float *ones = g4_malloc((size_t)widest * sizeof *ones);
    m.layers = g4_calloc((size_t)hp->n_layer, sizeof *m.layers);
    m.rope_factors = g4_malloc((size_t)(hp->head_dim_global / 2) * sizeof(float));
    m.path = (char *)variant;
    if (!ones || !m.layers || !m.rope_factors) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto done; }
    for (int64_t i = 0; i < widest; i++) ones[i] = 1.0f;
    for (int32_t i = 0; i < hp->head_dim_global / 2; i++) m.rope_factors[i] = i < hp->rope_pairs_global ? 1.0f : 1e30f;
#define SHAPE(rows_, cols_) ((mat){NULL, type, (rows_), (cols_), 0, false})
    m.tok_embd = m.output = SHAPE(hp->n_vocab, H);
    m.output_norm = ones;
    if (P) {
        m.ple_embd = SHAPE(hp->n_vocab, (int64_t)hp->n_layer * P);
        m.ple_model_proj = SHAPE((int64_t)hp->n_layer * P, H);
        m.ple_proj_norm = ones;
    }
    for (int32_t l = 0; l < hp->n_layer; l++) {
        layer_weights *lw = &m.layers[l];
        const int64_t D = hp->layer[l].head_dim, F = hp->layer[l].n_ff, Q = hp->n_head * D, KV = hp->layer[l].n_kv_head * D;
        (void)FE; (void)E;
#define X_VEC(f, g, h, a, b, c, w) lw->f = ones;
#define X_MAT(f, g, h, a, b, c, w) lw->f = SHAPE(b, a);
        LAYER_VECS(X_VEC)
        LAYER_MATS(X_MAT)
#undef X_VEC
#undef X_MAT
    }
#undef SHAPE
    st = write_gguf(&m, path, q, dummy_vocab, progress, user, err);
done:
    free(ones);
    free(m.layers);
    free(m.rope_factors);
    return st;
}

g4_status g4_synth_gguf(const char *variant, const char *path, g4_dtype type, g4_progress_fn progress, void *user,
                        g4_error *err) {
    quant_spec q;
    g4_status st = spec_of_dtype(type, &q, err);
    return st != G4_OK ? st : synth(variant, path, &q, progress, user, err);
}

g4_status g4_synth_gguf_as(const char *variant, const char *path, const char *quant, g4_progress_fn progress,
                           void *user, g4_error *err) {
    quant_spec q;
    g4_status st = spec_of_name(quant, &q, err);
    return st != G4_OK ? st : synth(variant, path, &q, progress, user, err);
}
