/* vocab_load.c - reading a Gemma 4 vocabulary from its two sources into the arrays
 * tok_build_vocab (vocab.c) takes:
 *   - the `tokenizer.*` metadata of a GGUF file (model "gemma4": tokens, token types,
 *     merges, special ids, add_bos, chat template), walked in place in the mapping;
 *   - a Hugging Face directory: tokenizer.json (BPE model, added tokens, normalizer) and
 *     tokenizer_config.json (special tokens, add_bos_token, chat template).
 * Both give identical ids (tests/test_tokenizer.c checks it on the whole corpus). Only
 * what Gemma's converter writes is accepted; any other normalizer or pre-tokenizer would
 * change the text before BPE and is refused with G4_ERR_UNSUPPORTED. */
#include "tokenizer.h"

#include "../format/gguf.h"
#include "../format/mapfile.h"
#include "utf8.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <sys/stat.h>

/* Fills the ids the library cares about by name when the file does not give them. */
static void fill_special_ids(g4_tokenizer *t) {
    struct { int32_t *id; const char *name; } d[] = {
        {&t->bos, "<bos>"}, {&t->eos, "<eos>"}, {&t->unk, "<unk>"}, {&t->pad, "<pad>"},
        {&t->mask, "<mask>"},
    };
    for (size_t i = 0; i < G4_ARRAY_LEN(d); i++)
        if (*d[i].id < 0 || *d[i].id >= t->n_vocab) *d[i].id = tok_find(t, d[i].name, strlen(d[i].name));
    t->eot = tok_find(t, "<turn|>", 7);
    g4_special_tokens *sp = &t->special;
    sp->bos = t->bos; sp->eos = t->eos; sp->pad = t->pad; sp->unk = t->unk;
    struct { int32_t *id; const char *name; } c[] = {
        {&sp->turn_start, "<|turn>"}, {&sp->turn_end, "<turn|>"},
        {&sp->channel_start, "<|channel>"}, {&sp->channel_end, "<channel|>"},
        {&sp->tool_start, "<|tool>"}, {&sp->tool_end, "<tool|>"},
        {&sp->tool_call_start, "<|tool_call>"}, {&sp->tool_call_end, "<tool_call|>"},
        {&sp->tool_response_start, "<|tool_response>"}, {&sp->tool_response_end, "<tool_response|>"},
        {&sp->think, "<|think|>"}, {&sp->string_quote, "<|\"|>"},
    };
    for (size_t i = 0; i < G4_ARRAY_LEN(c); i++) *c[i].id = tok_find(t, c[i].name, strlen(c[i].name));
}

/* ---- GGUF --------------------------------------------------------------------- */

static int32_t gguf_id(const gguf_file *g, const char *key, g4_error *err) {
    uint32_t v;
    if (!gguf_get_u32(g, key, &v, err)) return -1;
    return v > INT32_MAX ? -1 : (int32_t)v;
}

g4_status tok_load_gguf(g4_tokenizer *t, const char *path, g4_error *err) {
    gguf_file g;
    g4_status st = gguf_open(&g, path, err);
    if (st != G4_OK) return st;
    uint8_t *types = NULL;
    t->bos = t->eos = t->unk = t->pad = t->mask = t->eot = -1;

    gguf_str model;
    if (!gguf_get_str(&g, "tokenizer.ggml.model", &model, err)) {
        st = g4_fail(err, G4_ERR_FORMAT, "%s: no tokenizer.ggml.model (not a model or vocabulary file?)", path);
        goto out;
    }
    if (!(model.n == 6 && memcmp(model.s, "gemma4", 6) == 0)) {
        st = g4_fail(err, G4_ERR_UNSUPPORTED, "%s: tokenizer model '%.*s' is not gemma4", path,
                     (int)G4_MIN(model.n, 64), model.s);
        goto out;
    }
    const gguf_kv *kt = gguf_find(&g, "tokenizer.ggml.tokens");
    const gguf_kv *km = gguf_find(&g, "tokenizer.ggml.merges");
    const gguf_kv *kty = gguf_find(&g, "tokenizer.ggml.token_type");
    if (!kt || !km) {
        st = g4_fail(err, G4_ERR_FORMAT, "%s: tokenizer.ggml.%s is missing", path, kt ? "merges" : "tokens");
        goto out;
    }
    if (kt->type != GGUF_TYPE_ARRAY || kt->arr_type != GGUF_TYPE_STRING || km->type != GGUF_TYPE_ARRAY ||
        km->arr_type != GGUF_TYPE_STRING) {
        st = g4_fail(err, G4_ERR_FORMAT, "%s: tokenizer.ggml.tokens/merges are not string arrays", path);
        goto out;
    }
    if (kt->arr_n == 0 || kt->arr_n > (1 << 24) || km->arr_n > (1u << 26)) {
        st = g4_fail(err, G4_ERR_FORMAT, "%s: %llu tokens / %llu merges is out of range", path,
                     (unsigned long long)kt->arr_n, (unsigned long long)km->arr_n);
        goto out;
    }
    int32_t n = (int32_t)kt->arr_n;
    if (kty) {
        if (kty->type != GGUF_TYPE_ARRAY || kty->arr_n != kt->arr_n) {
            st = g4_fail(err, G4_ERR_FORMAT, "%s: tokenizer.ggml.token_type does not match the token list", path);
            goto out;
        }
        types = g4_malloc((size_t)n);
        if (!types) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto out; }
        for (int32_t i = 0; i < n; i++) {
            int64_t v;
            if (!gguf_arr_int(kty, (uint64_t)i, &v)) {
                st = g4_fail(err, G4_ERR_FORMAT, "%s: tokenizer.ggml.token_type is not an integer array", path);
                goto out;
            }
            types[i] = v >= TOK_NORMAL && v <= TOK_BYTE ? (uint8_t)v : TOK_NORMAL;
        }
    }
    tok_build b = {
        .n_vocab = n, .pieces = {.gguf = kt->arr_data}, .types = types,
        .n_merges = (int64_t)km->arr_n, .merges = {.gguf = km->arr_data},
        .merge_pairs = false, .byte_fallback = true,
    };
    if ((st = tok_build_vocab(t, &b, err)) != G4_OK) {
        g4_error_prefix(err, "%s", path);
        goto out;
    }

    t->bos = gguf_id(&g, "tokenizer.ggml.bos_token_id", err);
    t->eos = gguf_id(&g, "tokenizer.ggml.eos_token_id", err);
    t->unk = gguf_id(&g, "tokenizer.ggml.unknown_token_id", err);
    t->pad = gguf_id(&g, "tokenizer.ggml.padding_token_id", err);
    t->mask = gguf_id(&g, "tokenizer.ggml.mask_token_id", err);
    if (err && err->status != G4_OK) { st = err->status; goto out; }
    fill_special_ids(t);
    /* Gemma needs exactly one <bos>; llama.cpp forces add_bos for gemma4 files too. */
    bool add_bos = true;
    gguf_get_bool(&g, "tokenizer.ggml.add_bos_token", &add_bos, err);
    t->add_bos = add_bos;
    gguf_str tmpl;
    if (gguf_get_str(&g, "tokenizer.chat_template", &tmpl, err)) {
        t->chat_template = g4_malloc((size_t)tmpl.n + 1);
        if (!t->chat_template) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto out; }
        memcpy(t->chat_template, tmpl.s, (size_t)tmpl.n);
        t->chat_template[tmpl.n] = 0;
    }
    if (err && err->status != G4_OK) st = err->status;
    t->source = g4_strdup("gguf");
    if (!t->source && st == G4_OK) st = g4_fail(err, G4_ERR_NOMEM, "out of memory");
out:
    free(types);
    gguf_close(&g);
    return st;
}

/* ---- Hugging Face tokenizer.json ------------------------------------------------ */

/* The tokenizer.json of the largest Gemma vocabularies is ~35 MB. */
#define HF_JSON_MAX ((uint64_t)256 << 20)

static bool json_is_str(const cJSON *j, const char *s) {
    return cJSON_IsString(j) && strcmp(j->valuestring, s) == 0;
}

/* Accepts only what Gemma's converter writes: nothing, or Replace(' ' -> '▁'), alone
 * or in a Sequence. Anything else would change the text before BPE. */
static bool normalizer_ok(const cJSON *n) {
    if (!n || cJSON_IsNull(n)) return true;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(n, "type");
    if (json_is_str(type, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(n, "normalizers"))
            if (!normalizer_ok(it)) return false;
        return true;
    }
    if (!json_is_str(type, "Replace")) return false;
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(n, "pattern"), "String");
    return json_is_str(pat, " ") && json_is_str(cJSON_GetObjectItemCaseSensitive(n, "content"), UTF8_SPACE_MARK);
}

/* Accepts no pre-tokenizer, or splits on a literal ' ' (a no-op after the normalizer
 * has replaced every space). */
static bool pretokenizer_ok(const cJSON *p) {
    if (!p || cJSON_IsNull(p)) return true;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
    if (json_is_str(type, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(p, "pretokenizers"))
            if (!pretokenizer_ok(it)) return false;
        return true;
    }
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "pattern"), "String");
    return json_is_str(type, "Split") && json_is_str(pat, " ");
}

/* A token named in tokenizer_config.json: a string or {"content": ...}. */
static int32_t config_token(const g4_tokenizer *t, const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!cJSON_IsString(v)) return -1;
    return tok_find(t, v->valuestring, strlen(v->valuestring));
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

g4_status tok_load_hf(g4_tokenizer *t, const char *dir, g4_error *err) {
    char path[4096], *text = NULL, *cfg_text = NULL, *tmpl = NULL;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    g4_status st = read_text_file(path, HF_JSON_MAX, &text, err);
    if (st != G4_OK) return st;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (file_exists(path)) st = read_text_file(path, HF_JSON_MAX, &cfg_text, err);
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    if (st == G4_OK && file_exists(path)) st = read_text_file(path, HF_JSON_MAX, &tmpl, err);
    if (st == G4_OK) {
        st = tok_parse_hf(t, text, cfg_text, tmpl, err);
        if (st != G4_OK) g4_error_prefix(err, "%s", dir);
    }
    free(text);
    free(cfg_text);
    free(tmpl);
    return st;
}

g4_status tok_parse_hf(g4_tokenizer *t, const char *json, const char *config_json, const char *template_text,
                       g4_error *err) {
    g4_status st = G4_OK;
    const char *path = "tokenizer.json";
    cJSON *root = NULL, *cfg = NULL;
    const char **ptrs = NULL, **mptrs = NULL;
    uint32_t *lens = NULL, *mlens = NULL;
    uint8_t *types = NULL;
    t->bos = t->eos = t->unk = t->pad = t->mask = t->eot = -1;

    root = cJSON_Parse(json);
    if (!root) { st = g4_fail(err, G4_ERR_FORMAT, "%s: not valid JSON", path); goto out; }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!json_is_str(cJSON_GetObjectItemCaseSensitive(model, "type"), "BPE") || !cJSON_IsObject(vocab) ||
        !cJSON_IsArray(merges)) {
        st = g4_fail(err, G4_ERR_UNSUPPORTED, "%s: not a BPE tokenizer with vocab and merges", path);
        goto out;
    }
    if (!normalizer_ok(cJSON_GetObjectItemCaseSensitive(root, "normalizer")) ||
        !pretokenizer_ok(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"))) {
        st = g4_fail(err, G4_ERR_UNSUPPORTED,
                     "%s: normalizer or pre-tokenizer is not Gemma's (space -> U+2581, no splitting)", path);
        goto out;
    }
    const cJSON *ign = cJSON_GetObjectItemCaseSensitive(model, "ignore_merges");
    const cJSON *cont = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    const cJSON *eow = cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix");
    if (cJSON_IsTrue(ign) || (cont && !cJSON_IsNull(cont)) || (eow && !cJSON_IsNull(eow))) {
        st = g4_fail(err, G4_ERR_UNSUPPORTED, "%s: BPE options other than Gemma's are not supported", path);
        goto out;
    }
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");

    /* vocabulary size: the largest id named anywhere, plus one */
    int64_t n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= (1 << 24) ||
            it->valuedouble != (double)(int64_t)it->valuedouble) {
            st = g4_fail(err, G4_ERR_FORMAT, "%s: vocabulary id of '%.40s' is not a valid id", path, it->string);
            goto out;
        }
        n = G4_MAX(n, (int64_t)it->valuedouble + 1);
    }
    cJSON_ArrayForEach(it, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= (1 << 24) ||
            !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(it, "content"))) {
            st = g4_fail(err, G4_ERR_FORMAT, "%s: an added token lacks a valid id or content", path);
            goto out;
        }
        n = G4_MAX(n, (int64_t)id->valuedouble + 1);
    }
    if (n == 0) { st = g4_fail(err, G4_ERR_FORMAT, "%s: empty vocabulary", path); goto out; }
    ptrs = g4_calloc((size_t)n, sizeof *ptrs);
    lens = g4_calloc((size_t)n, sizeof *lens);
    types = g4_calloc((size_t)n, 1);
    if (!ptrs || !lens || !types) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto out; }
    cJSON_ArrayForEach(it, vocab) {
        int32_t id = (int32_t)it->valuedouble;
        ptrs[id] = it->string;
        lens[id] = (uint32_t)strlen(it->string);
        types[id] = tok_byte_piece(it->string, lens[id]) >= 0 ? TOK_BYTE : TOK_NORMAL;
    }
    cJSON_ArrayForEach(it, added) {
        int32_t id = (int32_t)cJSON_GetObjectItemCaseSensitive(it, "id")->valuedouble;
        const char *content = cJSON_GetObjectItemCaseSensitive(it, "content")->valuestring;
        ptrs[id] = content;
        lens[id] = (uint32_t)strlen(content);
        types[id] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "special")) ? TOK_CONTROL : TOK_USER_DEFINED;
    }
    for (int64_t i = 0; i < n; i++) {
        if (!ptrs[i]) { ptrs[i] = ""; types[i] = TOK_UNUSED; }
    }

    int64_t nm = cJSON_GetArraySize(merges);
    bool pairs = nm > 0 && cJSON_IsArray(merges->child);
    mptrs = g4_malloc((size_t)(nm * 2) * sizeof *mptrs);
    mlens = g4_malloc((size_t)(nm * 2) * sizeof *mlens);
    if (!mptrs || !mlens) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto out; }
    int64_t k = 0;
    cJSON_ArrayForEach(it, merges) {
        if (pairs) {
            const cJSON *a = cJSON_GetArrayItem(it, 0), *b = cJSON_GetArrayItem(it, 1);
            if (!cJSON_IsString(a) || !cJSON_IsString(b) || cJSON_GetArraySize(it) != 2) {
                st = g4_fail(err, G4_ERR_FORMAT, "%s: merge %lld is not a pair of strings", path, (long long)k);
                goto out;
            }
            mptrs[2 * k] = a->valuestring; mlens[2 * k] = (uint32_t)strlen(a->valuestring);
            mptrs[2 * k + 1] = b->valuestring; mlens[2 * k + 1] = (uint32_t)strlen(b->valuestring);
        } else {
            if (!cJSON_IsString(it)) {
                st = g4_fail(err, G4_ERR_FORMAT, "%s: merge %lld is not a string", path, (long long)k);
                goto out;
            }
            mptrs[k] = it->valuestring;
            mlens[k] = (uint32_t)strlen(it->valuestring);
        }
        k++;
    }
    const cJSON *bf = cJSON_GetObjectItemCaseSensitive(model, "byte_fallback");
    tok_build b = {
        .n_vocab = (int32_t)n, .pieces = {.ptrs = ptrs, .lens = lens}, .types = types,
        .n_merges = nm, .merges = {.ptrs = mptrs, .lens = mlens}, .merge_pairs = pairs,
        .byte_fallback = cJSON_IsTrue(bf),
    };
    if ((st = tok_build_vocab(t, &b, err)) != G4_OK) {
        g4_error_prefix(err, "%s", path);
        goto out;
    }
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(unk)) t->unk = tok_find(t, unk->valuestring, strlen(unk->valuestring));

    /* tokenizer_config.json: special tokens, add_bos_token, chat template */
    bool add_bos_known = false;
    path = "tokenizer_config.json";
    if (config_json) {
        cfg = cJSON_Parse(config_json);
        if (!cJSON_IsObject(cfg)) { st = g4_fail(err, G4_ERR_FORMAT, "%s: not a JSON object", path); goto out; }
        t->bos = config_token(t, cfg, "bos_token");
        t->eos = config_token(t, cfg, "eos_token");
        t->pad = config_token(t, cfg, "pad_token");
        int32_t u = config_token(t, cfg, "unk_token");
        if (u >= 0) t->unk = u;
        const cJSON *ab = cJSON_GetObjectItemCaseSensitive(cfg, "add_bos_token");
        if (cJSON_IsBool(ab)) { t->add_bos = cJSON_IsTrue(ab); add_bos_known = true; }
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
        if (cJSON_IsString(ct)) {
            t->chat_template = g4_strdup(ct->valuestring);
        } else if (cJSON_IsArray(ct)) { /* [{"name": "default", "template": ...}, ...] */
            cJSON_ArrayForEach(it, ct) {
                const cJSON *nm2 = cJSON_GetObjectItemCaseSensitive(it, "name");
                const cJSON *tp = cJSON_GetObjectItemCaseSensitive(it, "template");
                if (json_is_str(nm2, "default") && cJSON_IsString(tp) && !t->chat_template)
                    t->chat_template = g4_strdup(tp->valuestring);
            }
        }
    }
    if (!add_bos_known) {
        /* no explicit setting: follow the post-processor (TemplateProcessing "<bos> $A") */
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(root, "post_processor"), "single");
        const cJSON *first = cJSON_GetArrayItem(single, 0);
        t->add_bos = first && cJSON_GetObjectItemCaseSensitive(first, "SpecialToken");
    }
    if (!t->chat_template && template_text) t->chat_template = g4_strdup(template_text);
    fill_special_ids(t);
    t->source = g4_strdup("hf");
    if (!t->source) st = g4_fail(err, G4_ERR_NOMEM, "out of memory");
out:
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    free(ptrs);
    free(lens);
    free(mptrs);
    free(mlens);
    free(types);
    return st;
}
