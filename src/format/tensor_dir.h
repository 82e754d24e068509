/* tensor_dir.h - the format-neutral table of tensors in a checkpoint: name, storage type,
 * shape and where the bytes are in a mapped file. GGUF and safetensors readers both fill
 * it; the model binder only ever sees this table.
 *
 * Shapes are in ggml order: ne[0] is the row length (the fastest-varying dimension), so a
 * PyTorch weight [out, in] has ne = {in, out}. The bytes are the same either way. */
#ifndef G4_TENSOR_DIR_H
#define G4_TENSOR_DIR_H

#include "../base.h"

#define G4_MAX_DIMS 4
#define G4_MAX_NAME 128

typedef struct tensor_entry {
    char name[G4_MAX_NAME];
    int32_t type;            /* GGUF type id (g4_dtype for the computable ones) */
    int32_t n_dims;
    int64_t ne[G4_MAX_DIMS]; /* unused dims are 1 */
    const uint8_t *data;     /* into a mapping; never owned */
    uint64_t nbytes;
    const char *file;        /* the mapped file, for messages */
} tensor_entry;

typedef struct tensor_dir {
    tensor_entry *t;
    int64_t n;
    int64_t cap;
    int64_t *sorted; /* indices of t sorted by name, built by tensor_dir_index */
} tensor_dir;

g4_status tensor_dir_push(tensor_dir *d, const tensor_entry *e, g4_error *err);
/* Sorts the name index; fails on a duplicate name. */
g4_status tensor_dir_index(tensor_dir *d, g4_error *err);
const tensor_entry *tensor_dir_find(const tensor_dir *d, const char *name);
void tensor_dir_free(tensor_dir *d);

static inline int64_t tensor_nelem(const tensor_entry *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

#endif
