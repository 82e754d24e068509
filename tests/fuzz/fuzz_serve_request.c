/* fuzz_serve_request.c - libFuzzer target for `g4 serve`'s request handler without its
 * sockets: serve_prepare (routing, API key, body checks, OpenAI -> Gemma mapping, chat
 * rendering and tokenization), then the reply splitter and the encoders on what a model
 * could answer. The first input byte picks the part and the options:
 *   bit 7 clear: a request. Bits 0-2 pick method and path, bit 3 sets an API key (the
 *     Authorization header is then right or wrong by bit 4), bit 5 shrinks the context
 *     to 64 tokens; the rest is the body. A request that is accepted must be sane (ids
 *     in the vocabulary, a prompt that fits, limits in range); one that is refused must
 *     be a 4xx or 500 with an error object. Accepted requests then get their own body
 *     pushed through the splitter as if the model had said it, and every answer and
 *     chunk must be JSON.
 *   bit 7 set: the splitter alone. Byte 1 is the piece size; the text up to the first
 *     newline is a stop sequence, the rest the answer. Cutting the answer into pieces
 *     must give the same result as pushing it whole.
 * The tokenizer is the real Gemma 4 vocabulary when the test cache has it, else the tiny
 * test model's (loaded once). */
#include "../../tools/serve/encode.h"
#include "../../tools/serve/reply.h"
#include "../../tools/serve/request.h"
#include "g4.h"

#include <cjson/cJSON.h>
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
        const char *cache = getenv("G4_TEST_CACHE"), *dir = getenv("G4_TEST_DATA");
        char path[1024];
        g4_error err;
        snprintf(path, sizeof path, "%s/vocab/ggml-vocab-gemma-4.gguf", cache && *cache ? cache : ".cache");
        if (g4_tokenizer_open(&t, path, &err) != G4_OK) {
            snprintf(path, sizeof path, "%s/tiny-e2b", dir && *dir ? dir : "tests/data");
            if (g4_tokenizer_open(&t, path, &err) != G4_OK) t = NULL;
        }
    }
    return t;
}

static void must_parse(char *json) {
    if (!json) return; /* out of memory is allowed */
    cJSON *j = cJSON_Parse(json);
    if (!j) abort();
    cJSON_Delete(j);
    free(json);
}

static void split(const char *text, size_t n, size_t piece, char *const *stops, int n_stops, bool raw, reply *r) {
    reply_init(r, raw, stops, n_stops, 1);
    for (size_t i = 0; i < n; i += piece)
        if (reply_push(r, text + i, i + piece < n ? piece : n - i)) break;
    reply_finish(r);
}

static bool same(const reply_buf *a, const reply_buf *b) {
    return a->n == b->n && (a->n == 0 || memcmp(a->s, b->s, a->n) == 0);
}

static void fuzz_splitter(const uint8_t *data, size_t size) {
    if (size < 1) return;
    size_t piece = (size_t)data[0] % 16 + 1;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    const char *nl = memchr(text, '\n', n);
    char *stop = NULL;
    if (nl && nl > text) {
        stop = strndup(text, (size_t)(nl - text));
        n -= (size_t)(nl - text) + 1;
        text = nl + 1;
    }
    char *stops[1] = {stop};
    for (int raw = 0; raw < 2; raw++) {
        reply whole, cut;
        split(text, n, n ? n : 1, stops, stop && *stop ? 1 : 0, raw, &whole);
        split(text, n, piece, stops, stop && *stop ? 1 : 0, raw, &cut);
        if (!whole.failed && !cut.failed &&
            (!same(&whole.content, &cut.content) || !same(&whole.reasoning, &cut.reasoning) || whole.n_calls != cut.n_calls ||
             whole.stopped != cut.stopped))
            abort();
        reply_free(&whole);
        reply_free(&cut);
    }
    free(stop);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const uint8_t mode = data[0];
    data++, size--;
    if (mode & 0x80) { fuzz_splitter(data, size); return 0; }
    const g4_tokenizer *t = vocab();
    if (!t) return 0;
    static const char *const routes[8][2] = {
        {"POST", "/v1/chat/completions"}, {"POST", "/v1/completions"}, {"POST", "/v1/chat/completions"}, {"GET", "/v1/models"},
        {"GET", "/health"},               {"PUT", "/v1/completions"},  {"POST", "/v1/chat/completions/"}, {"GET", "/metrics"},
    };
    serve_config cfg = {
        .tok = t,
        .n_vocab = g4_tokenizer_n_vocab(t),
        .n_ctx = (mode & 0x20) ? 64 : 4096,
        .api_key = (mode & 0x08) ? "key" : NULL,
        .defaults = g4_sampler_default_params(),
    };
    const char *auth = (mode & 0x10) ? "Bearer key" : "Bearer nope";
    serve_prepared p;
    serve_prepare(&cfg, routes[mode & 7][0], routes[mode & 7][1], auth, (const char *)data, size, &p);
    if (p.ep == SERVE_EP_NONE) {
        const int s = p.err.status;
        if (!(s == 400 || s == 401 || s == 404 || s == 405 || s == 413 || s == 500) || !p.err.message[0]) abort();
        must_parse(encode_error(&p.err));
        return 0;
    }
    if (p.ep != SERVE_EP_CHAT && p.ep != SERVE_EP_COMPLETION) return 0;
    const serve_request *r = &p.req;
    if (r->n_prompt < 1 || r->n_prompt >= cfg.n_ctx || r->max_tokens < 1 || r->max_tokens > cfg.n_ctx - r->n_prompt ||
        r->n_stop < 0 || r->n_stop > SERVE_MAX_STOP)
        abort();
    for (int32_t i = 0; i < r->n_prompt; i++)
        if (r->prompt[i] < 0 || r->prompt[i] >= cfg.n_vocab) abort();
    /* answer with the body itself, as a model might, and encode it both ways */
    serve_job *j = job_create(&p.req);
    if (!j) { serve_request_free(&p.req); return 0; }
    reply_init(&j->rp, !j->req.chat_format, j->req.stop, j->req.n_stop, 3);
    encode_ctx ec = {.id = "x", .model = "m", .created = 1, .chat = j->req.ep == SERVE_EP_CHAT};
    stream_cursor cur = {0};
    char *out = NULL;
    size_t len = 0;
    if (j->req.prefill) reply_push(&j->rp, j->req.prefill, strlen(j->req.prefill));
    for (size_t i = 0; i < size; i += 7) {
        if (reply_push(&j->rp, (const char *)data + i, i + 7 < size ? 7 : size - i)) break;
        encode_stream(&ec, j, &cur, &out, &len);
    }
    reply_finish(&j->rp);
    j->done = true;
    j->finish = "stop";
    encode_stream(&ec, j, &cur, &out, &len);
    free(out);
    must_parse(encode_response(&ec, j));
    job_release(j);
    return 0;
}
