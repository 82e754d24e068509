/* test_serve_request.c - the parts of `g4 serve` that need no socket:
 *
 *  1. serve_prepare: routing (404, 405), the API key (401), every class of bad body
 *     (not UTF-8, NUL, malformed JSON, not an object, unknown, duplicate or mistyped
 *     fields, values out of range, unsupported options, a prompt longer than the
 *     context) answered 4xx with the field named; good requests become the right prompt.
 *  2. OpenAI shapes -> the Gemma 4 chat format: a tool round trip (arguments as a JSON
 *     string, a `tool` message answering by id) tokenizes exactly like the native shape
 *     (tool_responses in the calling turn); tool_choice none/required/named.
 *  3. The reply splitter: content, reasoning and tool calls come out the same whether the
 *     text arrives whole or one byte at a time, agree with g4_chat_parse on well-formed
 *     replies, stop sequences end the answer even when split across pieces.
 *  4. Encoding: every answer, chunk and error is JSON that parses, in OpenAI's shape. */
#include "../tools/serve/encode.h"
#include "../tools/serve/reply.h"
#include "../tools/serve/request.h"
#include "g4.h"
#include "test.h"

#include <cjson/cJSON.h>

static g4_tokenizer *tok;
static serve_config cfg;

static void prep(const char *method, const char *url, const char *auth, const char *body, serve_prepared *out) {
    serve_prepare(&cfg, method, url, auth, body, body ? strlen(body) : 0, out);
}

/* A chat body gets `status`; for errors, also `param` (NULL: don't care). */
static void expect_chat(const char *body, int status, const char *param, const char *what) {
    serve_prepared p;
    prep("POST", "/v1/chat/completions", NULL, body, &p);
    int got = p.ep == SERVE_EP_NONE ? p.err.status : 200;
    CHECK_MSG(got == status, "%s: status %d, want %d (%s)", what, got, status, p.err.message);
    if (param && got == status && status != 200)
        CHECK_MSG(!strcmp(p.err.param, param), "%s: param '%s', want '%s'", what, p.err.param, param);
    serve_request_free(&p.req);
}

static void test_routing(void) {
    serve_prepared p;
    prep("GET", "/health", NULL, NULL, &p);
    CHECK(p.ep == SERVE_EP_HEALTH);
    prep("HEAD", "/v1/models", NULL, NULL, &p);
    CHECK(p.ep == SERVE_EP_MODELS);
    prep("GET", "/metrics", NULL, NULL, &p);
    CHECK(p.ep == SERVE_EP_METRICS);
    prep("GET", "/nope", NULL, NULL, &p);
    CHECK(p.ep == SERVE_EP_NONE && p.err.status == 404);
    prep("GET", "/v1/chat/completions", NULL, NULL, &p);
    CHECK(p.ep == SERVE_EP_NONE && p.err.status == 405);
    prep("POST", "/health", NULL, NULL, &p);
    CHECK(p.ep == SERVE_EP_NONE && p.err.status == 405);
    cfg.api_key = "sekrit";
    prep("GET", "/health", NULL, NULL, &p);
    CHECK(p.err.status == 401 && !strcmp(p.err.code, "invalid_api_key"));
    prep("GET", "/health", "Bearer sekrit2", NULL, &p);
    CHECK(p.err.status == 401);
    prep("GET", "/health", "Bearer sekri", NULL, &p);
    CHECK(p.err.status == 401);
    prep("GET", "/health", "Basic sekrit", NULL, &p);
    CHECK(p.err.status == 401);
    prep("GET", "/health", "Bearer sekrit", NULL, &p);
    CHECK(p.ep == SERVE_EP_HEALTH);
    cfg.api_key = NULL;
}

static void test_bad_bodies(void) {
    expect_chat("", 400, NULL, "empty body");
    expect_chat("{\"messages\": [", 400, NULL, "truncated JSON");
    expect_chat("[1,2]", 400, NULL, "an array");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]} trailing", 400, NULL, "trailing bytes");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}", 400, NULL, "invalid UTF-8");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"\xed\xa0\x80\"}]}", 400, NULL, "a UTF-8 surrogate");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\"}]}", 400, NULL, "a lone surrogate escape");
    serve_prepared p;
    const char nul[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"a\0b\"}]}";
    serve_prepare(&cfg, "POST", "/v1/chat/completions", NULL, nul, sizeof nul - 1, &p);
    CHECK(p.ep == SERVE_EP_NONE && p.err.status == 400);
    expect_chat("{}", 400, "messages", "no messages");
    expect_chat("{\"messages\":[]}", 400, "messages", "empty messages");
    expect_chat("{\"messages\":{}}", 400, "messages", "messages not an array");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"bogus\":1}", 400, "bogus", "unknown field");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"seed\":1,\"seed\":2}", 400, "seed", "duplicate field");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":\"hot\"}", 400, "temperature", "mistyped");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":3}", 400, "temperature", "out of range");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"top_p\":-0.1}", 400, "top_p", "top_p");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":0}", 400, "max_tokens", "max_tokens 0");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":1.5}", 400, "max_tokens", "fractional");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"presence_penalty\":2.5}", 400, "presence_penalty", "penalty");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":2}", 400, "n", "n > 1");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":1,\"logprobs\":false}", 200, NULL, "neutral values");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"logprobs\":true}", 400, "logprobs", "logprobs");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream_options\":{\"include_usage\":true}}", 400,
                "stream_options", "stream_options without stream");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "stop", "5 stops");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":[\"\"]}", 400, "stop", "empty stop");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":[1]}", 400, "stop", "stop not a string");
    expect_chat("{\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}", 400, "messages[0]", "bad role");
    expect_chat("{\"messages\":[{\"content\":\"hi\"}]}", 400, "messages[0]", "no role");
    expect_chat("{\"messages\":[{\"role\":\"user\"}]}", 400, "messages[0].content", "no content");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\",\"x\":1}]}", 400, "x", "unknown message field");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}", 400,
                "messages[0].content", "an image");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}]}",
                200, NULL, "text parts");
    expect_chat("{\"messages\":[{\"role\":\"tool\",\"tool_call_id\":\"x\",\"content\":\"1\"}]}", 400, "messages[0]", "orphan tool message");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"bad name\"}}]}",
                400, "tools[0]", "bad function name");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tool_choice\":\"required\"}", 400, "tool_choice", "required without tools");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
                "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}}}", 400, "tool_choice", "unknown forced tool");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"response_format\":{\"type\":\"json_object\"}}", 400,
                "response_format", "json mode");
    expect_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"reasoning_effort\":\"max\"}", 400, "reasoning_effort", "effort");
    /* nesting deeper than the template renders is refused, not crashed on */
    char deep[4096];
    size_t at = (size_t)snprintf(deep, sizeof deep, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"tool_calls\":"
                                                    "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":{\"a\":");
    for (int i = 0; i < 200; i++) deep[at++] = '[';
    for (int i = 0; i < 200; i++) deep[at++] = ']';
    snprintf(deep + at, sizeof deep - at, "}}}]}]}");
    expect_chat(deep, 400, "messages", "nesting");
    /* a prompt that leaves no room in the context */
    char *big = malloc(200000);
    at = (size_t)sprintf(big, "{\"messages\":[{\"role\":\"user\",\"content\":\"");
    for (int i = 0; i < 20000; i++) at += (size_t)sprintf(big + at, "word ");
    sprintf(big + at, "\"}]}");
    prep("POST", "/v1/chat/completions", NULL, big, &p);
    CHECK(p.ep == SERVE_EP_NONE && p.err.status == 400 && p.err.code && !strcmp(p.err.code, "context_length_exceeded"));
    free(big);
}

static void test_good_chat(void) {
    serve_prepared p;
    prep("POST", "/v1/chat/completions", NULL,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"}],"
         "\"temperature\":0.5,\"top_p\":0.9,\"seed\":42,\"stop\":[\"END\",\"\\n\\n\"],\"max_tokens\":7,\"stream\":true,"
         "\"stream_options\":{\"include_usage\":true},\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,\"user\":\"u\"}",
         &p);
    CHECK(p.ep == SERVE_EP_CHAT);
    CHECK(p.req.stream && p.req.include_usage && p.req.chat_format && !p.req.thinking);
    CHECK(p.req.max_tokens == 7 && p.req.n_stop == 2 && !strcmp(p.req.stop[1], "\n\n"));
    CHECK(p.req.sp.seed == 42 && p.req.seeded && p.req.sp.temperature == 0.5f && p.req.sp.top_p == 0.9f);
    CHECK(p.req.sp.presence_penalty == 0.5f && p.req.sp.frequency_penalty == -0.5f);
    /* the prompt is exactly the chat template's */
    int32_t *ids;
    size_t n;
    g4_error err;
    CHECK(g4_chat_tokenize(tok, "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"}]", NULL, NULL,
                           &ids, &n, &err) == G4_OK);
    CHECK(n == (size_t)p.req.n_prompt && !memcmp(ids, p.req.prompt, n * sizeof *ids));
    free(ids);
    serve_request_free(&p.req);
    /* max_tokens defaults to (and is clipped at) the room left in the context */
    prep("POST", "/v1/chat/completions", NULL, "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_completion_tokens\":100000}", &p);
    CHECK(p.ep == SERVE_EP_CHAT && p.req.max_tokens == cfg.n_ctx - p.req.n_prompt);
    serve_request_free(&p.req);
    /* thinking switches */
    prep("POST", "/v1/chat/completions", NULL, "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"reasoning_effort\":\"high\"}", &p);
    CHECK(p.ep == SERVE_EP_CHAT && p.req.thinking);
    serve_request_free(&p.req);
    prep("POST", "/v1/chat/completions", NULL,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"chat_template_kwargs\":{\"enable_thinking\":true}}", &p);
    CHECK(p.ep == SERVE_EP_CHAT && p.req.thinking);
    serve_request_free(&p.req);
}

/* The prompt of an OpenAI request equals g4_chat_tokenize of the Gemma-shaped messages. */
static void expect_same_prompt(const char *openai_body, const char *gemma_msgs, const char *gemma_tools, const char *prefill,
                               const char *what) {
    serve_prepared p;
    prep("POST", "/v1/chat/completions", NULL, openai_body, &p);
    CHECK_MSG(p.ep == SERVE_EP_CHAT, "%s: %s", what, p.err.message);
    if (p.ep != SERVE_EP_CHAT) return;
    int32_t *ids = NULL, *more = NULL;
    size_t n = 0, k = 0;
    g4_error err;
    CHECK(g4_chat_tokenize(tok, gemma_msgs, gemma_tools, NULL, &ids, &n, &err) == G4_OK);
    if (prefill) CHECK(g4_tokenize(tok, prefill, strlen(prefill), G4_TOKENIZE_SPECIAL, &more, &k, &err) == G4_OK);
    CHECK_MSG(n + k == (size_t)p.req.n_prompt && !memcmp(ids, p.req.prompt, n * sizeof *ids) &&
                  (!k || !memcmp(more, p.req.prompt + n, k * sizeof *more)),
              "%s: prompts differ (%zu+%zu vs %d tokens)", what, n, k, p.req.n_prompt);
    CHECK_MSG((prefill == NULL) == (p.req.prefill == NULL) && (!prefill || !strcmp(prefill, p.req.prefill)), "%s: prefill", what);
    free(ids);
    free(more);
    serve_request_free(&p.req);
}

#define TOOL "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather\",\"parameters\":{\"type\":\"object\"," \
             "\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}"

static void test_tool_mapping(void) {
    expect_same_prompt(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":"
        "{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"{\\\"temp\\\":21}\"}],\"tools\":[" TOOL "]}",
        "[{\"role\":\"user\",\"content\":\"Weather in Paris?\"},{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
        "{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}}],\"tool_responses\":[{\"name\":\"get_weather\","
        "\"response\":{\"temp\":21}}]}]",
        "[" TOOL "]", NULL, "tool round trip");
    expect_same_prompt(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"},"
        "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{}\"}},"
        "{\"id\":\"b\",\"type\":\"function\",\"function\":{\"name\":\"other\",\"arguments\":\"not json\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"b\",\"content\":\"plain text\"},{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":\"42\"},"
        "{\"role\":\"assistant\",\"content\":\"It is 42.\"},{\"role\":\"user\",\"content\":\"Thanks\"}]}",
        "[{\"role\":\"user\",\"content\":\"Weather?\"},{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"get_weather\","
        "\"arguments\":{}}},{\"function\":{\"name\":\"other\",\"arguments\":\"not json\"}}],\"tool_responses\":[{\"name\":\"other\","
        "\"response\":\"plain text\"},{\"name\":\"get_weather\",\"response\":42}],\"content\":\"It is 42.\"},"
        "{\"role\":\"user\",\"content\":\"Thanks\"}]",
        NULL, NULL, "two calls answered out of order, then the turn's ending");
    expect_same_prompt("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"tools\":[" TOOL "],\"tool_choice\":\"none\"}",
                       "[{\"role\":\"user\",\"content\":\"Hi\"}]", NULL, NULL, "tool_choice none");
    expect_same_prompt("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"tools\":[" TOOL "],\"tool_choice\":\"auto\"}",
                       "[{\"role\":\"user\",\"content\":\"Hi\"}]", "[" TOOL "]", NULL, "tool_choice auto");
    expect_same_prompt("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"tools\":[" TOOL "],\"tool_choice\":\"required\"}",
                       "[{\"role\":\"user\",\"content\":\"Hi\"}]", "[" TOOL "]", "<|tool_call>call:", "tool_choice required");
    expect_same_prompt("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"tools\":[" TOOL "],"
                       "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}}",
                       "[{\"role\":\"user\",\"content\":\"Hi\"}]", "[" TOOL "]", "<|tool_call>call:get_weather{", "tool_choice named");
}

static void test_completion(void) {
    serve_prepared p;
    prep("POST", "/v1/completions", NULL, "{\"prompt\":\"Once upon\",\"temperature\":0}", &p);
    CHECK(p.ep == SERVE_EP_COMPLETION && !p.req.chat_format && p.req.max_tokens == 16 && p.req.n_prompt > 0);
    serve_request_free(&p.req);
    prep("POST", "/v1/completions", NULL, "{\"prompt\":[[2,5,9]],\"max_tokens\":3}", &p);
    CHECK(p.ep == SERVE_EP_COMPLETION && p.req.n_prompt == 3 && p.req.prompt[2] == 9);
    serve_request_free(&p.req);
    const char *bad[] = {"{\"prompt\":[2,99999]}", "{\"prompt\":[\"a\",\"b\"]}", "{\"prompt\":[]}", "{\"prompt\":1}",
                         "{\"prompt\":\"x\",\"echo\":true}", "{\"prompt\":\"x\",\"best_of\":2}", "{\"prompt\":\"x\",\"suffix\":\"y\"}",
                         "{\"prompt\":\"x\",\"messages\":[]}", "{}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        prep("POST", "/v1/completions", NULL, bad[i], &p);
        CHECK_MSG(p.ep == SERVE_EP_NONE && p.err.status == 400, "completion body %s", bad[i]);
    }
}

/* ---- reply splitting ---------------------------------------------------------------- */

static void split(const char *text, size_t piece, bool raw, char *const *stops, int n_stops, reply *r) {
    reply_init(r, raw, stops, n_stops, 1);
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i += piece)
        if (reply_push(r, text + i, i + piece < n ? piece : n - i)) break;
    reply_finish(r);
}

static const char *str(const reply_buf *b) { return b->s ? b->s : ""; }

static void test_reply(void) {
    static const char *const texts[] = {
        "  Hello   world \n",
        "<|channel>thought\nLet me think.\n<channel|>The answer is 4.",
        "<|channel>thought\nA<channel|>x <|channel>thought\nB<channel|> y",
        "Sure.<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>,days:3}<tool_call|><|tool_call>call:f{}<tool_call|>",
        "<|channel><channel|>plain",
        "<|channel>tho<channel|>t",
        "no marks at all, just <| and |> and <channel text",
    };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        reply whole, bytes;
        split(texts[t], 1 << 20, false, NULL, 0, &whole);
        split(texts[t], 1, false, NULL, 0, &bytes);
        CHECK_MSG(!strcmp(str(&whole.content), str(&bytes.content)) && !strcmp(str(&whole.reasoning), str(&bytes.reasoning)) &&
                      whole.n_calls == bytes.n_calls,
                  "case %zu: byte-wise split differs", t);
        g4_chat_reply cr;
        g4_error err;
        CHECK(g4_chat_parse(texts[t], strlen(texts[t]), &cr, &err) == G4_OK);
        CHECK_MSG(!strcmp(cr.content, str(&whole.content)), "case %zu: content '%s' vs g4_chat_parse '%s'", t, str(&whole.content), cr.content);
        CHECK_MSG(!strcmp(cr.thinking ? cr.thinking : "", str(&whole.reasoning)), "case %zu: reasoning '%s' vs '%s'", t,
                  str(&whole.reasoning), cr.thinking ? cr.thinking : "");
        CHECK_MSG(cr.n_tool_calls == whole.n_calls, "case %zu: %d calls vs %d", t, whole.n_calls, cr.n_tool_calls);
        g4_chat_reply_free(&cr);
        reply_free(&whole);
        reply_free(&bytes);
    }
    reply r;
    split("Sure.<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>,days:3}<tool_call|>", 3, false, NULL, 0, &r);
    const cJSON *c = cJSON_GetArrayItem(r.calls, 0), *f = cJSON_GetObjectItem(c, "function");
    CHECK(r.n_calls == 1 && !strcmp(cJSON_GetObjectItem(c, "type")->valuestring, "function"));
    CHECK(!strncmp(cJSON_GetObjectItem(c, "id")->valuestring, "call_", 5));
    CHECK(!strcmp(cJSON_GetObjectItem(f, "name")->valuestring, "get_weather"));
    CHECK(!strcmp(cJSON_GetObjectItem(f, "arguments")->valuestring, "{\"city\":\"Paris\",\"days\":3}"));
    CHECK(!strcmp(str(&r.content), "Sure."));
    reply_free(&r);
    /* stop sequences: across pieces, only in the answer, none of them sent */
    char *stops[] = {"END", "\n\n"};
    split("abc EN", 1 << 20, false, stops, 2, &r);
    CHECK(!r.stopped && !strcmp(str(&r.content), "abc EN"));
    reply_free(&r);
    reply_init(&r, false, stops, 2, 1);
    CHECK(!reply_push(&r, "abc EN", 6));
    CHECK(!strcmp(str(&r.content), "abc")); /* "EN" waits: it may start "END" */
    CHECK(reply_push(&r, "D more", 6));
    reply_finish(&r);
    CHECK(r.stopped && !strcmp(str(&r.content), "abc"));
    reply_free(&r);
    split("<|channel>thought\nEND of thought<channel|>Answer END tail", 2, false, stops, 2, &r);
    CHECK(r.stopped && !strcmp(str(&r.content), "Answer") && !strcmp(str(&r.reasoning), "END of thought"));
    reply_free(&r);
    /* raw text: untrimmed, no marks */
    split("  <|channel>x\n\ny", 1, true, stops, 2, &r);
    CHECK(r.stopped && !strcmp(str(&r.content), "  <|channel>x"));
    reply_free(&r);
    /* cut inside a tool call: the text as written */
    split("Hi <|tool_call>call:f{a:", 1, false, NULL, 0, &r);
    CHECK(r.n_calls == 0 && !strcmp(str(&r.content), "Hi <|tool_call>call:f{a:"));
    reply_free(&r);
    /* a call that does not parse stays text */
    split("<|tool_call>nonsense<tool_call|>", 1, false, NULL, 0, &r);
    CHECK(r.n_calls == 0 && strstr(str(&r.content), "nonsense"));
    reply_free(&r);
}

/* ---- encoding --------------------------------------------------------------------- */

static bool all_events_parse(const char *sse, int *n_events, bool *done) {
    *n_events = 0;
    *done = false;
    for (const char *p = sse; *p;) {
        if (strncmp(p, "data: ", 6) != 0) return false;
        const char *end = strstr(p, "\n\n");
        if (!end) return false;
        char *ev = strndup(p + 6, (size_t)(end - p - 6));
        if (!strcmp(ev, "[DONE]")) *done = true;
        else {
            cJSON *j = cJSON_Parse(ev);
            if (!j) { free(ev); return false; }
            cJSON_Delete(j);
        }
        (*n_events)++;
        free(ev);
        p = end + 2;
    }
    return true;
}

static void test_encode(void) {
    serve_error e;
    serve_fail(&e, 400, "invalid_request_error", NULL, "temperature", "bad \"value\"\n");
    char *s = encode_error(&e);
    cJSON *j = cJSON_Parse(s), *err = cJSON_GetObjectItem(j, "error");
    CHECK(err && !strcmp(cJSON_GetObjectItem(err, "param")->valuestring, "temperature") && cJSON_IsNull(cJSON_GetObjectItem(err, "code")));
    cJSON_Delete(j);
    free(s);

    serve_request req = {.ep = SERVE_EP_CHAT, .stream = true, .include_usage = true, .chat_format = true, .n_prompt = 10};
    serve_job *job = job_create(&req);
    reply_init(&job->rp, false, NULL, 0, 7);
    encode_ctx ec = {.id = "chatcmpl-test", .model = "m", .created = 1, .chat = true};
    stream_cursor cur = {0};
    char *out = NULL;
    size_t len = 0;
    CHECK(encode_stream(&ec, job, &cur, &out, &len)); /* the opening chunk */
    const char *text = "<|channel>thought\nhmm<channel|>Hi <|tool_call>call:f{x:1}<tool_call|>";
    for (const char *p = text; *p; p++) {
        reply_push(&job->rp, p, 1);
        CHECK(encode_stream(&ec, job, &cur, &out, &len));
    }
    reply_finish(&job->rp);
    job->done = true;
    job->finish = "tool_calls";
    job->n_gen = 5;
    job->n_cached = 3;
    CHECK(encode_stream(&ec, job, &cur, &out, &len) && cur.ended);
    int n_events;
    bool done;
    CHECK_MSG(all_events_parse(out, &n_events, &done) && done && n_events >= 6, "stream: %s", out);
    CHECK(strstr(out, "\"reasoning_content\":\"h\"") && strstr(out, "\"tool_calls\":[{\"id\":\"call_") &&
          strstr(out, "\"finish_reason\":\"tool_calls\"") && strstr(out, "\"cached_tokens\":3"));
    free(out);
    s = encode_response(&ec, job);
    j = cJSON_Parse(s);
    const cJSON *msg = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "message");
    CHECK(msg && !strcmp(cJSON_GetObjectItem(msg, "content")->valuestring, "Hi"));
    CHECK(!strcmp(cJSON_GetObjectItem(msg, "reasoning_content")->valuestring, "hmm"));
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(msg, "tool_calls")) == 1);
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "total_tokens")->valueint == 15);
    cJSON_Delete(j);
    free(s);
    /* an error after the stream began is one error event */
    out = NULL;
    len = 0;
    cur = (stream_cursor){0};
    serve_fail(&job->err, 503, "server_error", "server_shutting_down", NULL, "The server is shutting down.");
    CHECK(encode_stream(&ec, job, &cur, &out, &len) && cur.ended && strstr(out, "data: {\"error\""));
    free(out);
    job_release(job);
}

int main(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tiny-e2b", test_data_dir());
    g4_error err;
    if (g4_tokenizer_open(&tok, path, &err) != G4_OK) {
        fprintf(stderr, "FAIL cannot open %s: %s\n", path, err.msg);
        return 1;
    }
    cfg = (serve_config){.tok = tok, .n_vocab = g4_tokenizer_n_vocab(tok), .n_ctx = 4096, .defaults = g4_sampler_default_params()};
    test_routing();
    test_bad_bodies();
    test_good_chat();
    test_tool_mapping();
    test_completion();
    test_reply();
    test_encode();
    g4_tokenizer_free(tok);
    return test_report("test_serve_request");
}
