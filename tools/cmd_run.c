/* cmd_run.c - `g4 run PATH "prompt"`: one answer, streamed as it is generated.
 *
 * The prompt is wrapped in the Gemma 4 chat format (g4_chat_tokenize: user text can never
 * forge a control token) unless --raw asks for plain continuation. Generation stops at
 * the model's end-of-turn tokens (<eos>, <turn|>, <|tool_response>) or --max-tokens. The
 * thought channel (<|channel> ... <channel|>) goes to stderr, set apart, with --think, and
 * is hidden otherwise. Sampling defaults are the checkpoint's (generation_config.json or
 * GGUF general.sampling.* keys) when it has them, else Gemma 4's (temperature 1, top-k
 * 64, top-p 0.95); flags override both; --seed makes a run reproducible. */
#include "commands.h"
#include "g4.h"
#include "gen.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the usage on f: stdout when asked for (--help, status 0), stderr after a mistake (2) */
static int usage(FILE *f) {
    fprintf(f, "usage: g4 run PATH \"prompt\" [options]\n"
                    "  --system TEXT    system prompt                  --raw            no chat format: continue the text\n"
                    GEN_FLAGS_USAGE);
    return f == stdout ? 0 : 2;
}

int cmd_run(int argc, char **argv) {
    const char *path = NULL, *prompt = NULL, *system = NULL;
    bool raw = false;
    gen_opts o;
    gen_opts_init(&o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int r = gen_opts_parse(&o, "run", argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(a, "--raw")) raw = true;
        else if (!strcmp(a, "--system") && i + 1 < argc) system = argv[++i];
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout);
        else if (a[0] != '-' && !path) path = a;
        else if (a[0] != '-' && !prompt) prompt = a;
        else { fprintf(stderr, "g4 run: unexpected argument '%s'\n", a); return usage(stderr); }
    }
    if (!path || !prompt) return usage(stderr);

    g4_error err;
    g4_model *m = NULL;
    g4_tokenizer *tok = NULL;
    g4_session *s = NULL;
    g4_sampler *smp = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    char *answer = NULL;
    int rc = 1;
    if (gen_load("run", path, &m, &tok, o.verbose) != 0) return 1;
    gen_opts_finish(&o, m);
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
        g4_chat_params cp = {.enable_thinking = o.think};
        g4_status st = json ? g4_chat_tokenize(tok, json, NULL, &cp, &ids, &n_ids, &err) : G4_ERR_NOMEM;
        free(json);
        if (st != G4_OK) goto fail;
    }
    if (n_ids == 0) { fprintf(stderr, "g4 run: the prompt is empty\n"); goto done; }
    if ((double)n_ids + 1 > o.n_ctx) {
        fprintf(stderr, "g4 run: the prompt has %zu tokens, more than the %d-token context (--ctx)\n", n_ids, (int)o.n_ctx);
        goto done;
    }
    if (gen_session("run", m, &o, &s) != 0) goto done;
    if (g4_sampler_create(&smp, &o.sp, g4_model_get_info(m)->n_vocab, &err) != G4_OK) goto fail;
    gen_stats st;
    if (gen_reply(s, tok, smp, ids, n_ids, (int32_t)o.max_tokens, o.ignore_eos, stdout, o.think ? stderr : NULL, NULL, &answer, &st,
                  &err) != G4_OK)
        goto fail;
    fputc('\n', stdout);
    if (st.ctx_full) fprintf(stderr, "g4 run: the context (%d tokens) is full; use a larger --ctx\n", (int)o.n_ctx);
    if (o.verbose) gen_print_stats(stderr, &st);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "g4 run: %s\n", err.msg);
done:
    free(answer);
    free(ids);
    g4_sampler_free(smp);
    g4_session_free(s);
    g4_tokenizer_free(tok);
    g4_model_free(m);
    return rc;
}
