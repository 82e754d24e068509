// load.mjs - a bounded load test of `g4 serve` on loopback: CLIENTS concurrent clients,
// each sending REQUESTS streamed chat requests one after another (different questions,
// a shared system prompt), measuring the time to the first token (the first chunk that
// carries text, a tool call or the finish), the whole request, and errors.
//   node tests/serve/load.mjs BASE_URL [CLIENTS=8] [REQUESTS=50] [MAX_TOKENS=32] [API_KEY]
// Prints one JSON line: requests, errors, seconds, req_per_s, completion tokens per
// second, first-token and request latency percentiles in milliseconds.
const [base, clientsArg = '8', requestsArg = '50', maxTokensArg = '32', apiKey = ''] = process.argv.slice(2);
const clients = +clientsArg, requests = +requestsArg, maxTokens = +maxTokensArg;
const topics = ['the sea', 'a whale', 'the law', 'a ship', 'the harbour', 'a storm', 'the moon', 'a letter', 'the city',
    'a river', 'the nation', 'a captain', 'the morning', 'a prophet', 'the congress', 'a journey'];
const system = 'You are a storyteller. Answer in a few plain sentences, in the style of old books.';

const ttft = [], total = [];
let errors = 0, tokens = 0;
const firstErrors = [];

async function one(c, i) {
    const body = {
        messages: [{ role: 'system', content: system }, { role: 'user', content: `Tell me about ${topics[(c * 7 + i) % topics.length]}.` }],
        max_tokens: maxTokens, stream: true, stream_options: { include_usage: true }, seed: c * 1000 + i,
    };
    const t0 = performance.now();
    let first = 0, done = false, usage = null;
    try {
        const res = await fetch(`${base}/chat/completions`, {
            method: 'POST', body: JSON.stringify(body),
            headers: { 'Content-Type': 'application/json', ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}) },
        });
        if (res.status !== 200) throw new Error(`status ${res.status}: ${(await res.text()).slice(0, 200)}`);
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
            const { value, done: end } = await reader.read();
            if (end) break;
            buf += dec.decode(value, { stream: true });
            let k;
            while ((k = buf.indexOf('\n\n')) >= 0) {
                const ev = buf.slice(0, k);
                buf = buf.slice(k + 2);
                if (!ev.startsWith('data: ')) throw new Error(`bad event ${ev.slice(0, 80)}`);
                const d = ev.slice(6);
                if (d === '[DONE]') { done = true; continue; }
                const j = JSON.parse(d);
                if (j.error) throw new Error(j.error.message);
                if (j.usage) usage = j.usage;
                const ch = j.choices[0];
                if (!first && ch && (ch.delta.content || ch.delta.reasoning_content || ch.delta.tool_calls || ch.finish_reason))
                    first = performance.now();
            }
        }
        if (!done || !usage) throw new Error('the stream ended early');
        ttft.push(first - t0);
        total.push(performance.now() - t0);
        tokens += usage.completion_tokens;
    } catch (e) {
        errors++;
        if (firstErrors.length < 3) firstErrors.push(e.message);
    }
}

const pct = (a, p) => {
    const s = [...a].sort((x, y) => x - y);
    return s.length ? +s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(1) : null;
};
const t0 = performance.now();
await Promise.all(Array.from({ length: clients }, async (_, c) => { for (let i = 0; i < requests; i++) await one(c, i); }));
const secs = (performance.now() - t0) / 1000;
console.log(JSON.stringify({
    clients, requests: clients * requests, errors, seconds: +secs.toFixed(2),
    req_per_s: +((clients * requests - errors) / secs).toFixed(2), completion_tok_per_s: +(tokens / secs).toFixed(1),
    mean_completion_tokens: +(tokens / Math.max(1, total.length)).toFixed(1),
    ttft_ms: { p50: pct(ttft, 50), p99: pct(ttft, 99), max: pct(ttft, 100) },
    request_ms: { p50: pct(total, 50), p99: pct(total, 99) },
    ...(firstErrors.length ? { first_errors: firstErrors } : {}),
}));
process.exit(errors ? 1 : 0);
