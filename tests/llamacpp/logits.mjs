#!/usr/bin/env node
// Reference logits from llama.cpp (prebuilt, via node-llama-cpp@3.22.1, CPU only).
//
//   node tests/llamacpp/logits.mjs MODEL.gguf --tokens 2,17,99 [--greedy N] --out FILE.f32
//        [--ctx 256] [--threads 2] [--kv f32|f16] [--flash-attn off|on|auto] [--verbose]
//
// Evaluates the token ids as one sequence (no BOS is added: pass it yourself) and writes the
// float32 logits of every position, row-major [n_tokens, n_vocab], raw little-endian, to
// FILE.f32. With --greedy N it then continues greedily (argmax, no stop on EOG) for N tokens
// and prints {"n_vocab":..., "n_tokens":..., "greedy":[...]} as JSON on stdout (the JSON line is
// printed in any case, with "greedy": [] when N is 0).
//
// Defaults are the most precise settings: KV cache in float32 (--kv f32) and the classic
// attention path (--flash-attn off). llama.cpp's own defaults are --kv f16 --flash-attn auto;
// on the CPU flash attention rounds to half precision whatever the KV type (on a tiny random
// model that moved logits by ~0.1 of a range of +-13). Other precision limits that no option
// removes: F16/quantized weights make ggml round or quantize the activations (F16 -> f16,
// Q8_0/Q4_0 -> q8_0 blocks), and GELU on the CPU reads an f16 lookup table.
// Exit codes: 0 ok, 1 model failed to load or to evaluate (llama.cpp's error text on stderr),
// 2 usage error, 3 node-llama-cpp not installed (run tests/llamacpp/setup.sh).
//
// Needs tests/llamacpp/setup.sh to have run (installs into <repo>/.cache/llamacpp/).
import fs from "node:fs";
import path from "node:path";
import {fileURLToPath, pathToFileURL} from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const pkgEntry = path.join(root, ".cache", "llamacpp", "node_modules", "node-llama-cpp", "dist", "index.js");

function usage(msg) {
    if (msg) process.stderr.write(`logits.mjs: ${msg}\n`);
    process.stderr.write(
        "usage: node tests/llamacpp/logits.mjs MODEL.gguf --tokens ID,ID,... --out FILE.f32 [--greedy N]\n" +
        "       [--ctx 256] [--threads 2] [--kv f32|f16] [--flash-attn off|on|auto] [--verbose]\n");
    process.exit(2);
}

function parseArgs(argv) {
    const a = {model: null, tokens: null, out: null, greedy: 0, ctx: 256, threads: 2, kv: "f32", fa: "off", verbose: false};
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const val = () => {
            if (i + 1 >= argv.length) usage(`${k} needs a value`);
            return argv[++i];
        };
        if (k === "--tokens") a.tokens = val();
        else if (k === "--out") a.out = val();
        else if (k === "--greedy") a.greedy = Number(val());
        else if (k === "--ctx") a.ctx = Number(val());
        else if (k === "--threads") a.threads = Number(val());
        else if (k === "--kv") a.kv = val().toLowerCase();
        else if (k === "--flash-attn") a.fa = val().toLowerCase();
        else if (k === "--verbose" || k === "-v") a.verbose = true;
        else if (k === "-h" || k === "--help") usage();
        else if (k.startsWith("--")) usage(`unknown option ${k}`);
        else if (a.model == null) a.model = k;
        else usage(`unexpected argument ${k}`);
    }
    if (a.model == null) usage("missing MODEL.gguf");
    if (a.tokens == null) usage("missing --tokens");
    if (a.out == null && !(a.greedy > 0)) usage("missing --out (or --greedy N)");
    const toks = a.tokens.split(",").map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
    if (toks.length === 0 || toks.some((t) => !Number.isInteger(t) || t < 0)) usage(`bad --tokens '${a.tokens}'`);
    a.tokens = toks;
    if (!Number.isInteger(a.greedy) || a.greedy < 0) usage("bad --greedy");
    if (!Number.isInteger(a.ctx) || a.ctx < 8) usage("bad --ctx");
    if (!Number.isInteger(a.threads) || a.threads < 1) usage("bad --threads");
    if (a.kv !== "f16" && a.kv !== "f32") usage("--kv must be f16 or f32");
    if (!["auto", "on", "off"].includes(a.fa)) usage("--flash-attn must be auto, on or off");
    if (a.tokens.length + a.greedy > a.ctx) usage(`--ctx ${a.ctx} too small for ${a.tokens.length} tokens + ${a.greedy} greedy`);
    return a;
}

const args = parseArgs(process.argv.slice(2));

if (!fs.existsSync(pkgEntry)) {
    process.stderr.write(`logits.mjs: node-llama-cpp is not installed in ${path.dirname(pkgEntry)}\n` +
        "run tests/llamacpp/setup.sh first\n");
    process.exit(3);
}
if (!fs.existsSync(args.model)) {
    process.stderr.write(`logits.mjs: no such file: ${args.model}\n`);
    process.exit(1);
}

const {getLlama, LlamaLogLevel} = await import(pathToFileURL(pkgEntry).href);

// Keep llama.cpp's log lines: on failure they carry the loader's reason.
const logLines = [];
const llama = await getLlama({
    build: "never",
    gpu: false,
    progressLogs: false,
    logLevel: args.verbose ? LlamaLogLevel.debug : LlamaLogLevel.warn,
    logger(level, message) {
        const line = String(message).replace(/\n+$/, "");
        logLines.push(`[${level}] ${line}`);
        if (args.verbose) process.stderr.write(`[llama.cpp ${level}] ${line}\n`);
    },
});

async function fail(what, err) {
    // llama.cpp's log lines reach the logger asynchronously: give them a moment to arrive.
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.stderr.write(`logits.mjs: ${what}: ${err?.message ?? err}\n`);
    const relevant = logLines.filter((l) => /^\[(error|warn|fatal)\]/i.test(l));
    if (!args.verbose && relevant.length > 0) {
        process.stderr.write("llama.cpp said:\n" + relevant.map((l) => "  " + l).join("\n") + "\n");
    }
    process.exit(1);
}

let model;
try {
    model = await llama.loadModel({
        modelPath: path.resolve(args.model),
        gpuLayers: 0,
        useMmap: true,
        ignoreMemorySafetyChecks: true,
    });
} catch (err) {
    await fail(`failed to load ${args.model}`, err);
}

let context;
try {
    const kvType = args.kv === "f32" ? "F32" : "F16";
    context = await model.createContext({
        contextSize: args.ctx,
        batchSize: Math.min(args.ctx, 512),
        sequences: 1,
        threads: {ideal: args.threads, min: args.threads},
        flashAttention: args.fa === "auto" ? "auto" : args.fa === "on",
        experimentalKvCacheKeyType: kvType,
        experimentalKvCacheValueType: kvType,
        ignoreMemorySafetyChecks: true,
    });
} catch (err) {
    await fail("failed to create a context", err);
}

const sequence = context.getSequence();

// Full logits for every input position, next token (argmax) for the last one.
const input = args.tokens.map((t, i) => [t, {
    generateNext: {logits: true, token: i === args.tokens.length - 1, options: {temperature: 0}},
}]);

let outputs;
try {
    outputs = await sequence.controlledEvaluate(input);
} catch (err) {
    await fail("evaluation failed", err);
}

let nVocab = -1;
const rows = [];
for (let i = 0; i < args.tokens.length; i++) {
    const o = outputs[i];
    const lg = o?.next?.logits;
    if (lg == null) await fail("evaluation failed", `no logits returned for position ${i}`);
    if (nVocab < 0) nVocab = lg.size;
    if (lg.size !== nVocab) await fail("evaluation failed", `position ${i}: ${lg.size} logits, expected ${nVocab}`);
    const row = new Float32Array(nVocab);
    row.fill(Number.NaN);
    for (const [tok, v] of lg) {
        if (tok < 0 || tok >= nVocab) await fail("evaluation failed", `token id ${tok} out of range`);
        row[tok] = v;
    }
    rows.push(row);
}

if (args.out != null) {
    const buf = Buffer.alloc(rows.length * nVocab * 4);
    rows.forEach((row, i) => {
        for (let j = 0; j < nVocab; j++) buf.writeFloatLE(row[j], (i * nVocab + j) * 4);
    });
    fs.writeFileSync(args.out, buf);
}

const greedy = [];
if (args.greedy > 0) {
    let next = outputs[args.tokens.length - 1]?.next?.token;
    try {
        while (greedy.length < args.greedy) {
            if (next == null) await fail("greedy decoding failed", "no token produced");
            greedy.push(next);
            if (greedy.length === args.greedy) break;
            const r = await sequence.controlledEvaluate([[next, {generateNext: {token: true, options: {temperature: 0}}}]]);
            next = r[0]?.next?.token;
        }
    } catch (err) {
        await fail("greedy decoding failed", err);
    }
}

process.stdout.write(JSON.stringify({n_vocab: nVocab, n_tokens: args.tokens.length, greedy}) + "\n");

await context.dispose();
await model.dispose();
await llama.dispose();
