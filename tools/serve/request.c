/* request.c - checks an OpenAI-style request and turns it into a serve_request (request.h).
 *
 * Everything a client sends is untrusted: the body must be UTF-8 without NUL bytes and
 * parse as one JSON object; every field must be known (OpenAI answers an unknown one
 * with 400 "Unrecognized request argument", and so do we), of the right type and in
 * range; fields OpenAI has but g4 does not implement are accepted only at their neutral
 * value (n = 1, logprobs false, ...). The first problem found is reported with its field
 * in `param`, in OpenAI's words where OpenAI has words for it.
 *
 * Messages are rewritten into the shape g4_chat_tokenize renders (map_messages), then
 * tokenized there: only the template's own markers become control tokens, so a request
 * can never forge a turn. A prompt that leaves no room for an answer in the slot's
 * context is refused with code context_length_exceeded. */
#include "request.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STOP_LEN 256   /* bytes in one stop sequence */
#define MAX_TOOLS 256      /* function declarations in one request */
#define MAX_NAME_LEN 64    /* OpenAI's limit on a function name */
#define MAX_CALLS 128      /* tool calls in one assistant message (answers are matched by id) */

static const char *const INVALID = "invalid_request_error";

bool serve_fail(serve_error *e, int status, const char *type, const char *code, const char *param, const char *fmt, ...) {
    e->status = status;
    e->type = type;
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return false;
}

#define BAD(e, param, ...) serve_fail((e), 400, INVALID, NULL, (param), __VA_ARGS__)

void serve_request_free(serve_request *r) {
    if (!r) return;
    free(r->prompt);
    free(r->prefill);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    memset(r, 0, sizeof *r);
}

bool serve_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t k;
        unsigned cp, min;
        if ((c & 0xe0) == 0xc0) { k = 1; cp = c & 0x1f; min = 0x80; }
        else if ((c & 0xf0) == 0xe0) { k = 2; cp = c & 0x0f; min = 0x800; }
        else if ((c & 0xf8) == 0xf0) { k = 3; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (n - i <= k) return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += k + 1;
    }
    return true;
}

/* ---- typed fields ------------------------------------------------------------------
 * Each getter leaves *out alone when the field is absent or null, and reports a wrong
 * type or a value out of range in OpenAI's wording. */

static const char *type_name(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "null";
}

static bool wrong_type(serve_error *e, const char *name, const char *want, const cJSON *v) {
    return BAD(e, name, "Invalid type for '%s': expected %s, but got %s instead.", name, want, type_name(v));
}

static const cJSON *field(const cJSON *obj, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static bool get_number(const cJSON *obj, const char *name, double lo, double hi, double *out, serve_error *e) {
    const cJSON *v = field(obj, name);
    if (!v) return true;
    if (!cJSON_IsNumber(v)) return wrong_type(e, name, "a number", v);
    if (!(v->valuedouble >= lo && v->valuedouble <= hi))
        return BAD(e, name, "Invalid value for '%s': %g is not between %g and %g.", name, v->valuedouble, lo, hi);
    *out = v->valuedouble;
    return true;
}

static bool get_int(const cJSON *obj, const char *name, double lo, double hi, double *out, serve_error *e) {
    const cJSON *v = field(obj, name);
    if (!v) return true;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) return wrong_type(e, name, "an integer", v);
    if (!(v->valuedouble >= lo && v->valuedouble <= hi))
        return BAD(e, name, "Invalid value for '%s': %.0f is not between %.0f and %.0f.", name, v->valuedouble, lo, hi);
    *out = v->valuedouble;
    return true;
}

static bool get_bool(const cJSON *obj, const char *name, bool *out, serve_error *e) {
    const cJSON *v = field(obj, name);
    if (!v) return true;
    if (!cJSON_IsBool(v)) return wrong_type(e, name, "a boolean", v);
    *out = cJSON_IsTrue(v);
    return true;
}

/* A field g4 does not implement: fine when absent, null or equal to `neutral` (a JSON
 * literal), else 400 naming it. */
static bool only_neutral(const cJSON *obj, const char *name, const char *neutral, const char *what, serve_error *e) {
    const cJSON *v = field(obj, name);
    if (!v) return true;
    cJSON *n = cJSON_Parse(neutral);
    bool same = n && cJSON_Compare(v, n, true);
    cJSON_Delete(n);
    return same ? true : BAD(e, name, "'%s' is not supported by this server: %s.", name, what);
}

/* Every member of obj must be named in `known` (NULL-terminated) and appear once. */
static bool known_fields(const cJSON *obj, const char *const *known, const char *where, serve_error *e) {
    for (const cJSON *m = obj->child; m; m = m->next) {
        bool ok = false;
        for (int i = 0; known[i] && !ok; i++) ok = strcmp(m->string, known[i]) == 0;
        if (!ok) {
            if (where) return BAD(e, m->string, "Unrecognized argument in %s: '%s'.", where, m->string);
            return BAD(e, m->string, "Unrecognized request argument supplied: %s", m->string);
        }
        for (const cJSON *p = obj->child; p != m; p = p->next)
            if (strcmp(p->string, m->string) == 0) return BAD(e, m->string, "Duplicate argument '%s'.", m->string);
    }
    return true;
}

/* ---- messages ---------------------------------------------------------------------- */

static bool valid_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > MAX_NAME_LEN) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* The text of a message's content: a string, or text parts joined. *out is NULL for null
 * or absent content (allowed only when `optional`). Allocates. */
static bool content_text(const cJSON *msg, const char *where, bool optional, char **out, serve_error *e) {
    *out = NULL;
    char param[64];
    snprintf(param, sizeof param, "%s.content", where);
    const cJSON *c = field(msg, "content");
    if (!c) return optional ? true : BAD(e, param, "Missing required parameter: '%s'.", param);
    if (cJSON_IsString(c)) return (*out = strdup(c->valuestring)) ? true : serve_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    if (!cJSON_IsArray(c)) return wrong_type(e, param, "a string or an array of content parts", c);
    size_t len = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, c) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (!cJSON_IsObject(p) || !cJSON_IsString(type)) return BAD(e, param, "Each part of '%s' must be an object with a 'type'.", param);
        if (strcmp(type->valuestring, "text") != 0)
            return BAD(e, param, "Content parts of type '%.40s' are not supported: this server reads text only.", type->valuestring);
        if (!cJSON_IsString(text)) return BAD(e, param, "A text part of '%s' has no 'text' string.", param);
        static const char *const part_fields[] = {"type", "text", NULL};
        if (!known_fields(p, part_fields, param, e)) return false;
        len += strlen(text->valuestring);
    }
    char *s = malloc(len + 1);
    if (!s) return serve_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    size_t at = 0;
    cJSON_ArrayForEach(p, c) {
        const char *t = cJSON_GetObjectItemCaseSensitive(p, "text")->valuestring;
        size_t k = strlen(t);
        memcpy(s + at, t, k);
        at += k;
    }
    s[at] = 0;
    *out = s;
    return true;
}

/* An OpenAI tool call {id, type, function: {name, arguments: "JSON text"}} as the Gemma
 * template wants it: {function: {name, arguments: OBJECT}} (a string that is not a JSON
 * object goes in as it is, which the template prints verbatim). */
static cJSON *map_tool_call(const cJSON *tc, const char *where, cJSON *names, serve_error *e) {
    static const char *const tc_fields[] = {"id", "type", "function", NULL};
    static const char *const fn_fields[] = {"name", "arguments", NULL};
    if (!cJSON_IsObject(tc)) { BAD(e, where, "'%s' must be an object.", where); return NULL; }
    if (!known_fields(tc, tc_fields, where, e)) return NULL;
    const cJSON *type = field(tc, "type"), *id = field(tc, "id"), *fn = field(tc, "function");
    if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0)) {
        BAD(e, where, "'%s.type' must be \"function\".", where);
        return NULL;
    }
    if (id && !cJSON_IsString(id)) { wrong_type(e, "tool_calls.id", "a string", id); return NULL; }
    if (!cJSON_IsObject(fn)) { BAD(e, where, "'%s.function' must be an object.", where); return NULL; }
    if (!known_fields(fn, fn_fields, where, e)) return NULL;
    const cJSON *name = field(fn, "name"), *args = field(fn, "arguments");
    if (!cJSON_IsString(name) || !valid_name(name->valuestring)) {
        BAD(e, where, "'%s.function.name' must be a string of 1 to 64 letters, digits, '_', '-' or '.'.", where);
        return NULL;
    }
    if (args && !cJSON_IsString(args) && !cJSON_IsObject(args)) { wrong_type(e, "arguments", "a string", args); return NULL; }
    cJSON *out = cJSON_CreateObject(), *f = cJSON_AddObjectToObject(out, "function");
    cJSON_AddStringToObject(f, "name", name->valuestring);
    cJSON *a = NULL;
    if (cJSON_IsString(args)) {
        a = cJSON_Parse(args->valuestring);
        if (!cJSON_IsObject(a)) { cJSON_Delete(a); a = cJSON_CreateString(args->valuestring); }
    } else {
        a = args ? cJSON_Duplicate(args, true) : cJSON_CreateObject();
    }
    cJSON_AddItemToObject(f, "arguments", a);
    /* remember which function each call id named, for the tool messages that answer it */
    cJSON_AddItemToArray(names, cJSON_CreateString(name->valuestring));
    cJSON_AddItemToArray(names, cJSON_CreateString(id ? id->valuestring : ""));
    return out;
}

/* The name of the function a tool message answers: by tool_call_id among the calls of the
 * turn it follows, else by position (the k-th answer to the k-th call), else "unknown". */
static const char *answered_name(const cJSON *names, const cJSON *msg, int k) {
    const cJSON *id = field(msg, "tool_call_id");
    int n = cJSON_GetArraySize(names) / 2;
    if (cJSON_IsString(id))
        for (int i = 0; i < n; i++)
            if (strcmp(cJSON_GetArrayItem(names, 2 * i + 1)->valuestring, id->valuestring) == 0)
                return cJSON_GetArrayItem(names, 2 * i)->valuestring;
    const cJSON *name = field(msg, "name");
    if (cJSON_IsString(name)) return name->valuestring;
    return k < n ? cJSON_GetArrayItem(names, 2 * k)->valuestring : "unknown";
}

/* OpenAI messages -> the messages g4_chat_tokenize renders (allocates; NULL on error):
 *   system, developer, user  -> {role, content} with text parts joined;
 *   assistant                -> {role, content?, tool_calls: [{function: {name, arguments}}]};
 *   tool (after assistant tool_calls) -> a tool_responses entry {name, response} of that
 *                               assistant message: its turn then continues with the results,
 *                               and an assistant message with only content right after
 *                               becomes that turn's ending, as the model wrote it.
 * The reasoning of earlier turns (reasoning_content) is dropped, as the template drops it. */
static cJSON *map_messages(const cJSON *msgs, serve_error *e) {
    if (!cJSON_IsArray(msgs)) { wrong_type(e, "messages", "an array", msgs); return NULL; }
    if (!msgs->child) { BAD(e, "messages", "'messages' must contain at least one message."); return NULL; }
    static const char *const msg_fields[] = {"role", "content", "name", "tool_calls", "tool_call_id", "reasoning_content", "refusal", NULL};
    cJSON *out = cJSON_CreateArray(), *names = cJSON_CreateArray();
    cJSON *open = NULL; /* the assistant message whose tool calls are being answered */
    int answered = 0;
    int i = 0;
    char where[48];
    bool ok = out && names;
    for (const cJSON *m = msgs->child; m && ok; m = m->next, i++) {
        snprintf(where, sizeof where, "messages[%d]", i);
        if (!cJSON_IsObject(m)) { ok = BAD(e, where, "'%s' must be an object.", where); break; }
        if (!(ok = known_fields(m, msg_fields, where, e))) break;
        const cJSON *role = field(m, "role");
        if (!cJSON_IsString(role)) { ok = BAD(e, where, "Missing required parameter: '%s.role'.", where); break; }
        const char *r = role->valuestring;
        const cJSON *calls = field(m, "tool_calls");
        if (calls && strcmp(r, "assistant") != 0) { ok = BAD(e, where, "Only assistant messages may have 'tool_calls'."); break; }
        if (field(m, "tool_call_id") && strcmp(r, "tool") != 0) { ok = BAD(e, where, "Only tool messages may have 'tool_call_id'."); break; }
        const cJSON *nm = field(m, "name");
        if (nm && !cJSON_IsString(nm)) { ok = wrong_type(e, "name", "a string", nm); break; }
        char *text = NULL;
        if (!strcmp(r, "system") || !strcmp(r, "developer") || !strcmp(r, "user")) {
            if (!(ok = content_text(m, where, false, &text, e))) break;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "role", r);
            cJSON_AddStringToObject(o, "content", text);
            cJSON_AddItemToArray(out, o);
            open = NULL;
        } else if (!strcmp(r, "assistant")) {
            if (!(ok = content_text(m, where, true, &text, e))) break;
            if (calls && !cJSON_IsArray(calls)) { free(text); ok = wrong_type(e, "tool_calls", "an array", calls); break; }
            if (calls && cJSON_GetArraySize(calls) > MAX_CALLS) {
                free(text);
                ok = BAD(e, where, "At most %d tool calls per message are supported.", MAX_CALLS);
                break;
            }
            if (!text && !(calls && calls->child)) { ok = BAD(e, where, "An assistant message needs 'content' or 'tool_calls'."); break; }
            if (open && !(calls && calls->child) && cJSON_GetObjectItem(open, "tool_responses") &&
                !cJSON_GetObjectItem(open, "content")) {
                if (text && *text) cJSON_AddStringToObject(open, "content", text); /* the turn's ending */
                open = NULL;
                free(text);
                continue;
            }
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "role", "assistant");
            if (text && *text) cJSON_AddStringToObject(o, "content", text);
            open = NULL;
            if (calls && calls->child) {
                cJSON_Delete(names);
                names = cJSON_CreateArray();
                cJSON *tcs = cJSON_AddArrayToObject(o, "tool_calls");
                int k = 0;
                for (const cJSON *tc = calls->child; tc && ok; tc = tc->next, k++) {
                    char w[72];
                    snprintf(w, sizeof w, "%s.tool_calls[%d]", where, k);
                    cJSON *g = map_tool_call(tc, w, names, e);
                    if (!g) ok = false;
                    else cJSON_AddItemToArray(tcs, g);
                }
                open = o;
                answered = 0;
            }
            cJSON_AddItemToArray(out, o);
        } else if (!strcmp(r, "tool")) {
            if (!(ok = content_text(m, where, false, &text, e))) break;
            if (!open) {
                free(text);
                ok = BAD(e, where, "Messages with role 'tool' must be a response to a preceding message with 'tool_calls'.");
                break;
            }
            cJSON *resps = cJSON_GetObjectItem(open, "tool_responses");
            if (!resps) resps = cJSON_AddArrayToObject(open, "tool_responses");
            cJSON *resp = cJSON_CreateObject();
            cJSON_AddStringToObject(resp, "name", answered_name(names, m, answered++));
            cJSON *value = cJSON_Parse(text); /* a JSON result goes in as data, anything else as text */
            cJSON_AddItemToObject(resp, "response", value ? value : cJSON_CreateString(text));
            cJSON_AddItemToArray(resps, resp);
        } else {
            ok = BAD(e, where, "Invalid value for '%s.role': '%.32s' (supported: system, developer, user, assistant, tool).", where, r);
        }
        free(text);
    }
    cJSON_Delete(names);
    if (!ok) { cJSON_Delete(out); return NULL; }
    return out;
}

/* ---- tools --------------------------------------------------------------------------- */

/* One function declaration, checked; *out gets what the template renders. */
static bool map_tool(const cJSON *t, const char *where, const cJSON *seen, cJSON **out, serve_error *e) {
    static const char *const t_fields[] = {"type", "function", NULL};
    static const char *const f_fields[] = {"name", "description", "parameters", "strict", NULL};
    *out = NULL;
    if (!cJSON_IsObject(t)) return BAD(e, where, "'%s' must be an object.", where);
    if (!known_fields(t, t_fields, where, e)) return false;
    const cJSON *type = field(t, "type"), *fn = field(t, "function");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0) return BAD(e, where, "'%s.type' must be \"function\".", where);
    if (!cJSON_IsObject(fn)) return BAD(e, where, "'%s.function' must be an object.", where);
    if (!known_fields(fn, f_fields, where, e)) return false;
    const cJSON *name = field(fn, "name"), *desc = field(fn, "description"), *params = field(fn, "parameters"),
                *strict = field(fn, "strict");
    if (!cJSON_IsString(name) || !valid_name(name->valuestring))
        return BAD(e, where, "'%s.function.name' must be a string of 1 to 64 letters, digits, '_', '-' or '.'.", where);
    if (desc && !cJSON_IsString(desc)) return wrong_type(e, "description", "a string", desc);
    if (params && !cJSON_IsObject(params)) return wrong_type(e, "parameters", "an object", params);
    if (strict && !cJSON_IsBool(strict)) return wrong_type(e, "strict", "a boolean", strict);
    for (const cJSON *p = seen->child; p; p = p->next)
        if (!strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "function"), "name")->valuestring, name->valuestring))
            return BAD(e, where, "Two tools are named '%s'.", name->valuestring);
    cJSON *o = cJSON_CreateObject(), *f = cJSON_AddObjectToObject(o, "function");
    cJSON_AddStringToObject(o, "type", "function");
    cJSON_AddStringToObject(f, "name", name->valuestring);
    if (desc) cJSON_AddStringToObject(f, "description", desc->valuestring);
    if (params) cJSON_AddItemToObject(f, "parameters", cJSON_Duplicate(params, true));
    *out = o;
    return true;
}

/* Checks `tools` (may be NULL) and returns the declarations to render (allocates; NULL
 * when there are none), with *ok false on a bad request. */
static cJSON *map_tools(const cJSON *tools, bool *ok, serve_error *e) {
    *ok = true;
    if (!tools) return NULL;
    if (!cJSON_IsArray(tools)) { *ok = wrong_type(e, "tools", "an array", tools); return NULL; }
    if (cJSON_GetArraySize(tools) > MAX_TOOLS) { *ok = BAD(e, "tools", "At most %d tools are supported.", MAX_TOOLS); return NULL; }
    cJSON *out = cJSON_CreateArray();
    int i = 0;
    for (const cJSON *t = tools->child; t && *ok; t = t->next, i++) {
        char where[32];
        snprintf(where, sizeof where, "tools[%d]", i);
        cJSON *o;
        *ok = map_tool(t, where, out, &o, e);
        if (o) cJSON_AddItemToArray(out, o);
    }
    if (!*ok) { cJSON_Delete(out); return NULL; }
    return out;
}

/* tool_choice: "none" (declarations left out), "auto", "required" (the answer starts
 * with a tool call), or {"type": "function", "function": {"name": N}} (a call of N).
 * *prefill gets the forced start of the answer, or NULL. */
static bool map_tool_choice(const cJSON *choice, const cJSON *tools, bool *use_tools, char **prefill, serve_error *e) {
    *prefill = NULL;
    *use_tools = tools && tools->child;
    if (!choice) return true;
    if (cJSON_IsString(choice)) {
        const char *c = choice->valuestring;
        if (!strcmp(c, "none")) { *use_tools = false; return true; }
        if (!strcmp(c, "auto")) return true;
        if (!strcmp(c, "required")) {
            if (!*use_tools) return BAD(e, "tool_choice", "'tool_choice' is 'required' but no 'tools' are given.");
            return (*prefill = strdup("<|tool_call>call:")) ? true : serve_fail(e, 500, "server_error", NULL, NULL, "out of memory");
        }
        return BAD(e, "tool_choice", "Invalid value for 'tool_choice': '%.32s' (none, auto, required or a function).", c);
    }
    static const char *const c_fields[] = {"type", "function", NULL};
    static const char *const f_fields[] = {"name", NULL};
    if (!cJSON_IsObject(choice)) return wrong_type(e, "tool_choice", "a string or an object", choice);
    if (!known_fields(choice, c_fields, "tool_choice", e)) return false;
    const cJSON *fn = field(choice, "function"), *type = field(choice, "type");
    const cJSON *name = cJSON_IsObject(fn) ? field(fn, "name") : NULL;
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0 || !cJSON_IsString(name) ||
        !known_fields(fn, f_fields, "tool_choice.function", e))
        return e->message[0] ? false : BAD(e, "tool_choice", "'tool_choice' must be {\"type\": \"function\", \"function\": {\"name\": ...}}.");
    bool found = false;
    for (const cJSON *t = tools ? tools->child : NULL; t && !found; t = t->next)
        found = !strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "function"), "name")->valuestring, name->valuestring);
    if (!found) return BAD(e, "tool_choice", "'tool_choice' names '%.64s', which is not among 'tools'.", name->valuestring);
    *use_tools = true;
    size_t n = strlen(name->valuestring) + 32;
    if (!(*prefill = malloc(n))) return serve_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    snprintf(*prefill, n, "<|tool_call>call:%s{", name->valuestring);
    return true;
}

/* ---- fields common to both endpoints -------------------------------------------------- */

static bool sampling_fields(const cJSON *req, const serve_config *cfg, serve_request *out, serve_error *e) {
    out->sp = cfg->defaults;
    double d;
    d = out->sp.temperature;
    if (!get_number(req, "temperature", 0, 2, &d, e)) return false;
    out->sp.temperature = (float)d;
    d = out->sp.top_p;
    if (!get_number(req, "top_p", 0, 1, &d, e)) return false;
    out->sp.top_p = (float)d;
    d = out->sp.top_k;
    if (!get_int(req, "top_k", 0, 1 << 30, &d, e)) return false;
    out->sp.top_k = (int32_t)d;
    d = out->sp.min_p;
    if (!get_number(req, "min_p", 0, 1, &d, e)) return false;
    out->sp.min_p = (float)d;
    d = out->sp.repeat_penalty;
    if (!get_number(req, "repeat_penalty", 0, 10, &d, e)) return false;
    out->sp.repeat_penalty = (float)d;
    d = 0;
    if (!get_number(req, "presence_penalty", -2, 2, &d, e)) return false;
    out->sp.presence_penalty = (float)d;
    d = 0;
    if (!get_number(req, "frequency_penalty", -2, 2, &d, e)) return false;
    out->sp.frequency_penalty = (float)d;
    d = -1;
    if (!get_int(req, "seed", -9223372036854775808.0, 18446744073709551615.0, &d, e)) return false;
    if (d != -1 || field(req, "seed")) {
        out->seeded = true;
        out->sp.seed = d < 0 ? (uint64_t)(int64_t)d : (uint64_t)d;
    }
    /* stream and stream_options */
    if (!get_bool(req, "stream", &out->stream, e) || !get_bool(req, "ignore_eos", &out->ignore_eos, e)) return false;
    const cJSON *so = field(req, "stream_options");
    if (so) {
        static const char *const so_fields[] = {"include_usage", NULL};
        if (!out->stream) return BAD(e, "stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
        if (!cJSON_IsObject(so)) return wrong_type(e, "stream_options", "an object", so);
        if (!known_fields(so, so_fields, "stream_options", e) || !get_bool(so, "include_usage", &out->include_usage, e)) return false;
    }
    /* stop */
    const cJSON *stop = field(req, "stop");
    if (stop) {
        if (!cJSON_IsString(stop) && !cJSON_IsArray(stop)) return wrong_type(e, "stop", "a string or an array of strings", stop);
        if (cJSON_IsArray(stop) && cJSON_GetArraySize(stop) > SERVE_MAX_STOP)
            return BAD(e, "stop", "'stop' holds at most %d sequences.", SERVE_MAX_STOP);
        const cJSON *s = cJSON_IsString(stop) ? stop : stop->child;
        for (; s; s = cJSON_IsString(stop) ? NULL : s->next) {
            if (!cJSON_IsString(s)) return wrong_type(e, "stop", "a string or an array of strings", s);
            size_t n = strlen(s->valuestring);
            if (n == 0 || n > MAX_STOP_LEN) return BAD(e, "stop", "Each 'stop' sequence must be 1 to %d bytes long.", MAX_STOP_LEN);
            if (!(out->stop[out->n_stop] = strdup(s->valuestring))) return serve_fail(e, 500, "server_error", NULL, NULL, "out of memory");
            out->n_stop++;
        }
    }
    const cJSON *model = field(req, "model"), *user = field(req, "user");
    if (model && !cJSON_IsString(model)) return wrong_type(e, "model", "a string", model);
    if (user && !cJSON_IsString(user)) return wrong_type(e, "user", "a string", user);
    return only_neutral(req, "n", "1", "one choice per request", e) &&
           only_neutral(req, "logit_bias", "{}", "no logit biases", e);
}

/* max_tokens (or max_completion_tokens), clipped to the room the prompt leaves. */
static bool length_fields(const cJSON *req, const serve_config *cfg, int32_t deflt, serve_request *out, serve_error *e) {
    if (out->n_prompt >= cfg->n_ctx)
        return serve_fail(e, 400, INVALID, "context_length_exceeded", "messages",
                          "This model's maximum context length is %d tokens. However, your request has %d prompt tokens, "
                          "which leave no room for an answer. Please reduce the length of the messages or prompt.",
                          cfg->n_ctx, out->n_prompt);
    double mt = deflt > 0 ? deflt : cfg->n_ctx;
    if (!get_int(req, "max_tokens", 1, 2147483647.0, &mt, e) || !get_int(req, "max_completion_tokens", 1, 2147483647.0, &mt, e))
        return false;
    const int32_t room = cfg->n_ctx - out->n_prompt;
    out->max_tokens = mt < room ? (int32_t)mt : room;
    return true;
}

static bool parse_chat(const serve_config *cfg, const cJSON *req, serve_request *out, serve_error *e) {
    static const char *const known[] = {
        "model", "messages", "stream", "stream_options", "temperature", "top_p", "top_k", "min_p", "repeat_penalty",
        "max_tokens", "max_completion_tokens", "stop", "seed", "presence_penalty", "frequency_penalty", "tools",
        "tool_choice", "parallel_tool_calls", "n", "user", "logprobs", "top_logprobs", "logit_bias", "response_format",
        "reasoning_effort", "chat_template_kwargs", "metadata", "store", "service_tier", "ignore_eos", NULL};
    if (!known_fields(req, known, NULL, e) || !sampling_fields(req, cfg, out, e)) return false;
    if (!only_neutral(req, "logprobs", "false", "log probabilities are not returned", e) ||
        !only_neutral(req, "top_logprobs", "0", "log probabilities are not returned", e) ||
        !only_neutral(req, "response_format", "{\"type\":\"text\"}", "only text responses", e) ||
        !only_neutral(req, "store", "false", "nothing is stored", e))
        return false;
    bool parallel = true;
    const cJSON *meta = field(req, "metadata"), *tier = field(req, "service_tier");
    if (!get_bool(req, "parallel_tool_calls", &parallel, e)) return false;
    if (meta && !cJSON_IsObject(meta)) return wrong_type(e, "metadata", "an object", meta);
    if (tier && !cJSON_IsString(tier)) return wrong_type(e, "service_tier", "a string", tier);
    /* thinking: reasoning_effort, or chat_template_kwargs.enable_thinking as vLLM takes it */
    const cJSON *effort = field(req, "reasoning_effort"), *kw = field(req, "chat_template_kwargs");
    if (effort) {
        if (!cJSON_IsString(effort)) return wrong_type(e, "reasoning_effort", "a string", effort);
        const char *v = effort->valuestring;
        if (!strcmp(v, "none") || !strcmp(v, "minimal")) out->thinking = false;
        else if (!strcmp(v, "low") || !strcmp(v, "medium") || !strcmp(v, "high")) out->thinking = true;
        else return BAD(e, "reasoning_effort", "Invalid value for 'reasoning_effort': '%.32s'.", v);
    }
    if (kw) {
        static const char *const kw_fields[] = {"enable_thinking", NULL};
        if (!cJSON_IsObject(kw)) return wrong_type(e, "chat_template_kwargs", "an object", kw);
        if (!known_fields(kw, kw_fields, "chat_template_kwargs", e) || !get_bool(kw, "enable_thinking", &out->thinking, e))
            return false;
    }

    if (!field(req, "messages")) return BAD(e, "messages", "Missing required parameter: 'messages'.");
    cJSON *msgs = map_messages(field(req, "messages"), e);
    if (!msgs) return false;
    bool ok, use_tools;
    cJSON *tools = map_tools(field(req, "tools"), &ok, e);
    ok = ok && map_tool_choice(field(req, "tool_choice"), tools, &use_tools, &out->prefill, e);
    char *mj = ok ? cJSON_PrintUnformatted(msgs) : NULL, *tj = ok && use_tools ? cJSON_PrintUnformatted(tools) : NULL;
    cJSON_Delete(msgs);
    cJSON_Delete(tools);
    if (ok && (!mj || (use_tools && !tj))) ok = serve_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    if (ok) {
        g4_chat_params cp = {.enable_thinking = out->thinking};
        int32_t *ids = NULL;
        size_t n = 0;
        g4_error gerr;
        g4_status st = g4_chat_tokenize(cfg->tok, mj, tj, &cp, &ids, &n, &gerr);
        if (st == G4_OK && out->prefill) { /* the forced start of the answer: template text, so control tokens parse */
            int32_t *more = NULL;
            size_t k = 0;
            st = g4_tokenize(cfg->tok, out->prefill, strlen(out->prefill), G4_TOKENIZE_SPECIAL, &more, &k, &gerr);
            int32_t *all = st == G4_OK ? realloc(ids, (n + k) * sizeof *ids) : NULL;
            if (st == G4_OK && !all) st = G4_ERR_NOMEM;
            if (all) {
                memcpy(all + n, more, k * sizeof *more);
                ids = all;
                n += k;
            }
            free(more);
        }
        if (st == G4_ERR_NOMEM) ok = serve_fail(e, 500, "server_error", NULL, NULL, "out of memory");
        else if (st != G4_OK) ok = BAD(e, "messages", "The messages cannot be rendered: %s", gerr.msg);
        else if (n > (size_t)INT32_MAX) ok = BAD(e, "messages", "The prompt is too long.");
        if (ok) {
            out->prompt = ids;
            out->n_prompt = (int32_t)n;
        } else {
            free(ids);
        }
    }
    free(mj);
    free(tj);
    out->chat_format = true;
    return ok && length_fields(req, cfg, 0, out, e);
}

static bool parse_completion(const serve_config *cfg, const cJSON *req, serve_request *out, serve_error *e) {
    static const char *const known[] = {
        "model", "prompt", "stream", "stream_options", "temperature", "top_p", "top_k", "min_p", "repeat_penalty",
        "max_tokens", "stop", "seed", "presence_penalty", "frequency_penalty", "n", "best_of", "echo", "logprobs",
        "suffix", "user", "logit_bias", "ignore_eos", NULL};
    if (!known_fields(req, known, NULL, e) || !sampling_fields(req, cfg, out, e)) return false;
    if (!only_neutral(req, "best_of", "1", "one choice per request", e) ||
        !only_neutral(req, "echo", "false", "the prompt is not echoed", e) ||
        !only_neutral(req, "logprobs", "0", "log probabilities are not returned", e))
        return false;
    const cJSON *suffix = field(req, "suffix");
    if (suffix && !(cJSON_IsString(suffix) && !suffix->valuestring[0])) return BAD(e, "suffix", "'suffix' is not supported by this server.");
    const cJSON *p = field(req, "prompt");
    if (!p) return BAD(e, "prompt", "Missing required parameter: 'prompt'.");
    /* one prompt: a string, an array of token ids, or either inside a one-element array */
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && (cJSON_IsString(p->child) || cJSON_IsArray(p->child))) p = p->child;
    if (cJSON_IsString(p)) {
        const g4_special_tokens *sp = g4_tokenizer_special(cfg->tok);
        size_t n = 0;
        g4_error gerr;
        g4_status st = g4_tokenize(cfg->tok, p->valuestring, strlen(p->valuestring), sp->add_bos ? G4_TOKENIZE_ADD_BOS : 0,
                                   &out->prompt, &n, &gerr);
        if (st != G4_OK) return serve_fail(e, st == G4_ERR_NOMEM ? 500 : 400, st == G4_ERR_NOMEM ? "server_error" : INVALID, NULL, "prompt", "%s", gerr.msg);
        if (n > (size_t)INT32_MAX) return BAD(e, "prompt", "The prompt is too long.");
        out->n_prompt = (int32_t)n;
    } else if (cJSON_IsArray(p)) {
        int n = cJSON_GetArraySize(p);
        if (!(out->prompt = malloc(((size_t)n + 1) * sizeof *out->prompt))) return serve_fail(e, 500, "server_error", NULL, NULL, "out of memory");
        for (const cJSON *t = p->child; t; t = t->next) {
            if (!cJSON_IsNumber(t) || t->valuedouble != floor(t->valuedouble) || t->valuedouble < 0 || t->valuedouble >= cfg->n_vocab)
                return BAD(e, "prompt", "'prompt' must be a string or an array of token ids below %d (one prompt per request).", cfg->n_vocab);
            out->prompt[out->n_prompt++] = (int32_t)t->valuedouble;
        }
    } else {
        return wrong_type(e, "prompt", "a string or an array of token ids", p);
    }
    if (out->n_prompt == 0) return BAD(e, "prompt", "The prompt is empty.");
    return length_fields(req, cfg, 16, out, e); /* OpenAI's default for completions */
}

/* ---- routing ------------------------------------------------------------------------ */

/* Compares in time independent of where the strings differ (the API key). */
static bool same_secret(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    unsigned char d = na != nb;
    for (size_t i = 0; i < nb; i++) d |= (unsigned char)(a[i % (na ? na : 1)] ^ b[i]);
    return d == 0;
}

void serve_prepare(const serve_config *cfg, const char *method, const char *url, const char *auth, const char *body,
                   size_t len, serve_prepared *out) {
    memset(out, 0, sizeof *out);
    serve_error *e = &out->err;
    static const struct { const char *path, *method; serve_endpoint ep; } routes[] = {
        {"/health", "GET", SERVE_EP_HEALTH},
        {"/v1/models", "GET", SERVE_EP_MODELS},
        {"/metrics", "GET", SERVE_EP_METRICS},
        {"/v1/chat/completions", "POST", SERVE_EP_CHAT},
        {"/v1/completions", "POST", SERVE_EP_COMPLETION},
    };
    int r = -1;
    for (int i = 0; i < (int)(sizeof routes / sizeof routes[0]); i++)
        if (!strcmp(url, routes[i].path)) r = i;
    if (r < 0) {
        serve_fail(e, 404, INVALID, "unknown_url", NULL, "Unknown request URL: %.8s %.200s", method, url);
        return;
    }
    if (strcmp(method, routes[r].method) != 0 && !(routes[r].method[0] == 'G' && !strcmp(method, "HEAD"))) {
        serve_fail(e, 405, INVALID, "method_not_allowed", NULL, "Method %.8s is not allowed for %s (use %s).", method, url,
                   routes[r].method);
        return;
    }
    if (cfg->api_key) {
        const char *key = auth && !strncmp(auth, "Bearer ", 7) ? auth + 7 : NULL;
        if (!key || !same_secret(cfg->api_key, key)) {
            serve_fail(e, 401, INVALID, "invalid_api_key", NULL,
                       key ? "Incorrect API key provided." : "You didn't provide an API key (Authorization: Bearer KEY).");
            return;
        }
    }
    if (routes[r].ep != SERVE_EP_CHAT && routes[r].ep != SERVE_EP_COMPLETION) {
        out->ep = routes[r].ep;
        return;
    }
    /* the body: UTF-8, no NUL bytes, one JSON object */
    if (!serve_utf8_valid(body, len)) { BAD(e, NULL, "The request body is not valid UTF-8."); return; }
    if (memchr(body, 0, len)) { BAD(e, NULL, "The request body contains a NUL byte."); return; }
    char *text = malloc(len + 1);
    if (!text) { serve_fail(e, 500, "server_error", NULL, NULL, "out of memory"); return; }
    memcpy(text, body, len);
    text[len] = 0;
    const char *end = NULL;
    cJSON *req = cJSON_ParseWithLengthOpts(text, len + 1, &end, true);
    if (!req) {
        size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        BAD(e, NULL, len == 0 ? "The request body is empty: expected a JSON object."
                              : "We could not parse the JSON body of your request (near byte %zu).", at);
    } else if (!cJSON_IsObject(req)) {
        BAD(e, NULL, "The request body must be a JSON object.");
    } else {
        bool ok = routes[r].ep == SERVE_EP_CHAT ? parse_chat(cfg, req, &out->req, e) : parse_completion(cfg, req, &out->req, e);
        if (ok) out->req.ep = out->ep = routes[r].ep;
    }
    cJSON_Delete(req);
    free(text);
    if (out->ep == SERVE_EP_NONE) serve_request_free(&out->req);
}
