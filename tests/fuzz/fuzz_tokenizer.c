/* fuzz_tokenizer.c - libFuzzer target for the tokenizer: encoding, decoding and the
 * streaming decoder on arbitrary bytes, and tokenizer.json parsing.
 *
 * The first input byte picks what to do; the rest is the text. Encoding uses the real
 * Gemma 4 vocabulary when the test cache has it (loaded once), else a small built-in
 * one. Beyond "no crash", it checks the round trip: decode(encode(x)) == x with every
 * U+2581 read as ' ', and that the streaming decoder emits only well-formed UTF-8. */
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static g4_tokenizer *vocab(void) {
    static g4_tokenizer *t;
    static int tried;
    if (tried) return t;
    tried = 1;
    const char *cache = getenv("G4_TEST_CACHE");
    char path[1024];
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-gemma-4.gguf", cache && *cache ? cache : ".cache");
    g4_error err = {0};
    if (g4_tokenizer_open(&t, path, &err) == G4_OK) return t;
    /* a small vocabulary of the same kind: bytes, a few pieces and merges, specials */
    const char *json =
        "{\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"fuse_unk\":true,\"unk_token\":\"<unk>\",\"vocab\":{"
        "\"<pad>\":0,\"<eos>\":1,\"<bos>\":2,\"<unk>\":3,\"<|turn>\":4,\"<turn|>\":5,\"<|tool_call>\":6,"
        "\"<0x00>\":7,\"<0x0A>\":8,\"<0x20>\":9,\"<0xC3>\":10,\"<0xA9>\":11,\"<0xE2>\":12,\"<0x96>\":13,\"<0x81>\":14,"
        "\"a\":15,\"b\":16,\"\\u2581\":17,\"\\u2581a\":18,\"ab\":19,\"\\u2581ab\":20,\"\\n\":21,\"\\n\\n\":22,\"aa\":23,"
        "\"\\u2581\\u2581\":24,\"a\\u2581\":25},"
        "\"merges\":[\"a b\",\"\\u2581 a\",\"\\u2581a b\",\"\\n \\n\",\"a a\",\"\\u2581 \\u2581\",\"a \\u2581\"]},"
        "\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\\u2581\"},"
        "\"added_tokens\":[{\"id\":4,\"content\":\"<|turn>\",\"special\":true},{\"id\":5,\"content\":\"<turn|>\",\"special\":true},"
        "{\"id\":6,\"content\":\"<|tool_call>\",\"special\":false},{\"id\":3,\"content\":\"<unk>\",\"special\":true}]}";
    t = calloc(1, sizeof *t);
    if (t && tok_parse_hf(t, json, NULL, NULL, &err) != G4_OK) abort();
    return t;
}

static void check_roundtrip(const g4_tokenizer *t, const uint8_t *text, size_t n, uint32_t flags) {
    int32_t *ids;
    size_t ni;
    g4_error err = {0};
    if (g4_tokenize(t, (const char *)text, n, flags, &ids, &ni, &err) != G4_OK) return;
    if (!(flags & G4_TOKENIZE_SPECIAL) && t->byte_id[0] >= 0) {
        char *back;
        size_t bl;
        if (g4_detokenize(t, ids, ni, 0, &back, &bl, &err) == G4_OK) {
            /* back == text with U+2581 as ' ' (when every byte has a byte token) */
            size_t i = 0, j = 0;
            bool all_bytes = true;
            for (int b = 0; b < 256; b++) all_bytes &= t->byte_id[b] >= 0;
            while (all_bytes && i < bl && j < n) {
                if (j + 3 <= n && memcmp(text + j, UTF8_SPACE_MARK, 3) == 0 && back[i] == ' ') { i++; j += 3; continue; }
                if ((uint8_t)back[i] != text[j]) abort();
                i++, j++;
            }
            if (all_bytes && (i != bl || j != n)) abort();
            free(back);
        }
    }
    g4_detok *d;
    if (g4_detok_create(&d, t, 0, &err) == G4_OK) {
        for (size_t i = 0; i < ni; i++) {
            const char *s;
            size_t len;
            if (g4_detok_push(d, ids[i], &s, &len, &err) != G4_OK) abort();
            for (size_t k = 0; k < len;) { /* only well-formed UTF-8 comes out */
                uint32_t cp;
                size_t m = utf8_decode((const unsigned char *)s + k, len - k, &cp);
                if (m == 0) abort();
                k += m;
            }
        }
        size_t len;
        g4_detok_flush(d, &len);
        g4_detok_free(d);
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    uint8_t mode = data[0];
    data++, size--;
    if (mode >= 0xF0) { /* tokenizer.json text */
        char *text = malloc(size + 1);
        if (!text) return 0;
        memcpy(text, data, size);
        text[size] = 0;
        g4_tokenizer t = {0};
        g4_error err = {0};
        if (tok_parse_hf(&t, text, mode & 1 ? "{\"bos_token\":\"<bos>\",\"add_bos_token\":true}" : NULL, NULL, &err) == G4_OK)
            check_roundtrip(&t, (const uint8_t *)"a b\n\xC3\xA9 <|turn>", 12, mode & 2 ? G4_TOKENIZE_SPECIAL : 0);
        tok_destroy(&t);
        free(text);
        return 0;
    }
    const g4_tokenizer *t = vocab();
    if (!t) return 0;
    if (mode < 0x80) {
        check_roundtrip(t, data, size, mode & 1 ? G4_TOKENIZE_SPECIAL | G4_TOKENIZE_ADD_BOS : 0);
    } else { /* arbitrary ids through both decoders */
        size_t n = size / 4;
        int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
        if (!ids) return 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t v;
            memcpy(&v, data + 4 * i, 4);
            ids[i] = (int32_t)(mode & 1 ? v : v % (uint32_t)t->n_vocab);
        }
        char *s;
        size_t len;
        g4_error err = {0};
        if (g4_detokenize(t, ids, n, mode & 2 ? G4_DETOKENIZE_SKIP_SPECIAL : 0, &s, &len, &err) == G4_OK) free(s);
        g4_detok *d;
        if (g4_detok_create(&d, t, 0, &err) == G4_OK) {
            for (size_t i = 0; i < n; i++) {
                const char *o;
                g4_detok_push(d, ids[i], &o, &len, &err);
            }
            g4_detok_flush(d, &len);
            g4_detok_free(d);
        }
        free(ids);
    }
    return 0;
}
