/* test_session.c - timelines that are reused, rolled back, batched and saved.
 *
 * Everything here is checked against the plain path (a fresh session that evaluates the
 * whole token sequence), on the tiny fixtures whose sliding window is 16, so ring buffers
 * wrap many times:
 *   - g4_session_sync reuses the common prefix and gives the logits of a fresh run;
 *   - g4_session_truncate rolls back (and refuses beyond what the rings hold);
 *   - g4_session_decode_batch gives each session the logits it would get alone;
 *   - g4_session_save/load round trips, and refuses corrupt, truncated and foreign files
 *     with the session left unchanged; version-1 files (before the cache type field) load;
 *   - mat_unmap_row (the per-layer embedding lookup) leaves a table's rows unmapped and
 *     their bytes intact.
 * The timeline tests run with float32 and Q8_0 caches: each is compared with a fresh session
 * of the same cache type (the same arithmetic). A Q8_0 cache against float32 is a separate
 * check with its own tolerances (test_q8_vs_f32_tiny, test_q8_vs_f32_demo). */
#include "test.h"

#include <g4.h>
#include "format/mapfile.h"
#include "model/model.h"

#include <unistd.h>

#define TOL 1e-4f /* relative to the largest |logit|: the same arithmetic, chunked differently */

static g4_model *open_model(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", test_data_dir(), name);
    g4_model *m = NULL;
    g4_error err;
    if (g4_model_open(&m, path, NULL, &err) != G4_OK) fprintf(stderr, "%s\n", err.msg);
    return m;
}

static g4_session *new_session(g4_model *m, int32_t n_ctx, int32_t n_ubatch, g4_kv_type kt) {
    g4_session_params p = {.n_ctx = n_ctx, .n_threads = 2, .n_ubatch = n_ubatch, .kv_type = kt};
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
static float *fresh_logits(g4_model *m, const int32_t *toks, int32_t n, int32_t n_ubatch, g4_kv_type kt) {
    g4_session *s = new_session(m, 2048, n_ubatch, kt);
    g4_error err;
    float *out = NULL;
    if (s && g4_session_eval(s, toks, n, &err) == G4_OK) {
        out = malloc((size_t)n_vocab(m) * sizeof *out);
        memcpy(out, g4_session_logits(s, -1), (size_t)n_vocab(m) * sizeof *out);
    }
    g4_session_free(s);
    return out;
}

static void test_sync_and_truncate(g4_model *m, const char *name, g4_kv_type kt) {
    const int32_t V = n_vocab(m);
    int32_t toks[300], other[300];
    make_tokens(toks, 300, 7, V);
    make_tokens(other, 300, 99, V);
    g4_error err;
    g4_session *s = new_session(m, 2048, 32, kt);
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
    float *want = fresh_logits(m, toks, 160, 32, kt);
    CHECK_MSG(want && rel_diff(g4_session_logits(s, -1), want, V) < TOL, "%s %s: sync logits", name, g4_kv_type_name(kt));
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
    want = fresh_logits(m, branch, 200, 32, kt);
    CHECK_MSG(want && rel_diff(g4_session_logits(s, -1), want, V) < TOL, "%s %s: branch logits", name, g4_kv_type_name(kt));
    free(want);

    /* explicit truncate, then eval */
    CHECK(g4_session_truncate(s, 150, &err) == G4_OK);
    CHECK(g4_session_logits(s, -1) == NULL);
    CHECK(g4_session_eval(s, other + 150, 10, &err) == G4_OK);
    memcpy(branch + 150, other + 150, 10 * sizeof(int32_t));
    want = fresh_logits(m, branch, 160, 32, kt);
    CHECK_MSG(want && rel_diff(g4_session_logits(s, -1), want, V) < TOL, "%s %s: truncate logits", name, g4_kv_type_name(kt));
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
    g4_session *s = new_session(m, 2048, 16, G4_KV_F32);
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
    float *want = fresh_logits(m, b, 310, 16, G4_KV_F32);
    CHECK(want && rel_diff(g4_session_logits(s, -1), want, V) < TOL);
    free(want);
    free(b);
    free(toks);
    g4_session_free(s);
}

/* Three sessions decoded together; the second stores its cache as Q8_0, the others as
 * float32 (rows of one batch read and write their own session's cache type). */
static void test_decode_batch(g4_model *m, const char *name) {
    const int32_t V = n_vocab(m);
    enum { NS = 3 };
    const g4_kv_type kts[NS] = {G4_KV_F32, G4_KV_Q8_0, G4_KV_F32};
    g4_session *ss[NS];
    int32_t toks[NS][64];
    const int32_t len[NS] = {5, 40, 23};
    g4_error err;
    for (int i = 0; i < NS; i++) {
        make_tokens(toks[i], 64, 11u + (uint32_t)i, V);
        ss[i] = new_session(m, 256, 8, kts[i]);
        CHECK(ss[i] && g4_session_eval(ss[i], toks[i], len[i], &err) == G4_OK);
    }
    for (int step = 0; step < 20; step++) {
        int32_t next[NS];
        for (int i = 0; i < NS; i++) next[i] = toks[i][len[i] + step];
        CHECK(g4_session_decode_batch(ss, next, NS, &err) == G4_OK);
    }
    for (int i = 0; i < NS; i++) {
        CHECK(g4_session_n_past(ss[i]) == len[i] + 20);
        float *want = fresh_logits(m, toks[i], len[i] + 20, 8, kts[i]);
        CHECK_MSG(want && rel_diff(g4_session_logits(ss[i], -1), want, V) < TOL, "%s: batch row %d: %g", name, i, want ? rel_diff(g4_session_logits(ss[i], -1), want, V) : -1.0);
        free(want);
    }
    g4_session *dup[2] = {ss[0], ss[0]};
    int32_t t2[2] = {3, 4};
    CHECK(g4_session_decode_batch(dup, t2, 2, &err) == G4_ERR_ARG);
    t2[1] = V;
    CHECK(g4_session_decode_batch(ss, t2, 2, &err) == G4_ERR_ARG);
    for (int i = 0; i < NS; i++) g4_session_free(ss[i]);
}

static void test_save_load(g4_model *m, g4_model *other, const char *name, g4_kv_type kt) {
    const int32_t V = n_vocab(m);
    int32_t toks[200];
    make_tokens(toks, 200, 5, V);
    g4_error err;
    const char *path = "build/test_session.g4s";
    g4_session *a = new_session(m, 512, 32, kt);
    CHECK(a && g4_session_eval(a, toks, 150, &err) == G4_OK);
    CHECK(g4_session_truncate(a, 140, &err) == G4_OK); /* save after a roll-back too */
    CHECK(g4_session_eval(a, toks + 140, 10, &err) == G4_OK);
    CHECK_MSG(g4_session_save(a, path, &err) == G4_OK, "%s", err.msg);

    /* into a session with another chunk size (another ring capacity) */
    g4_session *b = new_session(m, 512, 8, kt);
    CHECK_MSG(g4_session_load(b, path, &err) == G4_OK, "%s: %s", name, err.msg);
    CHECK(g4_session_n_past(b) == 150);
    CHECK(g4_session_logits(b, -1) && rel_diff(g4_session_logits(b, -1), g4_session_logits(a, -1), V) == 0);
    CHECK(g4_session_eval(a, toks + 150, 50, &err) == G4_OK);
    CHECK(g4_session_eval(b, toks + 150, 50, &err) == G4_OK);
    CHECK_MSG(rel_diff(g4_session_logits(b, -1), g4_session_logits(a, -1), V) < TOL, "%s %s: continue after load", name,
              g4_kv_type_name(kt));

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

    /* a session of another cache type: refused, naming both types */
    g4_session *f16 = new_session(m, 512, 32, G4_KV_F16);
    CHECK(g4_session_load(f16, path, &err) == G4_ERR_MISMATCH);
    CHECK_MSG(strstr(err.msg, g4_kv_type_name(kt)) && strstr(err.msg, "f16"), "type mismatch message: %s", err.msg);
    CHECK(g4_session_n_past(f16) == 0);
    g4_session_free(f16);
    g4_session *small = new_session(m, 100, 32, kt);
    CHECK(g4_session_load(small, path, &err) == G4_ERR_CONTEXT_FULL);
    g4_session_free(small);
    if (other) {
        g4_session *o = new_session(other, 512, 32, kt);
        CHECK(g4_session_load(o, path, &err) == G4_ERR_MISMATCH);
        CHECK(strstr(err.msg, "different model") != NULL);
        g4_session_free(o);
    }
    g4_session_free(a);
    g4_session_free(b);
    remove(path);
    remove(bad);
}

/* A Q8_0 cache against float32 on the same tokens (all positions' logits, one chunk that
 * wraps nothing on the demo model, the rings of the tiny ones). Returns the largest
 * per-position diff (rel_diff) over positions [p0, p1) and counts top-1 agreements. */
static float q8_vs_f32(g4_model *m, const int32_t *toks, int32_t n, int32_t p0, int32_t p1, int32_t *agree) {
    g4_error err;
    g4_session *s[2] = {NULL, NULL};
    float worst = INFINITY;
    for (int k = 0; k < 2; k++) {
        g4_session_params p = {.n_ctx = n, .n_threads = 2, .all_logits = true, .kv_type = k ? G4_KV_Q8_0 : G4_KV_F32};
        CHECK_MSG(g4_session_create(&s[k], m, &p, &err) == G4_OK && g4_session_eval(s[k], toks, n, &err) == G4_OK, "%s",
                  err.msg);
    }
    if (s[0] && s[1] && g4_session_logits(s[0], p1 - 1) && g4_session_logits(s[1], p1 - 1)) {
        const int32_t V = n_vocab(m);
        worst = 0;
        *agree = 0;
        for (int32_t i = p0; i < p1; i++) {
            const float *f = g4_session_logits(s[0], i), *q = g4_session_logits(s[1], i);
            worst = fmaxf(worst, rel_diff(q, f, V));
            int32_t bf = 0, bq = 0;
            for (int32_t v = 1; v < V; v++) { bf = f[v] > f[bf] ? v : bf; bq = q[v] > q[bq] ? v : bq; }
            *agree += bf == bq;
        }
    }
    g4_session_free(s[0]);
    g4_session_free(s[1]);
    return worst;
}

/* Q8_0 against float32 on the random-weight fixtures. At position 0 attention returns the
 * token's own V, so only V's rounding reaches the logits; later positions add K's rounding
 * through these models' huge attention scores (scale 1, random QK-norm weights), which
 * turns small errors into different attention choices - F16 moves tiny-26b-a4b's logits
 * by 57% of their range within 40 tokens - so only position 0 has a meaningful bound
 * there. The trained demo model below bounds whole sequences. */
static void test_q8_vs_f32_tiny(g4_model *m, const char *name) {
    int32_t toks[16], agree = 0;
    make_tokens(toks, 16, 21, n_vocab(m));
    const float d = q8_vs_f32(m, toks, 16, 0, 1, &agree);
    printf("%-14s q8_0 KV cache vs f32 at position 0: max |diff| %.3g of max |logit|\n", name, d);
    /* measured when written: 0.6% to 1.4%; an axpy_q8 that applied block 0's scale to every
     * block gave 1.4% to 26% here (and 45% on the demo model) */
    CHECK_MSG(d < 0.03f, "%s: q8_0 KV cache differs from f32 by %.3g at position 0", name, d);
}

/* The trained demo model (models/demo.gguf, bundled; skipped where absent), 300 random
 * tokens in one window: measured when written, Q8_0 moves the logits by at most 2.8% of
 * their range (F16: 0.1%) and keeps 295 of 300 top-1 choices. */
static void test_q8_vs_f32_demo(void) {
    g4_model *m = NULL;
    g4_error err;
    if (g4_model_open(&m, "models/demo.gguf", NULL, &err) != G4_OK) {
        printf("SKIP test_session: models/demo.gguf: %s\n", err.msg);
        return;
    }
    int32_t toks[300], agree = 0;
    make_tokens(toks, 300, 21, n_vocab(m));
    const float d = q8_vs_f32(m, toks, 300, 0, 300, &agree);
    printf("demo           q8_0 KV cache vs f32 over 300 positions: max |diff| %.3g of max |logit|, top-1 %d/300\n", d,
           agree);
    CHECK_MSG(d < 0.08f && agree >= 285, "demo: q8_0 KV cache vs f32: %.3g, top-1 %d/300", d, agree);
    g4_model_free(m);
}

/* FNV-1a, as session_file.c checksums a file */
static uint64_t fnv1a(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Version-1 files (u32 element size 4 or 2 where version 2 has the cache type) still load. */
static void test_version1(g4_model *m) {
    const int32_t V = n_vocab(m);
    int32_t toks[60];
    make_tokens(toks, 60, 8, V);
    g4_error err;
    const char *path = "build/test_session_v1.g4s";
    g4_session *a = new_session(m, 256, 16, G4_KV_F32), *b = new_session(m, 256, 16, G4_KV_F32);
    CHECK(a && b && g4_session_eval(a, toks, 50, &err) == G4_OK && g4_session_save(a, path, &err) == G4_OK);
    size_t len = 0;
    uint8_t *bytes = test_read_file(path, &len);
    CHECK(bytes && len > 40);
    if (!a || !b || !bytes) { g4_session_free(a); g4_session_free(b); free(bytes); return; }
    uint32_t version, type;
    memcpy(&version, bytes + 8, 4);
    memcpy(&type, bytes + 24, 4);
    CHECK_MSG(version == 2 && type == 0, "version %u, cache type %u", version, type);
    const struct { uint32_t field; g4_status want; } cases[] = {{4, G4_OK}, {2, G4_ERR_MISMATCH}, {8, G4_ERR_FORMAT}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint32_t one = 1;
        memcpy(bytes + 8, &one, 4);
        memcpy(bytes + 24, &cases[i].field, 4);
        const uint64_t h = fnv1a(bytes, len - 8);
        memcpy(bytes + len - 8, &h, 8);
        test_write_file(path, bytes, len);
        const g4_status st = g4_session_load(b, path, &err);
        CHECK_MSG(st == cases[i].want, "version 1, element size %u: %d %s", cases[i].field, st, err.msg);
    }
    CHECK(g4_session_eval(a, toks + 50, 10, &err) == G4_OK);
    g4_session_reset(b);
    memcpy(bytes + 24, &cases[0].field, 4);
    const uint64_t h = fnv1a(bytes, len - 8);
    memcpy(bytes + len - 8, &h, 8);
    test_write_file(path, bytes, len);
    CHECK(g4_session_load(b, path, &err) == G4_OK && g4_session_eval(b, toks + 50, 10, &err) == G4_OK);
    CHECK(rel_diff(g4_session_logits(b, -1), g4_session_logits(a, -1), V) < TOL);
    free(bytes);
    remove(path);
    g4_session_free(a);
    g4_session_free(b);
}

/* resident pages of this process (file-backed mappings included), from /proc/self/statm */
static long resident_pages(void) {
    long size = 0, res = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &size, &res) != 2) res = -1;
    fclose(f);
    return res;
}

/* A table read row by row through the file mapping (as per_layer_inputs reads the
 * per-layer embeddings) must not stay mapped: after every row is read and released, the
 * process holds at most a few MiB of it, and the rows read back unchanged. */
static void test_unmap_rows(void) {
    if (resident_pages() < 0) { /* no /proc (not Linux): nothing to measure */
        printf("test_unmap_rows: /proc/self/statm unreadable, skipped\n");
        return;
    }
    const size_t bytes = (size_t)24 << 20, row_bytes = 5040; /* E2B's Q4_0 per-layer row */
    char path[] = "/tmp/g4-test-unmap-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    uint8_t *buf = malloc(bytes);
    CHECK(buf != NULL);
    if (!buf) return;
    for (size_t i = 0; i < bytes; i++) buf[i] = (uint8_t)(i * 2654435761u >> 13);
    CHECK(test_write_file(path, buf, bytes) == 0);
    mapfile mf;
    g4_error err;
    CHECK(mapfile_open(&mf, path, &err) == G4_OK);
    /* the table starts off page and 2 MiB boundaries, as tensors in a GGUF do */
    const size_t off = 12345, rows = (bytes - 2 * off) / row_bytes;
    const mat t = {mf.data + off, G4_DTYPE_Q4_0, (int64_t)rows, 8960, row_bytes, false};
    const long page = sysconf(_SC_PAGESIZE), before = resident_pages();
    uint64_t sum = 0, want = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < row_bytes; i += 64) sum += t.data[r * row_bytes + i];
    const long touched = resident_pages();
    for (size_t r = 0; r < rows; r++) {
        for (size_t i = 0; i < row_bytes; i += 64) want += buf[off + r * row_bytes + i];
        mat_unmap_row(&t, (int64_t)(r * 7919 % rows)); /* in no particular order */
    }
    const long after = resident_pages();
    CHECK(sum == want);
    /* reading it all mapped the table (22 MiB); releasing every row unmaps all but the
     * pages around its two ends (the file beyond
     * the table, and what the kernel maps around a fault) */
    CHECK(touched - before >= (long)(20 << 20) / page);
    CHECK(after - before <= 64);
    uint64_t again = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < row_bytes; i += 64) again += t.data[r * row_bytes + i];
    CHECK(again == want);
    if (touched - before < (long)(20 << 20) / page || after - before > 64)
        fprintf(stderr, "test_unmap_rows: resident pages %ld, %ld after reading, %ld after unmapping\n", before, touched, after);
    mapfile_close(&mf);
    unlink(path);
    free(buf);
}

/* mat.act8 (model.c): counts of Q8_0 matrices with it ([0]) and without ([1]), and of
 * other matrices with it ([2]) */
static void count_mat(mat *w, int64_t copies, void *user) {
    (void)copies;
    int *c = user;
    if (w->type == G4_DTYPE_Q8_0) c[w->act8 ? 0 : 1]++;
    else c[2] += w->act8;
}

/* The demo model's Q4_K_M conversion holds a few Q8_0 matrices (ffn_down where Q6_K does
 * not divide the row): they take int8 activations; its Q8_0 conversion's keep 16-bit ones. */
static void test_act8_marks(void) {
    g4_model *m = NULL;
    g4_error err;
    if (g4_model_open(&m, "models/demo.gguf", NULL, &err) != G4_OK) {
        printf("SKIP test_act8_marks: models/demo.gguf: %s\n", err.msg);
        return;
    }
    const char *types[2] = {"q4_k_m", "q8_0"};
    for (int i = 0; i < 2; i++) {
        char path[] = "/tmp/g4-test-act8-XXXXXX";
        const int fd = mkstemp(path);
        CHECK(fd >= 0);
        if (fd < 0) break;
        close(fd);
        g4_model *q = NULL;
        CHECK(g4_model_save_gguf_as(m, path, types[i], NULL, NULL, &err) == G4_OK);
        CHECK(g4_model_open(&q, path, NULL, &err) == G4_OK);
        if (q) {
            int c[3] = {0, 0, 0};
            model_for_each_mat(q, count_mat, c);
            CHECK_MSG(c[2] == 0 && (i == 0 ? c[0] > 0 && c[1] == 0 : c[0] == 0 && c[1] > 0),
                      "demo %s: Q8_0 matrices %d with int8 activations, %d without; %d others marked", types[i], c[0], c[1], c[2]);
        }
        g4_model_free(q);
        unlink(path);
    }
    g4_model_free(m);
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
        for (int kt = 0; kt < 2; kt++) {
            const g4_kv_type t = kt ? G4_KV_Q8_0 : G4_KV_F32;
            test_sync_and_truncate(models[i], names[i], t);
            test_save_load(models[i], models[(i + 1) % 4], names[i], t);
        }
        test_decode_batch(models[i], names[i]);
        test_q8_vs_f32_tiny(models[i], names[i]);
    }
    if (models[0]) test_rollback_limit(models[0]);
    if (models[0]) test_version1(models[0]);
    test_q8_vs_f32_demo();
    test_act8_marks();
    test_unmap_rows();
    for (int i = 0; i < 4; i++) g4_model_free(models[i]);
    return test_report("test_session");
}
