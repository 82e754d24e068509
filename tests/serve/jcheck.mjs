// jcheck.mjs - checks a response file for tests/test_serve.sh.
//   node jcheck.mjs FILE 'EXPR'          FILE is JSON, bound to j
//   node jcheck.mjs --sse FILE 'EXPR'    FILE is a server-sent event stream: ev is the array of
//                                        parsed `data:` events, done whether [DONE] ended it
// Exits 0 when EXPR is truthy, 1 (printing why) when not or when the file does not parse.
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const sse = args[0] === '--sse';
if (sse) args.shift();
const [file, expr] = args;
const text = readFileSync(file, 'utf8');
let scope;
try {
    if (sse) {
        const blocks = text.split('\n\n').filter((b) => b.length);
        const ev = [];
        let done = false;
        for (const b of blocks) {
            if (!b.startsWith('data: ')) throw new Error(`not an SSE data line: ${b.slice(0, 80)}`);
            const d = b.slice(6);
            if (d === '[DONE]') done = true;
            else ev.push(JSON.parse(d));
        }
        if (!text.endsWith('\n\n')) throw new Error('the stream does not end with a blank line');
        scope = { ev, done };
    } else {
        scope = { j: JSON.parse(text) };
    }
} catch (e) {
    console.error(`${file}: ${e.message}: ${text.slice(0, 300)}`);
    process.exit(1);
}
const ok = Function(...Object.keys(scope), `return (${expr});`)(...Object.values(scope));
if (!ok) {
    console.error(`${file}: not true: ${expr}: ${text.slice(0, 400)}`);
    process.exit(1);
}
