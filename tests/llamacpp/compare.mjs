#!/usr/bin/env node
// Compares two float32 logit files of the same shape: prints
// {"max_abs_diff":..., "max_abs":..., "rows":..., "top1_agree":...} for vocabulary size V.
//   node tests/llamacpp/compare.mjs A.f32 B.f32 V
import fs from "node:fs";
const [a, b, V] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const fa = new Float32Array(fs.readFileSync(a).buffer.slice(0));
const fb = new Float32Array(fs.readFileSync(b).buffer.slice(0));
if (fa.length !== fb.length || !V || fa.length % V) {
    console.error(`compare.mjs: shapes differ (${fa.length} vs ${fb.length} floats, V=${V})`);
    process.exit(1);
}
let md = 0, mx = 0, agree = 0;
const rows = fa.length / V;
for (let r = 0; r < rows; r++) {
    let ia = 0, ib = 0;
    for (let v = 0; v < V; v++) {
        const x = fa[r * V + v], y = fb[r * V + v];
        md = Math.max(md, Math.abs(x - y));
        mx = Math.max(mx, Math.abs(y));
        if (x > fa[r * V + ia]) ia = v;
        if (y > fb[r * V + ib]) ib = v;
    }
    if (ia === ib) agree++;
}
console.log(JSON.stringify({max_abs_diff: md, max_abs: mx, rows, top1_agree: agree}));
