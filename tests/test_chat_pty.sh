#!/bin/sh
# test_chat_pty.sh - `g4 chat` driven like a user would, through a pseudo-terminal
# (build/tests/pty_expect): a three-turn chat whose later turns prefill only their new
# tokens (read from the --verbose stats), Ctrl-C during an answer, context overflow under
# both policies, and a save/load round trip that continues exactly like an uninterrupted
# conversation. Uses the demo model when present (real English), else a tiny fixture.
G4=${G4:-./g4}
BUILD=${BUILD:-build}
PTY=$BUILD/tests/pty_expect
pass=0; fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export TERM=dumb HOME="$tmp" # no terminal tricks, no history file of the user's
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL test_chat_pty: $1"; }
MODEL=tests/data/tiny-e2b
[ -f models/demo.gguf ] && MODEL=models/demo.gguf
CHAT="$G4 chat $MODEL --temp 0 --no-history --verbose"

# (a key typed before libedit has switched the terminal to raw mode can be lost, as on a
# real terminal; the scripts wait a moment at the prompt before Ctrl-D)

# 1. three turns: each later turn reuses the whole conversation before it
cat > "$tmp/s1" <<'EOF'
expect 20 >>> $
send Tell me about the sea.
expect 60 prompt [0-9]+ tokens
expect 20 >>> $
send What about ships?
expect 60 prompt [0-9]+ tokens
expect 20 >>> $
send And the whale?
expect 60 prompt [0-9]+ tokens
expect 20 >>> $
send /stats
expect 20 context: [0-9]+ of [0-9]+ tokens used, 3 turns
expect 20 >>> $
sleep 0.5
ctrl D
exit 20 0
EOF
if $PTY "$tmp/log1" -- $CHAT --max-tokens 24 < "$tmp/s1"; then ok; else bad "three-turn chat: $(tail -c 400 "$tmp/log1")"; fi
grep -E '^prompt [0-9]+ tokens' "$tmp/log1" | tr -d '\r' | head -n 3 > "$tmp/stats1"
[ "$(wc -l < "$tmp/stats1")" -ge 3 ] && ok || bad "three stats lines expected: $(cat "$tmp/stats1")"
# prompt P tokens (N new, R reused): turn k reuses more than all of turn k-1's prompt
awk '{ p = $2 + 0; n = substr($4, 2) + 0; r = $6 + 0;
       if (NR == 1 && r != 0) { print "turn 1 reused " r; bad = 1 }
       if (NR > 1 && !(r > prev)) { print "turn " NR " reused " r " of a previous prompt of " prev; bad = 1 }
       if (NR > 1 && !(n < p / 2)) { print "turn " NR " prefilled " n " of " p; bad = 1 }
       prev = p } END { exit bad }' "$tmp/stats1" > "$tmp/why1" && ok || bad "later turns prefilled too much: $(cat "$tmp/why1") / $(cat "$tmp/stats1")"

# 2. Ctrl-C stops a long answer and the chat goes on (and the next answer stops the same
#    way); Ctrl-C at the prompt does not leave
cat > "$tmp/s2" <<'EOF'
expect 20 >>> $
send Write a very long story about the sea, the ships and the whale.
expect 30 whale\.[[:space:]]+[^[:space:]]
sleep 0.5
ctrl C
expect 30 \[stopped\]
expect 20 >>> $
ctrl C
send Thank you.
expect 30 you\.[[:space:]]+[^[:space:]]
sleep 0.2
ctrl C
expect 30 \[stopped\]
expect 20 prompt [0-9]+ tokens
expect 20 >>> $
send /bye
exit 20 0
EOF
# (the second answer is stopped too: with --ignore-eos it would run until the context is
# full, 2,000 tokens, which took over a minute on a loaded 2-core machine)
if $PTY "$tmp/log2" -- $CHAT --max-tokens 100000 --ignore-eos < "$tmp/s2"; then ok; else bad "Ctrl-C: $(tail -c 400 "$tmp/log2")"; fi

# 3. context overflow: drop the oldest turns (default), or refuse; a message too long for
#    the context alone is refused under both
{ echo 'expect 20 >>> $'
  for w in one two three four five six seven eight; do
      echo "send Tell me a word that rhymes with $w, and a sentence with it."; echo 'expect 60 >>> $'
  done
  echo 'send /stats'; echo 'expect 20 context: [0-9]+ of 160 tokens used'; echo 'expect 20 >>> $'; echo 'sleep 0.5'; echo 'ctrl D'; echo 'exit 20 0'
} > "$tmp/s3"
if $PTY "$tmp/log3" -- $CHAT --ctx 160 --max-tokens 16 < "$tmp/s3"; then ok; else bad "overflow (drop): $(tail -c 400 "$tmp/log3")"; fi
grep -q "dropped the [0-9]* oldest message" "$tmp/log3" && ok || bad "no turn was dropped: $(tail -c 400 "$tmp/log3")"
if $PTY "$tmp/log3r" -- $CHAT --ctx 160 --max-tokens 16 --on-full refuse < "$tmp/s3"; then ok; else bad "overflow (refuse): $(tail -c 400 "$tmp/log3r")"; fi
grep -q "the message was not sent" "$tmp/log3r" && ok || bad "no message was refused: $(tail -c 400 "$tmp/log3r")"
long=$(awk 'BEGIN { for (i = 0; i < 150; i++) printf "word%d ", i }')
printf 'expect 20 >>> $\nsend %s\nexpect 30 more than the 160-token context\nexpect 20 >>> $\nsleep 0.5\nctrl D\nexit 20 0\n' "$long" > "$tmp/s3l"
if $PTY "$tmp/log3l" -- $CHAT --ctx 160 --max-tokens 16 < "$tmp/s3l"; then ok; else bad "message too long: $(tail -c 400 "$tmp/log3l")"; fi

# 4. save after a turn, load in a new process: the next answer is the one an uninterrupted
#    conversation gives, and the loaded conversation is not prefilled again
cat > "$tmp/s4a" <<EOF
expect 20 >>> \$
send Tell me about the sea.
expect 60 prompt [0-9]+ tokens
expect 20 >>> \$
send /save $tmp/conv.g4s
expect 20 saved [0-9]+ tokens
expect 20 >>> \$
mark
send What about ships?
expect 60 prompt [0-9]+ tokens
expect 20 >>> \$
save $tmp/answer_a
sleep 0.5
ctrl D
exit 20 0
EOF
cat > "$tmp/s4b" <<EOF
expect 20 loaded [0-9]+ tokens and 2 messages
expect 20 >>> \$
mark
send What about ships?
expect 60 prompt [0-9]+ tokens
expect 20 >>> \$
save $tmp/answer_b
sleep 0.5
ctrl D
exit 20 0
EOF
if $PTY "$tmp/log4a" -- $CHAT --max-tokens 24 < "$tmp/s4a"; then ok; else bad "save: $(tail -c 400 "$tmp/log4a")"; fi
if $PTY "$tmp/log4b" -- $CHAT --max-tokens 24 --load "$tmp/conv.g4s" < "$tmp/s4b"; then ok; else bad "load: $(tail -c 400 "$tmp/log4b")"; fi
# the answers (and their token counts) match; timings differ, so compare without them
strip() { tr -d '\r' < "$1" | sed -E 's/, time to first token.*//'; }
[ -s "$tmp/answer_a" ] && [ "$(strip "$tmp/answer_a")" = "$(strip "$tmp/answer_b")" ] && ok || bad "answer after load differs: [$(strip "$tmp/answer_a")] vs [$(strip "$tmp/answer_b")]"
grep -qE '\(([0-9]+) new, [1-9][0-9]* reused\)' "$tmp/answer_b" && ok || bad "the loaded conversation was prefilled again: $(cat "$tmp/answer_b")"
# a session file from another model is refused with a clear message
printf 'expect 20 zzz\n' > "$tmp/s4c"
$PTY "$tmp/log4c" -- $G4 chat tests/data/tiny-e4b --no-history --load "$tmp/conv.g4s" < "$tmp/s4c" >/dev/null 2>&1
grep -q "different model" "$tmp/log4c" && ok || bad "foreign session file: $(cat "$tmp/log4c")"

# 5. piped input (not a terminal) works too, for scripts
printf 'Hello.\n/stats\n' | $G4 chat $MODEL --temp 0 --no-history --max-tokens 4 > "$tmp/out5" 2> "$tmp/err5" && ok || bad "piped chat exit status"
grep -q "1 turns" "$tmp/err5" && ok || bad "piped chat: $(cat "$tmp/err5")"

echo "test_chat_pty: $pass passed, $fail failed"
[ $fail -eq 0 ]
