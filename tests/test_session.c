/* test_session.c - timelines that are reused, rolled back, batched and saved.
 *
 * Everything here is checked against the plain path (a fresh session that evaluates the
 * whole token sequence), on the tiny fixtures whose sliding window is 16, so ring buffers
 * wrap many times:
 *   - g4_session_sync reuses the common prefix and gives the logits of a fresh run;
 *   - g4_session_truncate rolls back (and refuses beyond what the rings hold);
 *   - g4_session_decode_batch gives each session the logits it would get alone;
 *   - g4_session_save/load round trips, and refuses corrupt, truncated and foreign files
 *     with the session left unchanged. */
#include "test.h"

#include <g4.h>

#define TOL 1e-4f /* relative to the largest |logit|: the same arithmetic, chunked differently */

static g4_model *open_model(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", test_data_dir(), name);
    g4_model *m = NULL;
    g4_error err;
    if (g4_model_open(&m, path, NULL, &err) != G4_OK) fprintf(stderr, "%s\n", err.msg);
    return m;
}

static g4_session *new_session(g4_model *m, int32_t n_ctx, int32_t n_ubatch, bool kv_f16) {
    g4_session_params p = {.n_ctx = n_ctx, .n_threads = 2, .n_ubatch = n_ubatch, .kv_f32 = !kv_f16};
    g4_session *s = NULL;
    g4_error err;
    if (g4_session_create(&s, m, &p, &err) != G4_OK) fprintf(stderr, "%s\n", err.msg);
    return s;
}

static int32_t n_vocab(const g4_model *m) { return g4_model_get_info(m)->n_vocab; }

/* max |a-b| / max |b| */
static float rel_diff(const float *a, const float *b, int32_t n) {
    float d = 0, mx = 1e-30f;
    for (int32_t i = 0; i < n; i++) {
        d = fmaxf(d, fabsf(a[i] - b[i]));
        mx = fmaxf(mx, fabsf(b[i]));
    }
    return d / mx;
}

static void make_tokens(int32_t *t, int32_t n, uint32_t seed, int32_t V) {
    for (int32_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        t[i] = 2 + (int32_t)((seed >> 8) % (uint32_t)(V - 2));
    }
}

/* logits of a fresh session that evaluates toks[0..n) in one call */
static float *fresh_logits(g4_model *m, const int32_t *toks, int32_t n, int32_t n_ubatch) {
    g4_session *s = new_session(m, 2048, n_ubatch, false);
    g4_error err;
    float *out = NULL;
    if (s && g4_session_eval(s, toks, n, &err) == G4_OK) {
        out = malloc((size_t)n_vocab(m) * sizeof *out);
        memcpy(out, g4_session_logits(s, -1), (size_t)n_vocab(m) * sizeof *out);
    }
    g4_session_free(s);
    return out;
}

static void test_sync_and_truncate(g4_model *m, const char *name) {
    const int32_t V = n_vocab(m);
    int32_t toks[300], other[300];
    make_tokens(toks, 300, 7, V);
    make_tokens(other, 300, 99, V);
    g4_error err;
    g4_session *s = new_session(m, 2048, 32, false);
    CHECK(s != NULL);
    if (!s) return;

    /* a conversation grows: 100 tokens, then the same 100 plus 60 */
    int32_t reused = -1;
    CHECK(g4_session_sync(s, toks, 100, &reused, &err) == G4_OK);
    CHECK(reused == 0);
    CHECK(g4_session_sync(s, toks, 160, &reused, &err) == G4_OK);
    CHECK_MSG(reused == 100, "%s: reused %d", name, reused);
    CHECK(g4_session_n_past(s) == 160);
    CHECK(memcmp(g4_session_tokens(s), toks, 160 * sizeof(int32_t)) == 0);
    float *want = fresh_logits(m, toks, 160, 32);
    CHECK(want && rel_diff(g4_session_logits(s, -1), want, V) < TOL);
    free(want);

    /* the same prompt again: only its last token is evaluated */
    CHECK(g4_session_sync(s, toks, 160, &reused, &err) == G4_OK);
    CHECK(reused == 159);

    /* branch: the first 120 tokens, then a different ending (a roll-back of 40) */
    int32_t branch[200];
    memcpy(branch, toks, 120 * sizeof(int32_t));
    memcpy(branch + 120, other, 80 * sizeof(int32_t));
    CHECK(g4_session_sync(s, branch, 200, &reused, &err) == G4_OK);
    CHECK_MSG(reused == 120, "%s: branch reused %d", name, reused);
    want = fresh_logits(m, branch, 200, 32);
    CHECK_MSG(want && rel_diff(g4_session_logits(s, -1), want, V) < TOL, "%s: branch logits", name);
    free(want);

    /* explicit truncate, then eval */
    CHECK(g4_session_truncate(s, 150, &err) == G4_OK);
    CHECK(g4_session_logits(s, -1) == NULL);
    CHECK(g4_session_eval(s, other + 150, 10, &err) == G4_OK);
    memcpy(branch + 150, other + 150, 10 * sizeof(int32_t));
    want = fresh_logits(m, branch, 160, 32);
    CHECK_MSG(want && rel_diff(g4_session_logits(s, -1), want, V) < TOL, "%s: truncate logits", name);
    free(want);
    CHECK(g4_session_truncate(s, 161, &err) == G4_ERR_ARG);
    CHECK(g4_session_truncate(s, -1, &err) == G4_ERR_ARG);
    g4_session_free(s);
}

/* A long timeline rolls back only as far as the sliding-window rings hold; sync then
 * falls back to a shorter prefix, still with correct logits. */
static void test_rollback_limit(g4_model *m) {
    const int32_t V = n_vocab(m), N = 1400;
    int32_t *toks = malloc(N * sizeof *toks);
    make_tokens(toks, N, 3, V);
    g4_error err;
    g4_session *s = new_session(m, 2048, 16, false);
    CHECK(s && g4_session_eval(s, toks, N, &err) == G4_OK);
    CHECK(g4_session_truncate(s, 1000, &err) == G4_OK); /* 400 back: within the slack */
    CHECK(g4_session_eval(s, toks + 1000, 400, &err) == G4_OK);
    CHECK(g4_session_truncate(s, 200, &err) == G4_ERR_UNSUPPORTED);
    CHECK(g4_session_n_past(s) == N); /* unchanged */
    int32_t reused = -1;
    int32_t *b = malloc(N * sizeof *b);
    memcpy(b, toks, N * sizeof *b);
    b[300] ^= 1; /* differs at 300: the rings no longer hold what position 300 needs */
    CHECK(g4_session_sync(s, b, 310, &reused, &err) == G4_OK);
    CHECK_MSG(reused < 300, "reused %d", reused);
    float *want = fresh_logits(m, b, 310, 16);
    CHECK(want && rel_diff(g4_session_logits(s, -1), want, V) < TOL);
    free(want);
    free(b);
    free(toks);
    g4_session_free(s);
}

static void test_decode_batch(g4_model *m, const char *name) {
    const int32_t V = n_vocab(m);
    enum { NS = 3 };
    g4_session *ss[NS];
    int32_t toks[NS][64];
    const int32_t len[NS] = {5, 40, 23};
    g4_error err;
    for (int i = 0; i < NS; i++) {
        make_tokens(toks[i], 64, 11u + (uint32_t)i, V);
        ss[i] = new_session(m, 256, 8, false);
        CHECK(ss[i] && g4_session_eval(ss[i], toks[i], len[i], &err) == G4_OK);
    }
    for (int step = 0; step < 20; step++) {
        int32_t next[NS];
        for (int i = 0; i < NS; i++) next[i] = toks[i][len[i] + step];
        CHECK(g4_session_decode_batch(ss, next, NS, &err) == G4_OK);
    }
    for (int i = 0; i < NS; i++) {
        CHECK(g4_session_n_past(ss[i]) == len[i] + 20);
        float *want = fresh_logits(m, toks[i], len[i] + 20, 8);
        CHECK_MSG(want && rel_diff(g4_session_logits(ss[i], -1), want, V) < TOL, "%s: batch row %d", name, i);
        free(want);
    }
    g4_session *dup[2] = {ss[0], ss[0]};
    int32_t t2[2] = {3, 4};
    CHECK(g4_session_decode_batch(dup, t2, 2, &err) == G4_ERR_ARG);
    t2[1] = V;
    CHECK(g4_session_decode_batch(ss, t2, 2, &err) == G4_ERR_ARG);
    for (int i = 0; i < NS; i++) g4_session_free(ss[i]);
}

static void test_save_load(g4_model *m, g4_model *other, const char *name) {
    const int32_t V = n_vocab(m);
    int32_t toks[200];
    make_tokens(toks, 200, 5, V);
    g4_error err;
    const char *path = "build/test_session.g4s";
    g4_session *a = new_session(m, 512, 32, false);
    CHECK(a && g4_session_eval(a, toks, 150, &err) == G4_OK);
    CHECK(g4_session_truncate(a, 140, &err) == G4_OK); /* save after a roll-back too */
    CHECK(g4_session_eval(a, toks + 140, 10, &err) == G4_OK);
    CHECK_MSG(g4_session_save(a, path, &err) == G4_OK, "%s", err.msg);

    /* into a session with another chunk size (another ring capacity) */
    g4_session *b = new_session(m, 512, 8, false);
    CHECK_MSG(g4_session_load(b, path, &err) == G4_OK, "%s: %s", name, err.msg);
    CHECK(g4_session_n_past(b) == 150);
    CHECK(g4_session_logits(b, -1) && rel_diff(g4_session_logits(b, -1), g4_session_logits(a, -1), V) == 0);
    CHECK(g4_session_eval(a, toks + 150, 50, &err) == G4_OK);
    CHECK(g4_session_eval(b, toks + 150, 50, &err) == G4_OK);
    CHECK_MSG(rel_diff(g4_session_logits(b, -1), g4_session_logits(a, -1), V) < TOL, "%s: continue after load", name);

    /* refusals, each leaving the session as it was */
    size_t len = 0;
    uint8_t *bytes = test_read_file(path, &len);
    CHECK(bytes != NULL && len > 100);
    const char *bad = "build/test_session_bad.g4s";
    const struct { size_t at; int32_t expect; } flips[] = {{0, G4_ERR_FORMAT}, {8, G4_ERR_UNSUPPORTED},
                                                          {20, G4_ERR_MISMATCH}, {len / 2, G4_ERR_FORMAT},
                                                          {len - 1, G4_ERR_FORMAT}};
    for (size_t i = 0; bytes && i < sizeof flips / sizeof flips[0]; i++) {
        bytes[flips[i].at] ^= 0x40;
        test_write_file(bad, bytes, len);
        bytes[flips[i].at] ^= 0x40;
        g4_status st = g4_session_load(b, bad, &err);
        CHECK_MSG(st == (g4_status)flips[i].expect, "flip at %zu: %d %s", flips[i].at, st, err.msg);
        CHECK(g4_session_n_past(b) == 200);
    }
    for (size_t cut = 0; bytes && cut < len; cut += len / 37 + 1) {
        test_write_file(bad, bytes, cut);
        CHECK(g4_session_load(b, bad, &err) == G4_ERR_FORMAT);
    }
    CHECK(g4_session_n_past(b) == 200);
    free(bytes);
    CHECK(g4_session_load(b, "build/no-such-session.g4s", &err) == G4_ERR_IO);

    g4_session *f16 = new_session(m, 512, 32, true);
    CHECK(g4_session_load(f16, path, &err) == G4_ERR_MISMATCH);
    g4_session_free(f16);
    g4_session *small = new_session(m, 100, 32, false);
    CHECK(g4_session_load(small, path, &err) == G4_ERR_CONTEXT_FULL);
    g4_session_free(small);
    if (other) {
        g4_session *o = new_session(other, 512, 32, false);
        CHECK(g4_session_load(o, path, &err) == G4_ERR_MISMATCH);
        CHECK(strstr(err.msg, "different model") != NULL);
        g4_session_free(o);
    }
    g4_session_free(a);
    g4_session_free(b);
    remove(path);
    remove(bad);
}

int main(void) {
    const char *names[] = {"tiny-e2b", "tiny-e4b", "tiny-26b-a4b", "tiny-31b"};
    g4_model *models[4];
    for (int i = 0; i < 4; i++) models[i] = open_model(names[i]);
    for (int i = 0; i < 4; i++) {
        CHECK(models[i] != NULL);
        if (!models[i]) continue;
        CHECK(g4_model_fingerprint(models[i]) == g4_model_fingerprint(models[i]));
        CHECK(g4_model_fingerprint(models[i]) != g4_model_fingerprint(models[(i + 1) % 4] ? models[(i + 1) % 4] : models[i]) ||
              !models[(i + 1) % 4]);
        test_sync_and_truncate(models[i], names[i]);
        test_decode_batch(models[i], names[i]);
        test_save_load(models[i], models[(i + 1) % 4], names[i]);
    }
    if (models[0]) test_rollback_limit(models[0]);
    for (int i = 0; i < 4; i++) g4_model_free(models[i]);
    return test_report("test_session");
}
