// turns.mjs - what the prefix cache saves on a multi-turn conversation: TURNS turns with a
// long system prompt, each sending the whole conversation so far (as OpenAI clients do),
// streamed; for each turn the prompt tokens, how many came from the cache and the time to
// the first token, then the same last prompt with a different first character (so no slot
// holds any of it) for the cold time to first token.
//   node tests/serve/turns.mjs BASE_URL [TURNS=6] [API_KEY]
const [base, turnsArg = '6', apiKey = ''] = process.argv.slice(2);
const system = 'You are a careful narrator of old sea stories. You speak plainly, in short sentences, ' +
    'you never invent names that were not given to you, and you keep every answer under three sentences. ' +
    'When asked about ships, describe their sails, their crew and the weather they met; when asked about ' +
    'towns, describe their harbours, their markets and the people who wait on the quay for news of the sea.';
const questions = ['Tell me about a whaling ship.', 'Who was her captain?', 'What weather did they meet?',
    'Where did they land?', 'What did the town look like?', 'How did the story end?', 'What was the ship called?',
    'Who waited on the quay?'];

// one streamed turn: the answer, usage and the time to its first token
async function turn(messages) {
    const t0 = performance.now();
    const res = await fetch(`${base}/chat/completions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}) },
        body: JSON.stringify({ messages, max_tokens: 48, temperature: 0, stream: true, stream_options: { include_usage: true } }),
    });
    if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
    const reader = res.body.getReader(), dec = new TextDecoder();
    let buf = '', first = 0, answer = '', usage = null;
    for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let k;
        while ((k = buf.indexOf('\n\n')) >= 0) {
            const d = buf.slice(6, k);
            buf = buf.slice(k + 2);
            if (d === '[DONE]') continue;
            const j = JSON.parse(d);
            if (j.usage) usage = j.usage;
            const c = j.choices[0];
            if (c && (c.delta.content || c.finish_reason)) {
                if (!first) first = performance.now();
                answer += c.delta.content ?? '';
            }
        }
    }
    return { answer, usage, ttft: first - t0 };
}
const messages = [{ role: 'system', content: system }];
let last;
for (let t = 0; t < +turnsArg; t++) {
    messages.push({ role: 'user', content: questions[t % questions.length] });
    last = [...messages];
    const r = await turn(messages);
    console.log(`turn ${t + 1}: prompt ${r.usage.prompt_tokens} tokens, ${r.usage.prompt_tokens_details.cached_tokens} cached, ` +
                `first token ${r.ttft.toFixed(0)} ms`);
    messages.push({ role: 'assistant', content: r.answer });
}
const cold = [{ role: 'system', content: 'A' + system.slice(1) }, ...last.slice(1)];
const r = await turn(cold);
console.log(`last turn cold (nothing cached): prompt ${r.usage.prompt_tokens} tokens, ${r.usage.prompt_tokens_details.cached_tokens} cached, ` +
            `first token ${r.ttft.toFixed(0)} ms`);
