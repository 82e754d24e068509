// openai.mjs - `g4 serve` through the official OpenAI client for Node (openai@6.49.0, see
// tests/serve/setup.sh): models, chat completions streamed and not (the same greedy answer
// either way), a multi-turn conversation that reuses the cached prefix, a tool round trip
// (tools declared, the model's call -- or, when the model writes none, a call the client
// makes up -- answered with a tool message), text completions, errors as the client's
// typed exceptions (401, 400 naming the field, 404, context length), and a stream the
// client aborts, whose slot must come back.
//   node tests/serve/openai.mjs BASE_URL API_KEY      (BASE_URL like http://127.0.0.1:8080/v1)
// Prints FAIL lines and "openai_client: N passed, M failed".
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, '.cache', 'openai', 'package.json'));
const openai = require('openai');
const OpenAI = openai.OpenAI ?? openai.default;

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });
let passed = 0, failed = 0;
const check = (ok, what, detail = '') => {
    if (ok) passed++;
    else { failed++; console.log(`FAIL openai_client: ${what}${detail ? ': ' + detail : ''}`); }
};
async function step(what, fn) {
    try { await fn(); } catch (e) { check(false, what, `${e.constructor.name}: ${e.message}`); }
}
async function expectError(what, fn, cls, status, more = () => true) {
    try {
        await fn();
        check(false, what, 'no error');
    } catch (e) {
        check(e instanceof cls && e.status === status && more(e), what, `${e.constructor.name} ${e.status} ${e.message}`);
    }
}
const health = async () => (await fetch(baseURL.replace(/\/v1$/, '/health'), { headers: { Authorization: `Bearer ${apiKey}` } })).json();

let model;
await step('models', async () => {
    const list = await client.models.list();
    model = list.data[0]?.id;
    check(typeof model === 'string' && list.data.length === 1, 'models.list');
});

const hello = [{ role: 'user', content: 'Hello! What can you do?' }];
let plain;
await step('chat', async () => {
    const r = await client.chat.completions.create({ model, messages: hello, max_tokens: 16, temperature: 0 });
    plain = r.choices[0].message.content;
    check(r.object === 'chat.completion' && r.choices[0].message.role === 'assistant' && typeof plain === 'string', 'chat answer');
    check(['stop', 'length'].includes(r.choices[0].finish_reason) && r.usage.completion_tokens <= 16, 'chat finish and usage');
});
await step('chat stream', async () => {
    const stream = await client.chat.completions.create({
        model, messages: hello, max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true },
    });
    let text = '', finish = null, usage = null, n = 0;
    for await (const chunk of stream) {
        n++;
        if (chunk.usage) usage = chunk.usage;
        const c = chunk.choices[0];
        if (!c) continue;
        text += c.delta.content ?? '';
        finish = c.finish_reason ?? finish;
    }
    check(n >= 2 && finish !== null && usage?.completion_tokens > 0, 'stream chunks, finish reason, usage');
    check(text === plain, 'streamed and whole greedy answers agree', JSON.stringify([text, plain]));
});

await step('multi-turn prefix reuse', async () => {
    const sys = { role: 'system', content: 'You are a patient teacher. Explain things simply, in two sentences at most.' };
    const first = [sys, { role: 'user', content: 'What is the sun?' }];
    const a = await client.chat.completions.create({ model, messages: first, max_tokens: 24, temperature: 0 });
    const second = [...first, { role: 'assistant', content: a.choices[0].message.content }, { role: 'user', content: 'And the moon?' }];
    const b = await client.chat.completions.create({ model, messages: second, max_tokens: 24, temperature: 0 });
    const cached = b.usage.prompt_tokens_details?.cached_tokens ?? 0;
    check(cached >= a.usage.prompt_tokens - 8, 'the second turn reuses the first turn\'s prompt',
          `${cached} cached of ${b.usage.prompt_tokens} (first prompt ${a.usage.prompt_tokens})`);
    console.log(`prefix reuse: turn 2 has ${b.usage.prompt_tokens} prompt tokens, ${cached} of them cached`);
});

const tools = [{
    type: 'function',
    function: {
        name: 'get_weather', description: 'Current weather for a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
}];
await step('tool round trip', async () => {
    const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const r = await client.chat.completions.create({ model, messages, tools, tool_choice: 'required', max_tokens: 48, temperature: 0 });
    const msg = r.choices[0].message;
    let calls = msg.tool_calls;
    if (calls?.length) {
        check(r.choices[0].finish_reason === 'tool_calls' && calls[0].type === 'function' && typeof calls[0].function.arguments === 'string',
              'the model\'s tool call in OpenAI shape');
        console.log(`tool round trip: the model called ${calls[0].function.name}(${calls[0].function.arguments})`);
    } else {
        check(typeof msg.content === 'string', 'an answer without a parsable call is text');
        console.log('tool round trip: the model wrote no parsable call; the client sends one of its own');
        calls = [{ id: 'call_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }];
    }
    const back = [...messages, { role: 'assistant', content: null, tool_calls: calls },
        ...calls.map((c) => ({ role: 'tool', tool_call_id: c.id, content: JSON.stringify({ temp_c: 21, sky: 'clear' }) }))];
    const r2 = await client.chat.completions.create({ model, messages: back, tools, max_tokens: 24, temperature: 0 });
    check(r2.choices[0].message.role === 'assistant' && r2.usage.prompt_tokens > r.usage.prompt_tokens, 'the tool result is read');
    const stream = await client.chat.completions.create({ model, messages: back, tools, max_tokens: 8, stream: true });
    let chunks = 0;
    for await (const c of stream) chunks += c.choices.length;
    check(chunks >= 2, 'a streamed answer with tools');
});

await step('completions', async () => {
    const r = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
    check(r.object === 'text_completion' && typeof r.choices[0].text === 'string' && r.usage.completion_tokens <= 8, 'completion');
    const s = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 8, temperature: 0, stream: true });
    let text = '';
    for await (const c of s) text += c.choices[0]?.text ?? '';
    check(text === r.choices[0].text, 'streamed and whole completions agree', JSON.stringify([text, r.choices[0].text]));
});

await expectError('wrong API key', () => new OpenAI({ baseURL, apiKey: 'wrong', maxRetries: 0 }).models.list(),
                  openai.AuthenticationError, 401);
await expectError('temperature out of range', () => client.chat.completions.create({ model, messages: hello, temperature: 5 }),
                  openai.BadRequestError, 400, (e) => e.param === 'temperature');
await expectError('unknown field', () => client.chat.completions.create({ model, messages: hello, frobnicate: 1 }),
                  openai.BadRequestError, 400, (e) => e.param === 'frobnicate');
await expectError('bad role', () => client.chat.completions.create({ model, messages: [{ role: 'robot', content: 'x' }] }),
                  openai.BadRequestError, 400);
await expectError('prompt longer than the context',
                  () => client.chat.completions.create({ model, messages: [{ role: 'user', content: 'word '.repeat(20000) }] }),
                  openai.BadRequestError, 400, (e) => e.code === 'context_length_exceeded');
await expectError('unknown path', () => client.get('/nothing'), openai.NotFoundError, 404);

await step('abort mid-stream', async () => {
    const ac = new AbortController();
    const stream = await client.chat.completions.create(
        { model, messages: hello, max_tokens: 100000, stream: true, ignore_eos: true }, { signal: ac.signal });
    let n = 0;
    try {
        for await (const c of stream) { if (++n === 3) ac.abort(); }
    } catch (e) {
        check(e.name === 'AbortError' || e instanceof openai.APIUserAbortError, 'the abort surfaces as an abort', e.message);
    }
    let h;
    for (let i = 0; i < 50; i++) {
        h = await health();
        if (h.slots_processing === 0) break;
        await new Promise((r) => setTimeout(r, 100));
    }
    check(h.slots_processing === 0, 'the aborted stream\'s slot is free', JSON.stringify(h));
});

console.log(`openai_client: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
