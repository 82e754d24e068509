#!/usr/bin/env node
// llama.cpp's speed on the same machine and file, for comparing with `g4 bench`:
//   node tests/llamacpp/bench.mjs MODEL.gguf [--threads 2] [--reps 3]
// prints {"pp512": tok/s, "tg128": tok/s, "ttft32": s} (medians). Prefill evaluates 512
// prompt tokens in one batch with logits for the last only; decode feeds 128 tokens one at
// a time; llama.cpp's default KV cache (f16) and flash attention (auto) are used, as a
// user of llama.cpp would run it. Needs tests/llamacpp/setup.sh.
import path from "node:path";
import {fileURLToPath, pathToFileURL} from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgEntry = path.join(here, "..", "..", ".cache", "llamacpp", "node_modules", "node-llama-cpp", "dist", "index.js");
const argv = process.argv.slice(2);
const opt = (k, d) => { const i = argv.indexOf(k); return i >= 0 ? Number(argv[i + 1]) : d; };
const modelPath = argv.find((a, i) => !a.startsWith("--") && (i === 0 || !argv[i - 1].startsWith("--")));
if (!modelPath) { console.error("usage: node tests/llamacpp/bench.mjs MODEL.gguf [--threads N] [--reps N]"); process.exit(2); }
const threads = opt("--threads", 2), reps = opt("--reps", 3);
const {getLlama, LlamaLogLevel} = await import(pathToFileURL(pkgEntry).href);
const llama = await getLlama({build: "never", gpu: false, progressLogs: false, logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath: path.resolve(modelPath), gpuLayers: 0, useMmap: true, ignoreMemorySafetyChecks: true});
const nVocab = 262144; // the synthetic and real Gemma 4 vocabularies
let seed = 42;
const toks = Array.from({length: 512}, () => { seed = (seed * 1664525 + 1013904223) >>> 0; return 4 + ((seed >>> 8) % (nVocab - 4)); });
const median = (v) => { const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const now = () => Number(process.hrtime.bigint()) / 1e9;
const pp = [], tg = [], ttft = [];
for (let r = 0; r <= reps; r++) { // rep 0 warms up
    for (const [n, out] of [[512, pp], [32, ttft]]) {
        const ctx = await model.createContext({contextSize: 1024, batchSize: 512, sequences: 1, threads: {ideal: threads, min: threads}, ignoreMemorySafetyChecks: true});
        const seq = ctx.getSequence();
        const input = toks.slice(0, n).map((t, i) => [t, {generateNext: {token: i === n - 1, options: {temperature: 0}}}]);
        const t0 = now();
        await seq.controlledEvaluate(input);
        const dt = now() - t0;
        if (r > 0) out.push(n === 512 ? n / dt : dt);
        await ctx.dispose();
    }
    const ctx = await model.createContext({contextSize: 1024, batchSize: 512, sequences: 1, threads: {ideal: threads, min: threads}, ignoreMemorySafetyChecks: true});
    const seq = ctx.getSequence();
    await seq.controlledEvaluate([[toks[0], {generateNext: {token: true, options: {temperature: 0}}}]]);
    const t0 = now();
    for (let i = 0; i < 128; i++) await seq.controlledEvaluate([[toks[i + 1], {generateNext: {token: true, options: {temperature: 0}}}]]);
    if (r > 0) tg.push(128 / (now() - t0));
    await ctx.dispose();
}
console.log(JSON.stringify({model: modelPath, threads, reps, pp512: median(pp), tg128: median(tg), ttft32: median(ttft)}));
await model.dispose();
await llama.dispose();
