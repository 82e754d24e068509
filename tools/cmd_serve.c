/* cmd_serve.c - `g4 serve PATH`: an OpenAI-compatible HTTP server on the local machine.
 *
 * Loads the model once, starts the slot scheduler (tools/serve/sched.c: one thread owns
 * every session and batches their decode steps) and the HTTP side (tools/serve/http.c,
 * libmicrohttpd), then waits for SIGINT or SIGTERM. Shutting down: stop accepting
 * connections, end every queued and running request (a streamed one gets an error event,
 * a waiting one a 503), close the connections, free everything, exit 0.
 *
 * The signals are blocked in every thread and taken by sigwait() here, so no handler
 * runs in the middle of anything. */
#include "commands.h"
#include "g4.h"
#include "gen.h"
#include "serve/http.h"
#include "serve/request.h"
#include "serve/sched.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVE_USAGE                                                                                         \
    "usage: g4 serve PATH [--host 127.0.0.1] [--port 8080] [--parallel 4] [--ctx 4096] [--api-key KEY]\n"   \
    "                     [--threads N] [--queue 64] [--max-body BYTES] [--timeout S] [--name NAME]\n"      \
    "                     [--prefill-chunk N] [--kv f16|f32|q8_0] [--quiet]\n"                               \
    "\n"                                                                                                      \
    "An OpenAI-compatible server for the model at PATH (a GGUF file or HF directory).\n"                    \
    "  --host H          address to listen on (default 127.0.0.1: this machine only)\n"                      \
    "  --port N          TCP port (default 8080; 0: any free port, printed at start)\n"                       \
    "  --parallel N      requests generating at once, their decode steps batched (default 4, at most 64)\n" \
    "  --ctx N           context of each slot: prompt + answer (default 4096)\n"                             \
    "  --api-key KEY     require 'Authorization: Bearer KEY' on every request (or G4_API_KEY)\n"              \
    "  --threads N       compute threads (default: all CPUs)\n"                                              \
    "  --queue N         requests that may wait for a slot; more get 503 (default 64)\n"                      \
    "  --max-body BYTES  largest request body; larger gets 413 (default 8 MiB)\n"                            \
    "  --timeout S       close connections idle this long (default 60)\n"                                    \
    "  --name NAME       the model's name in answers and /v1/models (default: PATH's file name)\n"           \
    "  --prefill-chunk N prompt tokens read between two decode steps of the others (default 256)\n"           \
    "  --kv TYPE         KV cache storage: f16 (default), f32 (exact, 2x memory), q8_0 (0.53x memory);\n"  \
    "                    --kv-f32 is --kv f32\n"                                                        \
    "  --quiet           no log line per request\n"                                                          \
    "\n"                                                                                                      \
    "Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health,\n"              \
    "GET /metrics. Stops cleanly on SIGINT or SIGTERM.\n"

static bool num(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi) || v != (double)(long long)v) return false;
    *out = v;
    return true;
}

/* "models/demo.gguf" -> "demo", "/x/gemma-4-e2b/" -> "gemma-4-e2b" */
static void model_name(const char *path, char *out, size_t cap) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    size_t k = n - b;
    if (k > 5 && !strncmp(path + n - 5, ".gguf", 5)) k -= 5;
    if (k >= cap) k = cap - 1;
    memcpy(out, path + b, k);
    out[k] = 0;
}

int cmd_serve(int argc, char **argv) {
    const char *path = NULL, *host = "127.0.0.1", *api_key = getenv("G4_API_KEY"), *name = NULL;
    double port = 8080, parallel = 4, n_ctx = 4096, threads = 0, queue = 64, max_body = 8 << 20, timeout = 60, chunk = 256;
    bool quiet = false;
    g4_kv_type kv = G4_KV_F16;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(SERVE_USAGE, stdout); return 0; }
        else if (!strcmp(a, "--quiet")) quiet = true;
        else if (!strcmp(a, "--kv-f32")) kv = G4_KV_F32;
        else if (a[0] != '-' && !path) path = a;
        else if (!v) { fprintf(stderr, "g4 serve: unexpected argument '%s'\n" SERVE_USAGE, a); return 2; }
        else if (!strcmp(a, "--host")) { host = v; i++; }
        else if (!strcmp(a, "--api-key")) { api_key = v; i++; }
        else if (!strcmp(a, "--name")) { name = v; i++; }
        else if (!strcmp(a, "--port")) { ok = num(v, 0, 65535, &port); i++; }
        else if (!strcmp(a, "--parallel")) { ok = num(v, 1, 64, &parallel); i++; }
        else if (!strcmp(a, "--ctx")) { ok = num(v, 16, 1 << 24, &n_ctx); i++; }
        else if (!strcmp(a, "--threads")) { ok = num(v, 0, 1024, &threads); i++; }
        else if (!strcmp(a, "--queue")) { ok = num(v, 1, 1 << 16, &queue); i++; }
        else if (!strcmp(a, "--max-body")) { ok = num(v, 1024, 1 << 30, &max_body); i++; }
        else if (!strcmp(a, "--timeout")) { ok = num(v, 1, 86400, &timeout); i++; }
        else if (!strcmp(a, "--prefill-chunk")) { ok = num(v, 1, 1 << 20, &chunk); i++; }
        else if (!strcmp(a, "--kv")) { ok = g4_kv_type_parse(v, &kv); i++; }
        else { fprintf(stderr, "g4 serve: unexpected argument '%s'\n" SERVE_USAGE, a); return 2; }
        if (!ok) { fprintf(stderr, "g4 serve: bad value for %s: '%s'\n", a, v); return 2; }
    }
    if (!path) { fputs("g4 serve: missing PATH\n" SERVE_USAGE, stderr); return 2; }
    if (api_key && !*api_key) api_key = NULL;
#ifdef __GLIBC__
    /* glibc gives each new thread (one per connection) an arena of its own, up to 8 per
     * CPU, and keeps what each has freed: the server's memory then creeps up over the
     * first few thousand requests. Two arenas keep it flat at no measurable cost (the
     * compute threads do not allocate). */
    mallopt(M_ARENA_MAX, 2);
#endif

    /* every thread started from here on inherits the blocked signals */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    g4_model *m = NULL;
    g4_tokenizer *tok = NULL;
    sched *sc = NULL;
    http_server *hs = NULL;
    int rc = 1;
    if (gen_load("serve", path, &m, &tok, !quiet) != 0) return 1;
    char model[256];
    if (name) snprintf(model, sizeof model, "%s", name);
    else model_name(path, model, sizeof model);

    sched_params sp = {.n_slots = (int32_t)parallel, .n_ctx = (int32_t)n_ctx, .n_threads = (int32_t)threads,
                       .queue_cap = (int32_t)queue, .prefill_chunk = (int32_t)chunk, .kv_type = kv, .quiet = quiet};
    g4_error err;
    if (sched_create(&sc, m, tok, &sp, &err) != G4_OK) {
        fprintf(stderr, "g4 serve: %s%s\n", err.msg, err.status == G4_ERR_NOMEM ? " (try a smaller --ctx or --parallel)" : "");
        goto done;
    }
    serve_config cfg = {
        .tok = tok,
        .n_vocab = g4_model_get_info(m)->n_vocab,
        .n_ctx = sched_n_ctx(sc),
        .api_key = api_key,
        .defaults = g4_model_sampler_params(m),
    };
    http_params hp = {
        .host = host,
        .port = (int)port,
        .max_connections = (unsigned)(parallel + queue + 32), /* the queue, plus room for /health and errors */
        .max_body = (size_t)max_body,
        .timeout_s = (unsigned)timeout,
        .cfg = &cfg,
        .sc = sc,
        .model = model,
        .quiet = quiet,
    };
    char msg[512];
    if (!http_start(&hs, &hp, msg, sizeof msg)) {
        fprintf(stderr, "g4 serve: %s\n", msg);
        goto done;
    }
    fprintf(stderr, "g4 serve: %s on http://%s%s%s:%d/v1 (%d slot%s of %d tokens, queue %d%s)\n", model,
            strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", http_port(hs), (int)parallel,
            parallel > 1 ? "s" : "", cfg.n_ctx, (int)queue, api_key ? ", API key required" : "");
    fflush(stderr);

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {}
    fprintf(stderr, "g4 serve: %s: shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    http_quiesce(hs); /* no new connections */
    sched_stop(sc);   /* every job ends... */
    http_drain(hs, 3000); /* ...and its client gets the end (stalled clients: 3 s at most) */
    rc = 0;
done:
    http_stop(hs);
    sched_free(sc);
    g4_tokenizer_free(tok);
    g4_model_free(m);
    if (rc == 0) fprintf(stderr, "g4 serve: stopped\n");
    return rc;
}
