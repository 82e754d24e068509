/* fuzz_config.c - libFuzzer target: config.json parsing and validation on arbitrary
 * text. A config that passes config_finish must describe buffers of sane size. */
#include "model/config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    g4_hparams *hp = malloc(sizeof *hp);
    g4_error err = {0};
    if (hp && config_from_hf_json(hp, text, "fuzz/config.json", &err) == G4_OK) config_finish(hp, "fuzz/config.json", &err);
    free(hp);
    free(text);
    return 0;
}
