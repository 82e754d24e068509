/* cmd_tokenize.c - the `g4 tokenize` and `g4 template` commands: what the tokenizer and
 * the chat format do, printed, so anyone can compare g4 with the reference.
 *
 *   g4 tokenize PATH "text"            one line per token: id, then the piece (escaped)
 *   g4 tokenize PATH "text" --ids      ids only, comma-separated
 *        --file F      read the text from F ('-': stdin) instead of the argument
 *        --special     control tokens written in the text become their ids
 *        --bos         put <bos> first
 *   g4 tokenize PATH --bench FILE [--reps N]
 *                      vocabulary load time and encoding speed (MB/s) on FILE
 *   g4 template PATH --messages FILE [--tools FILE] [--think] [--no-generation-prompt]
 *                      the prompt g4 feeds the model for an OpenAI-style messages array,
 *                      byte for byte (no newline is added)
 *        --ids         print the prompt's token ids instead (g4_chat_tokenize: only the
 *                      template's own markers become control tokens)
 *
 * PATH is a GGUF file (model or vocabulary) or a Hugging Face directory. Uses only g4.h. */
#include "commands.h"

#include "g4.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fail_msg(const char *cmd, const g4_error *err) {
    fprintf(stderr, "g4 %s: %s\n", cmd, err->msg[0] ? err->msg : g4_status_str(err->status));
    return 1;
}

/* Reads a whole file ('-': stdin) into a NUL-terminated buffer (allocates). */
static char *slurp(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        if (n + 1 >= cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) { free(b); b = NULL; break; }
            b = nb;
        }
        size_t k = fread(b + n, 1, cap - n - 1, f);
        if (k == 0) break;
        n += k;
    }
    bool bad = ferror(f);
    if (f != stdin) fclose(f);
    if (!b || bad) { free(b); return NULL; }
    b[n] = 0;
    *len = n;
    return b;
}

/* Prints a piece with control characters and backslashes escaped. */
static void print_piece(const char *p) {
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c == '\\') fputs("\\\\", stdout);
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int bench(const char *path, const char *file, int reps) {
    g4_error err = {0};
    size_t len;
    char *text = slurp(file, &len);
    if (!text) { fprintf(stderr, "g4 tokenize: cannot read %s: %s\n", file, strerror(errno)); return 1; }
    double best_load = 1e9;
    g4_tokenizer *t = NULL;
    for (int i = 0; i < 5; i++) {
        double t0 = now_s();
        if (g4_tokenizer_open(&t, path, &err) != G4_OK) { free(text); return fail_msg("tokenize", &err); }
        double dt = now_s() - t0;
        if (dt < best_load) best_load = dt;
        if (i < 4) g4_tokenizer_free(t);
    }
    double best = 1e9;
    size_t n_ids = 0;
    for (int i = 0; i < reps; i++) {
        int32_t *ids;
        double t0 = now_s();
        if (g4_tokenize(t, text, len, 0, &ids, &n_ids, &err) != G4_OK) { free(text); g4_tokenizer_free(t); return fail_msg("tokenize", &err); }
        double dt = now_s() - t0;
        if (dt < best) best = dt;
        free(ids);
    }
    printf("vocabulary: %d tokens, load %.1f ms (best of 5)\n", g4_tokenizer_n_vocab(t), best_load * 1e3);
    printf("encode %s: %zu bytes -> %zu tokens in %.1f ms: %.1f MB/s (best of %d, one thread)\n", file, len, n_ids,
           best * 1e3, (double)len / best / 1e6, reps);
    g4_tokenizer_free(t);
    free(text);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL, *text = NULL, *file = NULL, *bench_file = NULL;
    bool ids_only = false;
    uint32_t flags = 0;
    int reps = 10;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--ids")) ids_only = true;
        else if (!strcmp(a, "--special")) flags |= G4_TOKENIZE_SPECIAL;
        else if (!strcmp(a, "--bos")) flags |= G4_TOKENIZE_ADD_BOS;
        else if (!strcmp(a, "--file") && i + 1 < argc) file = argv[++i];
        else if (!strcmp(a, "--bench") && i + 1 < argc) bench_file = argv[++i];
        else if (!strcmp(a, "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (a[0] == '-' && a[1] == '-') { fprintf(stderr, "g4 tokenize: unknown option '%s'\n", a); return 2; }
        else if (!path) path = a;
        else if (!text) text = a;
        else { fprintf(stderr, "g4 tokenize: unexpected argument '%s'\n", a); return 2; }
    }
    if (!path || (!bench_file && !text == !file) || reps < 1) {
        fprintf(stderr, "usage: g4 tokenize PATH \"text\" [--ids] [--special] [--bos]\n"
                        "       g4 tokenize PATH --file F [--ids] [--special] [--bos]\n"
                        "       g4 tokenize PATH --bench FILE [--reps N]\n");
        return 2;
    }
    if (bench_file) return bench(path, bench_file, reps);
    g4_error err = {0};
    size_t len = 0;
    char *owned = NULL;
    if (file) {
        owned = slurp(file, &len);
        if (!owned) { fprintf(stderr, "g4 tokenize: cannot read %s: %s\n", file, strerror(errno)); return 1; }
        text = owned;
    } else {
        len = strlen(text);
    }
    g4_tokenizer *t;
    if (g4_tokenizer_open(&t, path, &err) != G4_OK) { free(owned); return fail_msg("tokenize", &err); }
    int32_t *ids;
    size_t n;
    int rc = 0;
    if (g4_tokenize(t, text, len, flags, &ids, &n, &err) != G4_OK) {
        rc = fail_msg("tokenize", &err);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (ids_only) {
                printf(i ? ",%d" : "%d", ids[i]);
            } else {
                printf("%d\t", ids[i]);
                print_piece(g4_tokenizer_piece(t, ids[i]));
                putchar('\n');
            }
        }
        if (ids_only) putchar('\n');
        else fprintf(stderr, "%zu tokens\n", n);
        free(ids);
    }
    g4_tokenizer_free(t);
    free(owned);
    return rc;
}

int cmd_template(int argc, char **argv) {
    const char *path = NULL, *messages = NULL, *tools = NULL;
    g4_chat_params p = {0};
    bool ids_only = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--messages") && i + 1 < argc) messages = argv[++i];
        else if (!strcmp(a, "--tools") && i + 1 < argc) tools = argv[++i];
        else if (!strcmp(a, "--think")) p.enable_thinking = true;
        else if (!strcmp(a, "--no-generation-prompt")) p.no_generation_prompt = true;
        else if (!strcmp(a, "--no-bos")) p.no_bos = true;
        else if (!strcmp(a, "--ids")) ids_only = true;
        else if (a[0] == '-' && a[1] == '-') { fprintf(stderr, "g4 template: unknown option '%s'\n", a); return 2; }
        else if (!path) path = a;
        else { fprintf(stderr, "g4 template: unexpected argument '%s'\n", a); return 2; }
    }
    if (!path || !messages) {
        fprintf(stderr, "usage: g4 template PATH --messages FILE [--tools FILE] [--think] [--no-generation-prompt] [--no-bos] [--ids]\n");
        return 2;
    }
    size_t len;
    char *msg = slurp(messages, &len), *tl = NULL;
    if (!msg) { fprintf(stderr, "g4 template: cannot read %s: %s\n", messages, strerror(errno)); return 1; }
    if (tools && !(tl = slurp(tools, &len))) {
        fprintf(stderr, "g4 template: cannot read %s: %s\n", tools, strerror(errno));
        free(msg);
        return 1;
    }
    g4_error err = {0};
    g4_tokenizer *t;
    int rc = 0;
    if (g4_tokenizer_open(&t, path, &err) != G4_OK) {
        rc = fail_msg("template", &err);
    } else {
        char *out;
        int32_t *ids;
        size_t n;
        if (ids_only) {
            if (g4_chat_tokenize(t, msg, tl, &p, &ids, &n, &err) != G4_OK) {
                rc = fail_msg("template", &err);
            } else {
                for (size_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
                putchar('\n');
                free(ids);
            }
        } else if (g4_chat_render(t, msg, tl, &p, &out, &err) != G4_OK) {
            rc = fail_msg("template", &err);
        } else {
            fputs(out, stdout);
            free(out);
        }
        g4_tokenizer_free(t);
    }
    free(msg);
    free(tl);
    return rc;
}
