/* gguf.c - GGUF v3 reader over a memory mapping, with a sticky-error cursor: the first
 * failed check is recorded and every later read returns zeros, so the parsing code reads
 * top to bottom without an error branch after every field. The layout rules follow
 * quant-formats.md §3 (llama.cpp's gguf.cpp): alignment, packed tensor data, row rule. */
#include "gguf.h"
#include "../dtype.h"

#include <string.h>

typedef struct cursor {
    const uint8_t *p;
    uint64_t size, off;
    bool failed;
    g4_error *err;
    const char *name;
} cursor;

static void cur_fail(cursor *c, const char *what) {
    if (!c->failed)
        g4_fail(c->err, G4_ERR_FORMAT, "%s: %s at byte %llu (file is %llu bytes; truncated or corrupt?)",
                c->name, what, (unsigned long long)c->off, (unsigned long long)c->size);
    c->failed = true;
}

static const uint8_t *cur_take(cursor *c, uint64_t n, const char *what) {
    if (c->failed) return NULL;
    if (n > c->size - c->off) { cur_fail(c, what); return NULL; }
    const uint8_t *r = c->p + c->off;
    c->off += n;
    return r;
}

static uint64_t cur_le(cursor *c, int nbytes, const char *what) {
    const uint8_t *b = cur_take(c, (uint64_t)nbytes, what);
    uint64_t v = 0;
    if (b) for (int i = nbytes - 1; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static gguf_str cur_str(cursor *c, const char *what) {
    uint64_t n = cur_le(c, 8, what);
    const uint8_t *s = cur_take(c, n, what);
    return s ? (gguf_str){(const char *)s, n} : (gguf_str){"", 0};
}

uint64_t gguf_type_size(int32_t t) {
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

const char *gguf_type_name(int32_t t) {
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                  "str", "arr", "u64", "i64", "f64"};
    return t >= 0 && t <= 12 ? names[t] : "?";
}

/* Reads a scalar of type t into kv->v (integers sign- or zero-extended). */
static void read_scalar(cursor *c, int32_t t, gguf_kv *kv) {
    uint64_t sz = gguf_type_size(t);
    if (t == GGUF_TYPE_STRING) { kv->v.str = cur_str(c, "truncated string value"); return; }
    uint64_t raw = cur_le(c, (int)sz, "truncated metadata value");
    switch (t) {
    case GGUF_TYPE_INT8: kv->v.i64 = (int8_t)raw; break;
    case GGUF_TYPE_INT16: kv->v.i64 = (int16_t)raw; break;
    case GGUF_TYPE_INT32: kv->v.i64 = (int32_t)raw; break;
    case GGUF_TYPE_INT64: kv->v.i64 = (int64_t)raw; break;
    case GGUF_TYPE_FLOAT32: { uint32_t u = (uint32_t)raw; float f; memcpy(&f, &u, 4); kv->v.f64 = f; break; }
    case GGUF_TYPE_FLOAT64: memcpy(&kv->v.f64, &raw, 8); break;
    default: kv->v.u64 = raw; break;
    }
}

static void read_kv(cursor *c, gguf_kv *kv) {
    gguf_str key = cur_str(c, "truncated metadata key");
    if (c->failed) return;
    if (key.n == 0 || key.n > 65535) { cur_fail(c, "metadata key of bad length"); return; }
    kv->key = g4_malloc(key.n + 1);
    if (!kv->key) { c->failed = true; g4_fail(c->err, G4_ERR_NOMEM, "%s: out of memory", c->name); return; }
    memcpy(kv->key, key.s, key.n);
    kv->key[key.n] = 0;
    if (strlen(kv->key) != key.n) { cur_fail(c, "metadata key contains a NUL byte"); return; }
    kv->type = (int32_t)cur_le(c, 4, "truncated metadata type");
    if (c->failed) return;
    if (kv->type == GGUF_TYPE_ARRAY) {
        kv->arr_type = (int32_t)cur_le(c, 4, "truncated array type");
        kv->arr_n = cur_le(c, 8, "truncated array length");
        if (c->failed) return;
        kv->arr_data = c->p + c->off;
        if (kv->arr_type == GGUF_TYPE_STRING) {
            /* each string needs at least its 8-byte length: bound n before walking */
            if (kv->arr_n > (c->size - c->off) / 8) { cur_fail(c, "string array longer than the file"); return; }
            for (uint64_t i = 0; i < kv->arr_n && !c->failed; i++) cur_str(c, "truncated string in array");
        } else {
            uint64_t es = gguf_type_size(kv->arr_type), total;
            if (es == 0) { cur_fail(c, "unsupported array element type (nested arrays are not supported)"); return; }
            if (!g4_mul_u64(es, kv->arr_n, &total)) { cur_fail(c, "array size overflows"); return; }
            cur_take(c, total, "array longer than the file");
        }
    } else if (kv->type == GGUF_TYPE_STRING || gguf_type_size(kv->type)) {
        read_scalar(c, kv->type, kv);
    } else {
        cur_fail(c, "unknown metadata value type");
    }
}

static void read_tensor_info(cursor *c, tensor_entry *t) {
    gguf_str name = cur_str(c, "truncated tensor name");
    if (c->failed) return;
    if (name.n == 0 || name.n >= G4_MAX_NAME || memchr(name.s, 0, name.n)) {
        cur_fail(c, "tensor name empty, too long or containing NUL");
        return;
    }
    memcpy(t->name, name.s, name.n);
    t->name[name.n] = 0;
    t->n_dims = (int32_t)cur_le(c, 4, "truncated tensor dims");
    if (c->failed) return;
    if (t->n_dims < 1 || t->n_dims > G4_MAX_DIMS) {
        if (!c->failed) g4_fail(c->err, G4_ERR_FORMAT, "%s: tensor '%s' has %d dimensions (1..4 allowed)", c->name, t->name, t->n_dims);
        c->failed = true;
        return;
    }
    for (int i = 0; i < G4_MAX_DIMS; i++) t->ne[i] = 1;
    for (int i = 0; i < t->n_dims; i++) t->ne[i] = (int64_t)cur_le(c, 8, "truncated tensor shape");
    t->type = (int32_t)cur_le(c, 4, "truncated tensor type");
    t->nbytes = cur_le(c, 8, "truncated tensor offset"); /* offset for now; size computed later */
}

g4_status gguf_parse(gguf_file *g, const uint8_t *data, uint64_t size, const char *name, g4_error *err) {
    g4_error local;
    if (!err) { g4_error_clear(&local); err = &local; }
    memset(g, 0, sizeof *g);
    g->name = name;
    cursor c = {.p = data, .size = size, .err = err, .name = name};

    const uint8_t *magic = cur_take(&c, 4, "file too short for a GGUF header");
    if (c.failed) goto fail;
    if (memcmp(magic, "GGUF", 4) != 0) {
        g4_fail(err, G4_ERR_FORMAT, "%s: not a GGUF file (bad magic)", name);
        goto fail;
    }
    g->version = (uint32_t)cur_le(&c, 4, "truncated header");
    if (!c.failed && g->version != 3 && g->version != 2) {
        g4_fail(err, G4_ERR_UNSUPPORTED, "%s: GGUF version %u is not supported (big-endian file, or too new?)", name, g->version);
        goto fail;
    }
    uint64_t n_tensors = cur_le(&c, 8, "truncated header"), n_kv = cur_le(&c, 8, "truncated header");
    if (c.failed) goto fail;
    /* a tensor record is at least 8+1+4+8+4+8 bytes, a kv at least 8+1+4+1 */
    if (n_tensors > size / 33 || n_kv > size / 14) {
        g4_fail(err, G4_ERR_FORMAT, "%s: header claims %llu tensors and %llu metadata entries, more than the file can hold",
                name, (unsigned long long)n_tensors, (unsigned long long)n_kv);
        goto fail;
    }
    g->kv = g4_calloc((size_t)n_kv, sizeof *g->kv);
    if (!g->kv) { g4_fail(err, G4_ERR_NOMEM, "%s: out of memory", name); goto fail; }
    for (uint64_t i = 0; i < n_kv && !c.failed; i++) {
        read_kv(&c, &g->kv[i]);
        g->n_kv = (int64_t)i + 1;
    }
    if (c.failed) goto fail;

    g->alignment = 32; /* GGUF_DEFAULT_ALIGNMENT */
    const gguf_kv *al = gguf_find(g, "general.alignment");
    if (al) {
        if (al->type != GGUF_TYPE_UINT32 || al->v.u64 == 0 || (al->v.u64 & (al->v.u64 - 1))) {
            g4_fail(err, G4_ERR_FORMAT, "%s: general.alignment must be a power-of-two u32", name);
            goto fail;
        }
        g->alignment = al->v.u64;
    }

    for (uint64_t i = 0; i < n_tensors && !c.failed; i++) {
        tensor_entry t = {0};
        read_tensor_info(&c, &t);
        if (c.failed) break;
        t.file = name;
        if (tensor_dir_push(&g->tensors, &t, err) != G4_OK) goto fail;
    }
    if (c.failed) goto fail;
    uint64_t data_off = (c.off + g->alignment - 1) / g->alignment * g->alignment;
    if (data_off > size) data_off = size; /* a file with no tensor data may end here */
    g->data_offset = data_off;
    uint64_t avail = size - data_off;

    for (int64_t i = 0; i < g->tensors.n; i++) {
        tensor_entry *t = &g->tensors.t[i];
        uint64_t offset = t->nbytes;
        const dtype_traits *tr = dtype_get(t->type);
        if (!tr) {
            g4_fail(err, G4_ERR_UNSUPPORTED, "%s: tensor '%s' has unknown type id %d", name, t->name, t->type);
            goto fail;
        }
        uint64_t rows = 1, bytes;
        for (int d = 0; d < G4_MAX_DIMS; d++) {
            if (t->ne[d] < 0 || (d > 0 && !g4_mul_u64(rows, (uint64_t)t->ne[d], &rows)) || rows > ((uint64_t)1 << 48)) {
                g4_fail(err, G4_ERR_FORMAT, "%s: tensor '%s' has an invalid shape", name, t->name);
                goto fail;
            }
        }
        if (!dtype_row_bytes(t->type, t->ne[0], &bytes)) {
            g4_fail(err, G4_ERR_FORMAT, "%s: tensor '%s' row of %lld is not a whole number of %s blocks",
                    name, t->name, (long long)t->ne[0], tr->name);
            goto fail;
        }
        if (!g4_mul_u64(bytes, rows, &bytes) || offset % g->alignment || offset > avail || bytes > avail - offset) {
            g4_fail(err, G4_ERR_FORMAT, "%s: tensor '%s' (%llu bytes at offset %llu) lies outside the file; truncated download?",
                    name, t->name, (unsigned long long)bytes, (unsigned long long)offset);
            goto fail;
        }
        t->data = data + data_off + offset;
        t->nbytes = bytes;
    }
    if (tensor_dir_index(&g->tensors, err) != G4_OK) { g4_error_prefix(err, "%s", name); goto fail; }
    return G4_OK;
fail:
    {
        g4_status st = err->status != G4_OK ? err->status : G4_ERR_FORMAT;
        gguf_close(g);
        return st;
    }
}

g4_status gguf_open(gguf_file *g, const char *path, g4_error *err) {
    memset(g, 0, sizeof *g);
    mapfile mf;
    g4_status st = mapfile_open(&mf, path, err);
    if (st != G4_OK) return st;
    st = gguf_parse(g, mf.data, mf.size, mf.path, err); /* mf.path outlives the move below */
    if (st != G4_OK) mapfile_close(&mf);
    else g->mf = mf;
    return st;
}

void gguf_close(gguf_file *g) {
    for (int64_t i = 0; i < g->n_kv; i++) free(g->kv[i].key);
    free(g->kv);
    tensor_dir_free(&g->tensors);
    mapfile_close(&g->mf);
    memset(g, 0, sizeof *g);
}

const gguf_kv *gguf_find(const gguf_file *g, const char *key) {
    for (int64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key && !strcmp(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

static bool is_int_type(int32_t t) {
    return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_INT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_INT16 ||
           t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_UINT64 || t == GGUF_TYPE_INT64;
}
static bool is_signed(int32_t t) {
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}

static bool wrong_type(const gguf_file *g, const gguf_kv *kv, const char *want, g4_error *err) {
    g4_fail(err, G4_ERR_FORMAT, "%s: metadata '%s' is %s%s, expected %s", g->name, kv->key,
            gguf_type_name(kv->type), kv->type == GGUF_TYPE_ARRAY ? " (array)" : "", want);
    return false;
}

bool gguf_get_u32(const gguf_file *g, const char *key, uint32_t *out, g4_error *err) {
    const gguf_kv *kv = gguf_find(g, key);
    if (!kv) return false;
    if (!is_int_type(kv->type)) return wrong_type(g, kv, "an integer", err);
    if (is_signed(kv->type) ? (kv->v.i64 < 0 || kv->v.i64 > (int64_t)UINT32_MAX) : kv->v.u64 > UINT32_MAX)
        return wrong_type(g, kv, "an integer in 0..2^32-1", err);
    *out = (uint32_t)kv->v.u64;
    return true;
}

bool gguf_get_f32(const gguf_file *g, const char *key, float *out, g4_error *err) {
    const gguf_kv *kv = gguf_find(g, key);
    if (!kv) return false;
    if (kv->type == GGUF_TYPE_FLOAT32 || kv->type == GGUF_TYPE_FLOAT64) *out = (float)kv->v.f64;
    else if (is_int_type(kv->type)) *out = is_signed(kv->type) ? (float)kv->v.i64 : (float)kv->v.u64;
    else return wrong_type(g, kv, "a number", err);
    return true;
}

bool gguf_get_bool(const gguf_file *g, const char *key, bool *out, g4_error *err) {
    const gguf_kv *kv = gguf_find(g, key);
    if (!kv) return false;
    if (kv->type != GGUF_TYPE_BOOL) return wrong_type(g, kv, "a bool", err);
    *out = kv->v.u64 != 0;
    return true;
}

bool gguf_get_str(const gguf_file *g, const char *key, gguf_str *out, g4_error *err) {
    const gguf_kv *kv = gguf_find(g, key);
    if (!kv) return false;
    if (kv->type != GGUF_TYPE_STRING) return wrong_type(g, kv, "a string", err);
    *out = kv->v.str;
    return true;
}

bool gguf_arr_int(const gguf_kv *kv, uint64_t idx, int64_t *out) {
    if (kv->type != GGUF_TYPE_ARRAY || idx >= kv->arr_n) return false;
    int32_t t = kv->arr_type;
    if (!is_int_type(t) && t != GGUF_TYPE_BOOL) return false;
    uint64_t es = gguf_type_size(t), raw = 0;
    const uint8_t *b = kv->arr_data + idx * es;
    for (int i = (int)es - 1; i >= 0; i--) raw = raw << 8 | b[i];
    switch (t) {
    case GGUF_TYPE_INT8: *out = (int8_t)raw; break;
    case GGUF_TYPE_INT16: *out = (int16_t)raw; break;
    case GGUF_TYPE_INT32: *out = (int32_t)raw; break;
    default: *out = (int64_t)raw; break;
    }
    return true;
}

bool gguf_arr_float(const gguf_kv *kv, uint64_t idx, float *out) {
    if (kv->type != GGUF_TYPE_ARRAY || idx >= kv->arr_n) return false;
    if (kv->arr_type == GGUF_TYPE_FLOAT32) {
        uint32_t u; memcpy(&u, kv->arr_data + idx * 4, 4); memcpy(out, &u, 4);
        return true;
    }
    if (kv->arr_type == GGUF_TYPE_FLOAT64) {
        double d; memcpy(&d, kv->arr_data + idx * 8, 8); *out = (float)d;
        return true;
    }
    return false;
}

g4_status gguf_arr_strings(const gguf_kv *kv, gguf_str **out, g4_error *err) {
    *out = NULL;
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING)
        return g4_fail(err, G4_ERR_FORMAT, "metadata '%s' is not a string array", kv->key);
    gguf_str *s = g4_malloc((size_t)kv->arr_n * sizeof *s);
    if (!s) return g4_fail(err, G4_ERR_NOMEM, "out of memory reading '%s'", kv->key);
    const uint8_t *p = kv->arr_data; /* lengths were validated by the parser */
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        uint64_t n = 0;
        for (int b = 7; b >= 0; b--) n = n << 8 | p[b];
        s[i] = (gguf_str){(const char *)p + 8, n};
        p += 8 + n;
    }
    *out = s;
    return G4_OK;
}
