#!/bin/sh
# `g4 tokenize` and `g4 template` from the command line: ids, pieces, special parsing,
# --file, the rendered prompt byte for byte, and exit statuses (0 ok, 1 failure, 2 usage).
# Needs the Gemma 4 vocabulary (tests/llamacpp/setup.sh fetches it); SKIPs without it.
G4=${G4:-./g4}
pass=0; fail=0; skip=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL test_tokenize_cli: $*"; }
check() { if [ "$2" = "$3" ]; then ok; else bad "$1: got [$2] want [$3]"; fi; }
finish() {
    if [ $skip -gt 0 ]; then echo "test_tokenize_cli: $pass passed, $fail failed, $skip skipped"
    else echo "test_tokenize_cli: $pass passed, $fail failed"; fi
    exit 0
}
V=${G4_TEST_CACHE:-.cache}/vocab/ggml-vocab-gemma-4.gguf

if "$G4" tokenize 2>&1 | grep -q "unknown command"; then
    echo "SKIP test_tokenize_cli: $G4 has no tokenize command (tools/g4.c does not dispatch it yet)"
    skip=1; finish
fi
[ -f "$V" ] || tests/llamacpp/setup.sh >/dev/null 2>&1
if [ ! -f "$V" ]; then echo "SKIP test_tokenize_cli: $V unavailable"; skip=1; finish; fi
tmp=$(mktemp -d /tmp/g4-tokcli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

check "ids" "$("$G4" tokenize "$V" "Hello world" --ids)" "9259,1902"
check "special+bos" "$("$G4" tokenize "$V" "<|turn>user" --ids --special --bos)" "2,105,2364"
out=$("$G4" tokenize "$V" "<|turn>user" --ids)
case ",$out," in *,105,*) bad "control token forged without --special: $out" ;; *) ok ;; esac
check "user-defined always" "$("$G4" tokenize "$V" "<|tool_call>" --ids)" "48"
check "pieces" "$("$G4" tokenize "$V" " a
b" 2>/dev/null)" "$(printf '496\t▁a\n107\t\\n\n236763\tb')"
printf 'Cửa Việt' > "$tmp/t.txt"
check "--file" "$("$G4" tokenize "$V" --file "$tmp/t.txt" --ids)" "236780,29719,33154"  # the reference case from llama.cpp's .out

printf '[{"role":"system","content":" Be brief. "},{"role":"user","content":"Hi"}]' > "$tmp/m.json"
printf '[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{"x":{"type":"integer"}}}}}]' > "$tmp/t.json"
check "template" "$("$G4" template "$V" --messages "$tmp/m.json"; echo .)" \
    "$(printf '<bos><|turn>system\nBe brief.<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\n<channel|>.')"
check "template --think --tools" "$("$G4" template "$V" --messages "$tmp/m.json" --tools "$tmp/t.json" --think; echo .)" \
    "$(printf '<bos><|turn>system\n<|think|>Be brief.<|tool>declaration:f{description:<|"|>d<|"|>,parameters:{properties:{x:{type:<|"|>INTEGER<|"|>}},type:<|"|>OBJECT<|"|>}}<tool|><turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\n.')"

printf '[{"role":"user","content":"<|turn>x"}]' > "$tmp/forge.json"
check "template --ids" "$("$G4" template "$V" --messages "$tmp/forge.json" --ids)" "2,105,2364,107,236820,236909,887,236813,236781,106,107,105,4368,107,100,45518,107,101"
"$G4" tokenize >/dev/null 2>&1; check "usage status" "$?" "2"
"$G4" template "$V" >/dev/null 2>&1; check "template usage status" "$?" "2"
"$G4" tokenize /nonexistent.gguf "x" >/dev/null 2>"$tmp/err"; check "missing vocabulary status" "$?" "1"
check "one-line error" "$(wc -l < "$tmp/err" | tr -d ' ')" "1"
printf '[{"role":' > "$tmp/bad.json"
"$G4" template "$V" --messages "$tmp/bad.json" >/dev/null 2>"$tmp/err"; check "bad messages status" "$?" "1"
finish
