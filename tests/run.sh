#!/bin/sh
# Runs the test binaries named on the command line (from $BUILD/tests), then any shell
# tests (tests/test_*.sh), and prints the summed "N passed, M failed" line. Exits
# non-zero if anything failed or a binary crashed.
BUILD=${BUILD:-build}
passed=0; failed=0; skipped=0; crashed=0
count() { # parse "name: N passed, M failed[, K skipped]" lines
    line=$(printf '%s\n' "$1" | grep -E '^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed' | tail -n 1)
    [ -n "$line" ] || return 1
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    s=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p')
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + ${s:-0}))
}
for t in "$@"; do
    out=$("$BUILD/tests/$t" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -E '^(FAIL|SKIP)' 
    printf '%s\n' "$out" | tail -n 1
    if ! count "$out" || { [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -q ' [1-9][0-9]* failed'; }; then
        echo "$t: crashed or printed no summary (exit $rc)"; crashed=$((crashed + 1))
    fi
done
for t in tests/test_*.sh; do
    [ -f "$t" ] || continue
    out=$(G4=${G4:-./g4} sh "$t" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -E '^(FAIL|SKIP)'
    printf '%s\n' "$out" | tail -n 1
    if ! count "$out"; then echo "$t: printed no summary (exit $rc)"; crashed=$((crashed + 1)); fi
done
failed=$((failed + crashed))
if [ "$skipped" -gt 0 ]; then echo "total: $passed passed, $failed failed, $skipped skipped"
else echo "total: $passed passed, $failed failed"; fi
[ "$failed" -eq 0 ]
