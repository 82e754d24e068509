#!/bin/sh
# test_serve.sh - `g4 serve` against real HTTP clients, on a free loopback port.
#
# curl: every endpoint (chat and text completions, streamed and not, models, health,
# metrics), the prefill a multi-turn conversation saves, and every class of error
# (401, 404, 405, 400 for malformed JSON / wrong types / unknown fields / invalid UTF-8 /
# a prompt longer than the context, 413, 503 when the queue is full), each a JSON error
# object; clients that disconnect mid-stream or while queued free their slot; stalled
# clients are closed; SIGTERM and SIGINT stop the server cleanly with exit status 0.
# Then the official `openai` npm client (tests/serve/openai.mjs) when npm can install it.
# The model is models/demo.gguf when present, else the tiny random-weight test model.
G4=${G4:-./g4}
pass=0; fail=0; skip=0
tmp=$(mktemp -d /tmp/g4-serve-XXXXXX)
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null
    [ -n "$KEEP" ] || rm -rf "$tmp"
}
trap cleanup EXIT
summary() { echo "test_serve: $pass passed, $fail failed$([ $skip -gt 0 ] && echo ", $skip skipped")"; }
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL test_serve: $*"; }
for c in curl node; do
    command -v $c >/dev/null 2>&1 || { echo "SKIP test_serve: $c is not installed"; skip=1; summary; exit 0; }
done
. tests/serve/lib.sh
SERVE_MODEL=$(serve_model)
KEY=test-key-123

# req NAME METHOD PATH [BODY|@FILE] [curl args...]: the body goes to $tmp/NAME, the status to $code
req() {
    _n=$1; _m=$2; _p=$3; shift 3
    if [ $# -gt 0 ]; then _d=$1; shift; set -- --data-binary "$_d" -H 'Content-Type: application/json' "$@"; fi
    code=$(curl -s -m 60 -o "$tmp/$_n" -w '%{http_code}' -X "$_m" -H "Authorization: Bearer $KEY" "$@" "http://127.0.0.1:$PORT$_p")
}
# expect NAME STATUS [EXPR]: the last req gave STATUS and its JSON body satisfies EXPR
expect() {
    if [ "$code" != "$2" ]; then bad "$1: status $code, expected $2: $(head -c 300 "$tmp/$1")"; return; fi
    if [ -n "$3" ] && ! node tests/serve/jcheck.mjs "$tmp/$1" "$3"; then bad "$1: body"; return; fi
    ok
}
# expect_error NAME STATUS [PARAM]: an OpenAI error object (naming PARAM)
expect_error() {
    expect "$1" "$2" "typeof j.error.message === 'string' && j.error.message.length > 0 && typeof j.error.type === 'string'${3:+ && j.error.param === '$3'}"
}
health() { curl -s -m 10 -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/health"; }
# wait_health EXPR: up to 10 s for /health to satisfy EXPR
wait_health() {
    _i=0
    while [ $_i -lt 100 ]; do
        health > "$tmp/h.json" 2>/dev/null && node tests/serve/jcheck.mjs "$tmp/h.json" "$1" 2>/dev/null && return 0
        sleep 0.1; _i=$((_i + 1))
    done
    return 1
}
metric() { curl -s -m 10 -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/metrics" | sed -n "s/^$1 //p"; }

# ---- server A: two slots, an API key, a small body limit, a short idle timeout -------------
serve_start "$tmp/a.log" --parallel 2 --ctx 1024 --api-key "$KEY" --max-body 65536 --timeout 2 \
    || { bad "server A did not start"; summary; exit 1; }
PORT=$SERVE_PORT

req health GET /health; expect health 200 "j.status === 'ok' && j.slots_idle === 2"
req models GET /v1/models; expect models 200 "j.object === 'list' && j.data.length === 1 && j.data[0].object === 'model'"
req metrics GET /metrics; [ "$code" = 200 ] && grep -q '^g4_slots 2$' "$tmp/metrics" && ok || bad "metrics: $code"
code=$(curl -s -o "$tmp/nokey" -w '%{http_code}' "http://127.0.0.1:$PORT/health"); expect_error nokey 401
code=$(curl -s -o "$tmp/badkey" -w '%{http_code}' -H 'Authorization: Bearer wrong' "http://127.0.0.1:$PORT/v1/models"); expect_error badkey 401
req notfound GET /v1/nothing; expect_error notfound 404
req method GET /v1/chat/completions; expect_error method 405
req method2 DELETE /v1/models; expect_error method2 405

HELLO='{"messages":[{"role":"user","content":"Hello, who are you?"}],"max_tokens":12,"temperature":0}'
req chat POST /v1/chat/completions "$HELLO"
expect chat 200 "j.object === 'chat.completion' && j.choices[0].message.role === 'assistant' && typeof j.choices[0].message.content === 'string' && ['stop','length'].includes(j.choices[0].finish_reason) && j.usage.total_tokens === j.usage.prompt_tokens + j.usage.completion_tokens && j.usage.completion_tokens <= 12"
req chat2 POST /v1/chat/completions "$HELLO"
expect chat2 200 "j.usage.prompt_tokens_details.cached_tokens === j.usage.prompt_tokens - 1"
node -e 'const f=require("fs");const a=JSON.parse(f.readFileSync(process.argv[1])),b=JSON.parse(f.readFileSync(process.argv[2]));process.exit(a.choices[0].message.content===b.choices[0].message.content?0:1)' \
    "$tmp/chat" "$tmp/chat2" && ok || bad "greedy answers differ between a fresh and a cached prompt"
req seeded1 POST /v1/chat/completions '{"messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":10,"seed":7}'
req seeded2 POST /v1/chat/completions '{"messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":10,"seed":7}'
node -e 'const f=require("fs");const a=JSON.parse(f.readFileSync(process.argv[1])),b=JSON.parse(f.readFileSync(process.argv[2]));process.exit(a.choices[0].message.content===b.choices[0].message.content?0:1)' \
    "$tmp/seeded1" "$tmp/seeded2" && ok || bad "seeded answers differ"

req stream POST /v1/chat/completions '{"messages":[{"role":"user","content":"Count to five."}],"max_tokens":8,"stream":true,"stream_options":{"include_usage":true}}' -N
if [ "$code" = 200 ] && node tests/serve/jcheck.mjs --sse "$tmp/stream" \
    "done && ev[0].choices[0].delta.role === 'assistant' && ev.every(e => e.object === 'chat.completion.chunk') && ev.at(-1).choices.length === 0 && ev.at(-1).usage.completion_tokens > 0 && ev.at(-2).choices[0].finish_reason !== null"
then ok; else bad "stream: $code"; fi

req comp POST /v1/completions '{"prompt":"The quick brown fox","max_tokens":6,"temperature":0}'
expect comp 200 "j.object === 'text_completion' && typeof j.choices[0].text === 'string' && j.usage.completion_tokens <= 6"
req compstream POST /v1/completions '{"prompt":[2,100,200],"max_tokens":5,"stream":true}' -N
if [ "$code" = 200 ] && node tests/serve/jcheck.mjs --sse "$tmp/compstream" "done && ev.every(e => e.object === 'text_completion') && ev.at(-1).choices[0].finish_reason !== null"
then ok; else bad "completion stream: $code"; fi
req stopped POST /v1/completions '{"prompt":"a","max_tokens":200,"temperature":1,"seed":3,"stop":["e","a","t"," "],"ignore_eos":true}'
expect stopped 200 "!/[eat ]/.test(j.choices[0].text)"

# a conversation's next turn reuses the cached system prompt and earlier turns
SYS='You are a helpful assistant who answers in one short sentence, politely, and never makes things up.'
req turn1 POST /v1/chat/completions "{\"messages\":[{\"role\":\"system\",\"content\":\"$SYS\"},{\"role\":\"user\",\"content\":\"What is a river?\"}],\"max_tokens\":16,\"temperature\":0}"
expect turn1 200
A1=$(node -e 'process.stdout.write(JSON.stringify(JSON.parse(require("fs").readFileSync(process.argv[1])).choices[0].message.content))' "$tmp/turn1")
P1=$(node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(process.argv[1])).usage.prompt_tokens))' "$tmp/turn1")
req turn2 POST /v1/chat/completions "{\"messages\":[{\"role\":\"system\",\"content\":\"$SYS\"},{\"role\":\"user\",\"content\":\"What is a river?\"},{\"role\":\"assistant\",\"content\":$A1},{\"role\":\"user\",\"content\":\"And a lake?\"}],\"max_tokens\":16,\"temperature\":0}"
expect turn2 200 "j.usage.prompt_tokens_details.cached_tokens >= $P1 - 8 && j.usage.prompt_tokens > $P1"
grep -q "cached" "$tmp/a.log" && ok || bad "no prefix-reuse line in the server log"

# tools: declarations accepted, a forced call starts the answer, results sent back are read
TOOLS='"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]'
req tools POST /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris?\"}],$TOOLS,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},\"max_tokens\":8}"
expect tools 200 "j.choices[0].message.tool_calls ? j.choices[0].finish_reason === 'tool_calls' : j.choices[0].message.content.startsWith('<|tool_call>call:get_weather{')"
req toolres POST /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris?\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"{\\\"temp\\\":21}\"}],$TOOLS,\"max_tokens\":8}"
expect toolres 200 "j.choices[0].message.role === 'assistant'"

# bad requests: a 4xx JSON error naming the field, never a crash
req malformed POST /v1/chat/completions '{"messages": [{"role": "user", "content": "hi"}'; expect_error malformed 400
req notobject POST /v1/chat/completions '[1, 2, 3]'; expect_error notobject 400
req empty POST /v1/chat/completions ''; expect_error empty 400
req wrongtype POST /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"temperature":"hot"}'; expect_error wrongtype 400 temperature
req range POST /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"top_p":7}'; expect_error range 400 top_p
req unknown POST /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"frobnicate":true}'; expect_error unknown 400 frobnicate
req nomsg POST /v1/chat/completions '{"model":"x"}'; expect_error nomsg 400 messages
req badrole POST /v1/chat/completions '{"messages":[{"role":"robot","content":"hi"}]}'; expect_error badrole 400
req n2 POST /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"n":3}'; expect_error n2 400 n
printf '{"messages":[{"role":"user","content":"caf\351 \377"}]}' > "$tmp/latin1.json"
req utf8 POST /v1/chat/completions "@$tmp/latin1.json"; expect_error utf8 400
node -e 'process.stdout.write(JSON.stringify({messages:[{role:"user",content:"word ".repeat(3000)}]}))' > "$tmp/long.json"
req toolong POST /v1/chat/completions "@$tmp/long.json"; expect toolong 400 "j.error.code === 'context_length_exceeded'"
head -c 100000 /dev/zero | tr '\0' 'a' > "$tmp/huge.json"
req huge POST /v1/chat/completions "@$tmp/huge.json"; expect_error huge 413
code=$(curl -s -m 30 -o "$tmp/hugechunked" -w '%{http_code}' -H "Authorization: Bearer $KEY" -H 'Transfer-Encoding: chunked' \
    --data-binary "@$tmp/huge.json" "http://127.0.0.1:$PORT/v1/chat/completions")
case $code in 413) expect_error hugechunked 413;; 000) ok;; *) bad "chunked huge body: $code";; esac
node -e 'const d = 998; process.stdout.write(`{"messages":${"[".repeat(d)}${"]".repeat(d)}}`)' > "$tmp/deep.json"
req deep POST /v1/chat/completions "@$tmp/deep.json"; expect_error deep 400
req compbad POST /v1/completions '{"prompt":"x","echo":true}'; expect_error compbad 400 echo
req afterbad GET /health; expect afterbad 200 "j.status === 'ok' && j.slots_processing === 0"

# stalled clients: half a request, then silence, is closed after --timeout (2 s)
node -e '
const s = require("net").connect(+process.argv[1], "127.0.0.1", () => s.write("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"mess"));
const t0 = Date.now();
s.on("data", () => {}); s.on("error", () => {});
s.on("close", () => { process.exit(Date.now() - t0 < 8000 ? 0 : 1); });
setTimeout(() => process.exit(2), 10000);' "$PORT" && ok || bad "a stalled upload was not closed"
# a client that does not read its stream does not hold the slot: generation goes on without
# it; once it reads, the stream is whole, and the idle connection is then closed
node -e '
const [port, key] = process.argv.slice(1);
const body = JSON.stringify({messages: [{role: "user", content: "Go on."}], max_tokens: 48, ignore_eos: true, stream: true});
const s = require("net").connect(+port, "127.0.0.1", () => s.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n` +
    `Authorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`));
s.pause();
let data = "";
s.on("data", (d) => { data += d; }); s.on("error", () => {});
const health = async () => (await fetch(`http://127.0.0.1:${port}/health`, {headers: {Authorization: `Bearer ${key}`}})).json();
(async () => {
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 100 && (await health()).slots_processing > 0; i++) await new Promise((r) => setTimeout(r, 100));
    if ((await health()).slots_processing > 0) process.exit(3);
    const t0 = Date.now();
    s.on("close", () => process.exit(data.includes("data: [DONE]") && Date.now() - t0 < 8000 ? 0 : 4));
    s.resume();
    setTimeout(() => process.exit(5), 10000);
})();' "$PORT" "$KEY" && ok || bad "a client that does not read: exit $?"
serve_stop TERM
[ "$SERVE_RC" -eq 0 ] && grep -q "g4 serve: stopped" "$tmp/a.log" && ok || bad "server A: exit $SERVE_RC on SIGTERM: $(tail -n 3 "$tmp/a.log")"

# ---- server B: one slot, a queue of one: overload, disconnects, shutdown mid-stream -------
serve_start "$tmp/b.log" --parallel 1 --queue 1 --ctx 4096 --api-key "$KEY" || { bad "server B did not start"; summary; exit 1; }
PORT=$SERVE_PORT
LONG='{"messages":[{"role":"user","content":"Write a long essay."}],"max_tokens":100000,"ignore_eos":true'
curl -s -N -m 120 -H "Authorization: Bearer $KEY" --data-binary "$LONG,\"stream\":true}" "http://127.0.0.1:$PORT/v1/chat/completions" > "$tmp/s1" &
S1=$!; PIDS="$PIDS $S1"
i=0; while [ ! -s "$tmp/s1" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$tmp/s1" ] && ok || bad "the long stream sent nothing"
curl -s -m 120 -H "Authorization: Bearer $KEY" --data-binary "$LONG}" "http://127.0.0.1:$PORT/v1/chat/completions" > "$tmp/s2" &
S2=$!; PIDS="$PIDS $S2"
wait_health "j.slots_processing === 1 && j.requests_waiting === 1" && ok || bad "the second request did not queue: $(cat "$tmp/h.json")"
req overload POST /v1/chat/completions "$LONG}"; expect overload 503 "j.error.code === 'server_overloaded'"
kill "$S2" "$S1" 2>/dev/null; wait "$S2" "$S1" 2>/dev/null
wait_health "j.slots_processing === 0 && j.requests_waiting === 0" && ok || bad "disconnected clients kept a slot: $(cat "$tmp/h.json")"
[ "$(metric g4_requests_cancelled_total)" = 2 ] && ok || bad "cancelled requests: $(metric g4_requests_cancelled_total)"
req afterdc POST /v1/chat/completions "$HELLO"; expect afterdc 200
# a client that stops reading is closed after the idle timeout: its slot comes back
# SIGTERM while a stream is running: it ends with an error event, the server exits 0
curl -s -N -m 60 -H "Authorization: Bearer $KEY" --data-binary "$LONG,\"stream\":true}" "http://127.0.0.1:$PORT/v1/chat/completions" > "$tmp/s3" &
S3=$!; PIDS="$PIDS $S3"
i=0; while [ ! -s "$tmp/s3" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
serve_stop TERM
wait "$S3"
[ "$SERVE_RC" -eq 0 ] && grep -q "g4 serve: stopped" "$tmp/b.log" && ok || bad "server B: exit $SERVE_RC on SIGTERM mid-stream"
tail -c 400 "$tmp/s3" | grep -q 'server_shutting_down' && ok || bad "the stream did not end with a shutdown error: $(tail -c 200 "$tmp/s3")"
serve_start "$tmp/c.log" --parallel 1 && { serve_stop INT; [ "$SERVE_RC" -eq 0 ] && ok || bad "exit $SERVE_RC on SIGINT"; } || bad "server C"
SERVE_PID=

# ---- the official openai client ------------------------------------------------------------
if sh tests/serve/setup.sh >"$tmp/setup.log" 2>&1; then
    serve_start "$tmp/d.log" --parallel 2 --ctx 2048 --api-key "$KEY" || { bad "server D did not start"; summary; exit 1; }
    node tests/serve/openai.mjs "http://127.0.0.1:$SERVE_PORT/v1" "$KEY" > "$tmp/openai.out" 2>&1
    grep '^FAIL' "$tmp/openai.out"
    line=$(grep -E '^openai_client: [0-9]+ passed, [0-9]+ failed' "$tmp/openai.out" | tail -n 1)
    if [ -n "$line" ]; then
        pass=$((pass + $(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')))
        fail=$((fail + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
    else
        bad "openai client test printed no summary: $(tail -c 400 "$tmp/openai.out")"
    fi
    serve_stop TERM
    [ "$SERVE_RC" -eq 0 ] && ok || bad "server D: exit $SERVE_RC"
    SERVE_PID=
else
    echo "SKIP test_serve: the openai npm client could not be installed: $(tail -n 1 "$tmp/setup.log")"
    skip=$((skip + 1))
fi
summary
[ $fail -eq 0 ]
