/* config.c - Gemma 4 hyper-parameters from GGUF metadata or HF config.json, and the
 * derivation and validation of the per-layer table (config_finish). */
#include "config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#define ARCH "gemma4."

/* ---- GGUF ---------------------------------------------------------------------- */

/* A key that is either one u32 for all layers or an array with one value per layer. */
static g4_status per_layer_u32(const gguf_file *g, const char *key, int32_t *scalar, int32_t *arr,
                               int32_t n_layer, bool required, g4_error *err) {
    const gguf_kv *kv = gguf_find(g, key);
    if (!kv) return required ? g4_fail(err, G4_ERR_FORMAT, "%s: missing metadata '%s'", g->name, key) : G4_OK;
    if (kv->type == GGUF_TYPE_ARRAY) {
        if (kv->arr_n != (uint64_t)n_layer)
            return g4_fail(err, G4_ERR_FORMAT, "%s: '%s' has %llu entries for %d layers", g->name, key,
                           (unsigned long long)kv->arr_n, n_layer);
        for (int32_t l = 0; l < n_layer; l++) {
            int64_t v;
            if (!gguf_arr_int(kv, (uint64_t)l, &v) || v < 0 || v > INT32_MAX)
                return g4_fail(err, G4_ERR_FORMAT, "%s: '%s' must be an array of non-negative integers", g->name, key);
            arr[l] = (int32_t)v;
        }
        *scalar = arr[0];
        return G4_OK;
    }
    uint32_t v;
    if (!gguf_get_u32(g, key, &v, err)) return err && err->status ? err->status : G4_ERR_FORMAT;
    if (v > INT32_MAX) return g4_fail(err, G4_ERR_FORMAT, "%s: '%s' out of range", g->name, key);
    *scalar = (int32_t)v;
    return G4_OK;
}

static g4_status get_u32(const gguf_file *g, const char *key, int32_t *out, bool required, g4_error *err) {
    uint32_t v;
    if (gguf_get_u32(g, key, &v, err)) {
        if (v > INT32_MAX) return g4_fail(err, G4_ERR_FORMAT, "%s: '%s' out of range", g->name, key);
        *out = (int32_t)v;
        return G4_OK;
    }
    if (err && err->status) return err->status;
    return required ? g4_fail(err, G4_ERR_FORMAT, "%s: missing metadata '%s'", g->name, key) : G4_OK;
}

static g4_status get_f32(const gguf_file *g, const char *key, float *out, bool required, g4_error *err) {
    if (gguf_get_f32(g, key, out, err)) return G4_OK;
    if (err && err->status) return err->status;
    return required ? g4_fail(err, G4_ERR_FORMAT, "%s: missing metadata '%s'", g->name, key) : G4_OK;
}

g4_status config_from_gguf(g4_hparams *hp, const gguf_file *g, g4_error *err) {
    memset(hp, 0, sizeof *hp);
    gguf_str arch;
    if (!gguf_get_str(g, "general.architecture", &arch, err))
        return err && err->status ? err->status : g4_fail(err, G4_ERR_FORMAT, "%s: no general.architecture; not a model file", g->name);
    if (arch.n != 6 || memcmp(arch.s, "gemma4", 6))
        return g4_fail(err, G4_ERR_UNSUPPORTED, "%s: architecture '%.*s' is not Gemma 4 ('gemma4')", g->name,
                       (int)G4_MIN(arch.n, 40), arch.s);
    g4_status st;
    if ((st = get_u32(g, ARCH "block_count", &hp->n_layer, true, err))) return st;
    if (hp->n_layer < 1 || hp->n_layer > G4_MAX_LAYERS)
        return g4_fail(err, G4_ERR_FORMAT, "%s: block_count %d outside 1..%d", g->name, hp->n_layer, G4_MAX_LAYERS);
    int32_t kl = 0, kl_swa = 0, vl = 0, vl_swa = 0, rot = 0, rot_swa = 0;
    if ((st = get_u32(g, ARCH "context_length", &hp->n_ctx_train, false, err)) ||
        (st = get_u32(g, ARCH "embedding_length", &hp->n_embd, true, err)) ||
        (st = per_layer_u32(g, ARCH "feed_forward_length", &hp->n_ff, hp->ff_per_layer, hp->n_layer, true, err)) ||
        (st = get_u32(g, ARCH "attention.head_count", &hp->n_head, true, err)) ||
        (st = per_layer_u32(g, ARCH "attention.head_count_kv", &hp->n_kv_swa, hp->kv_per_layer, hp->n_layer, true, err)) ||
        (st = get_u32(g, ARCH "attention.key_length", &kl, true, err)) ||
        (st = get_u32(g, ARCH "attention.key_length_swa", &kl_swa, true, err)) ||
        (st = get_u32(g, ARCH "attention.value_length", &vl, false, err)) ||
        (st = get_u32(g, ARCH "attention.value_length_swa", &vl_swa, false, err)) ||
        (st = get_f32(g, ARCH "attention.layer_norm_rms_epsilon", &hp->rms_eps, true, err)) ||
        (st = get_u32(g, ARCH "attention.sliding_window", &hp->sliding_window, true, err)) ||
        (st = get_u32(g, ARCH "attention.shared_kv_layers", &hp->n_layer_kv_shared, false, err)) ||
        (st = get_u32(g, ARCH "embedding_length_per_layer_input", &hp->n_embd_per_layer, false, err)) ||
        (st = get_f32(g, ARCH "rope.freq_base", &hp->rope_base_global, true, err)) ||
        (st = get_f32(g, ARCH "rope.freq_base_swa", &hp->rope_base_swa, true, err)) ||
        (st = get_u32(g, ARCH "rope.dimension_count", &rot, false, err)) ||
        (st = get_u32(g, ARCH "rope.dimension_count_swa", &rot_swa, false, err)) ||
        (st = get_f32(g, ARCH "final_logit_softcapping", &hp->final_softcap, false, err)) ||
        (st = get_u32(g, ARCH "expert_count", &hp->n_expert, false, err)) ||
        (st = get_u32(g, ARCH "expert_used_count", &hp->n_expert_used, false, err)) ||
        (st = get_u32(g, ARCH "expert_feed_forward_length", &hp->n_ff_expert, false, err)))
        return st;
    if ((vl && vl != kl) || (vl_swa && vl_swa != kl_swa))
        return g4_fail(err, G4_ERR_FORMAT, "%s: key and value head sizes differ", g->name);
    hp->head_dim_global = kl;
    hp->head_dim_swa = kl_swa;
    /* Partial rotation on global layers is carried by the rope_freqs tensor (read by the
     * model loader); dimension_count must cover the whole head, as llama.cpp writes it. */
    if ((rot && rot != kl) || (rot_swa && rot_swa != kl_swa))
        return g4_fail(err, G4_ERR_UNSUPPORTED, "%s: rope.dimension_count other than the head size is not supported", g->name);
    hp->rope_pairs_global = kl / 2;
    hp->rope_pairs_swa = kl_swa / 2;

    const gguf_kv *pat = gguf_find(g, ARCH "attention.sliding_window_pattern");
    if (!pat || pat->type != GGUF_TYPE_ARRAY || pat->arr_n != (uint64_t)hp->n_layer)
        return g4_fail(err, G4_ERR_FORMAT, "%s: '" ARCH "attention.sliding_window_pattern' must be an array of %d bools",
                       g->name, hp->n_layer);
    for (int32_t l = 0; l < hp->n_layer; l++) {
        int64_t v;
        if (!gguf_arr_int(pat, (uint64_t)l, &v))
            return g4_fail(err, G4_ERR_FORMAT, "%s: sliding_window_pattern must hold bools", g->name);
        hp->swa_pattern[l] = v != 0;
    }
    /* Per-layer KV heads: the sliding value is the one of the first sliding layer, the
     * global value that of the first global layer. */
    hp->n_kv_global = hp->n_kv_swa;
    bool seen_swa = false, seen_glob = false;
    for (int32_t l = 0; l < hp->n_layer; l++) {
        int32_t v = hp->kv_per_layer[l] ? hp->kv_per_layer[l] : hp->n_kv_swa;
        if (hp->swa_pattern[l] && !seen_swa) { hp->n_kv_swa = v; seen_swa = true; }
        if (!hp->swa_pattern[l] && !seen_glob) { hp->n_kv_global = v; seen_glob = true; }
    }
    if (hp->n_ff == 0) /* an array of per-layer widths starting with 0 is caught by finish */
        hp->n_ff = hp->ff_per_layer[0];
    return G4_OK;
}

/* ---- Hugging Face config.json ---------------------------------------------------- */

typedef struct jreader {
    const cJSON *obj;
    const char *name;
    g4_error *err;
    g4_status st;
} jreader;

static int32_t j_int(jreader *r, const char *key, int32_t dflt, bool required) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->obj, key);
    if (!v || cJSON_IsNull(v)) {
        if (required && r->st == G4_OK) r->st = g4_fail(r->err, G4_ERR_FORMAT, "%s: missing \"%s\"", r->name, key);
        return dflt;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > INT32_MAX || v->valuedouble != (double)(int64_t)v->valuedouble) {
        if (r->st == G4_OK) r->st = g4_fail(r->err, G4_ERR_FORMAT, "%s: \"%s\" must be a non-negative integer", r->name, key);
        return dflt;
    }
    return (int32_t)v->valuedouble;
}

static double j_num(jreader *r, const cJSON *obj, const char *key, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return dflt;
    if (!cJSON_IsNumber(v)) {
        if (r->st == G4_OK) r->st = g4_fail(r->err, G4_ERR_FORMAT, "%s: \"%s\" must be a number", r->name, key);
        return dflt;
    }
    return v->valuedouble;
}

static bool j_bool(jreader *r, const char *key, bool dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->obj, key);
    if (!v || cJSON_IsNull(v)) return dflt;
    if (!cJSON_IsBool(v)) {
        if (r->st == G4_OK) r->st = g4_fail(r->err, G4_ERR_FORMAT, "%s: \"%s\" must be true or false", r->name, key);
        return dflt;
    }
    return cJSON_IsTrue(v);
}

/* rope_parameters.{sliding_attention,full_attention}.{rope_theta,partial_rotary_factor} */
static void j_rope(jreader *r, const cJSON *rp, const char *kind, float *base, double *factor) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(rp, kind);
    if (!cJSON_IsObject(o)) {
        if (r->st == G4_OK) r->st = g4_fail(r->err, G4_ERR_FORMAT, "%s: rope_parameters lacks \"%s\"", r->name, kind);
        return;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "rope_type");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "default") && strcmp(type->valuestring, "proportional")) {
        if (r->st == G4_OK)
            r->st = g4_fail(r->err, G4_ERR_UNSUPPORTED, "%s: rope_type '%s' is not supported", r->name, type->valuestring);
        return;
    }
    if (cJSON_GetObjectItemCaseSensitive(o, "factor") && j_num(r, o, "factor", 1.0) != 1.0 && r->st == G4_OK)
        r->st = g4_fail(r->err, G4_ERR_UNSUPPORTED, "%s: RoPE scaling factors are not supported", r->name);
    *base = (float)j_num(r, o, "rope_theta", 0.0);
    *factor = j_num(r, o, "partial_rotary_factor", 1.0);
}

g4_status config_from_hf_json(g4_hparams *hp, const char *json, const char *name, g4_error *err) {
    memset(hp, 0, sizeof *hp);
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return g4_fail(err, G4_ERR_FORMAT, "%s: not a JSON object", name);
    }
    const cJSON *plc = NULL;
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    const cJSON *cfg = cJSON_IsObject(tc) ? tc : root;
    jreader r = {cfg, name, err, G4_OK};
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    if (!cJSON_IsString(mt) || strncmp(mt->valuestring, "gemma4", 6) ||
        (strcmp(mt->valuestring, "gemma4") && strcmp(mt->valuestring, "gemma4_text"))) {
        r.st = g4_fail(err, G4_ERR_UNSUPPORTED, "%s: model_type '%s' is not Gemma 4 (gemma4 / gemma4_text)", name,
                       cJSON_IsString(mt) ? mt->valuestring : "(missing)");
        goto done;
    }
    hp->n_vocab = j_int(&r, "vocab_size", 0, true);
    hp->n_layer = j_int(&r, "num_hidden_layers", 0, true);
    hp->n_embd = j_int(&r, "hidden_size", 0, true);
    hp->n_head = j_int(&r, "num_attention_heads", 0, true);
    hp->n_kv_swa = j_int(&r, "num_key_value_heads", 0, true);
    hp->head_dim_swa = j_int(&r, "head_dim", 0, true);
    hp->k_eq_v = j_bool(&r, "attention_k_eq_v", false);
    /* Global-layer geometry. transformers 5.x saves it as per_layer_config
     * {"<layer>": {"head_dim": .., "num_key_value_heads": ..}} for the global layers;
     * released configs carry global_head_dim (default 512) and num_global_key_value_heads,
     * the latter honoured only with attention_k_eq_v (configuration_gemma4.py). */
    hp->head_dim_global = j_int(&r, "global_head_dim", 512, false);
    int32_t gkv = j_int(&r, "num_global_key_value_heads", 0, false);
    hp->n_kv_global = hp->k_eq_v && gkv ? gkv : hp->n_kv_swa;
    plc = cJSON_GetObjectItemCaseSensitive(cfg, "per_layer_config");
    hp->n_ff = j_int(&r, "intermediate_size", 0, true);
    hp->double_wide_mlp = j_bool(&r, "use_double_wide_mlp", false);
    hp->sliding_window = j_int(&r, "sliding_window", 0, true);
    hp->n_layer_kv_shared = j_int(&r, "num_kv_shared_layers", 0, false);
    hp->n_embd_per_layer = j_int(&r, "hidden_size_per_layer_input", 0, false);
    hp->n_vocab_per_layer = j_int(&r, "vocab_size_per_layer_input", hp->n_vocab, false);
    if (j_bool(&r, "enable_moe_block", false)) {
        hp->n_expert = j_int(&r, "num_experts", 0, true);
        hp->n_expert_used = j_int(&r, "top_k_experts", 0, true);
        hp->n_ff_expert = j_int(&r, "moe_intermediate_size", 0, true);
    }
    hp->rms_eps = (float)j_num(&r, cfg, "rms_norm_eps", 1e-6);
    hp->final_softcap = (float)j_num(&r, cfg, "final_logit_softcapping", 0.0);
    hp->n_ctx_train = j_int(&r, "max_position_embeddings", 0, false);
    if (!j_bool(&r, "tie_word_embeddings", true) && r.st == G4_OK)
        r.st = g4_fail(err, G4_ERR_UNSUPPORTED, "%s: untied output embeddings are not supported", name);
    if (r.st != G4_OK) goto done;
    if (hp->n_layer < 1 || hp->n_layer > G4_MAX_LAYERS) {
        r.st = g4_fail(err, G4_ERR_FORMAT, "%s: num_hidden_layers %d outside 1..%d", name, hp->n_layer, G4_MAX_LAYERS);
        goto done;
    }
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(cfg, "layer_types");
    if (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != hp->n_layer) {
        r.st = g4_fail(err, G4_ERR_FORMAT, "%s: \"layer_types\" must list %d layers", name, hp->n_layer);
        goto done;
    }
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const cJSON *v = cJSON_GetArrayItem(lt, l);
        if (cJSON_IsString(v) && !strcmp(v->valuestring, "sliding_attention")) hp->swa_pattern[l] = true;
        else if (cJSON_IsString(v) && !strcmp(v->valuestring, "full_attention")) hp->swa_pattern[l] = false;
        else {
            r.st = g4_fail(err, G4_ERR_FORMAT, "%s: layer_types[%d] must be \"sliding_attention\" or \"full_attention\"", name, l);
            goto done;
        }
    }
    if (plc && !cJSON_IsNull(plc)) {
        if (!cJSON_IsObject(plc)) {
            r.st = g4_fail(err, G4_ERR_FORMAT, "%s: \"per_layer_config\" must be an object", name);
            goto done;
        }
        hp->head_dim_global = hp->head_dim_swa; /* a layer without overrides keeps the base values */
        hp->n_kv_global = hp->n_kv_swa;
        bool seen = false;
        for (const cJSON *it = plc->child; it; it = it->next) {
            char *end = NULL;
            long l = it->string ? strtol(it->string, &end, 10) : -1;
            if (!it->string || !*it->string || *end || l < 0 || l >= hp->n_layer || !cJSON_IsObject(it)) {
                r.st = g4_fail(err, G4_ERR_FORMAT, "%s: per_layer_config key '%s' is not a layer index", name,
                               it->string ? it->string : "");
                goto done;
            }
            if (hp->swa_pattern[l]) {
                r.st = g4_fail(err, G4_ERR_UNSUPPORTED, "%s: per_layer_config overrides sliding layer %ld", name, l);
                goto done;
            }
            jreader lr = {it, name, err, G4_OK};
            int32_t hd = j_int(&lr, "head_dim", hp->head_dim_swa, false);
            int32_t kvh = j_int(&lr, "num_key_value_heads", hp->n_kv_swa, false);
            for (const cJSON *f = it->child; f && lr.st == G4_OK; f = f->next)
                if (strcmp(f->string, "head_dim") && strcmp(f->string, "num_key_value_heads"))
                    lr.st = g4_fail(err, G4_ERR_UNSUPPORTED, "%s: per_layer_config field '%s' is not supported", name, f->string);
            if (lr.st == G4_OK && seen && (hd != hp->head_dim_global || kvh != hp->n_kv_global))
                lr.st = g4_fail(err, G4_ERR_UNSUPPORTED, "%s: global layers with different geometries are not supported", name);
            if ((r.st = lr.st) != G4_OK) goto done;
            hp->head_dim_global = hd;
            hp->n_kv_global = kvh;
            seen = true;
        }
    }
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(cfg, "rope_parameters");
    if (!cJSON_IsObject(rp)) {
        r.st = g4_fail(err, G4_ERR_FORMAT, "%s: missing \"rope_parameters\"", name);
        goto done;
    }
    double f_swa = 1.0, f_glob = 1.0;
    j_rope(&r, rp, "sliding_attention", &hp->rope_base_swa, &f_swa);
    j_rope(&r, rp, "full_attention", &hp->rope_base_global, &f_glob);
    if (r.st != G4_OK) goto done;
    if (!(f_swa > 0 && f_swa <= 1 && f_glob > 0 && f_glob <= 1)) {
        r.st = g4_fail(err, G4_ERR_FORMAT, "%s: partial_rotary_factor must be in (0, 1]", name);
        goto done;
    }
    /* transformers: rotating pairs = int(factor * head_dim // 2) */
    hp->rope_pairs_swa = (int32_t)floor(f_swa * hp->head_dim_swa / 2.0);
    hp->rope_pairs_global = (int32_t)floor(f_glob * hp->head_dim_global / 2.0);
done:
    cJSON_Delete(root);
    return r.st;
}

/* ---- derivation and validation -------------------------------------------------- */

g4_status config_finish(g4_hparams *hp, const char *name, g4_error *err) {
#define CHECK(cond, ...) do { if (!(cond)) return g4_fail(err, G4_ERR_FORMAT, __VA_ARGS__); } while (0)
    /* Bounds keep buffer sizes computed from these numbers sane on a hostile file. */
    CHECK(hp->n_layer >= 1 && hp->n_layer <= G4_MAX_LAYERS, "%s: %d layers", name, hp->n_layer);
    CHECK(hp->n_vocab >= 1 && hp->n_vocab <= (1 << 24), "%s: vocabulary size %d out of range", name, hp->n_vocab);
    CHECK(hp->n_embd >= 1 && hp->n_embd <= 65536, "%s: hidden size %d out of range", name, hp->n_embd);
    CHECK(hp->n_head >= 1 && hp->n_head <= 1024, "%s: %d attention heads out of range", name, hp->n_head);
    CHECK(hp->head_dim_swa >= 2 && hp->head_dim_swa <= G4_MAX_HEAD_DIM && hp->head_dim_swa % 2 == 0 &&
          hp->head_dim_global >= 2 && hp->head_dim_global <= G4_MAX_HEAD_DIM && hp->head_dim_global % 2 == 0,
          "%s: head sizes %d/%d must be even and at most %d", name, hp->head_dim_swa, hp->head_dim_global, G4_MAX_HEAD_DIM);
    CHECK(hp->n_kv_swa >= 1 && hp->n_head % hp->n_kv_swa == 0 && hp->n_kv_global >= 1 && hp->n_head % hp->n_kv_global == 0,
          "%s: KV heads (%d sliding, %d global) must divide the %d query heads", name, hp->n_kv_swa, hp->n_kv_global, hp->n_head);
    CHECK(hp->sliding_window >= 1, "%s: sliding window must be positive", name);
    CHECK(hp->n_layer_kv_shared >= 0 && hp->n_layer_kv_shared < hp->n_layer, "%s: %d KV-shared layers of %d", name,
          hp->n_layer_kv_shared, hp->n_layer);
    CHECK(hp->n_embd_per_layer >= 0 && hp->n_embd_per_layer <= 4096, "%s: per-layer input width out of range", name);
    CHECK(hp->n_expert >= 0 && hp->n_expert <= 4096 && hp->n_expert_used >= 0 && hp->n_expert_used <= hp->n_expert &&
          (hp->n_expert == 0 || (hp->n_expert_used >= 1 && hp->n_ff_expert >= 1 && hp->n_ff_expert <= (1 << 20))),
          "%s: inconsistent expert counts (%d experts, %d used)", name, hp->n_expert, hp->n_expert_used);
    CHECK(hp->rms_eps > 0 && hp->rms_eps < 1, "%s: RMS norm epsilon out of range", name);
    CHECK(hp->final_softcap >= 0 && isfinite(hp->final_softcap), "%s: invalid final logit softcap", name);
    CHECK(hp->rope_base_swa > 1 && hp->rope_base_global > 1 && isfinite(hp->rope_base_swa) && isfinite(hp->rope_base_global),
          "%s: RoPE bases must be > 1", name);
    CHECK(hp->rope_pairs_swa >= 0 && hp->rope_pairs_swa <= hp->head_dim_swa / 2 && hp->rope_pairs_global >= 0 &&
          hp->rope_pairs_global <= hp->head_dim_global / 2, "%s: rotary sizes out of range", name);
    if (hp->n_vocab_per_layer == 0) hp->n_vocab_per_layer = hp->n_vocab;
    if (hp->n_ctx_train <= 0) hp->n_ctx_train = 131072;

    int32_t first_shared = hp->n_layer - hp->n_layer_kv_shared;
    for (int32_t l = 0; l < hp->n_layer; l++) {
        layer_config *lc = &hp->layer[l];
        lc->swa = hp->swa_pattern[l];
        lc->head_dim = lc->swa ? hp->head_dim_swa : hp->head_dim_global;
        lc->n_kv_head = hp->kv_per_layer[l] ? hp->kv_per_layer[l] : (lc->swa ? hp->n_kv_swa : hp->n_kv_global);
        CHECK(lc->n_kv_head >= 1 && hp->n_head % lc->n_kv_head == 0, "%s: layer %d: %d KV heads do not divide %d heads",
              name, l, lc->n_kv_head, hp->n_head);
        lc->n_ff = hp->ff_per_layer[l] ? hp->ff_per_layer[l]
                                       : (hp->double_wide_mlp && l >= first_shared ? 2 * hp->n_ff : hp->n_ff);
        CHECK(lc->n_ff >= 1 && lc->n_ff <= (1 << 20), "%s: layer %d: MLP width %d out of range", name, l, lc->n_ff);
        lc->has_v = !(hp->k_eq_v && !lc->swa);
        lc->kv_source = l;
        if (l >= first_shared) { /* reuse the last KV-owning layer of the same type */
            lc->kv_source = -1;
            for (int32_t j = first_shared - 1; j >= 0; j--)
                if (hp->swa_pattern[j] == lc->swa) { lc->kv_source = j; break; }
            CHECK(lc->kv_source >= 0, "%s: KV-shared layer %d has no earlier %s layer to share with", name, l,
                  lc->swa ? "sliding" : "global");
            const layer_config *d = &hp->layer[lc->kv_source];
            CHECK(d->n_kv_head == lc->n_kv_head && d->head_dim == lc->head_dim,
                  "%s: layer %d shares KV with layer %d of another geometry", name, l, lc->kv_source);
        }
    }
    return G4_OK;
#undef CHECK
}

const char *config_variant(const g4_hparams *hp) {
    if (hp->n_layer == 35 && hp->n_embd == 1536) return "e2b";
    if (hp->n_layer == 42 && hp->n_embd == 2560) return "e4b";
    if (hp->n_layer == 30 && hp->n_embd == 2816 && hp->n_expert > 0) return "26b-a4b";
    if (hp->n_layer == 60 && hp->n_embd == 5376) return "31b";
    return "custom";
}
