/* test_badfiles.c - damaged and hostile inputs: every one must give a one-line error
 * that names the file and the problem, with a status, and never crash, hang or allocate
 * wildly (run under `make asan` too). The corpus is generated from the committed micro
 * model (tests/data/micro, and its GGUF in tests/fuzz/seeds/fuzz_gguf) so it stays in
 * step with the format code:
 *   GGUF:        every truncation, random byte corruption, bad magic, other architecture,
 *                absurd counts, a missing tensor;
 *   safetensors: truncation, bad header length, non-JSON header, missing / mis-shaped /
 *                wrong-dtype tensors, shard names that escape the directory;
 *   config.json: not JSON, missing fields, wrong types, inconsistent geometry, another
 *                model type;
 *   paths:       nonexistent, an empty directory, a directory given as a GGUF. */
#include "g4.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static uint8_t *find(uint8_t *hay, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(hay + i, needle, k)) return hay + i;
    return NULL;
}

static char tmp[] = "/tmp/g4-test-bad-XXXXXX";

/* Opens path and expects failure with a message that mentions `needle` (if non-NULL). */
static void expect_fail(const char *path, const char *needle, const char *what) {
    g4_model *m = NULL;
    g4_error err;
    g4_status st = g4_model_open(&m, path, NULL, &err);
    CHECK_MSG(st != G4_OK && m == NULL, "%s: opened a bad model", what);
    CHECK_MSG(err.status == st && err.msg[0] && !strchr(err.msg, '\n'), "%s: no one-line message", what);
    if (needle) CHECK_MSG(strstr(err.msg, needle) != NULL, "%s: message '%s' lacks '%s'", what, err.msg, needle);
    g4_model_free(m);
}

/* Opens path; if it opens, evaluates a few tokens. Either way: no crash. */
static int open_and_run(const char *path) {
    g4_model *m = NULL;
    g4_error err;
    if (g4_model_open(&m, path, NULL, &err) != G4_OK) {
        CHECK(err.msg[0] != 0);
        return 0;
    }
    g4_session *s;
    g4_session_params sp = {.n_ctx = 8};
    if (g4_session_create(&s, m, &sp, &err) == G4_OK) {
        int32_t t[3] = {2, 40, 50};
        g4_session_eval(s, t, 3, &err);
        g4_session_free(s);
    }
    g4_model_free(m);
    return 1;
}

static void gguf_cases(void) {
    char src[512], path[600];
    snprintf(src, sizeof src, "tests/fuzz/seeds/fuzz_gguf/micro-f16.gguf");
    size_t n = 0;
    uint8_t *g = test_read_file(src, &n);
    if (!g) { CHECK_MSG(0, "cannot read %s", src); return; }
    snprintf(path, sizeof path, "%s/bad.gguf", tmp);
    CHECK(test_write_file(path, g, n) == 0);
    CHECK(open_and_run(path) == 1); /* the intact file works */

    /* every prefix of the header region, then coarser steps through the data */
    int fails = 0, total = 0;
    for (size_t len = 0; len < n; len += len < 4096 ? 1 : 509) {
        test_write_file(path, g, len);
        g4_model *m = NULL;
        g4_error err;
        total++;
        if (g4_model_open(&m, path, NULL, &err) != G4_OK && strstr(err.msg, path)) fails++;
        g4_model_free(m);
    }
    CHECK_MSG(fails == total, "%d of %d truncated files failed cleanly with the file named", fails, total);

    /* random corruption: 1-4 bytes in the first 8 KiB; must not crash */
    uint32_t seed = 12345;
    uint8_t *c = malloc(n);
    int opened = 0;
    for (int k = 0; k < 1500; k++) {
        memcpy(c, g, n);
        int flips = 1 + k % 4;
        for (int f = 0; f < flips; f++) {
            seed = seed * 1664525u + 1013904223u;
            size_t pos = (seed >> 8) % (n < 8192 ? n : 8192);
            seed = seed * 1664525u + 1013904223u;
            c[pos] ^= (uint8_t)(1u << ((seed >> 12) % 8));
        }
        test_write_file(path, c, n);
        opened += open_and_run(path);
    }
    CHECK(opened < 1500); /* most flips hit something checked */
    printf("gguf: %d truncations, 1500 corruptions (%d still loadable), no crash\n", total, opened);

    memcpy(c, g, n);
    memcpy(c, "GGUX", 4);
    test_write_file(path, c, n);
    expect_fail(path, "not a GGUF", "bad magic");

    memcpy(c, g, n);
    uint8_t *arch = find(c, 4096, "gemma4");
    CHECK(arch != NULL);
    if (arch) memcpy(arch, "llama4", 6);
    test_write_file(path, c, n);
    expect_fail(path, "not Gemma 4", "other architecture");

    memcpy(c, g, n);
    uint64_t huge = (uint64_t)1 << 62;
    memcpy(c + 8, &huge, 8); /* tensor count */
    test_write_file(path, c, n);
    expect_fail(path, "more than the file", "absurd tensor count");
    memcpy(c, g, n);
    memcpy(c + 16, &huge, 8); /* metadata count */
    test_write_file(path, c, n);
    expect_fail(path, "more than the file", "absurd kv count");

    memcpy(c, g, n);
    uint8_t *q = find(c, n, "blk.0.attn_q.weight");
    CHECK(q != NULL);
    if (q) memcpy(q, "blk.0.attn_X.weight", 19);
    test_write_file(path, c, n);
    expect_fail(path, "missing tensor 'blk.0.attn_q.weight'", "missing tensor");

    /* a version this reader does not know */
    memcpy(c, g, n);
    c[4] = 9;
    test_write_file(path, c, n);
    expect_fail(path, "version", "unknown version");
    free(c);
    free(g);
}

/* Copies tests/data/micro to tmp/NAME and returns that path in out. */
static void micro_copy(const char *name, char *out, size_t outn) {
    snprintf(out, outn, "%s/%s", tmp, name);
    mkdir(out, 0755);
    static const char *files[] = {"config.json", "model.safetensors", "tokenizer.json"};
    for (size_t i = 0; i < 3; i++) {
        char a[600], b[700];
        snprintf(a, sizeof a, "%s/micro/%s", test_data_dir(), files[i]);
        snprintf(b, sizeof b, "%s/%s", out, files[i]);
        size_t n;
        void *d = test_read_file(a, &n);
        if (d) test_write_file(b, d, n);
        free(d);
    }
}

/* Rewrites the safetensors header of dir's model through edit(root). */
static void edit_header(const char *dir, void (*edit)(cJSON *)) {
    char p[700];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    size_t n;
    uint8_t *d = test_read_file(p, &n);
    if (!d) return;
    uint64_t hl;
    memcpy(&hl, d, 8);
    char *h = malloc(hl + 1);
    memcpy(h, d + 8, hl);
    h[hl] = 0;
    cJSON *root = cJSON_Parse(h);
    edit(root);
    char *nh = cJSON_PrintUnformatted(root);
    uint64_t nl = strlen(nh);
    FILE *f = fopen(p, "wb");
    fwrite(&nl, 8, 1, f);
    fwrite(nh, 1, nl, f);
    fwrite(d + 8 + hl, 1, n - 8 - hl, f);
    fclose(f);
    free(nh);
    cJSON_Delete(root);
    free(h);
    free(d);
}

static void drop_q(cJSON *r) { cJSON_DeleteItemFromObject(r, "model.language_model.layers.0.self_attn.q_proj.weight"); }
static void swap_q(cJSON *r) {
    cJSON *t = cJSON_GetObjectItem(r, "model.language_model.layers.1.self_attn.q_proj.weight");
    cJSON *sh = cJSON_GetObjectItem(t, "shape");
    int a = cJSON_GetArrayItem(sh, 0)->valueint, b = cJSON_GetArrayItem(sh, 1)->valueint;
    cJSON_ReplaceItemInArray(sh, 0, cJSON_CreateNumber(b));
    cJSON_ReplaceItemInArray(sh, 1, cJSON_CreateNumber(a));
}
static void int_q(cJSON *r) {
    cJSON *t = cJSON_GetObjectItem(r, "model.language_model.layers.0.self_attn.q_proj.weight");
    cJSON_ReplaceItemInObject(t, "dtype", cJSON_CreateString("I32"));
}
static void grow_q(cJSON *r) {
    cJSON *t = cJSON_GetObjectItem(r, "model.language_model.layers.0.self_attn.q_proj.weight");
    cJSON *sh = cJSON_GetObjectItem(t, "shape");
    cJSON_ReplaceItemInArray(sh, 0, cJSON_CreateNumber(1e12));
}
static void past_end(cJSON *r) {
    cJSON *t = cJSON_GetObjectItem(r, "model.language_model.norm.weight");
    cJSON *o = cJSON_GetObjectItem(t, "data_offsets");
    cJSON_ReplaceItemInArray(o, 0, cJSON_CreateNumber(1e9));
    cJSON_ReplaceItemInArray(o, 1, cJSON_CreateNumber(1e9 + 128));
}

static void write_text(const char *dir, const char *file, const char *text) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    test_write_file(p, text, strlen(text));
}

static void safetensors_cases(void) {
    char d[600], p[700];
    micro_copy("st-trunc", d, sizeof d);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    size_t n;
    uint8_t *data = test_read_file(p, &n);
    CHECK(data != NULL);
    if (!data) return;
    test_write_file(p, data, n / 2);
    expect_fail(d, "truncated", "truncated safetensors");
    uint64_t bad = n * 4;
    memcpy(data, &bad, 8);
    test_write_file(p, data, n);
    expect_fail(d, "header length", "header length past the end");
    memset(data + 8, 'x', 16);
    memcpy(data, &(uint64_t){16}, 8);
    test_write_file(p, data, n);
    expect_fail(d, "not a JSON object", "non-JSON header");
    free(data);

    static const struct { const char *name; void (*edit)(cJSON *); const char *needle; } edits[] = {
        {"st-missing", drop_q, "missing tensor"},
        {"st-shape", swap_q, "has shape"},
        {"st-dtype", int_q, "cannot compute"},
        {"st-grow", grow_q, "shape needs"},
        {"st-offsets", past_end, "outside the file"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        micro_copy(edits[i].name, d, sizeof d);
        edit_header(d, edits[i].edit);
        expect_fail(d, edits[i].needle, edits[i].name);
    }

    micro_copy("st-index", d, sizeof d);
    write_text(d, "model.safetensors.index.json", "{\"weight_map\": {\"a\": \"../../etc/passwd\"}}");
    expect_fail(d, "not a plain file name", "shard path escaping the directory");
    write_text(d, "model.safetensors.index.json", "{\"weight_map\": {\"a\": \"nope.safetensors\"}}");
    expect_fail(d, "nope.safetensors", "missing shard");
    write_text(d, "model.safetensors.index.json", "[1,2]");
    expect_fail(d, "weight_map", "index without weight_map");
}

static void config_cases(void) {
    char d[600], p[700];
    micro_copy("cfg", d, sizeof d);
    snprintf(p, sizeof p, "%s/config.json", d);
    size_t n;
    char *orig = test_read_file(p, &n);
    if (!orig) { CHECK(0); return; }
    static const struct { const char *from, *to, *needle; } subs[] = {
        {"\"hidden_size\": 32", "\"hidden_size\": \"32\"", "hidden_size"},
        {"\"hidden_size\": 32", "\"hidden_sizes\": 32", "missing \"hidden_size\""},
        {"\"num_key_value_heads\": 1", "\"num_key_value_heads\": 3", "divide"},
        {"\"model_type\": \"gemma4_text\"", "\"model_type\": \"llama\"", "not Gemma 4"},
        {"\"sliding_attention\",", "", "layer_types"},
        {"\"vocab_size\": 300", "\"vocab_size\": -5", "vocab_size"},
        {"\"num_hidden_layers\": 2", "\"num_hidden_layers\": 100000", "num_hidden_layers"},
        {"\"rope_theta\": 1000000.0", "\"rope_theta\": 0.5", "RoPE"},
        {"\"head_dim\": 16", "\"head_dim\": 15", "even"},
        {"\"global_head_dim\": 32", "\"global_head_dim\": 64", "has shape"},
        {"\"intermediate_size\": 64", "\"intermediate_size\": 0", "MLP width"},
    };
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        char *at = strstr(orig, subs[i].from);
        CHECK_MSG(at != NULL, "config seed lacks %s", subs[i].from);
        if (!at) continue;
        size_t pre = (size_t)(at - orig), fl = strlen(subs[i].from), tl = strlen(subs[i].to);
        char *s = malloc(n + tl + 1);
        memcpy(s, orig, pre);
        memcpy(s + pre, subs[i].to, tl);
        strcpy(s + pre + tl, at + fl);
        test_write_file(p, s, strlen(s));
        expect_fail(d, subs[i].needle, subs[i].from);
        free(s);
    }
    test_write_file(p, "{ not json", 10);
    expect_fail(d, "not a JSON object", "config not JSON");
    free(orig);
}

static void path_cases(void) {
    char d[600];
    expect_fail("/nonexistent/model.gguf", "no such file", "nonexistent path");
    snprintf(d, sizeof d, "%s/empty", tmp);
    mkdir(d, 0755);
    expect_fail(d, "not a model", "empty directory");
    g4_model *m;
    g4_error err;
    CHECK(g4_model_open(&m, NULL, NULL, &err) == G4_ERR_ARG);
    CHECK(g4_model_open(&m, "/dev/null", NULL, &err) != G4_OK);
}

/* Session-level misuse: bad token ids, empty input, oversize context. */
static void session_cases(void) {
    char d[600];
    snprintf(d, sizeof d, "%s/micro", test_data_dir());
    g4_model *m;
    g4_error err;
    if (g4_model_open(&m, d, NULL, &err) != G4_OK) { CHECK_MSG(0, "%s", err.msg); return; }
    g4_session *s;
    g4_session_params sp = {.n_ctx = 1 << 30};
    CHECK(g4_session_create(&s, m, &sp, &err) == G4_ERR_ARG);
    sp.n_ctx = -1;
    CHECK(g4_session_create(&s, m, &sp, &err) == G4_ERR_ARG);
    sp.n_ctx = 16;
    CHECK(g4_session_create(&s, m, &sp, &err) == G4_OK);
    int32_t bad[2] = {2, 300};
    CHECK(g4_session_eval(s, bad, 2, &err) == G4_ERR_ARG && strstr(err.msg, "outside the vocabulary"));
    bad[1] = -1;
    CHECK(g4_session_eval(s, bad, 2, &err) == G4_ERR_ARG);
    CHECK(g4_session_eval(s, bad, 0, &err) == G4_ERR_ARG);
    CHECK(g4_session_n_past(s) == 0 && g4_session_logits(s, -1) == NULL);
    int32_t many[17] = {0};
    CHECK(g4_session_eval(s, many, 17, &err) == G4_ERR_CONTEXT_FULL);
    CHECK(g4_session_eval(s, many, 16, &err) == G4_OK && g4_session_logits(s, -1) != NULL);
    CHECK(g4_session_logits(s, 1) == NULL); /* only the last row without all_logits */
    g4_session_reset(s);
    CHECK(g4_session_n_past(s) == 0 && g4_session_eval(s, many, 4, &err) == G4_OK);
    g4_session_free(s);
    g4_session_free(NULL);
    g4_model_free(m);
    g4_model_free(NULL);
}

int main(void) {
    if (!mkdtemp(tmp)) return 1;
    gguf_cases();
    safetensors_cases();
    config_cases();
    path_cases();
    session_cases();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return test_report("test_badfiles");
}
