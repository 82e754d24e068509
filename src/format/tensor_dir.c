/* tensor_dir.c - growable tensor table with a sorted name index for lookups. */
#include "tensor_dir.h"

#include <string.h>

g4_status tensor_dir_push(tensor_dir *d, const tensor_entry *e, g4_error *err) {
    if (d->n == d->cap) {
        int64_t nc = d->cap ? d->cap * 2 : 64;
        tensor_entry *nt = realloc(d->t, (size_t)nc * sizeof *nt);
        if (!nt) return g4_fail(err, G4_ERR_NOMEM, "out of memory for the tensor table");
        d->t = nt;
        d->cap = nc;
    }
    d->t[d->n++] = *e;
    return G4_OK;
}

typedef struct { const char *name; int64_t idx; } name_idx;

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const name_idx *)a)->name, ((const name_idx *)b)->name);
}

g4_status tensor_dir_index(tensor_dir *d, g4_error *err) {
    free(d->sorted);
    d->sorted = g4_malloc((size_t)d->n * sizeof *d->sorted);
    name_idx *tmp = g4_malloc((size_t)d->n * sizeof *tmp);
    if (!d->sorted || !tmp) { free(tmp); return g4_fail(err, G4_ERR_NOMEM, "out of memory for the tensor index"); }
    for (int64_t i = 0; i < d->n; i++) tmp[i] = (name_idx){d->t[i].name, i};
    qsort(tmp, (size_t)d->n, sizeof *tmp, cmp_name);
    g4_status st = G4_OK;
    for (int64_t i = 0; i < d->n; i++) {
        d->sorted[i] = tmp[i].idx;
        if (i && !strcmp(tmp[i].name, tmp[i - 1].name) && st == G4_OK)
            st = g4_fail(err, G4_ERR_FORMAT, "tensor '%s' appears twice", tmp[i].name);
    }
    free(tmp);
    return st;
}

const tensor_entry *tensor_dir_find(const tensor_dir *d, const char *name) {
    int64_t lo = 0, hi = d->n - 1;
    if (!d->sorted) return NULL;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(d->t[d->sorted[mid]].name, name);
        if (!c) return &d->t[d->sorted[mid]];
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}

void tensor_dir_free(tensor_dir *d) {
    free(d->t);
    free(d->sorted);
    memset(d, 0, sizeof *d);
}
