#!/bin/sh
# The bundled demo model (models/demo.gguf, made by scripts/demo/train_demo.py; README
# "The demo model") against the reference transformers wrote for it (tests/data/demo/):
#  - the GGUF loads with the structure it was trained with;
#  - g4's float32 logits on the F16 GGUF match transformers' (float32, on the same
#    float16-rounded weights) within 1e-3 x max|logit| at every position of three prompts
#    (one longer than the 128-token sliding window, one chat prompt), and the 32-token
#    greedy continuations are identical;
#  - g4's tokenizer gives transformers' ids for the reference texts and the held-out
#    excerpt, and `g4 template --ids` the ids of the chat prompt;
#  - `g4 perplexity` on the held-out excerpt gives transformers' figure within 0.5%;
#  - quantized copies (Q8_0, Q4_0) and a Q8_0 KV cache stay close to the original (KL,
#    top-1 agreement);
#  - `g4 run --temp 0 --repeat-penalty 1.1` (greedy, with the penalty the model ships) answers
#    in English and stops by itself;
#  - llama.cpp loads and runs it, when tests/llamacpp/setup.sh has installed it already.
G4=${G4:-./g4}
M=${DEMO_GGUF:-models/demo.gguf}
R=${DEMO_REF:-tests/data/demo}
pass=0; fail=0; skip=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL test_demo: $*"; }
tmp=$(mktemp -d /tmp/g4-demo-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# ref KEY...: a value of ref.json (arrays comma-joined), by a path of keys / indices
ref() { node -e 'let v=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); for (const k of process.argv.slice(2)) v=v[k]; if (v===undefined) process.exit(1); console.log(Array.isArray(v)?v.join(","):typeof v==="object"?JSON.stringify(v):v)' "$R/ref.json" "$@"; }
if ! command -v node >/dev/null 2>&1; then
    echo "SKIP test_demo: node is not installed (scripts/install-deps.sh)"; echo "test_demo: 0 passed, 0 failed, 1 skipped"; exit 0
fi

# 1. it loads, with the structure it was trained with; and it is small
if $G4 inspect "$M" >"$tmp/inspect" 2>"$tmp/err"; then ok; else bad "inspect: $(cat "$tmp/err")"; fi
grep -q "layers     10 (5 KV-shared)" "$tmp/inspect" && grep -q "per-layer  input width 32" "$tmp/inspect" \
    && grep -q "window     128" "$tmp/inspect" && ok || bad "inspect: unexpected structure: $(head -n 12 "$tmp/inspect")"
[ "$(wc -c < "$M")" -le 20000000 ] && ok || bad "$M is larger than 20 MB"
V=$(ref n_vocab)

# 2. logits and greedy continuations
for p in raw_long chat_sea raw_short; do
    toks=$(ref prompts $p tokens); file=$(ref prompts $p file); want=$(ref prompts $p greedy)
    if ! $G4 logits "$M" --tokens "$toks" --out "$tmp/$p.f32" --greedy 32 >"$tmp/$p.json" 2>"$tmp/err"; then
        bad "$p: g4 logits: $(cat "$tmp/err")"; continue
    fi
    cmp=$(node tests/llamacpp/compare.mjs "$tmp/$p.f32" "$R/$file" "$V") || { bad "$p: $cmp"; continue; }
    echo "demo $p: g4 vs transformers $cmp"
    node -e 'const c=JSON.parse(process.argv[1]); process.exit(c.max_abs_diff <= 1e-3 * c.max_abs && c.top1_agree === c.rows ? 0 : 1)' "$cmp" \
        && ok || bad "$p: logits differ from transformers: $cmp"
    [ "$(tr -d '[]' < "$tmp/$p.json")" = "$want" ] && ok || bad "$p: greedy [$(tr -d '[]' < "$tmp/$p.json")], transformers [$want]"
done

# 3. tokenizer: transformers' ids for each reference text, the held-out excerpt, the chat prompt
n=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).tokenizer_tests.length)' "$R/ref.json")
i=0
while [ $i -lt "$n" ]; do
    want=$(ref tokenizer_tests $i ids)
    if f=$(ref tokenizer_tests $i file 2>/dev/null); then
        got=$($G4 tokenize "$M" --file "$R/$f" --ids 2>"$tmp/err"); what=$f
    else
        ref tokenizer_tests $i text > "$tmp/text"
        txt=$(cat "$tmp/text")  # (the shell drops the trailing newline node adds)
        flag=""; [ "$(ref tokenizer_tests $i special 2>/dev/null)" = true ] && flag=--special
        got=$($G4 tokenize "$M" "$txt" --ids $flag 2>"$tmp/err"); what=$(printf '%s' "$txt" | head -c 40)
    fi
    [ "$got" = "$want" ] && ok || bad "tokenize '$what': g4 [$(echo "$got" | head -c 200)], transformers [$(echo "$want" | head -c 200)]"
    i=$((i + 1))
done
echo '[{"role": "user", "content": "Tell me about the sea."}]' > "$tmp/msg.json"
got=$($G4 template "$M" --messages "$tmp/msg.json" --ids 2>"$tmp/err")
[ "$got" = "$(ref prompts chat_sea tokens)" ] && ok || bad "template ids [$got] differ from the reference chat prompt: $(cat "$tmp/err")"

# 4. perplexity of the held-out excerpt
ctx=$(ref facts heldout_excerpt ctx); want=$(ref facts heldout_excerpt ppl_token); wn=$(ref facts heldout_excerpt scored)
if $G4 perplexity "$M" "$R/heldout_excerpt.txt" --ctx "$ctx" >"$tmp/ppl" 2>"$tmp/err"; then
    got=$(sed -nE 's/^perplexity: ([0-9.]+) over ([0-9]+) tokens.*/\1 \2/p' "$tmp/ppl")
    echo "demo held-out excerpt: g4 perplexity $got tokens, transformers $want over $wn"
    node -e 'const [g,n]=process.argv[1].split(" ").map(Number), w=Number(process.argv[2]); process.exit(n===Number(process.argv[3]) && Math.abs(g-w) <= 5e-3*w ? 0 : 1)' "$got" "$want" "$wn" \
        && ok || bad "perplexity $got, transformers $want over $wn tokens"
else bad "perplexity: $(cat "$tmp/err")"; fi

# 5. g4 run answers in English and stops at <turn|> by itself
max=200
if $G4 run "$M" "Tell me about the sea." --temp 0 --repeat-penalty 1.1 --max-tokens $max --verbose >"$tmp/run" 2>"$tmp/err"; then
    echo "demo run: $(head -c 400 "$tmp/run")"
    node -e '
        const t=require("fs").readFileSync(process.argv[1],"utf8"), w=t.match(/[A-Za-z]+/g)||[];
        const common=new Set("the of and to a in is that it was for with as be by on not he his this are have which at".split(" "));
        const letters=(t.match(/[A-Za-z ]/g)||[]).length;
        process.exit(w.length >= 8 && w.filter(x=>common.has(x.toLowerCase())).length >= 3 && letters >= 0.85*t.trim().length ? 0 : 1)' "$tmp/run" \
        && ok || bad "run: not English: $(head -c 300 "$tmp/run")"
    n=$(sed -nE 's/.*decode .*\(([0-9]+) tokens\).*/\1/p' "$tmp/err")
    [ -n "$n" ] && [ "$n" -lt $max ] && ok || bad "run: did not stop by itself within $max tokens (${n:-?} generated)"
else bad "run: $(cat "$tmp/err")"; fi

# 5b. quantization quality on a trained model (random fixtures say nothing about it): KL
#     divergence and top-1 agreement of Q8_0 and Q4_0 against the F16 original on the
#     held-out excerpt. Measured when written: Q8_0 0.00021 nats/token and 98.5% top-1
#     (0.00049 and 98.0% while Q8_0 took int8 activations: the KL bound catches a return
#     to them), Q4_0 0.055 and 81.7% (a 256-wide model is more sensitive than Gemma 4's
#     1536+). The 9.3 M model of 2026-11-26: Q8_0 0.00020 and 98.6%, Q4_0 0.056 and 81.4%.
for q in "q8_0 0.0003 0.97" "q4_0 0.12 0.70"; do
    set -- $q
    if $G4 convert "$M" "$tmp/demo-$1.gguf" --type "$1" >/dev/null 2>&1 &&
       $G4 perplexity "$tmp/demo-$1.gguf" "$R/heldout_excerpt.txt" --ctx 256 --kl-base "$M" >"$tmp/kl" 2>/dev/null; then
        line=$(grep "KL divergence" "$tmp/kl")
        echo "demo $1: $line"
        echo "$line" | awk -v kl="$2" -v top="$3" '{ k = $5 + 0; a = $9; sub(/%/, "", a); exit !(k <= kl && a / 100 >= top) }' \
            && ok || bad "$1 quality: $line (want KL <= $2, top-1 >= $3)"
    else bad "$1: convert or perplexity failed"; fi
done

# 5c. the KV cache types on the trained model: a q8_0 cache against an exact f32 one on the
#     held-out excerpt. Measured when written: KL 0.000176 nats/token, top-1 99.19% (f16:
#     below 1e-6 and 100%); the 9.3 M model: 0.000229 and 97.4%.
if $G4 perplexity "$M" "$R/heldout_excerpt.txt" --ctx 256 --kv q8_0 --kl-base "$M" --kl-base-kv f32 >"$tmp/kl" 2>"$tmp/err"; then
    line=$(grep "KL divergence" "$tmp/kl")
    echo "demo q8_0 KV cache: $line"
    echo "$line" | awk '{ k = $5 + 0; a = $9; sub(/%/, "", a); exit !(k <= 0.001 && a / 100 >= 0.97) }' \
        && ok || bad "q8_0 KV cache quality: $line (want KL <= 0.001, top-1 >= 0.97)"
else bad "perplexity --kv q8_0: $(cat "$tmp/err")"; fi

# 6. llama.cpp loads and runs it (only where tests/llamacpp/setup.sh has installed it)
if [ -d .cache/llamacpp/node_modules/@node-llama-cpp/linux-x64 ]; then
    toks=$(ref prompts raw_long tokens)
    if node tests/llamacpp/logits.mjs "$M" --tokens "$toks" --out "$tmp/lc.f32" --greedy 8 >"$tmp/lc.json" 2>"$tmp/err"; then
        cmp=$(node tests/llamacpp/compare.mjs "$tmp/lc.f32" "$R/$(ref prompts raw_long file)" "$V")
        echo "demo raw_long: llama.cpp vs transformers $cmp"
        # llama.cpp rounds activations to f16 for F16 weights and reads GELU from an f16 table
        node -e 'const c=JSON.parse(process.argv[1]); process.exit(c.max_abs_diff <= 0.1 && c.top1_agree >= 0.95 * c.rows ? 0 : 1)' "$cmp" \
            && ok || bad "llama.cpp: logits differ: $cmp"
    else bad "llama.cpp rejected $M: $(tail -n 3 "$tmp/err")"; fi
else
    echo "SKIP test_demo: llama.cpp not installed (tests/llamacpp/setup.sh)"; skip=$((skip + 1))
fi

if [ $skip -gt 0 ]; then echo "test_demo: $pass passed, $fail failed, $skip skipped"
else echo "test_demo: $pass passed, $fail failed"; fi
[ $fail -eq 0 ]
