#!/bin/sh
# bench-compare.sh - g4 and llama.cpp on the same GGUF files, one model after the other
# (g4 bench, then llama.cpp's through tests/llamacpp/bench.mjs), so each pair is measured
# in the same few minutes: on a shared machine whose speed drifts, figures from different
# hours do not compare. The README's Speed table comes from it.
#   sh scripts/bench-compare.sh [-t THREADS] [-r REPS] FILE.gguf ...
# Needs `make` (./g4) and the llama.cpp reference (tests/llamacpp/setup.sh).
set -eu
T=2; R=3
while [ $# -gt 0 ]; do
    case $1 in
    -t) T=$2; shift 2 ;;
    -r) R=$2; shift 2 ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "usage: bench-compare.sh [-t THREADS] [-r REPS] FILE.gguf ..." >&2; exit 2; }
for f in "$@"; do
    echo "== g4 $f"
    ./g4 bench "$f" -t "$T" -r "$R" | tail -n 6
    echo "== llama.cpp $f"
    node tests/llamacpp/bench.mjs "$f" --threads "$T" --reps "$R"
done
