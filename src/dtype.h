/* dtype.h - tensor storage types: the table of every GGUF type id (name, block size,
 * bytes per block) and the scalar conversions for the types g4 computes with.
 *
 * The block layouts and quantizers follow shared/design/quant-formats.md bit for bit, so
 * that files g4 writes are the files llama.cpp would write. */
#ifndef G4_DTYPE_H
#define G4_DTYPE_H

#include "base.h"

#define G4_QK 32 /* elements per Q4_0 / Q8_0 block */

typedef struct { uint16_t d; uint8_t qs[G4_QK / 2]; } block_q4_0; /* (x = (nibble-8)*d) */
typedef struct { uint16_t d; int8_t qs[G4_QK]; } block_q8_0;       /* (x = q*d) */
_Static_assert(sizeof(block_q4_0) == 18, "wrong q4_0 block size/padding");
_Static_assert(sizeof(block_q8_0) == 34, "wrong q8_0 block size/padding");

typedef struct dtype_traits {
    const char *name;    /* GGUF's name, e.g. "Q4_K"; NULL for ids that do not exist */
    int32_t block;       /* elements per block */
    int32_t block_bytes; /* bytes per block */
    bool computable;     /* g4 can dequantize it today */
} dtype_traits;

/* Traits of a GGUF type id, or NULL for an unknown/retired id. */
const dtype_traits *dtype_get(int32_t type);

/* Bytes of a row of n elements; false if n is not a whole number of blocks. */
bool dtype_row_bytes(int32_t type, int64_t n, uint64_t *out);

/* Half and bfloat16 conversions (round to nearest even; see quant-formats.md §4). */
float fp16_to_f32(uint16_t h);
uint16_t f32_to_fp16(float f);
static inline float bf16_to_f32(uint16_t b) {
    union { uint32_t u; float f; } v = { (uint32_t)b << 16 };
    return v.f;
}
uint16_t f32_to_bf16(float f);

/* Converts n elements (a whole number of blocks) of a computable type to float. */
void dequantize_row(int32_t type, const void *src, float *dst, int64_t n);
/* Converts n floats to type (F32, F16, BF16, Q8_0, Q4_0: the reference quantizers). */
void quantize_row(int32_t type, const float *src, void *dst, int64_t n);

#endif
