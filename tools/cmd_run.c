/* cmd_run.c - `g4 run PATH "prompt"`: one answer, streamed as it is generated.
 *
 * The prompt is wrapped in the Gemma 4 chat format (g4_chat_tokenize: user text can never
 * forge a control token) unless --raw asks for plain continuation. Generation stops at
 * the model's end-of-turn tokens (<eos>, <turn|>, <|tool_response>) or --max-tokens. The
 * thought channel (<|channel> ... <channel|>) goes to stderr, set apart, with --think, and
 * is hidden otherwise. Sampling defaults are the checkpoint's generation_config.json when
 * it has one, else Gemma 4's (temperature 1, top-k 64, top-p 0.95); flags override both;
 * --seed makes a run reproducible. */
#include "commands.h"
#include "g4.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool num(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

/* Sampling defaults a checkpoint ships: an HF directory's generation_config.json
 * (temperature, top_k, top_p, min_p, repetition_penalty; do_sample false means greedy).
 * Missing file or fields leave the built-in defaults. */
static void checkpoint_defaults(const char *path, g4_sampler_params *sp) {
    char file[4096];
    snprintf(file, sizeof file, "%s/generation_config.json", path);
    FILE *f = fopen(file, "rb");
    if (!f) return;
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "temperature")) && cJSON_IsNumber(v) && v->valuedouble >= 0) sp->temperature = (float)v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "top_k")) && cJSON_IsNumber(v) && v->valuedouble >= 0) sp->top_k = (int32_t)v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "top_p")) && cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1) sp->top_p = (float)v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "min_p")) && cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1) sp->min_p = (float)v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "repetition_penalty")) && cJSON_IsNumber(v) && v->valuedouble > 0) sp->repeat_penalty = (float)v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "do_sample")) && cJSON_IsFalse(v)) sp->temperature = 0;
    cJSON_Delete(j);
}

static int usage(void) {
    fprintf(stderr, "usage: g4 run PATH \"prompt\" [--system TEXT] [--think] [--raw] [--max-tokens N] [--ctx N]\n"
                    "       [--threads N] [--temp T] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R]\n"
                    "       [--seed N] [--verbose]\n");
    return 2;
}

int cmd_run(int argc, char **argv) {
    const char *path = NULL, *prompt = NULL, *system = NULL;
    bool think = false, raw = false, verbose = false;
    double max_tokens = 512, n_ctx = 4096, threads = 0;
    g4_sampler_params sp = g4_sampler_default_params();
    sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    g4_sampler_params user = sp; /* what the flags set; `set` says which fields */
    enum { S_TEMP = 1, S_TOPK = 2, S_TOPP = 4, S_MINP = 8, S_REP = 16 };
    unsigned set = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        bool ok = true;
        if (!strcmp(a, "--think")) think = true;
        else if (!strcmp(a, "--raw")) raw = true;
        else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) verbose = true;
        else if (!strcmp(a, "--system") && v) { system = v; i++; }
        else if (!strcmp(a, "--max-tokens") && v) { ok = num(v, 1, 1 << 20, &max_tokens); i++; }
        else if (!strcmp(a, "--ctx") && v) { ok = num(v, 16, 1 << 24, &n_ctx); i++; }
        else if (!strcmp(a, "--threads") && v) { ok = num(v, 0, 1024, &threads); i++; }
        else if (!strcmp(a, "--temp") && v) { ok = num(v, 0, 100, &d); user.temperature = (float)d; set |= S_TEMP; i++; }
        else if (!strcmp(a, "--top-k") && v) { ok = num(v, 0, 1 << 24, &d); user.top_k = (int32_t)d; set |= S_TOPK; i++; }
        else if (!strcmp(a, "--top-p") && v) { ok = num(v, 0, 1, &d); user.top_p = (float)d; set |= S_TOPP; i++; }
        else if (!strcmp(a, "--min-p") && v) { ok = num(v, 0, 1, &d); user.min_p = (float)d; set |= S_MINP; i++; }
        else if (!strcmp(a, "--repeat-penalty") && v) { ok = num(v, 0, 100, &d); user.repeat_penalty = (float)d; set |= S_REP; i++; }
        else if (!strcmp(a, "--seed") && v) { ok = num(v, 0, 18446744073709551615.0, &d); sp.seed = (uint64_t)d; i++; }
        else if (a[0] != '-' && !path) path = a;
        else if (a[0] != '-' && !prompt) prompt = a;
        else { fprintf(stderr, "g4 run: unexpected argument '%s'\n", a); return usage(); }
        if (!ok) { fprintf(stderr, "g4 run: bad value for %s\n", a); return 2; }
    }
    if (!path || !prompt) return usage();
    checkpoint_defaults(path, &sp); /* then the flags override the checkpoint's defaults */
    if (set & S_TEMP) sp.temperature = user.temperature;
    if (set & S_TOPK) sp.top_k = user.top_k;
    if (set & S_TOPP) sp.top_p = user.top_p;
    if (set & S_MINP) sp.min_p = user.min_p;
    if (set & S_REP) sp.repeat_penalty = user.repeat_penalty;

    g4_error err;
    g4_model *m = NULL;
    g4_tokenizer *tok = NULL;
    g4_session *s = NULL;
    g4_sampler *smp = NULL;
    g4_detok *dt = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int rc = 1;
    if (g4_model_open(&m, path, NULL, &err) != G4_OK || g4_tokenizer_open(&tok, path, &err) != G4_OK) goto fail;
    const g4_model_info *info = g4_model_get_info(m);
    if (g4_tokenizer_n_vocab(tok) > info->n_vocab) {
        fprintf(stderr, "g4 run: %s: the vocabulary (%d) is larger than the model's (%d)\n", path, g4_tokenizer_n_vocab(tok),
                info->n_vocab);
        goto done;
    }
    if (raw) {
        uint32_t flags = g4_tokenizer_special(tok)->add_bos ? G4_TOKENIZE_ADD_BOS : 0;
        if (g4_tokenize(tok, prompt, strlen(prompt), flags, &ids, &n_ids, &err) != G4_OK) goto fail;
    } else {
        cJSON *msgs = cJSON_CreateArray();
        if (system) {
            cJSON *sm = cJSON_CreateObject();
            cJSON_AddStringToObject(sm, "role", "system");
            cJSON_AddStringToObject(sm, "content", system);
            cJSON_AddItemToArray(msgs, sm);
        }
        cJSON *um = cJSON_CreateObject();
        cJSON_AddStringToObject(um, "role", "user");
        cJSON_AddStringToObject(um, "content", prompt);
        cJSON_AddItemToArray(msgs, um);
        char *json = cJSON_PrintUnformatted(msgs);
        cJSON_Delete(msgs);
        g4_chat_params cp = {.enable_thinking = think};
        g4_status st = json ? g4_chat_tokenize(tok, json, NULL, &cp, &ids, &n_ids, &err) : G4_ERR_NOMEM;
        free(json);
        if (st != G4_OK) goto fail;
    }
    if (n_ids == 0) { fprintf(stderr, "g4 run: the prompt is empty\n"); goto done; }
    if ((double)n_ids + 1 > n_ctx) {
        fprintf(stderr, "g4 run: the prompt has %zu tokens, more than the %d-token context (--ctx)\n", n_ids, (int)n_ctx);
        goto done;
    }
    g4_session_params ssp = {.n_ctx = (int32_t)(n_ctx < info->n_ctx_train ? n_ctx : info->n_ctx_train), .n_threads = (int32_t)threads};
    if (g4_session_create(&s, m, &ssp, &err) != G4_OK || g4_sampler_create(&smp, &sp, info->n_vocab, &err) != G4_OK ||
        g4_detok_create(&dt, tok, G4_DETOKENIZE_SKIP_SPECIAL, &err) != G4_OK)
        goto fail;
    for (size_t i = 0; i < n_ids; i++) g4_sampler_accept(smp, ids[i]);
    const int32_t ch_open = g4_tokenizer_find(tok, "<|channel>"), ch_close = g4_tokenizer_find(tok, "<channel|>");
    const double t0 = now();
    if (g4_session_eval(s, ids, (int32_t)n_ids, &err) != G4_OK) goto fail;
    const double t_first = now();
    int32_t n_gen = 0;
    bool in_thought = false;
    while (n_gen < (int32_t)max_tokens) {
        int32_t id = g4_sampler_sample(smp, g4_session_logits(s, -1));
        n_gen++;
        if (g4_tokenizer_is_end_of_turn(tok, id)) break;
        g4_sampler_accept(smp, id);
        if (id >= 0 && id == ch_open) { in_thought = true; if (think) fputs("[thinking]\n", stderr); }
        else if (id >= 0 && id == ch_close) { in_thought = false; if (think) fputs("\n[/thinking]\n", stderr); }
        else {
            const char *text;
            size_t len;
            if (g4_detok_push(dt, id, &text, &len, &err) != G4_OK) goto fail;
            if (len) {
                FILE *to = in_thought ? (think ? stderr : NULL) : stdout;
                if (to) { fwrite(text, 1, len, to); fflush(to); }
            }
        }
        if (g4_session_n_past(s) >= g4_session_n_ctx(s)) { fprintf(stderr, "\ng4 run: context full\n"); break; }
        if (g4_session_eval(s, &id, 1, &err) != G4_OK) goto fail;
    }
    size_t len;
    const char *rest = g4_detok_flush(dt, &len);
    if (len && !in_thought) fwrite(rest, 1, len, stdout);
    fputc('\n', stdout);
    if (verbose) {
        const double t_end = now();
        fprintf(stderr, "prompt %zu tokens, time to first token %.0f ms, prefill %.1f tok/s, decode %.1f tok/s (%d tokens)\n",
                n_ids, (t_first - t0) * 1e3, n_ids / (t_first - t0), n_gen > 1 ? (n_gen - 1) / (t_end - t_first) : 0.0, n_gen);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "g4 run: %s\n", err.msg);
done:
    free(ids);
    g4_detok_free(dt);
    g4_sampler_free(smp);
    g4_session_free(s);
    g4_tokenizer_free(tok);
    g4_model_free(m);
    return rc;
}
