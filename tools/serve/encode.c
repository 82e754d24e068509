/* encode.c - OpenAI's response shapes, built with cJSON (encode.h). */
#include "encode.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FINGERPRINT "g4-" G4_VERSION

char *encode_error(const serve_error *e) {
    cJSON *root = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "message", e->message);
    cJSON_AddStringToObject(err, "type", e->type ? e->type : "server_error");
    if (e->param[0]) cJSON_AddStringToObject(err, "param", e->param);
    else cJSON_AddNullToObject(err, "param");
    if (e->code) cJSON_AddStringToObject(err, "code", e->code);
    else cJSON_AddNullToObject(err, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

char *encode_models(const char *model, long long created) {
    cJSON *root = cJSON_CreateObject(), *data = cJSON_CreateArray(), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON_AddStringToObject(m, "id", model);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)created);
    cJSON_AddStringToObject(m, "owned_by", "g4");
    cJSON_AddItemToArray(data, m);
    cJSON_AddItemToObject(root, "data", data);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

char *encode_health(const sched_stats *st) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "status", "ok");
    cJSON_AddNumberToObject(root, "slots_idle", st->n_slots - st->active);
    cJSON_AddNumberToObject(root, "slots_processing", st->active);
    cJSON_AddNumberToObject(root, "requests_waiting", st->queued);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

char *encode_metrics(const sched_stats *st) {
    char *s = malloc(2048);
    if (!s) return NULL;
    snprintf(s, 2048,
             "# HELP g4_requests_total Generation requests ended (finished, cancelled or failed).\n"
             "# TYPE g4_requests_total counter\ng4_requests_total %llu\n"
             "# TYPE g4_requests_cancelled_total counter\ng4_requests_cancelled_total %llu\n"
             "# TYPE g4_requests_failed_total counter\ng4_requests_failed_total %llu\n"
             "# HELP g4_prompt_tokens_total Prompt tokens of the requests that got a slot.\n"
             "# TYPE g4_prompt_tokens_total counter\ng4_prompt_tokens_total %llu\n"
             "# HELP g4_prompt_tokens_cached_total Prompt tokens found in a slot's cache: prefill saved.\n"
             "# TYPE g4_prompt_tokens_cached_total counter\ng4_prompt_tokens_cached_total %llu\n"
             "# TYPE g4_generated_tokens_total counter\ng4_generated_tokens_total %llu\n"
             "# HELP g4_decode_steps_total Batched decode steps; g4_decode_rows_total / steps is the mean batch.\n"
             "# TYPE g4_decode_steps_total counter\ng4_decode_steps_total %llu\n"
             "# TYPE g4_decode_rows_total counter\ng4_decode_rows_total %llu\n"
             "# TYPE g4_slots gauge\ng4_slots %d\n"
             "# TYPE g4_slots_processing gauge\ng4_slots_processing %d\n"
             "# TYPE g4_requests_waiting gauge\ng4_requests_waiting %d\n",
             (unsigned long long)st->requests, (unsigned long long)st->cancelled, (unsigned long long)st->failed,
             (unsigned long long)st->prompt_tokens, (unsigned long long)st->cached_tokens,
             (unsigned long long)st->generated_tokens, (unsigned long long)st->decode_steps,
             (unsigned long long)st->decode_rows, st->n_slots, st->active, st->queued);
    return s;
}

static cJSON *usage(const serve_job *j) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", j->req.n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", j->n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", (double)j->req.n_prompt + j->n_gen);
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", j->n_cached);
    return u;
}

static cJSON *head(const encode_ctx *c, const char *object) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)c->created);
    cJSON_AddStringToObject(o, "model", c->model);
    if (c->chat) cJSON_AddStringToObject(o, "system_fingerprint", FINGERPRINT);
    return o;
}

static const char *text_of(const reply_buf *b) { return b->s ? b->s : ""; }

char *encode_response(const encode_ctx *c, const serve_job *j) {
    cJSON *root = head(c, c->chat ? "chat.completion" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(root, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", 0);
    if (c->chat) {
        cJSON *msg = cJSON_AddObjectToObject(ch, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        if (j->rp.content.n || !j->rp.n_calls) cJSON_AddStringToObject(msg, "content", text_of(&j->rp.content));
        else cJSON_AddNullToObject(msg, "content");
        if (j->rp.reasoning.n) cJSON_AddStringToObject(msg, "reasoning_content", text_of(&j->rp.reasoning));
        if (j->rp.n_calls) cJSON_AddItemToObject(msg, "tool_calls", cJSON_Duplicate(j->rp.calls, true));
    } else {
        cJSON_AddStringToObject(ch, "text", text_of(&j->rp.content));
    }
    cJSON_AddNullToObject(ch, "logprobs");
    cJSON_AddStringToObject(ch, "finish_reason", j->finish ? j->finish : "stop");
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddItemToObject(root, "usage", usage(j));
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* ---- streaming ------------------------------------------------------------------------ */

static bool append(char **out, size_t *len, const char *s, size_t n) {
    char *p = realloc(*out, *len + n + 1);
    if (!p) return false;
    memcpy(p + *len, s, n);
    *len += n;
    p[*len] = 0;
    *out = p;
    return true;
}

/* Prints obj as one SSE event and frees it. */
static bool event(cJSON *obj, char **out, size_t *len) {
    char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    bool ok = s && append(out, len, "data: ", 6) && append(out, len, s, strlen(s)) && append(out, len, "\n\n", 2);
    free(s);
    return ok;
}

/* A chunk with one choice: for chat, delta (taken over) and finish; for completions, text. */
static cJSON *chunk(const encode_ctx *c, const serve_job *j, cJSON *delta, const char *text, size_t n, const char *finish) {
    cJSON *o = head(c, c->chat ? "chat.completion.chunk" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", 0);
    if (c->chat) {
        cJSON_AddItemToObject(ch, "delta", delta ? delta : cJSON_CreateObject());
    } else {
        char *t = malloc(n + 1);
        if (t) {
            memcpy(t, text, n);
            t[n] = 0;
            cJSON_AddStringToObject(ch, "text", t);
            free(t);
        }
    }
    cJSON_AddNullToObject(ch, "logprobs");
    if (finish) cJSON_AddStringToObject(ch, "finish_reason", finish);
    else cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(choices, ch);
    if (j->req.include_usage) cJSON_AddNullToObject(o, "usage");
    return o;
}

static cJSON *text_delta(const char *key, const char *s, size_t n) {
    cJSON *d = cJSON_CreateObject();
    char *t = malloc(n + 1);
    if (!d || !t) { free(t); cJSON_Delete(d); return NULL; }
    memcpy(t, s, n);
    t[n] = 0;
    cJSON_AddStringToObject(d, key, t);
    free(t);
    return d;
}

bool encode_stream(const encode_ctx *c, const serve_job *j, stream_cursor *cur, char **out, size_t *out_len) {
    if (cur->ended) return true;
    const reply *r = &j->rp;
    bool ok = true;
    if (!cur->began && c->chat) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "role", "assistant");
        cJSON_AddStringToObject(d, "content", "");
        ok = event(chunk(c, j, d, NULL, 0, NULL), out, out_len);
    }
    cur->began = true;
    if (ok && r->reasoning.n > cur->reasoning) {
        ok = event(chunk(c, j, text_delta("reasoning_content", r->reasoning.s + cur->reasoning, r->reasoning.n - cur->reasoning), NULL, 0, NULL),
                   out, out_len);
        cur->reasoning = r->reasoning.n;
    }
    if (ok && r->content.n > cur->content) {
        const char *s = r->content.s + cur->content;
        size_t n = r->content.n - cur->content;
        ok = event(c->chat ? chunk(c, j, text_delta("content", s, n), NULL, 0, NULL) : chunk(c, j, NULL, s, n, NULL), out, out_len);
        cur->content = r->content.n;
    }
    for (; ok && cur->calls < r->n_calls; cur->calls++) {
        cJSON *call = cJSON_Duplicate(cJSON_GetArrayItem(r->calls, cur->calls), true);
        cJSON *d = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(d, "tool_calls");
        if (call) {
            cJSON_AddNumberToObject(call, "index", cur->calls);
            cJSON_AddItemToArray(arr, call);
        }
        ok = event(chunk(c, j, d, NULL, 0, NULL), out, out_len);
    }
    if (!ok || !j->done) return ok;
    cur->ended = true;
    if (j->err.status) {
        char *es = encode_error(&j->err);
        ok = es && append(out, out_len, "data: ", 6) && append(out, out_len, es, strlen(es)) && append(out, out_len, "\n\n", 2);
        free(es);
        return ok;
    }
    if (!j->finish) return true; /* cancelled: nobody is listening */
    ok = event(chunk(c, j, NULL, "", 0, j->finish), out, out_len);
    if (ok && j->req.include_usage) {
        cJSON *o = head(c, c->chat ? "chat.completion.chunk" : "text_completion");
        cJSON_AddArrayToObject(o, "choices");
        cJSON_AddItemToObject(o, "usage", usage(j));
        ok = event(o, out, out_len);
    }
    return ok && append(out, out_len, "data: [DONE]\n\n", 14);
}
