#!/bin/sh
# bench.sh - `make bench-serve`: g4 serve under a bounded load on loopback.
#
# Starts the server (models/demo.gguf, else the tiny test model) with PARALLEL slots,
# warms it up, notes its resident memory, runs tests/serve/load.mjs twice (CLIENTS
# clients x REQUESTS streamed chat requests of at most MAX_TOKENS tokens each) and notes
# the memory after each run: after the first run the allocator has its working set, so
# the second must not grow it. Prints requests/s, first-token latency p50/p99 and RSS,
# then what the prefix cache saves on a 6-turn conversation (tests/serve/turns.mjs).
#   PARALLEL=8 CLIENTS=8 REQUESTS=50 MAX_TOKENS=32 make bench-serve
G4=${G4:-./g4}
PARALLEL=${PARALLEL:-8}; CLIENTS=${CLIENTS:-8}; REQUESTS=${REQUESTS:-50}; MAX_TOKENS=${MAX_TOKENS:-32}
command -v node >/dev/null 2>&1 || { echo "bench-serve: node is not installed" >&2; exit 1; }
. tests/serve/lib.sh
SERVE_MODEL=${SERVE_MODEL:-$(serve_model)}
log=$(mktemp /tmp/g4-bench-serve-XXXXXX)
trap 'kill "$SERVE_PID" 2>/dev/null; rm -f "$log"' EXIT
serve_start "$log" --parallel "$PARALLEL" --quiet ${SERVE_ARGS:-} || exit 1
url="http://127.0.0.1:$SERVE_PORT/v1"
echo "g4 serve $SERVE_MODEL, $PARALLEL slots, $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'))"
node tests/serve/load.mjs "$url" "$CLIENTS" 3 "$MAX_TOKENS" >/dev/null || { echo "warm-up failed" >&2; exit 1; }
rss0=$(serve_rss)
echo "RSS after warm-up: $rss0 kB"
rc=0
for run in 1 2; do
    out=$(node tests/serve/load.mjs "$url" "$CLIENTS" "$REQUESTS" "$MAX_TOKENS") || rc=1
    echo "run $run: $out"
    sleep 1 # the clients' connection threads end
    echo "RSS after run $run: $(serve_rss) kB"
done
node tests/serve/turns.mjs "$url" 6 || rc=1
curl -s "http://127.0.0.1:$SERVE_PORT/metrics" | grep -E '^g4_(decode|prompt|generated)'
serve_stop TERM
[ "$SERVE_RC" -eq 0 ] || { echo "server exit $SERVE_RC" >&2; rc=1; }
exit $rc
