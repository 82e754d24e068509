/* session_file.c - a session's timeline and KV cache on disk, and the model fingerprint
 * that ties a saved session to the weights it was computed with.
 *
 * Why: prefilling a long document costs seconds to minutes on a phone; saving the cache
 * lets later questions start where the prefill ended (issue 5, "sessions on disk").
 *
 * File layout (little-endian, as every machine g4 targets; all integers fixed width):
 *   "G4SESS\0\0"  magic (8 bytes)
 *   u32 version (G4_SESSION_VERSION), u32 header bytes that follow up to the tokens (24)
 *   u64 model fingerprint (g4_model_fingerprint)
 *   u32 cache type, as a GGUF type id (0: F32, 1: F16, 8: Q8_0)   u32 number of cached layers
 *   i32 n_past   i32 n_vocab
 *   i32 tokens[n_past]
 *   u32 has_logits, then float logits[n_vocab] if set (the last position's, so the next
 *       token can be sampled without evaluating anything)
 *   per cached layer, in layer order: i32 layer, i32 first position, i32 count, then K
 *       and V rows (count x n_kv_head x head_dim values each, as the cache stores them:
 *       Q8_0 rows are head_dim/32 blocks per head) for positions
 *       first..first+count-1: global layers store [0, n_past), sliding layers the last
 *       positions their ring still holds (at most its capacity).
 *   u64 FNV-1a of every byte before it.
 * Version 1 (before Q8_0) differed only in that field, which held the element size (4:
 * float32, 2: F16); it is still read. Loading checks everything (sizes against the file,
 * the checksum, fingerprint, settings) before it touches the session, so a corrupt or
 * foreign file leaves it unchanged. The file is written to PATH.tmp and renamed, so a
 * crash mid-save never destroys an older file. */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define G4_SESSION_VERSION 2u
static const char MAGIC[8] = {'G', '4', 'S', 'E', 'S', 'S', 0, 0};

/* ---- FNV-1a, streamed ------------------------------------------------------------- */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * FNV_PRIME;
    return h;
}

static uint64_t fnv_i64(uint64_t h, int64_t v) { return fnv(h, &v, sizeof v); }

/* A matrix: storage type, shape, and its first and last bytes (a different checkpoint of
 * the same shape differs there with overwhelming probability; reading everything would
 * cost a pass over gigabytes). */
static uint64_t fnv_mat(uint64_t h, const mat *m) {
    h = fnv_i64(h, m->type);
    h = fnv_i64(h, m->rows);
    h = fnv_i64(h, m->cols);
    if (!m->data) return h;
    const uint64_t total = m->row_bytes * (uint64_t)m->rows, n = total < 256 ? total : 256;
    h = fnv(h, m->data, (size_t)n);
    return fnv(h, m->data + total - n, (size_t)n);
}

uint64_t g4_model_fingerprint(const g4_model *m) {
    const g4_hparams *hp = &m->hp;
    uint64_t h = FNV_OFFSET;
    const int64_t head[] = {hp->n_vocab, hp->n_layer, hp->n_embd, hp->n_head, hp->sliding_window,
                            hp->n_embd_per_layer, hp->n_expert, hp->n_expert_used, hp->n_ff_expert};
    h = fnv(h, head, sizeof head);
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const layer_config *lc = &hp->layer[l];
        const int64_t row[] = {lc->swa, lc->head_dim, lc->n_kv_head, lc->n_ff, lc->kv_source, lc->has_v};
        h = fnv(h, row, sizeof row);
        const layer_weights *w = &m->layers[l];
#define X_MAT(f, g, hf, a, b, c, when) \
    if (layer_has(hp, l, when)) h = fnv_mat(h, &w->f);
        LAYER_MATS(X_MAT)
#undef X_MAT
        h = fnv(h, w->attn_norm, (size_t)hp->n_embd * sizeof(float));
    }
    h = fnv_mat(h, &m->tok_embd);
    h = fnv_mat(h, &m->output);
    if (hp->n_embd_per_layer) {
        h = fnv_mat(h, &m->ple_embd);
        h = fnv_mat(h, &m->ple_model_proj);
    }
    return fnv(h, m->output_norm, (size_t)hp->n_embd * sizeof(float));
}

/* ---- saving ------------------------------------------------------------------------ */

typedef struct writer {
    FILE *f;
    uint64_t h;
    bool ok;
} writer;

static void put(writer *w, const void *p, size_t n) {
    if (!w->ok || n == 0) return;
    w->ok = fwrite(p, 1, n, w->f) == n;
    w->h = fnv(w->h, p, n);
}
static void put_u32(writer *w, uint32_t v) { put(w, &v, 4); }
static void put_i32(writer *w, int32_t v) { put(w, &v, 4); }

static size_t kv_row_bytes(const g4_session *s, int32_t l) {
    const layer_config *lc = &s->m->hp.layer[l];
    return (size_t)lc->n_kv_head * kv_bytes(s->kv_type, lc->head_dim);
}

/* The cache type's id in the file (GGUF's type ids) and back; -1: none. */
static uint32_t kv_file_id(g4_kv_type t) {
    return t == G4_KV_F32 ? G4_DTYPE_F32 : t == G4_KV_F16 ? G4_DTYPE_F16 : G4_DTYPE_Q8_0;
}
static int kv_from_file_id(uint32_t version, uint32_t id) {
    if (version == 1) return id == 4 ? G4_KV_F32 : id == 2 ? G4_KV_F16 : -1; /* an element size */
    return id == G4_DTYPE_F32 ? G4_KV_F32 : id == G4_DTYPE_F16 ? G4_KV_F16 : id == G4_DTYPE_Q8_0 ? G4_KV_Q8_0 : -1;
}

/* The positions [*first, *first + *count) that layer l's cache holds intact. */
static void kv_span(const g4_session *s, int32_t l, int32_t *first, int32_t *count) {
    const kv_layer *kv = &s->kv[l];
    int32_t lo = 0;
    if (kv->capacity < s->n_ctx) { /* a ring: what no later write reused, nor a load lost */
        lo = G4_MAX(s->swa_lo, s->written_hi - kv->capacity + 1);
        lo = G4_MAX(lo, 0);
    }
    *first = G4_MIN(lo, s->n_past);
    *count = s->n_past - *first;
}

static int32_t n_cached_layers(const g4_hparams *hp) {
    int32_t n = 0;
    for (int32_t l = 0; l < hp->n_layer; l++) n += hp->layer[l].kv_source == l;
    return n;
}

g4_status g4_session_save(const g4_session *s, const char *path, g4_error *err) {
    g4_error_clear(err);
    if (!s || !path) return g4_fail(err, G4_ERR_ARG, "no session or path");
    const g4_hparams *hp = &s->m->hp;
    const size_t plen = strlen(path);
    char *tmp = g4_malloc(plen + 5);
    if (!tmp) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    writer w = {fopen(tmp, "wb"), FNV_OFFSET, true};
    if (!w.f) {
        g4_status st = g4_fail(err, G4_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    put(&w, MAGIC, 8);
    put_u32(&w, G4_SESSION_VERSION);
    put_u32(&w, 24);
    const uint64_t fp = g4_model_fingerprint(s->m);
    put(&w, &fp, 8);
    put_u32(&w, kv_file_id(s->kv_type));
    put_u32(&w, (uint32_t)n_cached_layers(hp));
    put_i32(&w, s->n_past);
    put_i32(&w, hp->n_vocab);
    put(&w, s->tokens, (size_t)s->n_past * sizeof(int32_t));
    const float *logits = g4_session_logits(s, -1);
    put_u32(&w, logits != NULL);
    if (logits) put(&w, logits, (size_t)hp->n_vocab * sizeof(float));
    for (int32_t l = 0; l < hp->n_layer && w.ok; l++) {
        if (hp->layer[l].kv_source != l) continue;
        int32_t first, count;
        kv_span(s, l, &first, &count);
        put_i32(&w, l);
        put_i32(&w, first);
        put_i32(&w, count);
        const size_t rb = kv_row_bytes(s, l);
        for (int c = 0; c < 2; c++) {
            const uint8_t *base = c == 0 ? s->kv[l].k : s->kv[l].v;
            for (int32_t p = first; p < first + count; p++) put(&w, base + (size_t)(p % s->kv[l].capacity) * rb, rb);
        }
    }
    const uint64_t sum = w.h;
    if (w.ok) w.ok = fwrite(&sum, 1, 8, w.f) == 8;
    if (fclose(w.f) != 0) w.ok = false;
    g4_status st = G4_OK;
    if (!w.ok) st = g4_fail(err, G4_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    else if (rename(tmp, path) != 0) st = g4_fail(err, G4_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (st != G4_OK) remove(tmp);
    free(tmp);
    return st;
}

/* ---- loading ----------------------------------------------------------------------- */

typedef struct reader {
    FILE *f;
    const char *path;
    uint64_t h, left; /* running checksum; bytes left before the trailing checksum */
    bool ok;
} reader;

static bool get(reader *r, void *p, size_t n) {
    if (!r->ok) return false;
    if (n > r->left || fread(p, 1, n, r->f) != n) return r->ok = false;
    r->left -= n;
    r->h = fnv(r->h, p, n);
    return true;
}

static bool skip(reader *r, uint64_t n) {
    uint8_t buf[1 << 14];
    while (n > 0 && r->ok) {
        size_t c = n < sizeof buf ? (size_t)n : sizeof buf;
        get(r, buf, c);
        n -= c;
    }
    return r->ok;
}

static g4_status bad(g4_error *err, const char *path, const char *what) {
    return g4_fail(err, G4_ERR_FORMAT, "%s: not a valid g4 session file (%s)", path, what);
}

/* Reads and checks the whole file; with apply, also writes it into the session (only
 * done after a first pass without apply succeeded). */
static g4_status load_pass(g4_session *s, const char *path, bool apply, g4_error *err) {
    const g4_hparams *hp = &s->m->hp;
    FILE *f = fopen(path, "rb");
    if (!f) return g4_fail(err, G4_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    g4_status st = G4_OK;
    uint8_t *row = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 8 + 8 + 8 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return bad(err, path, "too short");
    }
    reader r = {f, path, FNV_OFFSET, (uint64_t)size - 8, true};
    char magic[8];
    uint32_t version = 0, hdr = 0, kv_id = 0, nlayers = 0, has_logits = 0;
    uint64_t fp = 0;
    int32_t n_past = 0, n_vocab = 0;
    get(&r, magic, 8);
    if (!r.ok || memcmp(magic, MAGIC, 8) != 0) { st = bad(err, path, "bad magic"); goto done; }
    get(&r, &version, 4);
    get(&r, &hdr, 4);
    if (version != G4_SESSION_VERSION && version != 1) {
        st = g4_fail(err, G4_ERR_UNSUPPORTED, "%s: session format version %u; this g4 reads versions 1 to %u", path,
                     version, G4_SESSION_VERSION);
        goto done;
    }
    get(&r, &fp, 8);
    get(&r, &kv_id, 4);
    get(&r, &nlayers, 4);
    get(&r, &n_past, 4);
    get(&r, &n_vocab, 4);
    if (!r.ok || hdr != 24) { st = bad(err, path, "truncated header"); goto done; }
    if (fp != g4_model_fingerprint(s->m) || n_vocab != hp->n_vocab || nlayers != (uint32_t)n_cached_layers(hp)) {
        st = g4_fail(err, G4_ERR_MISMATCH, "%s: saved with a different model (fingerprint %016llx, this model %016llx)",
                     path, (unsigned long long)fp, (unsigned long long)g4_model_fingerprint(s->m));
        goto done;
    }
    const int ftype = kv_from_file_id(version, kv_id);
    if (ftype < 0) { st = bad(err, path, "unknown cache type"); goto done; }
    if (ftype != (int)s->kv_type) {
        st = g4_fail(err, G4_ERR_MISMATCH,
                     "%s: the KV cache was saved as %s but this session stores it as %s (load it into a %s session)",
                     path, g4_kv_type_name((g4_kv_type)ftype), g4_kv_type_name(s->kv_type),
                     g4_kv_type_name((g4_kv_type)ftype));
        goto done;
    }
    if (n_past < 0 || (uint64_t)n_past * 4 > r.left) { st = bad(err, path, "bad token count"); goto done; }
    if (n_past > s->n_ctx) {
        st = g4_fail(err, G4_ERR_CONTEXT_FULL, "%s: holds %d tokens but the session's context is %d (use a larger context)",
                     path, n_past, s->n_ctx);
        goto done;
    }
    if (apply) {
        get(&r, s->tokens, (size_t)n_past * 4);
        for (int32_t i = 0; i < n_past && r.ok; i++)
            if (s->tokens[i] < 0 || s->tokens[i] >= hp->n_vocab) r.ok = false;
    } else {
        for (int32_t i = 0; i < n_past && r.ok; i++) {
            int32_t t;
            if (get(&r, &t, 4) && (t < 0 || t >= hp->n_vocab)) { st = bad(err, path, "token outside the vocabulary"); goto done; }
        }
    }
    get(&r, &has_logits, 4);
    if (has_logits > 1 || (has_logits && (uint64_t)n_vocab * 4 > r.left)) { st = bad(err, path, "bad logits"); goto done; }
    if (has_logits) {
        if (apply) get(&r, s->logits, (size_t)n_vocab * 4);
        else skip(&r, (uint64_t)n_vocab * 4);
    }
    int32_t min_lo = 0;
    for (int32_t l = 0; l < hp->n_layer && r.ok; l++) {
        if (hp->layer[l].kv_source != l) continue;
        int32_t layer = -1, first = -1, count = -1;
        get(&r, &layer, 4);
        get(&r, &first, 4);
        get(&r, &count, 4);
        const size_t rb = kv_row_bytes(s, l);
        if (!r.ok || layer != l || first < 0 || count < 0 || (int64_t)first + count != n_past ||
            (uint64_t)count * rb * 2 > r.left) {
            st = bad(err, path, "bad layer record");
            goto done;
        }
        const kv_layer *kv = &s->kv[l];
        /* a ring smaller than the saved span keeps the newest positions */
        const int32_t keep = G4_MIN(count, kv->capacity), from = first + count - keep;
        if (hp->layer[l].swa) {
            /* position n_past must see its W - 1 predecessors */
            const int32_t need = G4_MAX(0, n_past - hp->sliding_window + 1);
            if (from > need) { st = bad(err, path, "sliding-window layer lacks positions"); goto done; }
            min_lo = G4_MAX(min_lo, from);
        } else if (first != 0) {
            st = bad(err, path, "global layer lacks positions");
            goto done;
        }
        free(row); /* row widths differ between sliding and global layers */
        row = g4_malloc(rb);
        if (!row) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto done; }
        for (int c = 0; c < 2 && r.ok; c++) {
            uint8_t *base = c == 0 ? kv->k : kv->v;
            for (int32_t p = first; p < first + count && r.ok; p++) {
                if (apply && p >= from) get(&r, base + (size_t)(p % kv->capacity) * rb, rb);
                else get(&r, row, rb);
            }
        }
    }
    uint64_t sum = 0;
    const uint64_t want = r.h;
    if (r.ok && r.left != 0) { st = bad(err, path, "trailing bytes"); goto done; }
    if (!r.ok || fread(&sum, 1, 8, f) != 8) { st = bad(err, path, "truncated"); goto done; }
    if (sum != want) { st = bad(err, path, "checksum mismatch: the file is corrupt"); goto done; }
    if (apply) {
        s->n_past = n_past;
        s->swa_lo = min_lo;
        s->written_hi = n_past - 1;
        s->n_logit_rows = has_logits ? 1 : 0;
    }
done:
    free(row);
    fclose(f);
    return st;
}

g4_status g4_session_load(g4_session *s, const char *path, g4_error *err) {
    g4_error_clear(err);
    if (!s || !path) return g4_fail(err, G4_ERR_ARG, "no session or path");
    g4_status st = load_pass(s, path, false, err);
    if (st != G4_OK) return st;
    st = load_pass(s, path, true, err);
    if (st != G4_OK) g4_session_reset(s); /* the file changed between the passes */
    return st;
}
