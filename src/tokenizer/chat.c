/* chat.c - renders a conversation as the Gemma 4 prompt, in C, byte for byte as the
 * official chat template does (the one in the vocabulary GGUF's tokenizer.chat_template,
 * gemma4.md §5.4).
 *
 * Each function below mirrors one part of the template and keeps its quirks on purpose,
 * because the model was trained on what the template prints, not on what it meant:
 *   - system turn: opened when thinking is on, tools are given, or the first message is
 *     system/developer; <|think|> first, then the trimmed system text, then one
 *     <|tool>declaration:...<tool|> per tool;
 *   - roles: "assistant" becomes "model", any other role is printed as given;
 *   - model text loses its <|channel>...<channel|> blocks (strip_thinking) and is trimmed;
 *   - tool calls print as call:NAME{k:v,...} with keys sorted case-insensitively and
 *     strings in <|"|>; a message that only carries tool responses leaves its turn open,
 *     and the generation prompt then does not reopen it;
 *   - tool declarations keep the template's irregular commas (",properties:{" even when
 *     nothing precedes it, "parameters:{" left unclosed when there is no "type").
 * Values print as Python prints them (pyjson.h). Where the template would raise an
 * error (a missing function name, a role that is not a string, iterating a number), the
 * render fails with G4_ERR_ARG. */
#include "chat.h"

#include "pyjson.h"
#include "tokenizer.h"

#include <stdarg.h>
#include <string.h>

#define QUOTE "<|\"|>"
/* Deeper nesting than this in tool schemas or arguments is refused (the template's
 * recursion would hit Python's limit at a few hundred levels). */
#define MAX_DEPTH 64

typedef enum { PREV_NONE, PREV_THINK, PREV_TOOL, PREV_TOOL_CALL, PREV_TOOL_RESPONSE, PREV_MEDIA } prev_kind;

typedef struct render {
    pybuf out;
    g4_error *err;
    g4_status st;
    /* byte ranges of out that came from the request, not from the template: pairs
     * [start, end), sorted, for g4_chat_tokenize (control tokens are never read there) */
    size_t *ranges;
    size_t n_ranges, cap_ranges;
} render;

/* Records that out[start..now) is request data. */
static void mark_data(render *r, size_t start) {
    size_t end = r->out.n;
    if (end <= start || r->out.failed) return;
    if (r->n_ranges && r->ranges[2 * r->n_ranges - 1] == start) { r->ranges[2 * r->n_ranges - 1] = end; return; }
    if (r->n_ranges == r->cap_ranges) {
        size_t cap = r->cap_ranges ? r->cap_ranges * 2 : 32;
        size_t *nr = realloc(r->ranges, cap * 2 * sizeof *nr);
        if (!nr) { r->out.failed = true; return; }
        r->ranges = nr;
        r->cap_ranges = cap;
    }
    r->ranges[2 * r->n_ranges] = start;
    r->ranges[2 * r->n_ranges + 1] = end;
    r->n_ranges++;
}
/* Runs stmt, marking what it appends as request data. */
#define DATA(r, stmt) do { size_t at_ = (r)->out.n; stmt; mark_data((r), at_); } while (0)

static bool ok(const render *r) { return r->st == G4_OK && !r->out.failed; }

static bool fail(render *r, const char *fmt, ...) G4_PRINTF(2, 3);
static bool fail(render *r, const char *fmt, ...) {
    if (r->st != G4_OK) return false;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->st = g4_fail(r->err, G4_ERR_ARG, "chat template: %s", msg);
    return false;
}

static void puts_(render *r, const char *s) { pybuf_puts(&r->out, s); }

static bool is_str(const cJSON *v, const char *s) { return cJSON_IsString(v) && strcmp(v->valuestring, s) == 0; }

/* ---- format_argument ------------------------------------------------------------------ */

static void format_argument(render *r, const cJSON *v, bool escape_keys, int depth) {
    if (!ok(r)) return;
    if (depth > MAX_DEPTH) { fail(r, "arguments nested deeper than %d", MAX_DEPTH); return; }
    if (!v) { puts_(r, "[]"); return; } /* undefined iterates as an empty sequence */
    if (cJSON_IsString(v)) {
        puts_(r, QUOTE);
        DATA(r, puts_(r, v->valuestring));
        puts_(r, QUOTE);
    } else if (cJSON_IsBool(v)) {
        puts_(r, cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsObject(v)) {
        const cJSON **m;
        size_t n;
        if (!pyjson_dictsort(v, &m, &n)) { r->out.failed = true; return; }
        puts_(r, "{");
        for (size_t i = 0; i < n; i++) {
            if (i) puts_(r, ",");
            if (escape_keys) puts_(r, QUOTE);
            DATA(r, puts_(r, m[i]->string));
            if (escape_keys) puts_(r, QUOTE);
            puts_(r, ":");
            format_argument(r, m[i], escape_keys, depth + 1);
        }
        puts_(r, "}");
        free(m);
    } else if (cJSON_IsArray(v)) {
        puts_(r, "[");
        const cJSON *c;
        bool first = true;
        cJSON_ArrayForEach(c, v) {
            if (!first) puts_(r, ",");
            first = false;
            format_argument(r, c, escape_keys, depth + 1);
        }
        puts_(r, "]");
    } else {
        DATA(r, pyjson_str(&r->out, v)); /* numbers as Python prints them, null as None */
    }
}

/* `for x in v: <|"|>x<|"|>` joined by commas. */
static void quoted_list(render *r, const cJSON *v, const char *what) {
    const cJSON **m;
    size_t n;
    cJSON *tmp;
    if (!pyjson_iter(v, &m, &n, &tmp)) { fail(r, "'%s' is not a list", what); return; }
    for (size_t i = 0; i < n; i++) {
        if (i) puts_(r, ",");
        puts_(r, QUOTE);
        DATA(r, pyjson_str(&r->out, m[i]));
        puts_(r, QUOTE);
    }
    free(m);
    cJSON_Delete(tmp);
}

/* ---- tool declarations ---------------------------------------------------------------------- */

static bool upper_is(const cJSON *v, const char *want) {
    pybuf t = {0};
    pyjson_upper(&t, v);
    bool eq = !t.failed && strcmp(t.s ? t.s : "", want) == 0;
    free(t.s);
    return eq;
}

static void comma(render *r, bool *add_comma) {
    if (*add_comma) puts_(r, ",");
    else *add_comma = true;
}

static void format_parameters(render *r, const cJSON *props, int depth);

static void format_items(render *r, const cJSON *items, int depth) {
    const cJSON **m;
    size_t n;
    if (!pyjson_dictsort(items, &m, &n)) { r->out.failed = true; return; }
    bool found = false;
    for (size_t i = 0; i < n && ok(r); i++) {
        const cJSON *v = m[i];
        const char *key = v->string;
        if (cJSON_IsNull(v)) continue;
        if (found) puts_(r, ",");
        found = true;
        if (strcmp(key, "properties") == 0) {
            puts_(r, "properties:{");
            if (cJSON_IsObject(v)) format_parameters(r, v, depth + 1);
            puts_(r, "}");
        } else if (strcmp(key, "required") == 0) {
            puts_(r, "required:[");
            quoted_list(r, v, "items.required");
            puts_(r, "]");
        } else if (strcmp(key, "type") == 0) {
            puts_(r, "type:");
            if (cJSON_IsString(v)) {
                puts_(r, QUOTE);
                DATA(r, pyjson_upper(&r->out, v));
                puts_(r, QUOTE);
            } else { /* item_value | map('upper') | list */
                const cJSON **e;
                size_t k;
                cJSON *tmp;
                if (!pyjson_iter(v, &e, &k, &tmp)) { fail(r, "'items.type' is neither a string nor a list"); break; }
                puts_(r, "[");
                for (size_t j = 0; j < k; j++) {
                    if (j) puts_(r, ",");
                    puts_(r, QUOTE);
                    DATA(r, pyjson_upper(&r->out, e[j]));
                    puts_(r, QUOTE);
                }
                puts_(r, "]");
                free(e);
                cJSON_Delete(tmp);
            }
        } else {
            DATA(r, puts_(r, key));
            puts_(r, ":");
            format_argument(r, v, true, depth + 1);
        }
    }
    free(m);
}

static void format_parameters(render *r, const cJSON *props, int depth) {
    static const char *const standard[] = {"description", "type", "properties", "required", "nullable"};
    if (!ok(r)) return;
    if (depth > MAX_DEPTH) { fail(r, "tool parameters nested deeper than %d", MAX_DEPTH); return; }
    if (!cJSON_IsObject(props)) { fail(r, "tool 'properties' is not an object"); return; }
    const cJSON **m;
    size_t n;
    if (!pyjson_dictsort(props, &m, &n)) { r->out.failed = true; return; }
    bool found_first = false;
    for (size_t i = 0; i < n && ok(r); i++) {
        const cJSON *value = m[i];
        const char *key = value->string;
        bool is_standard = false;
        for (size_t s = 0; s < G4_ARRAY_LEN(standard); s++) is_standard |= strcmp(key, standard[s]) == 0;
        if (is_standard) continue;
        bool add_comma = false;
        if (found_first) puts_(r, ",");
        found_first = true;
        DATA(r, puts_(r, key));
        puts_(r, ":{");
        const cJSON *desc = pyjson_get(value, "description");
        if (pyjson_truthy(desc)) {
            puts_(r, "description:" QUOTE);
            DATA(r, pyjson_str(&r->out, desc));
            puts_(r, QUOTE);
            add_comma = true;
        }
        if (pyjson_truthy(pyjson_get(value, "nullable"))) {
            comma(r, &add_comma);
            puts_(r, "nullable:true");
        }
        const cJSON *type = pyjson_get(value, "type");
        if (upper_is(type, "STRING")) {
            const cJSON *en = pyjson_get(value, "enum");
            if (pyjson_truthy(en)) {
                comma(r, &add_comma);
                puts_(r, "enum:");
                format_argument(r, en, true, depth + 1);
            }
        } else if (upper_is(type, "OBJECT")) {
            puts_(r, ",properties:{");
            const cJSON *p = pyjson_get(value, "properties");
            if (cJSON_IsObject(p)) format_parameters(r, p, depth + 1);
            else if (cJSON_IsObject(value)) format_parameters(r, value, depth + 1);
            puts_(r, "}");
            const cJSON *req = pyjson_get(value, "required");
            if (pyjson_truthy(req)) {
                puts_(r, ",required:[");
                quoted_list(r, req, "required");
                puts_(r, "]");
            }
        } else if (upper_is(type, "ARRAY")) {
            const cJSON *items = pyjson_get(value, "items");
            if (cJSON_IsObject(items) && pyjson_truthy(items)) {
                puts_(r, ",items:{");
                format_items(r, items, depth);
                puts_(r, "}");
            }
        }
        comma(r, &add_comma);
        puts_(r, "type:" QUOTE);
        DATA(r, pyjson_upper(&r->out, type));
        puts_(r, QUOTE "}");
    }
    free(m);
}

/* `needle in v` for a JSON value: a key of an object, a substring of a string, an
 * element of a list. */
static bool py_contains(render *r, const cJSON *v, const char *needle) {
    if (cJSON_IsObject(v)) return pyjson_get(v, needle) != NULL;
    if (cJSON_IsString(v)) return strstr(v->valuestring, needle) != NULL;
    if (cJSON_IsArray(v)) {
        const cJSON *c;
        cJSON_ArrayForEach(c, v) if (is_str(c, needle)) return true;
        return false;
    }
    if (!v) return false;
    fail(r, "'in' applied to a value that is not a container");
    return false;
}

static void format_function_declaration(render *r, const cJSON *tool) {
    const cJSON *f = pyjson_get(tool, "function");
    if (!f) { fail(r, "a tool has no 'function'"); return; }
    puts_(r, "declaration:");
    DATA(r, pyjson_str(&r->out, pyjson_get(f, "name")));
    puts_(r, "{description:" QUOTE);
    DATA(r, pyjson_str(&r->out, pyjson_get(f, "description")));
    puts_(r, QUOTE);
    const cJSON *params = pyjson_get(f, "parameters");
    if (pyjson_truthy(params)) {
        puts_(r, ",parameters:{");
        const cJSON *props = pyjson_get(params, "properties");
        if (pyjson_truthy(props)) {
            puts_(r, "properties:{");
            format_parameters(r, props, 0);
            puts_(r, "},");
        }
        const cJSON *req = pyjson_get(params, "required");
        if (pyjson_truthy(req)) {
            puts_(r, "required:[");
            quoted_list(r, req, "required");
            puts_(r, "],");
        }
        const cJSON *type = pyjson_get(params, "type");
        if (pyjson_truthy(type)) {
            puts_(r, "type:" QUOTE);
            DATA(r, pyjson_upper(&r->out, type));
            puts_(r, QUOTE "}");
        }
    }
    if (py_contains(r, f, "response")) {
        const cJSON *resp = pyjson_get(f, "response");
        puts_(r, ",response:{");
        const cJSON *d = pyjson_get(resp, "description");
        if (pyjson_truthy(d)) {
            puts_(r, "description:" QUOTE);
            DATA(r, pyjson_str(&r->out, d));
            puts_(r, QUOTE ",");
        }
        const cJSON *type = pyjson_get(resp, "type");
        if (upper_is(type, "OBJECT")) {
            puts_(r, "type:" QUOTE);
            DATA(r, pyjson_upper(&r->out, type));
            puts_(r, QUOTE "}");
        }
    }
    puts_(r, "}");
}

/* ---- messages ------------------------------------------------------------------------------- */

/* The template's strip_thinking: drop every <|channel>...<channel|> block, then trim. */
static void strip_thinking(render *r, const char *text) {
    pybuf acc = {0};
    const char *p = text;
    for (;;) {
        const char *end = strstr(p, "<channel|>");
        size_t len = end ? (size_t)(end - p) : strlen(p);
        /* part = p[0..len): keep what precedes its first <|channel> */
        const char *open = NULL;
        for (const char *q = p; q + 10 <= p + len; q++)
            if (memcmp(q, "<|channel>", 10) == 0) { open = q; break; }
        pybuf_put(&acc, p, open ? (size_t)(open - p) : len);
        if (!end) break;
        p = end + 10;
    }
    if (acc.failed) r->out.failed = true;
    size_t n;
    const char *s = py_strip(acc.s ? acc.s : "", acc.n, &n);
    DATA(r, pybuf_put(&r->out, s, n));
    free(acc.s);
}

static void render_text(render *r, const cJSON *text, bool model) {
    if (!model) { DATA(r, pyjson_str_trimmed(&r->out, text)); return; }
    if (!cJSON_IsString(text)) { fail(r, "model message text is not a string"); return; }
    strip_thinking(r, text->valuestring);
}


/* key:value pairs of a dict, keys already sorted by pyjson_dictsort (which allocated a) */
static void put_sorted_args(render *r, const cJSON **a, size_t k) {
    for (size_t j = 0; j < k; j++) {
        if (j) puts_(r, ",");
        DATA(r, puts_(r, a[j]->string));
        puts_(r, ":");
        format_argument(r, a[j], false, 0);
    }
    free(a);
}

static void render_tool_calls(render *r, const cJSON *calls) {
    const cJSON **m;
    size_t n;
    cJSON *tmp;
    if (!pyjson_iter(calls, &m, &n, &tmp)) { fail(r, "'tool_calls' is not a list"); return; }
    for (size_t i = 0; i < n && ok(r); i++) {
        const cJSON *fn = pyjson_get(m[i], "function");
        const cJSON *name = pyjson_get(fn, "name");
        if (!cJSON_IsString(name)) { fail(r, "a tool call has no function name"); break; }
        puts_(r, "<|tool_call>call:");
        DATA(r, puts_(r, name->valuestring));
        puts_(r, "{");
        const cJSON *args = pyjson_get(fn, "arguments");
        if (cJSON_IsObject(args)) {
            const cJSON **a;
            size_t k;
            if (!pyjson_dictsort(args, &a, &k)) { r->out.failed = true; break; }
            put_sorted_args(r, a, k);
        } else if (cJSON_IsString(args)) {
            DATA(r, puts_(r, args->valuestring)); /* an OpenAI-style JSON string goes in as it is */
        }
        puts_(r, "}<tool_call|>");
    }
    free(m);
    cJSON_Delete(tmp);
}

static void render_tool_responses(render *r, const cJSON *resps) {
    const cJSON **m;
    size_t n;
    cJSON *tmp;
    if (!pyjson_iter(resps, &m, &n, &tmp)) { fail(r, "'tool_responses' is not a list"); return; }
    for (size_t i = 0; i < n && ok(r); i++) {
        const cJSON *resp = pyjson_get(m[i], "response");
        const cJSON *name = pyjson_get(m[i], "name");
        if (name && !cJSON_IsString(name)) { fail(r, "a tool response's name is not a string"); break; }
        const char *nm = name ? name->valuestring : "unknown";
        puts_(r, "<|tool_response>response:");
        DATA(r, puts_(r, nm));
        if (cJSON_IsObject(resp)) {
            puts_(r, "{");
            const cJSON **a;
            size_t k;
            if (!pyjson_dictsort(resp, &a, &k)) { r->out.failed = true; break; }
            put_sorted_args(r, a, k);
            puts_(r, "}");
        } else {
            puts_(r, "{value:");
            format_argument(r, resp, false, 0);
            puts_(r, "}");
        }
        puts_(r, "<tool_response|>");
    }
    free(m);
    cJSON_Delete(tmp);
}

static prev_kind render_content(render *r, const cJSON *content, bool model, prev_kind prev) {
    if (cJSON_IsString(content)) {
        render_text(r, content, model);
        return prev;
    }
    if (!cJSON_IsArray(content) && !cJSON_IsObject(content)) return prev; /* not a sequence */
    const cJSON **m;
    size_t n;
    cJSON *tmp;
    if (!pyjson_iter(content, &m, &n, &tmp)) { r->out.failed = true; return prev; }
    for (size_t i = 0; i < n && ok(r); i++) {
        const cJSON *type = pyjson_get(m[i], "type");
        if (is_str(type, "text")) render_text(r, pyjson_get(m[i], "text"), model);
        else if (is_str(type, "image")) { puts_(r, "\n\n<|image|>\n\n"); prev = PREV_MEDIA; }
        else if (is_str(type, "audio")) { puts_(r, "<|audio|>"); prev = PREV_MEDIA; }
        else if (is_str(type, "video")) { puts_(r, "\n\n<|video|>\n\n"); prev = PREV_MEDIA; }
    }
    free(m);
    cJSON_Delete(tmp);
    return prev;
}

chat_style chat_style_for(const g4_tokenizer *t) {
    chat_style s = {.bos = "<bos>", .empty_thought_prefill = true};
    if (t && t->bos >= 0) s.bos = t->strings + t->span[t->bos].off;
    if (t && t->chat_template) /* the template writes the prefill as a Jinja string literal */
        s.empty_thought_prefill = strstr(t->chat_template, "'<|channel>thought\\n<channel|>'") != NULL;
    return s;
}

g4_status chat_render_spans(const chat_style *style, const cJSON *messages, const cJSON *tools,
                            const g4_chat_params *params, char **out, size_t *out_len, size_t **ranges,
                            size_t *n_ranges, g4_error *err) {
    *out = NULL;
    *out_len = 0;
    *ranges = NULL;
    *n_ranges = 0;
    g4_chat_params defaults = {0};
    if (!params) params = &defaults;
    render r = {.err = err};
    bool thinking = params->enable_thinking;
    if (!cJSON_IsArray(messages)) return g4_fail(err, G4_ERR_ARG, "chat: messages must be a JSON array");
    const cJSON *first = cJSON_GetArrayItem(messages, 0);
    if (!first) return g4_fail(err, G4_ERR_ARG, "chat: no messages");
    const cJSON *first_role = pyjson_get(first, "role");
    bool system_first = is_str(first_role, "system") || is_str(first_role, "developer");

    if (!params->no_bos) puts_(&r, style->bos);
    prev_kind prev = PREV_NONE;
    const cJSON *msg = messages->child;
    if (thinking || pyjson_truthy(tools) || system_first) {
        puts_(&r, "<|turn>system\n");
        if (thinking) {
            puts_(&r, "<|think|>");
            prev = PREV_THINK;
        }
        if (system_first) {
            DATA(&r, pyjson_str_trimmed(&r.out, pyjson_get(first, "content")));
            msg = msg->next;
        }
        if (pyjson_truthy(tools)) {
            const cJSON **m;
            size_t n;
            cJSON *tmp;
            if (!pyjson_iter(tools, &m, &n, &tmp)) {
                fail(&r, "tools must be a list");
            } else {
                for (size_t i = 0; i < n && ok(&r); i++) {
                    puts_(&r, "<|tool>");
                    format_function_declaration(&r, m[i]);
                    puts_(&r, "<tool|>");
                }
                free(m);
                cJSON_Delete(tmp);
            }
            prev = PREV_TOOL;
        }
        puts_(&r, "<turn|>\n");
    }

    for (; msg && ok(&r); msg = msg->next) {
        prev = PREV_NONE;
        const cJSON *role = pyjson_get(msg, "role");
        if (!cJSON_IsString(role)) { fail(&r, "a message has no role"); break; }
        bool model = strcmp(role->valuestring, "assistant") == 0 || strcmp(role->valuestring, "model") == 0;
        puts_(&r, "<|turn>");
        DATA(&r, puts_(&r, strcmp(role->valuestring, "assistant") == 0 ? "model" : role->valuestring));
        puts_(&r, "\n");
        const cJSON *calls = pyjson_get(msg, "tool_calls");
        if (pyjson_truthy(calls)) {
            render_tool_calls(&r, calls);
            prev = PREV_TOOL_CALL;
        }
        const cJSON *resps = pyjson_get(msg, "tool_responses");
        if (pyjson_truthy(resps)) {
            render_tool_responses(&r, resps);
            prev = PREV_TOOL_RESPONSE;
        }
        const cJSON *content = pyjson_get(msg, "content");
        prev = render_content(&r, content, model, prev);
        if (!(pyjson_truthy(resps) && !pyjson_truthy(content))) puts_(&r, "<turn|>\n");
    }

    if (ok(&r) && !params->no_generation_prompt) {
        if (prev != PREV_TOOL_RESPONSE) puts_(&r, "<|turn>model\n");
        if (!thinking && style->empty_thought_prefill) puts_(&r, "<|channel>thought\n<channel|>");
    }
    if (r.out.failed && r.st == G4_OK) r.st = g4_fail(err, G4_ERR_NOMEM, "out of memory rendering the chat");
    if (r.st == G4_OK && !r.out.s) pybuf_put(&r.out, "", 0);
    if (r.st == G4_OK && r.out.failed) r.st = g4_fail(err, G4_ERR_NOMEM, "out of memory");
    if (r.st != G4_OK) {
        free(r.out.s);
        free(r.ranges);
        return r.st;
    }
    *out = r.out.s;
    *out_len = r.out.n;
    *ranges = r.ranges;
    *n_ranges = r.n_ranges;
    return G4_OK;
}

g4_status chat_render_json(const chat_style *style, const cJSON *messages, const cJSON *tools,
                           const g4_chat_params *params, char **out, g4_error *err) {
    size_t len, *ranges, n;
    g4_status st = chat_render_spans(style, messages, tools, params, out, &len, &ranges, &n, err);
    free(ranges);
    return st;
}

/* Parses the request JSON of g4_chat_render / g4_chat_tokenize. */
static g4_status parse_request(const char *messages_json, const char *tools_json, cJSON **messages, cJSON **tools,
                               g4_error *err) {
    *messages = *tools = NULL;
    if (!messages_json) return g4_fail(err, G4_ERR_ARG, "chat: no messages");
    *messages = pyjson_parse(messages_json, strlen(messages_json), err);
    if (!*messages) {
        g4_error_prefix(err, "messages");
        return G4_ERR_ARG;
    }
    if (tools_json && tools_json[strspn(tools_json, " \t\r\n")]) {
        *tools = pyjson_parse(tools_json, strlen(tools_json), err);
        if (!*tools) {
            cJSON_Delete(*messages);
            *messages = NULL;
            g4_error_prefix(err, "tools");
            return G4_ERR_ARG;
        }
    }
    return G4_OK;
}

g4_status g4_chat_tokenize(const g4_tokenizer *t, const char *messages_json, const char *tools_json,
                           const g4_chat_params *params, int32_t **ids, size_t *n_ids, g4_error *err) {
    *ids = NULL;
    *n_ids = 0;
    if (!t) return g4_fail(err, G4_ERR_ARG, "chat: no tokenizer");
    cJSON *messages, *tools;
    g4_status st = parse_request(messages_json, tools_json, &messages, &tools, err);
    if (st != G4_OK) return st;
    chat_style style = chat_style_for(t);
    char *text = NULL;
    size_t len = 0, *ranges = NULL, n_ranges = 0;
    st = chat_render_spans(&style, messages, tools, params, &text, &len, &ranges, &n_ranges, err);
    cJSON_Delete(messages);
    cJSON_Delete(tools);
    if (st != G4_OK) return st;
    tok_ids out = {0};
    st = tok_encode(t, text, len, true, ranges, n_ranges, &out, err);
    if (st == G4_OK && !out.v && !(out.v = g4_malloc(sizeof(int32_t)))) st = g4_fail(err, G4_ERR_NOMEM, "out of memory");
    free(text);
    free(ranges);
    if (st != G4_OK) {
        free(out.v);
        return st;
    }
    *ids = out.v;
    *n_ids = out.n;
    return G4_OK;
}

g4_status g4_chat_render(const g4_tokenizer *t, const char *messages_json, const char *tools_json,
                         const g4_chat_params *params, char **out, g4_error *err) {
    *out = NULL;
    cJSON *messages, *tools;
    g4_status st = parse_request(messages_json, tools_json, &messages, &tools, err);
    if (st != G4_OK) return st;
    chat_style style = chat_style_for(t);
    st = chat_render_json(&style, messages, tools, params, out, err);
    cJSON_Delete(messages);
    cJSON_Delete(tools);
    return st;
}
