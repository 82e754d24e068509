/* encode.h - the JSON `g4 serve` answers with, in OpenAI's shapes.
 *
 * Whole answers (chat.completion, text_completion), the chunks of a streamed answer as
 * server-sent events (chat.completion.chunk / text_completion, then `data: [DONE]`),
 * errors ({"error": {message, type, param, code}}), the model list, health and
 * Prometheus-style metrics. Every function allocates what it returns (caller frees; NULL
 * when out of memory). Job results are read as they are: the caller holds the job's lock. */
#ifndef G4_SERVE_ENCODE_H
#define G4_SERVE_ENCODE_H

#include "sched.h"

#include <stdbool.h>
#include <stddef.h>

/* What every object of one answer repeats. */
typedef struct encode_ctx {
    char id[48];          /* "chatcmpl-..." or "cmpl-..." */
    const char *model;    /* the served model's name */
    long long created;    /* Unix seconds */
    bool chat;            /* chat.completion(.chunk) rather than text_completion */
} encode_ctx;

/* What of a streamed answer has been sent. Zero to start. */
typedef struct stream_cursor {
    size_t content, reasoning;
    int calls;
    bool began;           /* the opening chunk (the role) is out */
    bool ended;           /* the last event is out */
} stream_cursor;

char *encode_error(const serve_error *e);
char *encode_models(const char *model, long long created);
char *encode_health(const sched_stats *st);
char *encode_metrics(const sched_stats *st);

/* The whole answer of a finished job. */
char *encode_response(const encode_ctx *c, const serve_job *j);

/* Appends to *out (growing it; *out_len bytes so far) the events for what j produced since
 * the cursor, and once j is done the closing ones (finish reason, usage when asked for,
 * [DONE]; or an error event). Sets cur->ended when nothing more will come. False when
 * out of memory. */
bool encode_stream(const encode_ctx *c, const serve_job *j, stream_cursor *cur, char **out, size_t *out_len);

#endif
