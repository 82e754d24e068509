/* gguf.h - reading and writing GGUF v3, the llama.cpp model container.
 *
 * Reader: the file is memory-mapped; metadata values and tensor bytes are pointers into
 * the mapping. Every length, count and offset read from the file is checked against the
 * file size before use, so a truncated or hostile file gives a one-line error, never a
 * crash or a huge allocation.
 *
 * Writer: collects metadata and tensor descriptions, then streams tensor bytes produced
 * by a callback into a temporary file that is renamed over the target only when complete,
 * so a failed conversion never leaves a half-written model behind. */
#ifndef G4_GGUF_H
#define G4_GGUF_H

#include "mapfile.h"
#include "tensor_dir.h"

typedef enum gguf_type {
    GGUF_TYPE_UINT8 = 0, GGUF_TYPE_INT8 = 1, GGUF_TYPE_UINT16 = 2, GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4, GGUF_TYPE_INT32 = 5, GGUF_TYPE_FLOAT32 = 6, GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8, GGUF_TYPE_ARRAY = 9, GGUF_TYPE_UINT64 = 10, GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
} gguf_type;

/* A string inside the mapping: not NUL-terminated. */
typedef struct gguf_str { const char *s; uint64_t n; } gguf_str;

typedef struct gguf_kv {
    char *key;                /* owned, NUL-terminated */
    int32_t type;             /* gguf_type */
    int32_t arr_type;         /* element type when type == ARRAY */
    uint64_t arr_n;           /* element count when type == ARRAY */
    const uint8_t *arr_data;  /* first element, in the mapping */
    union { uint64_t u64; int64_t i64; double f64; gguf_str str; } v; /* scalars */
} gguf_kv;

typedef struct gguf_file {
    mapfile mf;               /* empty when parsed from a caller's buffer */
    const char *name;         /* file name for messages */
    uint32_t version;
    gguf_kv *kv;
    int64_t n_kv;
    tensor_dir tensors;
    uint64_t alignment;
    uint64_t data_offset;     /* start of the tensor data section */
} gguf_file;

g4_status gguf_open(gguf_file *g, const char *path, g4_error *err);
/* Parses a GGUF image already in memory (the fuzzer's entry point). g need not be
 * initialised; on failure it is left empty. name is used in messages and must outlive g. */
g4_status gguf_parse(gguf_file *g, const uint8_t *data, uint64_t size, const char *name,
                     g4_error *err);
void gguf_close(gguf_file *g);

const gguf_kv *gguf_find(const gguf_file *g, const char *key);

/* Typed getters. They return false when the key is absent. When it is present with a
 * type that cannot be read as asked (a string for a number, a value out of range, an
 * array for a scalar), they record a format error in err and return false. */
bool gguf_get_u32(const gguf_file *g, const char *key, uint32_t *out, g4_error *err);
bool gguf_get_f32(const gguf_file *g, const char *key, float *out, g4_error *err);
bool gguf_get_bool(const gguf_file *g, const char *key, bool *out, g4_error *err);
bool gguf_get_str(const gguf_file *g, const char *key, gguf_str *out, g4_error *err);

/* Array element access (kv->type must be ARRAY; idx < arr_n). Integer and bool arrays
 * read as int64, float arrays as float. */
bool gguf_arr_int(const gguf_kv *kv, uint64_t idx, int64_t *out);
bool gguf_arr_float(const gguf_kv *kv, uint64_t idx, float *out);
/* Fills *out with pointers to every string of a string array (allocates n entries,
 * caller frees *out). */
g4_status gguf_arr_strings(const gguf_kv *kv, gguf_str **out, g4_error *err);

/* Size in bytes of one scalar value of type t (0 for STRING/ARRAY/unknown). */
uint64_t gguf_type_size(int32_t t);
const char *gguf_type_name(int32_t t);

/* ---- writer ------------------------------------------------------------------ */

typedef struct gguf_writer gguf_writer;

/* Produces the nbytes bytes of tensor index `i` (in add order) into buf. */
typedef g4_status (*gguf_fill_fn)(void *user, int64_t i, void *buf, uint64_t nbytes,
                                  g4_error *err);

gguf_writer *gguf_writer_create(void);
void gguf_writer_free(gguf_writer *w);
/* Setters copy their arguments. They return false on allocation failure. */
bool gguf_set_u32(gguf_writer *w, const char *key, uint32_t v);
bool gguf_set_f32(gguf_writer *w, const char *key, float v);
bool gguf_set_bool(gguf_writer *w, const char *key, bool v);
bool gguf_set_str(gguf_writer *w, const char *key, const char *v);
/* Array of n scalars of type t (UINT32, INT32, FLOAT32, BOOL(1 byte each), ...). */
bool gguf_set_arr(gguf_writer *w, const char *key, int32_t t, const void *data, uint64_t n);
bool gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n);
/* Declares a tensor; ne in ggml order. Fails for a type/shape that breaks the row rule. */
bool gguf_add_tensor(gguf_writer *w, const char *name, int32_t type, int32_t n_dims,
                     const int64_t *ne);
g4_status gguf_writer_write(gguf_writer *w, const char *path, gguf_fill_fn fill, void *user,
                            g4_progress_fn progress, void *puser, g4_error *err);

#endif
