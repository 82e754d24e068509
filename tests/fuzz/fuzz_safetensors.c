/* fuzz_safetensors.c - libFuzzer target: the safetensors header parser on arbitrary
 * bytes (length prefix, JSON, dtypes, shapes, offsets). */
#include "format/safetensors.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tensor_dir d = {0};
    g4_error err = {0};
    if (st_parse(&d, data, size, "fuzz.safetensors", &err) == G4_OK && tensor_dir_index(&d, &err) == G4_OK)
        (void)tensor_dir_find(&d, "model.embed_tokens.weight");
    tensor_dir_free(&d);
    return 0;
}
