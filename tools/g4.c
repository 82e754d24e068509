/* g4.c - the `g4` command. It uses only the public API in include/g4.h.
 *
 *   g4 inspect PATH [--ctx N]                      describe a model
 *   g4 convert SRC OUT.gguf [--type T]             write a GGUF llama.cpp can run
 *   g4 quantize SRC OUT.gguf TYPE                  the same, in llama-quantize's order
 *   g4 logits PATH --tokens 2,17,99 --out FILE     dump float32 logits [n_tokens, vocab]
 *
 * PATH is a GGUF file or a Hugging Face checkpoint directory. Errors are one line on
 * stderr and a non-zero exit status: 1 for a failure, 2 for a usage error. */
#include "commands.h"
#include "g4.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Each command's synopsis and what it does: all of them for `g4 help`, one for
 * `g4 CMD --help` (run, chat and serve print their own, longer help). */
static const struct { const char *cmd, *text; } commands[] = {
    {"run", "  g4 run PATH \"prompt\" [--system T] [--think] [--raw] [--max-tokens N] [--temp T] [--seed N] [--verbose]\n"
            "      stream one answer, in the Gemma 4 chat format (or plain continuation with --raw)\n"},
    {"chat", "  g4 chat PATH [--system T] [--load FILE] [--think] [--ctx N] [--kv TYPE] [--verbose]\n"
             "      talk to the model: multi-turn, line editing, /help for commands (save, load, stats)\n"},
    {"serve", "  g4 serve PATH [--host 127.0.0.1] [--port 8080] [--parallel 4] [--ctx 4096] [--api-key KEY]\n"
              "      an OpenAI-compatible HTTP server (chat and text completions, streaming, tools); --help for more\n"},
    {"perplexity", "  g4 perplexity PATH FILE [--ctx 512] [--stride N] [--kl-base PATH2] [--kv T] [--kl-base-kv T]\n"
                   "      perplexity of a text; with --kl-base, KL divergence and top-1 agreement against another model\n"},
    {"inspect", "  g4 inspect PATH [--ctx N]\n"
                "      print variant, hyper-parameters, per-layer table, tensors and a memory estimate\n"},
    {"convert", "  g4 convert SRC OUT.gguf [--type f32|f16|bf16|q8_0|q4_0|q4_k_m|q4_k|q5_k|q6_k|...]\n"
                "      write SRC (HF directory or GGUF) as a GGUF that llama.cpp runs (default f16)\n"},
    {"quantize", "  g4 quantize SRC OUT.gguf TYPE\n"
                 "      the same as convert --type TYPE, in llama-quantize's argument order (e.g. q4_k_m)\n"},
    {"logits", "  g4 logits PATH --tokens ID,ID,... --out FILE [--ctx N] [--greedy N]\n"
               "      write float32 logits, row-major [n_tokens, vocab], one row per input position;\n"
               "      --greedy N also prints the N greedy next token ids\n"},
    {"tokenize", "  g4 tokenize PATH \"text\" [--ids] [--file F] [--special]\n"
                 "      token ids and pieces (PATH: a model, a vocabulary GGUF or an HF directory)\n"},
    {"template", "  g4 template PATH --messages FILE [--tools FILE] [--think]\n"
                 "      the prompt g4 feeds the model for OpenAI-style messages (JSON)\n"},
    {"synth", "  g4 synth e2b|e4b|26b-a4b|31b OUT.gguf [--type T]\n"
              "      write a random-weight GGUF with a released variant's shapes (a benchmark subject)\n"},
    {"bench", "  g4 bench PATH [-t THREADS] [-r REPS] [-p 512] [-n 128] [-d DEPTH] [-c 4096] [--kv TYPE] [--json]\n"
              "      prefill / decode / time-to-first-token speed, as fractions of machine limits measured\n"
              "      before each rep (bandwidth after each decode too, the faster counting); the session\n"
              "      holds CONTEXT tokens (default 4096, or the model's maximum);\n"
              "      -p 0 or -n 0 leaves prefill or decode out\n"},
};

static int usage(FILE *f) {
    fprintf(f, "g4 %s - Gemma 4 inference, offline\n\nusage:\n", G4_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) fputs(commands[i].text, f);
    fputs("  g4 version\n"
          "\n"
          "PATH is a GGUF file or a Hugging Face checkpoint directory (config.json + safetensors).\n"
          "run, chat, serve, perplexity and bench take --kv f16|f32|q8_0: the KV cache as IEEE half (the\n"
          "default), float32 (exact, 2x the memory) or Q8_0 (0.53x); --kv-f32 is --kv f32.\n",
          f);
    return f == stderr ? 2 : 0;
}

/* `g4 CMD --help` / `-h` for the commands without a help of their own: their entry above. */
static bool command_help(const char *cmd, int argc, char **argv) {
    bool asked = false; /* not as an option's value: `--messages --help` is a missing file */
    for (int i = 0; i < argc; i++)
        asked |= (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) && (i == 0 || argv[i - 1][0] != '-');
    if (!asked) return false;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(commands[i].cmd, cmd)) {
            printf("usage:\n%s", commands[i].text);
            return true;
        }
    return false;
}

static int fail(const char *cmd, const g4_error *err) {
    fprintf(stderr, "g4 %s: %s\n", cmd, err->msg[0] ? err->msg : g4_status_str(err->status));
    return 1;
}

/* Parses a positive int option value; returns false on garbage. */
static bool parse_int(const char *s, int32_t *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 0x7fffffff) return false;
    *out = (int32_t)v;
    return true;
}

/* On a terminal one line rewritten in place; in a log (stderr not a terminal) a line at
 * each tenth of the tensors, not one per tensor (a 26B-A4B file has 658). */
void write_progress(void *user, int64_t done, int64_t total) {
    (void)user;
    static int64_t last_tenth = -1;
    if (isatty(STDERR_FILENO)) {
        fprintf(stderr, "\rwriting tensors: %lld/%lld", (long long)done, (long long)total);
        if (done == total) fputc('\n', stderr);
        return;
    }
    const int64_t tenth = total > 0 ? done * 10 / total : 10;
    if (tenth != last_tenth || done == total) fprintf(stderr, "writing tensors: %lld/%lld\n", (long long)done, (long long)total);
    last_tenth = done == total ? -1 : tenth;
}

static int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    int32_t n_ctx = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--ctx") && i + 1 < argc) {
            if (!parse_int(argv[++i], &n_ctx)) { fprintf(stderr, "g4 inspect: --ctx needs a number\n"); return 2; }
        } else if (!path && argv[i][0] != '-') path = argv[i];
        else { fprintf(stderr, "g4 inspect: unexpected argument '%s'\n", argv[i]); return 2; }
    }
    if (!path) { fprintf(stderr, "g4 inspect: missing PATH\n"); return 2; }
    g4_error err;
    g4_model *m;
    if (g4_model_open(&m, path, NULL, &err) != G4_OK) return fail("inspect", &err);
    char *text;
    if (g4_model_describe(m, n_ctx, &text, &err) != G4_OK) { g4_model_free(m); return fail("inspect", &err); }
    fputs(text, stdout);
    free(text);
    g4_model_free(m);
    return 0;
}

static int cmd_convert(int argc, char **argv) {
    const char *src = NULL, *dst = NULL, *type = "f16";
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--type") && i + 1 < argc) type = argv[++i];
        else if (argv[i][0] != '-' && !src) src = argv[i];
        else if (argv[i][0] != '-' && !dst) dst = argv[i];
        else { fprintf(stderr, "g4 convert: unexpected argument '%s'\n", argv[i]); return 2; }
    }
    if (!src || !dst) { fprintf(stderr, "g4 convert: usage: g4 convert SRC OUT.gguf [--type T]\n"); return 2; }
    g4_error err;
    g4_model *m;
    if (g4_model_open(&m, src, NULL, &err) != G4_OK) return fail("convert", &err);
    g4_status st = g4_model_save_gguf_as(m, dst, type, write_progress, NULL, &err);
    g4_model_free(m);
    if (st == G4_ERR_ARG) { fprintf(stderr, "g4 convert: %s\n", err.msg); return 2; }
    if (st != G4_OK) return fail("convert", &err);
    fprintf(stderr, "wrote %s (%s)\n", dst, type);
    return 0;
}

/* g4 quantize SRC OUT.gguf TYPE: convert with the type last, as llama-quantize takes it. */
static int cmd_quantize(int argc, char **argv) {
    if (argc != 3 || argv[0][0] == '-' || argv[1][0] == '-' || argv[2][0] == '-') {
        fprintf(stderr, "g4 quantize: usage: g4 quantize SRC OUT.gguf TYPE (a type of g4 convert --type, e.g. q4_k_m)\n");
        return 2;
    }
    char *args[4] = {argv[0], argv[1], "--type", argv[2]};
    return cmd_convert(4, args);
}

static int cmd_logits(int argc, char **argv) {
    const char *path = NULL, *toks = NULL, *out = NULL;
    int32_t n_ctx = 0, greedy = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--tokens") && i + 1 < argc) toks = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--ctx") && i + 1 < argc) {
            if (!parse_int(argv[++i], &n_ctx)) { fprintf(stderr, "g4 logits: --ctx needs a number\n"); return 2; }
        } else if (!strcmp(argv[i], "--greedy") && i + 1 < argc) {
            if (!parse_int(argv[++i], &greedy)) { fprintf(stderr, "g4 logits: --greedy needs a number\n"); return 2; }
        } else if (!path && argv[i][0] != '-') path = argv[i];
        else { fprintf(stderr, "g4 logits: unexpected argument '%s'\n", argv[i]); return 2; }
    }
    if (!path || !toks || !out) { fprintf(stderr, "g4 logits: usage: g4 logits PATH --tokens ID,ID,... --out FILE\n"); return 2; }
    size_t cap = strlen(toks) / 2 + 2, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) { fprintf(stderr, "g4 logits: out of memory\n"); return 1; }
    for (const char *p = toks; *p;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v > 0x7fffffff || (*end && *end != ',') || n == cap) {
            fprintf(stderr, "g4 logits: --tokens must be comma-separated non-negative ids\n");
            free(ids);
            return 2;
        }
        ids[n++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    if (n == 0) { fprintf(stderr, "g4 logits: no tokens\n"); free(ids); return 2; }
    g4_error err;
    g4_model *m = NULL;
    g4_session *s = NULL;
    FILE *f = NULL;
    int rc = 1;
    if (g4_model_open(&m, path, NULL, &err) != G4_OK) { rc = fail("logits", &err); goto done; }
    const g4_model_info *info = g4_model_get_info(m);
    g4_session_params sp = {.n_ctx = n_ctx, .all_logits = true, .kv_type = G4_KV_F32}; /* exact: a reference check */
    if (sp.n_ctx == 0) sp.n_ctx = (int32_t)(n + (size_t)greedy < (size_t)info->n_ctx_train ? n + (size_t)greedy : (size_t)info->n_ctx_train);
    if (g4_session_create(&s, m, &sp, &err) != G4_OK || g4_session_eval(s, ids, (int32_t)n, &err) != G4_OK) {
        rc = fail("logits", &err);
        goto done;
    }
    f = fopen(out, "wb");
    if (!f) { fprintf(stderr, "g4 logits: %s: %s\n", out, strerror(errno)); goto done; }
    for (size_t i = 0; i < n; i++)
        if (fwrite(g4_session_logits(s, (int32_t)i), sizeof(float), (size_t)info->n_vocab, f) != (size_t)info->n_vocab) {
            fprintf(stderr, "g4 logits: %s: write failed\n", out);
            goto done;
        }
    if (fclose(f) != 0) { f = NULL; fprintf(stderr, "g4 logits: %s: write failed\n", out); goto done; }
    f = NULL;
    if (greedy > 0) {
        printf("[");
        for (int32_t g = 0; g < greedy; g++) {
            const float *lg = g4_session_logits(s, -1);
            int32_t best = 0;
            for (int32_t v = 1; v < info->n_vocab; v++)
                if (lg[v] > lg[best]) best = v;
            printf(g ? ",%d" : "%d", best);
            if (g + 1 < greedy && g4_session_eval(s, &best, 1, &err) != G4_OK) { printf("]\n"); rc = fail("logits", &err); goto done; }
        }
        printf("]\n");
    }
    rc = 0;
done:
    if (f) fclose(f);
    g4_session_free(s);
    g4_model_free(m);
    free(ids);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage(stderr);
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") && strcmp(cmd, "chat") && strcmp(cmd, "serve") && command_help(cmd, argc - 2, argv + 2)) return 0;
    if (!strcmp(cmd, "inspect")) return cmd_inspect(argc - 2, argv + 2);
    if (!strcmp(cmd, "convert")) return cmd_convert(argc - 2, argv + 2);
    if (!strcmp(cmd, "quantize")) return cmd_quantize(argc - 2, argv + 2);
    if (!strcmp(cmd, "logits")) return cmd_logits(argc - 2, argv + 2);
    if (!strcmp(cmd, "run")) return cmd_run(argc - 2, argv + 2);
    if (!strcmp(cmd, "chat")) return cmd_chat(argc - 2, argv + 2);
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 2, argv + 2);
    if (!strcmp(cmd, "perplexity")) return cmd_perplexity(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "synth")) return cmd_synth(argc - 2, argv + 2);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 2, argv + 2);
    if (!strcmp(cmd, "template")) return cmd_template(argc - 2, argv + 2);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) { printf("g4 %s\n", G4_VERSION); return 0; }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) return usage(stdout);
    fprintf(stderr, "g4: unknown command '%s' (try 'g4 help')\n", cmd);
    return 2;
}
