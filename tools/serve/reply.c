/* reply.c - splits an answer into content, reasoning and tool calls as it streams in
 * (reply.h). The marks are those of g4_chat_parse (gemma4.md §5.4):
 *     <|channel>thought\n REASONING <channel|>    <|tool_call>call:NAME{ARGS}<tool_call|>
 * Each tool call is handed to g4_chat_parse whole, so its arguments are read by the same
 * code as everywhere else in g4; one that does not parse is kept as content, as written.
 * Trimming follows g4_chat_parse too: leading and trailing whitespace of the content and
 * of the reasoning is dropped (so trailing whitespace waits until more text shows it is
 * inner), and several thought blocks are joined with a newline. A closing mark with no
 * opening one is ordinary text here (g4_chat_parse would call the reply malformed; a
 * stream cannot take back what it sent). */
#include "reply.h"

#include "g4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { M_CONTENT, M_LABEL, M_THOUGHT, M_TOOL, M_DONE };

#define CH_OPEN "<|channel>"
#define CH_CLOSE "<channel|>"
#define TC_OPEN "<|tool_call>"
#define TC_CLOSE "<tool_call|>"
#define LABEL "thought\n"

static void put(reply *r, reply_buf *b, const char *s, size_t n) {
    if (n == 0 || r->failed) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) { r->failed = true; return; }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void drop_front(reply_buf *b, size_t k) {
    if (k == 0) return;
    memmove(b->s, b->s + k, b->n - k);
    b->n -= k;
    if (b->s) b->s[b->n] = 0;
}

static bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

/* Appends to content or reasoning, dropping leading whitespace and holding trailing
 * whitespace in *ws until something follows it. */
static void emit(reply *r, bool to_reasoning, const char *s, size_t n) {
    reply_buf *out = to_reasoning ? &r->reasoning : &r->content;
    if (r->raw) { put(r, out, s, n); return; }
    reply_buf *ws = to_reasoning ? &r->ws_reasoning : &r->ws_content;
    bool *started = to_reasoning ? &r->started_reasoning : &r->started_content;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && is_ws(s[j])) j++;
        if (j > i && *started) put(r, ws, s + i, j - i);
        if (j == n) break;
        size_t k = j;
        while (k < n && !is_ws(s[k])) k++;
        put(r, out, ws->s, ws->n);
        ws->n = 0;
        put(r, out, s + j, k - j);
        *started = true;
        i = k;
    }
}

static const char *find(const char *s, size_t n, const char *lit, size_t k) {
    for (size_t i = 0; i + k <= n; i++)
        if (s[i] == lit[0] && memcmp(s + i, lit, k) == 0) return s + i;
    return NULL;
}

/* The length of the longest end of s[0..n) that begins one of pats (and is shorter). */
static size_t holdback(const char *s, size_t n, const char *const *pats, int n_pats) {
    size_t best = 0;
    for (int p = 0; p < n_pats; p++) {
        size_t k = strlen(pats[p]);
        for (size_t m = k - 1 < n ? k - 1 : n; m > best; m--)
            if (memcmp(s + n - m, pats[p], m) == 0) { best = m; break; }
    }
    return best;
}

static unsigned long long mix(unsigned long long x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The tool call whose body is in r->tool: parsed by g4_chat_parse into an OpenAI
 * tool_calls entry, or kept as content when it does not parse. */
static void end_call(reply *r) {
    reply_buf whole = {0};
    put(r, &whole, TC_OPEN, strlen(TC_OPEN));
    put(r, &whole, r->tool.s, r->tool.n);
    put(r, &whole, TC_CLOSE, strlen(TC_CLOSE));
    r->tool.n = 0;
    if (r->failed) { free(whole.s); return; }
    g4_chat_reply cr;
    g4_error err;
    cJSON *parsed = NULL;
    if (g4_chat_parse(whole.s, whole.n, &cr, &err) == G4_OK) {
        if (!cr.malformed && cr.n_tool_calls == 1 && cr.tool_calls) parsed = cJSON_Parse(cr.tool_calls);
        g4_chat_reply_free(&cr);
    }
    const cJSON *call = cJSON_GetArrayItem(parsed, 0);
    const cJSON *name = cJSON_GetObjectItem(call, "name"), *args = cJSON_GetObjectItem(call, "arguments");
    char *args_text = args ? cJSON_PrintUnformatted(args) : NULL;
    if (cJSON_IsString(name) && args_text) {
        char id[32];
        snprintf(id, sizeof id, "call_%016llx", mix(r->call_seq++));
        cJSON *o = cJSON_CreateObject(), *f = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "type", "function");
        cJSON_AddStringToObject(f, "name", name->valuestring);
        cJSON_AddStringToObject(f, "arguments", args_text);
        cJSON_AddItemToObject(o, "function", f);
        if (cJSON_AddItemToArray(r->calls, o)) r->n_calls = cJSON_GetArraySize(r->calls);
        else { cJSON_Delete(o); r->failed = true; }
    } else {
        emit(r, false, whole.s, whole.n); /* not a call g4 can read: the user sees what was written */
    }
    free(args_text);
    cJSON_Delete(parsed);
    free(whole.s);
}

/* Decides as much of the held text as can be decided; with `final`, all of it. */
static void process(reply *r, bool final) {
    for (;;) {
        const char *h = r->held.s;
        size_t n = r->held.n;
        if (r->mode == M_DONE || r->failed) { r->held.n = 0; return; }
        if (r->mode == M_CONTENT) {
            const char *pats[2 + 4];
            int np = 0;
            if (!r->raw) { pats[np++] = CH_OPEN; pats[np++] = TC_OPEN; }
            for (int i = 0; i < r->n_stop; i++) pats[np++] = r->stop[i];
            /* the earliest complete mark or stop (a stop wins a tie: it ends everything) */
            const char *first = NULL;
            int which = -1;
            for (int p = 0; p < np; p++) {
                const char *at = find(h, n, pats[p], strlen(pats[p]));
                if (at && (!first || at < first || (at == first && p >= (r->raw ? 0 : 2)))) { first = at; which = p; }
            }
            /* text from `undecided` on may still become a mark or stop that starts earlier
             * than `first`: wait for it, so that how the text was cut never matters */
            const size_t undecided = final ? n : n - holdback(h, n, pats, np);
            /* (a mark complete at `undecided` with more undecided text after it may still be
             * the start of a longer stop, which would win the tie) */
            const size_t q = first ? (size_t)(first - h) : n;
            const bool is_stop = which >= (r->raw ? 0 : 2);
            if (!first || q > undecided || (q == undecided && !is_stop && undecided < n)) {
                emit(r, false, h, undecided);
                drop_front(&r->held, undecided);
                return;
            }
            emit(r, false, h, (size_t)(first - h));
            size_t used = (size_t)(first - h) + strlen(pats[which]);
            if (!r->raw && which == 0) {
                r->mode = M_LABEL;
                if (r->started_reasoning) put(r, &r->ws_reasoning, "\n", 1); /* blocks are joined by a newline */
            } else if (!r->raw && which == 1) {
                r->mode = M_TOOL;
                r->tool.n = 0;
            } else {
                r->stopped = true;
                r->mode = M_DONE;
            }
            drop_front(&r->held, used);
        } else if (r->mode == M_LABEL) {
            const size_t k = strlen(LABEL);
            if (n == 0) {
                if (!final) return;
                r->mode = M_THOUGHT;
            } else if (n >= k) {
                if (memcmp(h, LABEL, k) == 0) drop_front(&r->held, k);
                r->mode = M_THOUGHT;
            } else if (memcmp(h, LABEL, n) == 0) { /* could still be the label */
                if (!final) return;
                r->held.n = 0; /* cut inside the label: nothing was said */
                r->mode = M_THOUGHT;
            } else {
                r->mode = M_THOUGHT;
            }
        } else {
            const bool tool = r->mode == M_TOOL;
            const char *close = tool ? TC_CLOSE : CH_CLOSE;
            const char *at = find(h, n, close, strlen(close));
            if (!at) {
                size_t keep = final ? 0 : holdback(h, n, &close, 1);
                if (tool) put(r, &r->tool, h, n - keep);
                else emit(r, true, h, n - keep);
                drop_front(&r->held, n - keep);
                return;
            }
            if (tool) put(r, &r->tool, h, (size_t)(at - h));
            else emit(r, true, h, (size_t)(at - h));
            drop_front(&r->held, (size_t)(at - h) + strlen(close));
            r->mode = M_CONTENT;
            if (tool) end_call(r);
        }
    }
}

void reply_init(reply *r, bool raw, char *const *stops, int n_stops, unsigned long long call_seed) {
    memset(r, 0, sizeof *r);
    r->raw = raw;
    r->calls = cJSON_CreateArray();
    if (!r->calls) r->failed = true;
    for (int i = 0; i < n_stops && i < 4; i++)
        if (stops[i] && stops[i][0]) r->stop[r->n_stop++] = stops[i];
    r->call_seq = call_seed;
    r->mode = M_CONTENT;
}

void reply_free(reply *r) {
    free(r->content.s);
    free(r->reasoning.s);
    free(r->held.s);
    free(r->tool.s);
    free(r->ws_content.s);
    free(r->ws_reasoning.s);
    cJSON_Delete(r->calls);
    memset(r, 0, sizeof *r);
}

bool reply_push(reply *r, const char *text, size_t len) {
    if (r->mode == M_DONE) return r->stopped;
    put(r, &r->held, text, len);
    process(r, false);
    return r->stopped;
}

void reply_finish(reply *r) {
    if (r->mode == M_DONE) return;
    process(r, true);
    if (r->mode == M_TOOL) { /* cut inside a tool call: the text as written */
        reply_buf t = r->tool;
        r->tool = (reply_buf){0};
        emit(r, false, TC_OPEN, strlen(TC_OPEN));
        emit(r, false, t.s, t.n);
        free(t.s);
    }
    r->mode = M_DONE;
}
