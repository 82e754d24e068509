#!/bin/sh
# Interchange with llama.cpp (prebuilt from npm by tests/llamacpp/setup.sh):
#  1. GGUFs written by `g4 convert` load and run in llama.cpp (details below);
#  2. GGUFs written by llama.cpp's own converter (tests/data/llamacpp, if present) run in g4
#     and match the transformers reference within 1e-3 x max|logit| at F32.
# llama.cpp's CPU path is not float32 throughout: its GELU reads an f16 table, F16 weights
# make it round activations to f16 and quantized weights make it quantize activations to
# q8_0 blocks. Tolerances below are sized for that.
G4=${G4:-./g4}
pass=0; fail=0; skip=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL test_llamacpp: $*"; }
tmp=$(mktemp -d /tmp/g4-llamacpp-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if ! tests/llamacpp/setup.sh >"$tmp/setup.log" 2>&1; then
    echo "SKIP test_llamacpp: llama.cpp reference unavailable: $(tail -n 1 "$tmp/setup.log")"
    echo "test_llamacpp: 0 passed, 0 failed, 1 skipped"
    exit 0
fi

json_get() { node -e 'const j=JSON.parse(require("fs").readFileSync(0,"utf8")); const v=j[process.argv[1]]; console.log(Array.isArray(v)?v.join(","):v)' "$1"; }

# (1a) The micro model (2 layers, well conditioned): g4 and llama.cpp agree tightly on the
# same g4-written file, at every type, with the same greedy continuation.
toks=2,40,50,60,70,80,90,100,110,120,130,140,150
for t in f32 f16 bf16 q8_0 q4_0; do
    f="$tmp/micro-$t.gguf"
    # llama.cpp rounds activations to the weight type for F16/BF16 (bf16 keeps 8 bits of
    # mantissa: ~0.4% of a logit of 23) and quantizes them to q8_0 for Q8_0/Q4_0
    case $t in f32|f16) tol=0.02;; bf16) tol=0.15;; *) tol=0.5;; esac
    if ! $G4 convert tests/data/micro "$f" --type $t 2>"$tmp/err"; then bad "micro $t: g4 convert: $(cat "$tmp/err")"; continue; fi
    if ! node tests/llamacpp/logits.mjs "$f" --tokens $toks --out "$tmp/lc.f32" --greedy 12 >"$tmp/lc.json" 2>"$tmp/err"; then
        bad "micro $t: llama.cpp rejected g4's GGUF: $(tail -n 3 "$tmp/err")"; continue
    fi
    ok
    $G4 logits "$f" --tokens $toks --out "$tmp/g4.f32" --greedy 12 >"$tmp/g4.json" 2>"$tmp/err" || { bad "micro $t: $(cat "$tmp/err")"; continue; }
    cmp=$(node tests/llamacpp/compare.mjs "$tmp/lc.f32" "$tmp/g4.f32" 300)
    md=$(echo "$cmp" | json_get max_abs_diff)
    echo "micro gguf $t: g4 vs llama.cpp $cmp"
    node -e 'process.exit(Number(process.argv[1]) <= Number(process.argv[2]) ? 0 : 1)' "$md" $tol && ok || bad "micro $t: logits differ by $md (> $tol)"
    [ "$(json_get greedy < "$tmp/lc.json")" = "$(tr -d '[]' < "$tmp/g4.json")" ] && ok || bad "micro $t: greedy continuation differs"
done

# (1c) K-quants on the trained demo model (hidden 256, so its matrices take 256-blocks; its
# 896-wide ffn_down and 320-wide per-layer rows take llama.cpp's fallbacks Q5_0 / Q8_0):
# llama.cpp runs g4's q4_k_m, q4_k, q5_k and q6_k files, and the logits agree as the Q4_0
# ones do - both engines quantize activations to 8 bits (g4 per 32 values, llama.cpp per
# 256 for K-quants), which moves these logits (max ~10) by ~0.2; weight rounding moves them
# by 0.4..1.5, so a kernel that misread the weights would show.
demo=models/demo.gguf
for t in q4_k_m q4_k q5_k q6_k; do
    [ -f "$demo" ] || break
    f="$tmp/demo-$t.gguf"
    if ! $G4 convert "$demo" "$f" --type $t 2>"$tmp/err"; then bad "demo $t: g4 convert: $(tail -n 1 "$tmp/err")"; continue; fi
    if [ $t = q4_k_m ]; then # the mix: Q4_K base, Q6_K output and some attn_v, fallbacks
        types=$($G4 inspect "$f" | awk '$2 ~ /^Q/ {print $2}' | sort -u | tr '\n' ' ')
        [ "$types" = "Q4_K Q5_0 Q6_K Q8_0 " ] && ok || bad "demo q4_k_m: tensor types [$types], expected Q4_K Q5_0 Q6_K Q8_0"
    fi
    if ! node tests/llamacpp/logits.mjs "$f" --tokens $toks --out "$tmp/lc.f32" --greedy 12 >"$tmp/lc.json" 2>"$tmp/err"; then
        bad "demo $t: llama.cpp rejected g4's GGUF: $(tail -n 3 "$tmp/err")"; continue
    fi
    ok
    $G4 logits "$f" --tokens $toks --out "$tmp/g4.f32" >/dev/null 2>"$tmp/err" || { bad "demo $t: $(cat "$tmp/err")"; continue; }
    cmp=$(node tests/llamacpp/compare.mjs "$tmp/lc.f32" "$tmp/g4.f32" 4096)
    echo "demo gguf $t: g4 vs llama.cpp $cmp"
    md=$(echo "$cmp" | json_get max_abs_diff); agree=$(echo "$cmp" | json_get top1_agree); rows=$(echo "$cmp" | json_get rows)
    node -e 'process.exit(Number(process.argv[1]) <= Number(process.argv[2]) ? 0 : 1)' "$md" 0.5 && ok || bad "demo $t: logits differ by $md (> 0.5)"
    [ $((agree * 10)) -ge $((rows * 9)) ] && ok || bad "demo $t: top-1 agrees at only $agree of $rows positions"
done

# (1b) The four tiny fixtures, every variant's structure: llama.cpp loads and runs each
# g4-written GGUF with finite logits. These random 12-layer models amplify llama.cpp's
# half-precision GELU (and, with F16/Q8_0 weights, its activation rounding), so the
# logit distance is printed; for F32 at least 90% of positions must pick the same top-1.
for v in tiny-e2b tiny-e4b tiny-26b-a4b tiny-31b; do
    d=tests/data/$v
    toks=$(json_get tokens < "$d/ref.json")
    V=$(json_get n_vocab < "$d/ref.json")
    for t in f32 f16 q8_0; do
        f="$tmp/$v-$t.gguf"
        if ! $G4 convert "$d" "$f" --type $t 2>"$tmp/err"; then bad "$v $t: g4 convert: $(cat "$tmp/err")"; continue; fi
        if ! node tests/llamacpp/logits.mjs "$f" --tokens "$toks" --out "$tmp/lc.f32" --greedy 12 >"$tmp/lc.json" 2>"$tmp/err"; then
            bad "$v $t: llama.cpp rejected g4's GGUF: $(tail -n 3 "$tmp/err")"; continue
        fi
        ok
        $G4 logits "$f" --tokens "$toks" --out "$tmp/g4.f32" --greedy 12 >"$tmp/g4.json" 2>"$tmp/err" || { bad "$v $t: $(cat "$tmp/err")"; continue; }
        cmp=$(node tests/llamacpp/compare.mjs "$tmp/lc.f32" "$tmp/g4.f32" "$V")
        echo "$v gguf $t: g4 vs llama.cpp $cmp; greedy llama.cpp [$(json_get greedy < "$tmp/lc.json")] g4 [$(tr -d '[]' < "$tmp/g4.json")]"
        finite=$(node -e 'const a=new Float32Array(require("fs").readFileSync(process.argv[1]).buffer.slice(0)); console.log(a.every(Number.isFinite)?1:0)' "$tmp/lc.f32")
        [ "$finite" = 1 ] && ok || bad "$v $t: llama.cpp produced non-finite logits"
        if [ $t = f32 ]; then
            agree=$(echo "$cmp" | json_get top1_agree); rows=$(echo "$cmp" | json_get rows)
            [ $((agree * 10)) -ge $((rows * 9)) ] && ok || bad "$v f32: top-1 agrees at only $agree of $rows positions"
        fi
    done
done

for f in tests/data/llamacpp/*.gguf; do
    [ -f "$f" ] || continue
    base=$(basename "$f" .gguf)
    v=${base%-*}
    d=tests/data/$v
    [ -f "$d/ref.json" ] || continue
    toks=$(json_get tokens < "$d/ref.json")
    V=$(json_get n_vocab < "$d/ref.json")
    if ! $G4 logits "$f" --tokens "$toks" --out "$tmp/g4.f32" --greedy 12 >"$tmp/g4.json" 2>"$tmp/err"; then
        bad "$base (llama.cpp's converter): g4 cannot run it: $(cat "$tmp/err")"; continue
    fi
    cmp=$(node tests/llamacpp/compare.mjs "$tmp/g4.f32" "$d/ref_logits.f32" "$V")
    md=$(echo "$cmp" | json_get max_abs_diff); mx=$(echo "$cmp" | json_get max_abs)
    echo "$base (written by llama.cpp's converter): g4 vs transformers $cmp"
    case $base in
        *-f32) node -e 'process.exit(Number(process.argv[1]) <= 1e-3 * Number(process.argv[2]) ? 0 : 1)' "$md" "$mx" && ok || bad "$base: g4 differs from transformers by $md";
               [ "$(tr -d '[]' < "$tmp/g4.json")" = "$(json_get greedy < "$d/ref.json")" ] && ok || bad "$base: greedy differs";;
        *) node -e 'process.exit(Number(process.argv[1]) <= 2e-2 * Number(process.argv[2]) ? 0 : 1)' "$md" "$mx" && ok || bad "$base: g4 differs from transformers by $md";;
    esac
    # GGUF -> GGUF through g4 keeps everything (partial RoPE factors included)
    if $G4 convert "$f" "$tmp/re.gguf" --type f32 2>"$tmp/err" && $G4 logits "$tmp/re.gguf" --tokens "$toks" --out "$tmp/re.f32" 2>>"$tmp/err"; then
        md2=$(node tests/llamacpp/compare.mjs "$tmp/re.f32" "$tmp/g4.f32" "$V" | json_get max_abs_diff)
        node -e 'process.exit(Number(process.argv[1]) <= 1e-3 * Number(process.argv[2]) ? 0 : 1)' "$md2" "$mx" && ok || bad "$base: re-converted by g4, logits move by $md2"
    else bad "$base: g4 cannot re-convert it: $(cat "$tmp/err")"; fi
done
echo "test_llamacpp: $pass passed, $fail failed"
[ $fail -eq 0 ]
