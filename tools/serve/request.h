/* request.h - an HTTP request to `g4 serve`, checked and turned into plain C.
 *
 * serve_prepare() is the whole request handler minus the sockets: it takes the method,
 * path, Authorization header and body of a request and says what to answer. Either an
 * error (status and OpenAI error object), an immediate answer (health, models, metrics),
 * or a generation request: prompt token ids, sampling parameters, limits and stops. It
 * never blocks and touches no shared state except the immutable tokenizer, so the HTTP
 * threads call it concurrently and the fuzzer (tests/fuzz/fuzz_serve_request.c) calls it
 * directly.
 *
 * OpenAI's request shapes are mapped onto what g4_chat_tokenize renders (see
 * map_messages in request.c): tool-call arguments given as JSON strings become objects,
 * and `tool` messages become `tool_responses` of the assistant turn that made the calls,
 * so the model sees its turn continue after the results, as it was trained. */
#ifndef G4_SERVE_REQUEST_H
#define G4_SERVE_REQUEST_H

#include "g4.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERVE_MAX_STOP 4 /* OpenAI's limit on `stop` sequences */

/* An error as OpenAI reports it: HTTP status, then {"error": {message, type, param, code}}. */
typedef struct serve_error {
    int status;           /* 400, 401, 404, 405, 413, 500, 503 */
    const char *type;     /* "invalid_request_error", "server_error", ... (static) */
    const char *code;     /* "context_length_exceeded", "invalid_api_key", ... or NULL (static) */
    char param[64];       /* the offending field, or "" */
    char message[512];
} serve_error;

/* Fills e and returns false, so that checks read `if (bad) return serve_fail(...)`. */
bool serve_fail(serve_error *e, int status, const char *type, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

typedef enum serve_endpoint {
    SERVE_EP_NONE = 0,  /* an error: see the serve_error */
    SERVE_EP_HEALTH,    /* GET /health */
    SERVE_EP_MODELS,    /* GET /v1/models */
    SERVE_EP_METRICS,   /* GET /metrics */
    SERVE_EP_CHAT,      /* POST /v1/chat/completions */
    SERVE_EP_COMPLETION /* POST /v1/completions */
} serve_endpoint;

/* What the server is, as far as requests are concerned. Read-only, shared by threads. */
typedef struct serve_config {
    const g4_tokenizer *tok;
    int32_t n_vocab;             /* the model's (>= the tokenizer's) */
    int32_t n_ctx;               /* each slot's context: prompt + answer must fit */
    const char *api_key;         /* NULL: no check */
    g4_sampler_params defaults;  /* the checkpoint's sampling defaults (generation_config.json) */
} serve_config;

/* A generation request, ready for the scheduler. Owns its allocations (serve_request_free). */
typedef struct serve_request {
    serve_endpoint ep;           /* SERVE_EP_CHAT or SERVE_EP_COMPLETION */
    bool stream;
    bool include_usage;          /* stream_options.include_usage: a last chunk with usage */
    bool thinking;               /* the thought channel is on (reasoning_content comes back) */
    bool chat_format;            /* the reply is parsed for thought channel and tool calls */
    bool ignore_eos;             /* go on past end-of-turn tokens (benchmarks, tests) */
    int32_t *prompt;             /* token ids, n_prompt of them (allocated) */
    int32_t n_prompt;
    char *prefill;               /* the start of the answer the prompt already holds (a forced
                                    tool call: "<|tool_call>call:NAME{"), or NULL; allocated */
    int32_t max_tokens;          /* tokens to generate at most, already clipped to the context */
    char *stop[SERVE_MAX_STOP];  /* stop sequences (allocated), n_stop of them */
    int n_stop;
    g4_sampler_params sp;        /* defaults overridden by the request */
    bool seeded;                 /* sp.seed came from the request */
} serve_request;

void serve_request_free(serve_request *r);

/* The outcome of serve_prepare. */
typedef struct serve_prepared {
    serve_endpoint ep;           /* SERVE_EP_NONE: answer `err` */
    serve_error err;
    serve_request req;           /* for SERVE_EP_CHAT and SERVE_EP_COMPLETION */
} serve_prepared;

/* The request handler without I/O. method and url as sent (the query string already
 * removed), auth the Authorization header or NULL, body[0..len) the raw body (need not be
 * NUL-terminated). out->req must be freed with serve_request_free when ep is CHAT or
 * COMPLETION (it is zeroed otherwise, so freeing it always is fine). */
void serve_prepare(const serve_config *cfg, const char *method, const char *url, const char *auth, const char *body,
                   size_t len, serve_prepared *out);

/* True if s[0..n) is valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
bool serve_utf8_valid(const char *s, size_t n);

#endif
