/* reply.h - a model's answer taken apart while it is generated.
 *
 * The scheduler pushes the answer's text as it is decoded; the reply keeps three growing
 * results that the HTTP side sends on (as SSE deltas, or whole at the end):
 *   content    the answer, trimmed like g4_chat_parse trims it;
 *   reasoning  the thought channel (<|channel>thought\n ... <channel|>), label removed;
 *   calls      the tool calls (<|tool_call>call:NAME{ARGS}<tool_call|>) as OpenAI
 *              tool_calls entries, each added whole when its closing mark arrives.
 * Text that might still turn out to be the start of a mark or of a stop sequence is held
 * back until the next push decides it, so nothing sent ever has to be taken back, and
 * streamed and non-streamed answers are the same. Stop sequences apply to the answer
 * (content), not to the reasoning. In raw mode (/v1/completions) there is no structure:
 * all text is content, untrimmed, and only stop sequences are looked for.
 *
 * A reply is plain data with no locking: the caller serialises access. */
#ifndef G4_SERVE_REPLY_H
#define G4_SERVE_REPLY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct reply_buf {
    char *s;       /* NUL-terminated (when s != NULL) */
    size_t n, cap;
} reply_buf;

typedef struct reply {
    /* results, read by the sender */
    reply_buf content, reasoning;
    cJSON *calls;      /* array of {"id", "type": "function", "function": {"name", "arguments"}} */
    int n_calls;
    bool stopped;      /* a stop sequence was met: the answer ends before it */
    bool failed;       /* out of memory: the results are incomplete */
    /* state */
    bool raw;
    int mode;          /* what the held text belongs to (reply.c) */
    reply_buf held;    /* undecided text */
    reply_buf tool;    /* the body of the tool call being read */
    reply_buf ws_content, ws_reasoning; /* trailing whitespace not yet known to be inner */
    bool started_content, started_reasoning;
    char *stop[4];
    int n_stop;
    unsigned long long call_seq; /* for call ids */
} reply;

/* stops (may be NULL) are borrowed and must outlive the reply. call_seed makes the tool
 * call ids ("call_<hex>") unique across requests. */
void reply_init(reply *r, bool raw, char *const *stops, int n_stops, unsigned long long call_seed);
void reply_free(reply *r);

/* Appends text[0..len). Returns true when a stop sequence has been met (the reply then
 * ignores further text). */
bool reply_push(reply *r, const char *text, size_t len);

/* The answer is over: decides the held text (an unfinished tool call becomes content as
 * written; trailing whitespace is dropped). */
void reply_finish(reply *r);

#endif
