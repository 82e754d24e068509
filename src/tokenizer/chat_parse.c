/* chat_parse.c - takes a Gemma 4 model reply apart: thought channel, answer, tool calls.
 *
 * A model turn looks like (gemma4.md §5.4)
 *     [<|channel>thought\n REASONING <channel|>] ANSWER {<|tool_call>call:NAME{ARGS}<tool_call|>}
 *     [<turn|> | <|tool_response> | <eos>]
 * where ARGS is the template's format_argument syntax: key:value pairs with bare keys,
 * strings between <|"|> marks, bare numbers and booleans, nested {...} and [...].
 *
 * The text comes from a sampler, so anything can happen. The parser is a bounded
 * recursive descent over the bytes that never reads past the end; what it cannot make
 * sense of comes back whole as `content` with `malformed` set, and a reply cut off
 * inside a thought channel or a tool call sets `truncated`. Errors are for memory only. */
#include "chat.h"

#include "pyjson.h"

#include <string.h>

#define QUOTE "<|\"|>"
#define QUOTE_LEN 5
#define MAX_DEPTH 64

typedef struct cursor {
    const char *s;
    size_t n, i;
} cursor;

static bool at(const cursor *c, const char *lit) {
    size_t k = strlen(lit);
    return c->n - c->i >= k && memcmp(c->s + c->i, lit, k) == 0;
}

static void skip_ws(cursor *c) {
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\n' || c->s[c->i] == '\t' || c->s[c->i] == '\r')) c->i++;
}

static const char *find(const char *s, size_t n, const char *lit) {
    size_t k = strlen(lit);
    for (size_t i = 0; i + k <= n; i++)
        if (s[i] == lit[0] && memcmp(s + i, lit, k) == 0) return s + i;
    return NULL;
}

static cJSON *string_node(const char *s, size_t n) {
    char *t = malloc(n + 1);
    if (!t) return NULL;
    memcpy(t, s, n);
    t[n] = 0;
    cJSON *j = cJSON_CreateString(t);
    free(t);
    return j;
}

/* A bare token (up to , } ] or end): a JSON number, a boolean, null, or else a string. */
static cJSON *bare_value(cursor *c) {
    size_t start = c->i;
    while (c->i < c->n && c->s[c->i] != ',' && c->s[c->i] != '}' && c->s[c->i] != ']') c->i++;
    size_t z = c->i;
    while (z > start && (c->s[z - 1] == ' ' || c->s[z - 1] == '\n')) z--;
    const char *t = c->s + start;
    size_t n = z - start;
    if (n == 0) return NULL;
    if (n == 4 && memcmp(t, "true", 4) == 0) return cJSON_CreateTrue();
    if (n == 5 && memcmp(t, "false", 5) == 0) return cJSON_CreateFalse();
    if ((n == 4 && memcmp(t, "null", 4) == 0) || (n == 4 && memcmp(t, "None", 4) == 0)) return cJSON_CreateNull();
    /* JSON number syntax: kept as written (exact for long integers) */
    size_t i = 0;
    if (t[i] == '-') i++;
    size_t d0 = i;
    while (i < n && t[i] >= '0' && t[i] <= '9') i++;
    bool num = i > d0 && !(t[d0] == '0' && i - d0 > 1);
    if (num && i < n && t[i] == '.') {
        size_t f0 = ++i;
        while (i < n && t[i] >= '0' && t[i] <= '9') i++;
        num = i > f0;
    }
    if (num && i < n && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        if (i < n && (t[i] == '+' || t[i] == '-')) i++;
        size_t e0 = i;
        while (i < n && t[i] >= '0' && t[i] <= '9') i++;
        num = i > e0;
    }
    if (num && i == n) {
        char *raw = malloc(n + 1);
        if (!raw) return NULL;
        memcpy(raw, t, n);
        raw[n] = 0;
        cJSON *j = cJSON_CreateRaw(raw);
        free(raw);
        return j;
    }
    return string_node(t, n);
}

static cJSON *parse_value(cursor *c, int depth, bool *bad);

/* {key:value,...} (the cursor is on '{'); keys bare or <|"|>-quoted. */
static cJSON *parse_object(cursor *c, int depth, bool *bad) {
    cJSON *obj = cJSON_CreateObject();
    if (!obj) return NULL;
    c->i++; /* '{' */
    skip_ws(c);
    if (c->i < c->n && c->s[c->i] == '}') { c->i++; return obj; }
    for (;;) {
        skip_ws(c);
        const char *k;
        size_t kn;
        if (at(c, QUOTE)) {
            c->i += QUOTE_LEN;
            const char *e = find(c->s + c->i, c->n - c->i, QUOTE);
            if (!e) { *bad = true; break; }
            k = c->s + c->i;
            kn = (size_t)(e - k);
            c->i += kn + QUOTE_LEN;
        } else {
            size_t start = c->i;
            while (c->i < c->n && c->s[c->i] != ':' && c->s[c->i] != ',' && c->s[c->i] != '}' && c->s[c->i] != '{')
                c->i++;
            k = c->s + start;
            kn = c->i - start;
        }
        if (kn == 0 || c->i >= c->n || c->s[c->i] != ':') { *bad = true; break; }
        c->i++; /* ':' */
        cJSON *v = parse_value(c, depth + 1, bad);
        if (!v) { *bad = true; break; }
        char *key = malloc(kn + 1);
        if (!key) { cJSON_Delete(v); *bad = true; break; }
        memcpy(key, k, kn);
        key[kn] = 0;
        cJSON_AddItemToObject(obj, key, v);
        free(key);
        skip_ws(c);
        if (c->i < c->n && c->s[c->i] == ',') { c->i++; continue; }
        if (c->i < c->n && c->s[c->i] == '}') { c->i++; return obj; }
        *bad = true;
        break;
    }
    cJSON_Delete(obj);
    return NULL;
}

static cJSON *parse_value(cursor *c, int depth, bool *bad) {
    if (depth > MAX_DEPTH) { *bad = true; return NULL; }
    skip_ws(c);
    if (c->i >= c->n) { *bad = true; return NULL; }
    if (at(c, QUOTE)) {
        c->i += QUOTE_LEN;
        const char *e = find(c->s + c->i, c->n - c->i, QUOTE);
        if (!e) { *bad = true; return NULL; }
        cJSON *j = string_node(c->s + c->i, (size_t)(e - (c->s + c->i)));
        c->i = (size_t)(e - c->s) + QUOTE_LEN;
        return j;
    }
    char ch = c->s[c->i];
    if (ch == '{') return parse_object(c, depth, bad);
    if (ch == '[') {
        cJSON *arr = cJSON_CreateArray();
        if (!arr) return NULL;
        c->i++;
        skip_ws(c);
        if (c->i < c->n && c->s[c->i] == ']') { c->i++; return arr; }
        for (;;) {
            cJSON *v = parse_value(c, depth + 1, bad);
            if (!v) break;
            cJSON_AddItemToArray(arr, v);
            skip_ws(c);
            if (c->i < c->n && c->s[c->i] == ',') { c->i++; continue; }
            if (c->i < c->n && c->s[c->i] == ']') { c->i++; return arr; }
            *bad = true;
            break;
        }
        cJSON_Delete(arr);
        return NULL;
    }
    return bare_value(c);
}

/* "call:NAME{ARGS}" -> {"name": NAME, "arguments": {...}}; NULL (and *bad) if it is not. */
static cJSON *parse_call(const char *s, size_t n, bool *bad) {
    cursor c = {s, n, 0};
    skip_ws(&c);
    if (!at(&c, "call:")) { *bad = true; return NULL; }
    c.i += 5;
    size_t name0 = c.i;
    while (c.i < c.n && c.s[c.i] != '{') c.i++;
    size_t name1 = c.i;
    while (name1 > name0 && (s[name1 - 1] == ' ' || s[name1 - 1] == '\n')) name1--;
    if (name1 == name0 || c.i >= c.n) { *bad = true; return NULL; }
    cJSON *args = parse_object(&c, 0, bad);
    if (!args) { *bad = true; return NULL; }
    skip_ws(&c);
    if (c.i != c.n) { cJSON_Delete(args); *bad = true; return NULL; }
    cJSON *call = cJSON_CreateObject();
    cJSON *name = string_node(s + name0, name1 - name0);
    if (!call || !name) { cJSON_Delete(call); cJSON_Delete(name); cJSON_Delete(args); return NULL; }
    cJSON_AddItemToObject(call, "name", name);
    cJSON_AddItemToObject(call, "arguments", args);
    return call;
}

static char *dup_trimmed(const char *s, size_t n) {
    size_t k;
    const char *t = py_strip(s, n, &k);
    char *d = malloc(k + 1);
    if (!d) return NULL;
    memcpy(d, t, k);
    d[k] = 0;
    return d;
}

void g4_chat_reply_free(g4_chat_reply *r) {
    if (!r) return;
    free(r->content);
    free(r->thinking);
    free(r->tool_calls);
    memset(r, 0, sizeof *r);
}

/* Gives up on structure: the whole text is the content. */
static g4_status plain(g4_chat_reply *out, const char *text, size_t len, bool malformed, bool truncated, g4_error *err) {
    g4_chat_reply_free(out);
    out->content = dup_trimmed(text, len);
    out->malformed = malformed;
    out->truncated = truncated;
    return out->content ? G4_OK : g4_fail(err, G4_ERR_NOMEM, "out of memory");
}

g4_status g4_chat_parse(const char *text, size_t len, g4_chat_reply *out, g4_error *err) {
    memset(out, 0, sizeof *out);
    if (!text) { text = ""; len = 0; }
    /* the stop token may or may not have been decoded into the text */
    static const char *const stops[] = {"<turn|>", "<|tool_response>", "<eos>"};
    for (bool again = true; again;) {
        again = false;
        size_t k;
        py_strip(text, len, &k);
        len = (size_t)(py_strip(text, len, &k) - text) + k;
        for (size_t i = 0; i < G4_ARRAY_LEN(stops); i++) {
            size_t sl = strlen(stops[i]);
            if (len >= sl && memcmp(text + len - sl, stops[i], sl) == 0) { len -= sl; again = true; }
        }
    }
    pybuf content = {0}, thinking = {0};
    cJSON *calls = cJSON_CreateArray();
    g4_status st = G4_OK;
    bool bad = false, truncated = false;
    if (!calls) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    size_t i = 0;
    /* the next occurrence of each mark at or after i, searched again only once i has
     * passed it, so the scan stays linear however many blocks the reply holds */
    static const char *const marks[4] = {"<|channel>", "<|tool_call>", "<channel|>", "<tool_call|>"};
    const char *pos[4] = {0};
    bool searched[4] = {0};
    while (i < len && !bad) {
        const char *rest = text + i;
        size_t rn = len - i;
        for (int m = 0; m < 4; m++) {
            if (!searched[m] || (pos[m] && pos[m] < rest)) {
                pos[m] = find(rest, rn, marks[m]);
                searched[m] = true;
            }
        }
        const char *ch = pos[0], *tc = pos[1], *stray1 = pos[2], *stray2 = pos[3];
        const char *next = ch && (!tc || ch < tc) ? ch : tc;
        /* a closing mark before any opening one breaks the format */
        if ((stray1 && (!next || stray1 < next)) || (stray2 && (!next || stray2 < next))) { bad = true; break; }
        if (!next) { pybuf_put(&content, rest, rn); break; }
        pybuf_put(&content, rest, (size_t)(next - rest));
        if (next == ch) {
            const char *body = ch + 10;
            const char *end = find(body, (size_t)(text + len - body), "<channel|>");
            size_t bn = end ? (size_t)(end - body) : (size_t)(text + len - body);
            if (bn >= 8 && memcmp(body, "thought\n", 8) == 0) { body += 8; bn -= 8; }
            else if (!end && bn < 8 && memcmp(body, "thought\n", bn) == 0) bn = 0; /* cut inside the label */
            if (thinking.n) pybuf_putc(&thinking, '\n');
            pybuf_put(&thinking, body, bn);
            if (!end) { truncated = true; break; }
            i = (size_t)(end - text) + 10;
        } else {
            const char *body = tc + 12;
            const char *end = find(body, (size_t)(text + len - body), "<tool_call|>");
            if (!end) { truncated = true; break; }
            cJSON *call = parse_call(body, (size_t)(end - body), &bad);
            if (call) cJSON_AddItemToArray(calls, call);
            else if (!bad) st = g4_fail(err, G4_ERR_NOMEM, "out of memory");
            i = (size_t)(end - text) + 12;
        }
    }
    if (st == G4_OK && (content.failed || thinking.failed)) st = g4_fail(err, G4_ERR_NOMEM, "out of memory");
    if (st == G4_OK && bad) st = plain(out, text, len, true, false, err);
    else if (st == G4_OK && truncated && cJSON_GetArraySize(calls) == 0 && !thinking.n &&
             find(text, len, "<|tool_call>")) /* cut inside the first tool call: plain text */
        st = plain(out, text, len, false, true, err);
    else if (st == G4_OK) {
        out->content = dup_trimmed(content.s ? content.s : "", content.n);
        out->truncated = truncated;
        if (thinking.s) out->thinking = dup_trimmed(thinking.s, thinking.n);
        out->n_tool_calls = cJSON_GetArraySize(calls);
        if (out->n_tool_calls) out->tool_calls = cJSON_PrintUnformatted(calls);
        if (!out->content || (thinking.s && !out->thinking) || (out->n_tool_calls && !out->tool_calls))
            st = g4_fail(err, G4_ERR_NOMEM, "out of memory");
    }
    if (st != G4_OK) g4_chat_reply_free(out);
    free(content.s);
    free(thinking.s);
    cJSON_Delete(calls);
    return st;
}
