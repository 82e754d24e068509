/* safetensors.c - reader for safetensors files: an 8-byte little-endian header length, a
 * JSON object mapping tensor names to {dtype, shape, data_offsets}, then the raw bytes.
 * Offsets are relative to the end of the header. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <string.h>

/* Headers of real checkpoints are well under 1 MB; 100 MB bounds a hostile length. */
#define ST_MAX_HEADER ((uint64_t)100 << 20)

static int32_t st_dtype(const char *s, int *elem_bytes) {
    static const struct { const char *name; int32_t type; int bytes; } map[] = {
        {"F32", G4_DTYPE_F32, 4}, {"F16", G4_DTYPE_F16, 2}, {"BF16", G4_DTYPE_BF16, 2},
        {"F64", -1, 8}, {"I64", -1, 8}, {"U64", -1, 8}, {"I32", -1, 4}, {"U32", -1, 4},
        {"I16", -1, 2}, {"U16", -1, 2}, {"I8", -1, 1}, {"U8", -1, 1}, {"BOOL", -1, 1},
        {"F8_E4M3", -1, 1}, {"F8_E5M2", -1, 1},
    };
    for (size_t i = 0; i < G4_ARRAY_LEN(map); i++)
        if (!strcmp(s, map[i].name)) { *elem_bytes = map[i].bytes; return map[i].type; }
    *elem_bytes = 0;
    return -2;
}

g4_status st_parse(tensor_dir *dir, const uint8_t *data, uint64_t size, const char *name, g4_error *err) {
    if (size < 8) return g4_fail(err, G4_ERR_FORMAT, "%s: too short for a safetensors file", name);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | data[i];
    if (hlen > size - 8 || hlen > ST_MAX_HEADER || hlen < 2)
        return g4_fail(err, G4_ERR_FORMAT, "%s: header length %llu does not fit the file (%llu bytes); truncated or not safetensors",
                       name, (unsigned long long)hlen, (unsigned long long)size);
    cJSON *root = cJSON_ParseWithLength((const char *)data + 8, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return g4_fail(err, G4_ERR_FORMAT, "%s: header is not a JSON object", name);
    }
    const uint8_t *base = data + 8 + hlen;
    uint64_t avail = size - 8 - hlen;
    g4_status st = G4_OK;
    for (cJSON *it = root->child; it && st == G4_OK; it = it->next) {
        if (!it->string) continue;
        if (!strcmp(it->string, "__metadata__")) continue;
        tensor_entry t = {0};
        if (strlen(it->string) >= G4_MAX_NAME) {
            st = g4_fail(err, G4_ERR_FORMAT, "%s: tensor name too long: %.60s...", name, it->string);
            break;
        }
        strcpy(t.name, it->string);
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        cJSON *shape = cJSON_GetObjectItemCaseSensitive(it, "shape");
        cJSON *offs = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2) {
            st = g4_fail(err, G4_ERR_FORMAT, "%s: tensor '%s' lacks dtype, shape or data_offsets", name, t.name);
            break;
        }
        int eb;
        t.type = st_dtype(dt->valuestring, &eb);
        if (t.type == -2) {
            st = g4_fail(err, G4_ERR_UNSUPPORTED, "%s: tensor '%s' has unknown dtype '%s'", name, t.name, dt->valuestring);
            break;
        }
        int nd = cJSON_GetArraySize(shape);
        if (nd > G4_MAX_DIMS) {
            st = g4_fail(err, G4_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions (at most 4)", name, t.name, nd);
            break;
        }
        t.n_dims = nd ? nd : 1;
        for (int d = 0; d < G4_MAX_DIMS; d++) t.ne[d] = 1;
        uint64_t numel = 1;
        for (int d = 0; d < nd; d++) {
            cJSON *v = cJSON_GetArrayItem(shape, d);
            /* doubles hold integers exactly up to 2^53; shapes beyond 2^40 are not real */
            if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1099511627776.0 ||
                v->valuedouble != (double)(int64_t)v->valuedouble) {
                st = g4_fail(err, G4_ERR_FORMAT, "%s: tensor '%s' has an invalid shape", name, t.name);
                break;
            }
            t.ne[nd - 1 - d] = (int64_t)v->valuedouble; /* PyTorch order -> ggml order */
            if (!g4_mul_u64(numel, (uint64_t)t.ne[nd - 1 - d], &numel)) {
                st = g4_fail(err, G4_ERR_FORMAT, "%s: tensor '%s' shape overflows", name, t.name);
                break;
            }
        }
        if (st != G4_OK) break;
        cJSON *b0 = cJSON_GetArrayItem(offs, 0), *b1 = cJSON_GetArrayItem(offs, 1);
        if (!cJSON_IsNumber(b0) || !cJSON_IsNumber(b1) || b0->valuedouble < 0 || b1->valuedouble < b0->valuedouble ||
            b1->valuedouble > (double)avail) {
            st = g4_fail(err, G4_ERR_FORMAT, "%s: tensor '%s' data lies outside the file; truncated download?", name, t.name);
            break;
        }
        uint64_t beg = (uint64_t)b0->valuedouble, end = (uint64_t)b1->valuedouble, want;
        if (!g4_mul_u64(numel, (uint64_t)eb, &want) || end - beg != want) {
            st = g4_fail(err, G4_ERR_FORMAT, "%s: tensor '%s' has %llu bytes but its shape needs %llu", name, t.name,
                         (unsigned long long)(end - beg), (unsigned long long)want);
            break;
        }
        t.data = base + beg;
        t.nbytes = want;
        t.file = name;
        st = tensor_dir_push(dir, &t, err);
    }
    cJSON_Delete(root);
    return st;
}

static g4_status add_file(st_checkpoint *c, const char *dir, const char *file, g4_error *err) {
    if (c->n_files == ST_MAX_SHARDS) return g4_fail(err, G4_ERR_UNSUPPORTED, "%s: more than %d shards", dir, ST_MAX_SHARDS);
    if (strchr(file, '/') || !strcmp(file, "..") || !file[0])
        return g4_fail(err, G4_ERR_FORMAT, "%s: shard name '%s' is not a plain file name", dir, file);
    size_t n = strlen(dir) + strlen(file) + 2;
    char *path = malloc(n);
    if (!path) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    snprintf(path, n, "%s/%s", dir, file);
    mapfile *mf = &c->files[c->n_files];
    g4_status st = mapfile_open(mf, path, err);
    free(path);
    if (st != G4_OK) return st;
    c->n_files++;
    return st_parse(&c->tensors, mf->data, mf->size, mf->path, err);
}

g4_status st_open_dir(st_checkpoint *c, const char *dir, g4_error *err) {
    memset(c, 0, sizeof *c);
    size_t n = strlen(dir) + 64;
    char *path = malloc(n);
    if (!path) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    g4_status st;
    snprintf(path, n, "%s/model.safetensors.index.json", dir);
    char *text = NULL;
    FILE *probe = fopen(path, "rb");
    if (probe) {
        fclose(probe);
        st = read_text_file(path, 64u << 20, &text, err);
        cJSON *root = st == G4_OK ? cJSON_Parse(text) : NULL;
        cJSON *map = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
        if (st == G4_OK && !cJSON_IsObject(map))
            st = g4_fail(err, G4_ERR_FORMAT, "%s: no \"weight_map\" object", path);
        for (cJSON *it = map ? map->child : NULL; it && st == G4_OK; it = it->next) {
            if (!cJSON_IsString(it)) { st = g4_fail(err, G4_ERR_FORMAT, "%s: weight_map values must be file names", path); break; }
            bool seen = false;
            for (int i = 0; i < c->n_files && !seen; i++) {
                const char *slash = strrchr(c->files[i].path, '/');
                seen = !strcmp(slash ? slash + 1 : c->files[i].path, it->valuestring);
            }
            if (!seen) st = add_file(c, dir, it->valuestring, err);
        }
        cJSON_Delete(root);
        free(text);
    } else {
        st = add_file(c, dir, "model.safetensors", err);
    }
    free(path);
    if (st == G4_OK) st = tensor_dir_index(&c->tensors, err);
    if (st != G4_OK) st_close(c);
    return st;
}

void st_close(st_checkpoint *c) {
    for (int i = 0; i < c->n_files; i++) mapfile_close(&c->files[i]);
    tensor_dir_free(&c->tensors);
    memset(c, 0, sizeof *c);
}
