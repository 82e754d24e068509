/* fuzz_chat.c - libFuzzer target for the chat format: rendering arbitrary JSON as a
 * conversation (messages and tools), rendering and tokenizing it in one step, and
 * parsing arbitrary text as a model reply. The first input byte picks the part and the
 * options; for rendering, a NUL byte separates the messages JSON from the tools JSON.
 * Render+tokenize uses the real vocabulary when the test cache has it (loaded once). */
#include "g4.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const g4_tokenizer *vocab(void) {
    static g4_tokenizer *t;
    static int tried;
    if (!tried) {
        tried = 1;
        const char *cache = getenv("G4_TEST_CACHE");
        char path[1024];
        snprintf(path, sizeof path, "%s/vocab/ggml-vocab-gemma-4.gguf", cache && *cache ? cache : ".cache");
        g4_error err = {0};
        if (g4_tokenizer_open(&t, path, &err) != G4_OK) t = NULL;
    }
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    uint8_t mode = data[0];
    data++, size--;
    g4_error err = {0};
    if (mode & 0x80) {
        g4_chat_reply r;
        if (g4_chat_parse((const char *)data, size, &r, &err) == G4_OK) {
            if (!r.content) abort();
            g4_chat_reply_free(&r);
        }
        return 0;
    }
    char *text = malloc(size + 2);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    text[size + 1] = 0;
    const char *tools = NULL;
    size_t l = strlen(text);
    if (l < size) tools = text + l + 1;
    g4_chat_params p = {.enable_thinking = mode & 1, .no_generation_prompt = mode & 2, .no_bos = mode & 4};
    char *out = NULL;
    g4_status st = g4_chat_render(NULL, text, tools, &p, &out, &err);
    if ((st == G4_OK) != (out != NULL)) abort();
    free(out);
    const g4_tokenizer *t = (mode & 0x40) ? vocab() : NULL;
    if (t) {
        int32_t *ids = NULL;
        size_t n;
        st = g4_chat_tokenize(t, text, tools, &p, &ids, &n, &err);
        if ((st == G4_OK) != (ids != NULL)) abort();
        free(ids);
    }
    free(text);
    return 0;
}
