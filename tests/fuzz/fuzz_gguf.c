/* fuzz_gguf.c - libFuzzer target: the GGUF reader and the gemma4 metadata reader on
 * arbitrary bytes. Every input must give G4_OK or a clean error: no crash, no leak, no
 * read outside the buffer, no huge allocation (-rss_limit_mb catches those). */
#include "format/gguf.h"
#include "model/config.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file g;
    g4_error err = {0};
    if (gguf_parse(&g, data, size, "fuzz.gguf", &err) != G4_OK) return 0;
    for (int64_t i = 0; i < g.n_kv; i++) {
        const gguf_kv *kv = &g.kv[i];
        if (kv->type != GGUF_TYPE_ARRAY) continue;
        if (kv->arr_type == GGUF_TYPE_STRING) {
            gguf_str *s = NULL;
            if (gguf_arr_strings(kv, &s, NULL) == G4_OK) free(s);
        } else {
            int64_t v;
            float f;
            for (uint64_t k = 0; k < kv->arr_n && k < 64; k++) { gguf_arr_int(kv, k, &v); gguf_arr_float(kv, k, &f); }
        }
    }
    g4_hparams *hp = malloc(sizeof *hp);
    g4_error e2 = {0};
    if (hp && config_from_gguf(hp, &g, &e2) == G4_OK) {
        hp->n_vocab = 512;
        config_finish(hp, "fuzz.gguf", &e2);
    }
    free(hp);
    gguf_close(&g);
    return 0;
}
