/* gguf_write.c - the GGUF v3 writer. Metadata is serialised into memory as it is set;
 * tensor data is produced one tensor at a time by the caller's fill callback and streamed
 * to "<path>.tmp", which is renamed over <path> only after everything was written and
 * flushed. Tensors are packed in declaration order, each padded to the alignment with
 * zero bytes, as llama.cpp's reader requires (quant-formats.md §3). */
#include "gguf.h"
#include "../dtype.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define GGUF_ALIGN 32

typedef struct wtensor {
    char name[G4_MAX_NAME];
    int32_t type, n_dims;
    int64_t ne[G4_MAX_DIMS];
    uint64_t nbytes, offset;
} wtensor;

struct gguf_writer {
    uint8_t *kv;      /* serialised metadata */
    uint64_t kv_len, kv_cap;
    int64_t n_kv;
    wtensor *t;
    int64_t n_t, cap_t;
    bool oom;
};

gguf_writer *gguf_writer_create(void) { return calloc(1, sizeof(gguf_writer)); }

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    free(w->kv);
    free(w->t);
    free(w);
}

static bool put(gguf_writer *w, const void *p, uint64_t n) {
    if (w->oom) return false;
    if (w->kv_len + n > w->kv_cap) {
        uint64_t nc = w->kv_cap ? w->kv_cap : 4096;
        while (nc < w->kv_len + n) nc *= 2;
        uint8_t *nb = realloc(w->kv, nc);
        if (!nb) { w->oom = true; return false; }
        w->kv = nb;
        w->kv_cap = nc;
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
    return true;
}
static bool put_le(gguf_writer *w, uint64_t v, int n) {
    uint8_t b[8];
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    return put(w, b, (uint64_t)n);
}
static bool put_str(gguf_writer *w, const char *s) {
    uint64_t n = strlen(s);
    return put_le(w, n, 8) && put(w, s, n);
}
static bool put_key(gguf_writer *w, const char *key, int32_t type) {
    w->n_kv++;
    return put_str(w, key) && put_le(w, (uint32_t)type, 4);
}

bool gguf_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    return put_key(w, key, GGUF_TYPE_UINT32) && put_le(w, v, 4);
}
bool gguf_set_f32(gguf_writer *w, const char *key, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    return put_key(w, key, GGUF_TYPE_FLOAT32) && put_le(w, u, 4);
}
bool gguf_set_bool(gguf_writer *w, const char *key, bool v) {
    return put_key(w, key, GGUF_TYPE_BOOL) && put_le(w, v ? 1 : 0, 1);
}
bool gguf_set_str(gguf_writer *w, const char *key, const char *v) {
    return put_key(w, key, GGUF_TYPE_STRING) && put_str(w, v);
}
bool gguf_set_arr(gguf_writer *w, const char *key, int32_t t, const void *data, uint64_t n) {
    uint64_t es = gguf_type_size(t);
    if (!es) return false;
    if (!(put_key(w, key, GGUF_TYPE_ARRAY) && put_le(w, (uint32_t)t, 4) && put_le(w, n, 8))) return false;
    const uint8_t *p = data;
    for (uint64_t i = 0; i < n; i++) { /* host order is little-endian on every target we build */
        uint64_t v = 0;
        memcpy(&v, p + i * es, es);
        if (!put_le(w, v, (int)es)) return false;
    }
    return true;
}
bool gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n) {
    if (!(put_key(w, key, GGUF_TYPE_ARRAY) && put_le(w, GGUF_TYPE_STRING, 4) && put_le(w, n, 8))) return false;
    for (uint64_t i = 0; i < n; i++)
        if (!put_str(w, strs[i])) return false;
    return true;
}

bool gguf_add_tensor(gguf_writer *w, const char *name, int32_t type, int32_t n_dims, const int64_t *ne) {
    if (strlen(name) >= 64 || n_dims < 1 || n_dims > G4_MAX_DIMS) return false; /* llama.cpp: names < 64 */
    if (w->n_t == w->cap_t) {
        int64_t nc = w->cap_t ? w->cap_t * 2 : 256;
        wtensor *nt = realloc(w->t, (size_t)nc * sizeof *nt);
        if (!nt) return false;
        w->t = nt;
        w->cap_t = nc;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    strcpy(t->name, name);
    t->type = type;
    t->n_dims = n_dims;
    uint64_t rows = 1;
    for (int i = 0; i < G4_MAX_DIMS; i++) t->ne[i] = i < n_dims ? ne[i] : 1;
    for (int i = 1; i < G4_MAX_DIMS; i++) rows *= (uint64_t)t->ne[i];
    if (!dtype_row_bytes(type, t->ne[0], &t->nbytes)) return false;
    t->nbytes *= rows;
    w->n_t++;
    return true;
}

static uint64_t pad_to(uint64_t x) { return (x + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN; }

static bool write_le(FILE *f, uint64_t v, int n) {
    uint8_t b[8];
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    return fwrite(b, 1, (size_t)n, f) == (size_t)n;
}

g4_status gguf_writer_write(gguf_writer *w, const char *path, gguf_fill_fn fill, void *user,
                            g4_progress_fn progress, void *puser, g4_error *err) {
    if (w->oom) return g4_fail(err, G4_ERR_NOMEM, "%s: out of memory building metadata", path);
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        g4_status st = g4_fail(err, G4_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    g4_status st = G4_OK;
    void *buf = NULL;
    uint64_t buf_cap = 0, off = 0, pos = 0;
    bool ok = fwrite("GGUF", 1, 4, f) == 4 && write_le(f, 3, 4) && write_le(f, (uint64_t)w->n_t, 8) &&
              write_le(f, (uint64_t)w->n_kv, 8) && fwrite(w->kv, 1, w->kv_len, f) == w->kv_len;
    pos = 24 + w->kv_len;
    for (int64_t i = 0; ok && i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        t->offset = off;
        off = pad_to(off + t->nbytes);
        uint64_t nl = strlen(t->name);
        ok = write_le(f, nl, 8) && fwrite(t->name, 1, nl, f) == nl && write_le(f, (uint32_t)t->n_dims, 4);
        for (int d = 0; ok && d < t->n_dims; d++) ok = write_le(f, (uint64_t)t->ne[d], 8);
        ok = ok && write_le(f, (uint32_t)t->type, 4) && write_le(f, t->offset, 8);
        pos += 8 + nl + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
    }
    static const uint8_t zeros[GGUF_ALIGN];
    if (ok) ok = fwrite(zeros, 1, pad_to(pos) - pos, f) == pad_to(pos) - pos;
    if (!ok) st = g4_fail(err, G4_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    for (int64_t i = 0; st == G4_OK && i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        if (t->nbytes > buf_cap) {
            free(buf);
            buf_cap = t->nbytes;
            buf = malloc(buf_cap);
            if (!buf) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory for tensor '%s'", t->name); break; }
        }
        if ((st = fill(user, i, buf, t->nbytes, err)) != G4_OK) break;
        uint64_t padn = pad_to(t->nbytes) - t->nbytes;
        if (fwrite(buf, 1, t->nbytes, f) != t->nbytes || fwrite(zeros, 1, padn, f) != padn) {
            st = g4_fail(err, G4_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
            break;
        }
        if (progress) progress(puser, i + 1, w->n_t);
    }
    free(buf);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        if (st == G4_OK) st = g4_fail(err, G4_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    }
    if (fclose(f) != 0 && st == G4_OK) st = g4_fail(err, G4_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (st == G4_OK && rename(tmp, path) != 0)
        st = g4_fail(err, G4_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
    if (st != G4_OK) remove(tmp);
    free(tmp);
    return st;
}
