#!/bin/sh
# The g4 command as a user meets it: exit status 0 on success, 2 on a usage error, 1 on a
# failure, and failures explained in one line on stderr.
G4=${G4:-./g4}
pass=0; fail=0
tmp=$(mktemp -d /tmp/g4-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
expect() { # expect STATUS DESCRIPTION -- command...
    want=$1; what=$2; shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
    lines=$(wc -l < "$tmp/err")
    if [ $rc -ne "$want" ]; then fail=$((fail + 1)); echo "FAIL test_cli: $what: exit $rc, expected $want: $(head -c 300 "$tmp/err")"
    elif [ "$want" -eq 1 ] && [ "$lines" -ne 1 ]; then fail=$((fail + 1)); echo "FAIL test_cli: $what: $lines lines of error"
    else pass=$((pass + 1)); fi
}
expect 2 "no arguments" -- $G4
expect 2 "unknown command" -- $G4 frobnicate
expect 0 "help" -- $G4 help
expect 0 "version" -- $G4 version
expect 2 "inspect without a path" -- $G4 inspect
expect 1 "inspect a missing file" -- $G4 inspect /nonexistent.gguf
expect 0 "inspect an HF directory" -- $G4 inspect tests/data/tiny-26b-a4b
grep -q "experts    8, 2 used" "$tmp/out" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: inspect lacks the expert line"; }
expect 2 "convert with an unknown type" -- $G4 convert tests/data/micro "$tmp/x.gguf" --type q9
expect 1 "convert into a missing directory" -- $G4 convert tests/data/micro /nonexistent/dir/x.gguf
[ ! -e /nonexistent/dir/x.gguf.tmp ] && pass=$((pass + 1)) || fail=$((fail + 1))
expect 0 "convert" -- $G4 convert tests/data/micro "$tmp/m.gguf" --type q8_0
# progress into a log: whole lines, at most one per tenth of the tensors, no carriage returns
n=$(grep -c "^writing tensors: " "$tmp/err")
{ [ "$n" -ge 2 ] && [ "$n" -le 11 ] && ! grep -q "$(printf '\r')" "$tmp/err"; } && pass=$((pass + 1)) ||
    { fail=$((fail + 1)); echo "FAIL test_cli: convert's progress in a log: $n lines or carriage returns"; }
# g4 quantize: convert's work in llama-quantize's argument order, the same bytes
expect 0 "quantize" -- $G4 quantize tests/data/micro "$tmp/mq.gguf" q8_0
cmp -s "$tmp/m.gguf" "$tmp/mq.gguf" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: quantize and convert --type wrote different files"; }
expect 2 "quantize without a type" -- $G4 quantize tests/data/micro "$tmp/mq.gguf"
expect 2 "quantize with an unknown type" -- $G4 quantize tests/data/micro "$tmp/mq.gguf" q9
# ... but not where --help is an option's value (here a file that does not exist)
expect 1 "template --messages --help" -- $G4 template tests/data/micro --messages --help
# every command answers --help with its usage on stdout and status 0
for c in run chat serve perplexity inspect convert quantize logits tokenize template synth bench; do
    expect 0 "$c --help" -- $G4 $c --help
    grep -q "g4 $c" "$tmp/out" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: $c --help printed no usage"; }
done
expect 0 "inspect a GGUF" -- $G4 inspect "$tmp/m.gguf" --ctx 1024
# a Q4_K_M file's few Q8_0 matrices take int8 activations, and inspect says so; a Q8_0
# file's (m.gguf) do not
! grep -q "int8 activations" "$tmp/out" && pass=$((pass + 1)) ||
    { fail=$((fail + 1)); echo "FAIL test_cli: a Q8_0 file's matrices said to take int8 activations"; }
if [ -f models/demo.gguf ]; then
    expect 0 "convert the demo model to q4_k_m" -- $G4 convert models/demo.gguf "$tmp/d4.gguf" --type q4_k_m
    expect 0 "inspect it" -- $G4 inspect "$tmp/d4.gguf"
    grep -q "^Q8_0 matrices: [1-9][0-9]* of [1-9][0-9]* take int8 activations" "$tmp/out" && pass=$((pass + 1)) ||
        { fail=$((fail + 1)); echo "FAIL test_cli: inspect of a Q4_K_M file lacks the int8-activation line"; }
fi
grep -q "format     gguf" "$tmp/out" && grep -q "KV cache" "$tmp/out" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: inspect output"; }
expect 2 "logits with bad token list" -- $G4 logits "$tmp/m.gguf" --tokens 2,x --out "$tmp/l.f32"
expect 2 "logits without --out" -- $G4 logits "$tmp/m.gguf" --tokens 2,3
expect 1 "logits with an out-of-vocabulary id" -- $G4 logits "$tmp/m.gguf" --tokens 2,300 --out "$tmp/l.f32"
expect 1 "logits beyond the context" -- $G4 logits "$tmp/m.gguf" --tokens 2,3,4,5 --ctx 2 --out "$tmp/l.f32"
expect 0 "logits" -- $G4 logits "$tmp/m.gguf" --tokens 2,3,4 --out "$tmp/l.f32" --greedy 3
[ "$(wc -c < "$tmp/l.f32")" -eq $((3 * 300 * 4)) ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: logits file size"; }
grep -qE '^\[[0-9]+,[0-9]+,[0-9]+\]$' "$tmp/out" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: greedy output"; }
# g4 run: deterministic with --temp 0 or a --seed, bounded by --max-tokens, clear errors
expect 0 "run greedy" -- $G4 run tests/data/tiny-e2b "The quick brown fox" --raw --max-tokens 8 --temp 0
cp "$tmp/out" "$tmp/run1"
expect 0 "run greedy again" -- $G4 run tests/data/tiny-e2b "The quick brown fox" --raw --max-tokens 8 --temp 0
cmp -s "$tmp/out" "$tmp/run1" && [ -s "$tmp/run1" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: greedy run not reproducible"; }
expect 0 "run seeded" -- $G4 run tests/data/tiny-e2b "Hello" --max-tokens 8 --seed 7
cp "$tmp/out" "$tmp/run2"
expect 0 "run seeded again" -- $G4 run tests/data/tiny-e2b "Hello" --max-tokens 8 --seed 7
cmp -s "$tmp/out" "$tmp/run2" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: seeded run not reproducible"; }
expect 0 "run verbose stats" -- $G4 run tests/data/tiny-e2b "Hello" --max-tokens 4 --temp 0 --verbose
grep -q "time to first token" "$tmp/err" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: no stats line"; }
expect 2 "run without a prompt" -- $G4 run tests/data/tiny-e2b
expect 2 "run with a bad temperature" -- $G4 run tests/data/tiny-e2b "x" --temp -1
expect 1 "run with a prompt longer than the context" -- $G4 run tests/data/tiny-e2b "a long prompt that will not fit" --raw --ctx 16
expect 1 "run a missing model" -- $G4 run /nonexistent "x"
# sampling defaults come from the checkpoint's generation_config.json: do_sample false is greedy
mkdir -p "$tmp/greedy" && cp tests/data/micro/* "$tmp/greedy/" && echo '{"do_sample": false}' > "$tmp/greedy/generation_config.json"
expect 0 "run with the checkpoint's greedy default" -- $G4 run "$tmp/greedy" "Hello" --raw --max-tokens 6
cp "$tmp/out" "$tmp/run3"
expect 0 "run with --temp 0" -- $G4 run "$tmp/greedy" "Hello" --raw --max-tokens 6 --temp 0
cmp -s "$tmp/out" "$tmp/run3" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: generation_config.json ignored"; }
# ... and g4 convert carries them into the GGUF (general.sampling.*), where g4 run finds them
mkdir -p "$tmp/samp" && cp tests/data/micro/* "$tmp/samp/" && echo '{"temperature": 0.5, "top_k": 7, "top_p": 0.75}' > "$tmp/samp/generation_config.json"
expect 0 "convert with sampling defaults" -- $G4 convert "$tmp/samp" "$tmp/samp.gguf" --type f16
expect 0 "run a GGUF with sampling defaults" -- $G4 run "$tmp/samp.gguf" "Hello" --max-tokens 2 --verbose
grep -q "sampling: temp 0.5, top-k 7, top-p 0.75," "$tmp/err" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: GGUF sampling defaults: $(grep sampling "$tmp/err")"; }
expect 0 "flags override the GGUF's defaults" -- $G4 run "$tmp/samp.gguf" "Hello" --max-tokens 2 --verbose --top-k 3
grep -q "sampling: temp 0.5, top-k 3, top-p 0.75," "$tmp/err" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: --top-k override"; }

# g4 perplexity: a model against itself has zero KL and full top-1 agreement
yes "the quick brown fox jumps over the lazy dog" | head -n 40 > "$tmp/text.txt"
expect 0 "perplexity with --kl-base" -- $G4 perplexity tests/data/tiny-e2b "$tmp/text.txt" --ctx 64 --kl-base tests/data/tiny-e2b
grep -qE '^perplexity: [0-9.]+ over [0-9]+ tokens' "$tmp/out" && grep -q "0.000000 nats/token, top-1 agreement 100.00%" "$tmp/out" \
    && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: perplexity output: $(cat "$tmp/out")"; }
expect 2 "perplexity with stride >= ctx" -- $G4 perplexity tests/data/tiny-e2b "$tmp/text.txt" --ctx 64 --stride 64
expect 1 "perplexity of a missing file" -- $G4 perplexity tests/data/tiny-e2b /nonexistent.txt
# --kv TYPE: the KV cache's storage (f16 by default, f32, q8_0; --kv-f32 is --kv f32)
expect 0 "run with a q8_0 KV cache" -- $G4 run tests/data/tiny-e2b "The quick brown fox" --raw --max-tokens 8 --temp 0 --kv q8_0
[ -s "$tmp/out" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: --kv q8_0 run wrote nothing"; }
expect 0 "run with --kv-f32" -- $G4 run tests/data/tiny-e2b "The quick brown fox" --raw --max-tokens 8 --temp 0 --kv-f32
expect 2 "run with an unknown KV cache type" -- $G4 run tests/data/tiny-e2b "x" --kv q4_0
expect 1 "q8_0 KV cache with head dims of 16" -- $G4 run tests/data/micro "x" --kv q8_0
grep -q "multiples of 32" "$tmp/err" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: q8_0 on micro: $(cat "$tmp/err")"; }
expect 0 "perplexity, q8_0 KV cache against f32" -- $G4 perplexity tests/data/tiny-e2b "$tmp/text.txt" --ctx 64 --kv q8_0 \
    --kl-base tests/data/tiny-e2b --kl-base-kv f32
grep -qE '^perplexity: [0-9.]+ over [0-9]+ tokens .*q8_0 KV cache' "$tmp/out" && grep -q "base: f32 KV cache" "$tmp/out" \
    && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: perplexity --kv output: $(cat "$tmp/out")"; }
expect 0 "inspect lists the KV cache types" -- $G4 inspect tests/data/tiny-e2b --ctx 1024
grep -q "MiB as q8_0" "$tmp/out" && grep -q "q8_0 136 + 272" "$tmp/out" && pass=$((pass + 1)) \
    || { fail=$((fail + 1)); echo "FAIL test_cli: inspect KV types: $(grep KV "$tmp/out")"; }
expect 2 "bench with an unknown KV cache type" -- $G4 bench tests/data/tiny-e2b --kv f8
expect 2 "bench with a depth that is not a number" -- $G4 bench tests/data/tiny-e2b -d x
# decode timed after 40 cached tokens (llama-bench's -d): the JSON says so, and the
# bandwidth fraction, which counts only weight bytes, is left out
expect 0 "bench at a depth" -- $G4 bench tests/data/tiny-e2b -t 1 -r 1 -p 16 -n 4 -d 40 --json
grep -q '"tg":{"n":4,"depth":40,"tok_s":[0-9.]*,"min":[0-9.]*,"max":[0-9.]*,"frac_bandwidth":null,"frac_bandwidth_best":null}' "$tmp/out" \
    && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: bench -d json: $(head -c 300 "$tmp/out")"; }
# -p 0 / -n 0 leave prefill / decode out (as llama-bench); both at 0 leave nothing to time
expect 0 "bench without prefill" -- $G4 bench tests/data/tiny-e2b -t 1 -r 1 -p 0 -n 3 --json
grep -q '"pp":null,"tg":{"n":3,' "$tmp/out" && pass=$((pass + 1)) \
    || { fail=$((fail + 1)); echo "FAIL test_cli: bench -p 0: $(head -c 300 "$tmp/out")"; }
expect 0 "bench without decode" -- $G4 bench tests/data/tiny-e2b -t 1 -r 2 -p 8 -n 0 --json
grep -Eq '"pp":\{"n":8,.*"tg":null,"ttft":\{"n":32,.*"major_page_faults":[0-9]*,"weights_in_2m_pages":(null|[0-9.]+)\}$' "$tmp/out" && pass=$((pass + 1)) \
    || { fail=$((fail + 1)); echo "FAIL test_cli: bench -n 0: $(head -c 300 "$tmp/out")"; }
expect 0 "bench text output without decode" -- $G4 bench tests/data/tiny-e2b -t 1 -r 1 -p 8 -n 0
# and, on Linux, how much of the mapped model the kernel maps in 2 MiB pages
grep -q '^pp8 ' "$tmp/out" && ! grep -q '^tg' "$tmp/out" && pass=$((pass + 1)) \
    || { fail=$((fail + 1)); echo "FAIL test_cli: bench -n 0 text: $(head -c 300 "$tmp/out")"; }
if [ -r /proc/self/smaps ]; then
    grep -Eq '^weights +[0-9]+% of the resident model mapped in 2 MiB pages$' "$tmp/out" && pass=$((pass + 1)) \
        || { fail=$((fail + 1)); echo "FAIL test_cli: bench's 2 MiB page line: $(head -c 400 "$tmp/out")"; }
fi
expect 2 "bench with nothing to time" -- $G4 bench tests/data/tiny-e2b -p 0 -n 0
expect 2 "bench with a negative prompt" -- $G4 bench tests/data/tiny-e2b -p -4
expect 2 "bench with a depth but no decode" -- $G4 bench tests/data/tiny-e2b -n 0 -d 8
# the first-token timing always uses a 32-token prompt, so a shorter -p must still fit it
expect 0 "bench with a prompt shorter than the first-token prompt" -- $G4 bench tests/data/tiny-e2b -t 1 -r 1 -p 8 -n 2
# the context defaults to 4096 tokens (peak RSS is reported at that size); -c sets it, and
# two reps each measure the machine's limits (the read bandwidth's range is in the JSON)
expect 2 "bench with a context that is not a number" -- $G4 bench tests/data/tiny-e2b -c 4k
expect 0 "bench with a context" -- $G4 bench tests/data/tiny-e2b -t 1 -r 2 -p 8 -n 2 -c 1000 --json
grep -q '"read_gb_s":[0-9.]*,"read_gb_s_min":[0-9.]*,"read_gb_s_max":[0-9.]*,.*"n_ctx":1000,' "$tmp/out" \
    && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_cli: bench -c json: $(head -c 400 "$tmp/out")"; }
# a model whose maximum is below 4096 (the demo model: 2048) gets its maximum
expect 0 "bench on a model with a 2048-token maximum" -- $G4 bench models/demo.gguf -t 1 -r 1 -p 8 -n 2 --json
grep -q '"n_ctx":2048,' "$tmp/out" && pass=$((pass + 1)) \
    || { fail=$((fail + 1)); echo "FAIL test_cli: bench demo context: $(head -c 400 "$tmp/out")"; }
expect 0 "bench's default context" -- $G4 bench tests/data/tiny-e2b -t 1 -r 1 -p 8 -n 2 --json
grep -q '"n_ctx":4096,' "$tmp/out" && pass=$((pass + 1)) \
    || { fail=$((fail + 1)); echo "FAIL test_cli: bench default context: $(head -c 400 "$tmp/out")"; }
expect 2 "serve with an unknown KV cache type" -- $G4 serve tests/data/tiny-e2b --kv f8
echo "test_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
