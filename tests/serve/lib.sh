# lib.sh - starting and stopping `g4 serve` for the tests and the benchmark (sourced).
#
#   serve_model                    models/demo.gguf when it exists, else tests/data/tiny-e2b
#   serve_start LOG ARGS...        starts $G4 serve MODEL --port 0 ARGS in the background;
#                                  sets SERVE_PID and SERVE_PORT (0 and 1 if it never listened)
#   serve_stop [SIGNAL]            signals it (default TERM) and waits; sets SERVE_RC
#   serve_rss                      the server's resident memory in kB

serve_model() {
    if [ -f models/demo.gguf ]; then echo models/demo.gguf; else echo tests/data/tiny-e2b; fi
}

serve_start() {
    _log=$1; shift
    : > "$_log"
    "$G4" serve "$SERVE_MODEL" --port 0 "$@" >"$_log" 2>&1 &
    SERVE_PID=$!
    SERVE_PORT=
    _i=0
    while [ $_i -lt 600 ]; do # up to 60 s: loading under sanitizers is slow
        SERVE_PORT=$(sed -n 's#.* on http://[^ ]*:\([0-9][0-9]*\)/v1 .*#\1#p' "$_log" | head -n 1)
        [ -n "$SERVE_PORT" ] && return 0
        kill -0 "$SERVE_PID" 2>/dev/null || break
        sleep 0.1; _i=$((_i + 1))
    done
    echo "g4 serve did not start: $(head -c 500 "$_log")" >&2
    return 1
}

serve_stop() {
    kill -"${1:-TERM}" "$SERVE_PID" 2>/dev/null
    wait "$SERVE_PID"; SERVE_RC=$?
}

serve_rss() {
    sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$SERVE_PID/status"
}
