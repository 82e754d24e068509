#!/bin/sh
# ab_decode.sh - old against new decode on the GPU machine's host CPU (a quiet 16-core
# Xeon), for changes to how decode's work is split among threads rather than to the
# kernels: g4 bench -p 0 (decode and the first token only) on synthetic E2B Q4_0 at 2, 8
# and all threads and E4B Q4_0 at all threads, old and new alternately. Two source trees packed as tar
# files (git archive REV src include tools bench scripts Makefile tests/test_kernels.c
# tests/test.h):
#   OLD=.devcarry/old.tar NEW=.devcarry/wt.tar sh scripts/device/ab_decode.sh
# scripts/device/env.sh sets up cJSON and the bench-only g4. Output: $OUT, plain text.
set -e
. scripts/device/env.sh
for v in old new; do
    T=$OLD; [ $v = new ] && T=$NEW
    rm -rf /tmp/$v && mkdir -p /tmp/$v && tar -xf "$T" -C /tmp/$v
    (cd /tmp/$v && make -j"$NPROC" build/libg4.a build/tests/test_kernels build/tools/cmd_bench.o \
        > "$OUT/build-$v.log" 2>&1 &&
     cc -O2 -Itools -Iinclude /tmp/g4b.c build/tools/cmd_bench.o build/libg4.a -lcjson -lm -lpthread -o /tmp/g4b-$v)
done
/tmp/new/build/tests/test_kernels > "$OUT/test_kernels.txt" 2>&1 || true
tail -n 1 "$OUT/test_kernels.txt"
for m in e2b e4b; do /tmp/g4b-new synth $m /tmp/$m-q4_0.gguf --type q4_0 > /dev/null 2>&1; done
for m in e2b e4b; do
    TS="2 8 $NPROC"; [ $m = e4b ] && TS=$NPROC
    for t in $TS; do
        for rep in 1 2; do
            for v in old new; do
                echo "== $m q4_0 threads $t $v: $(/tmp/g4b-$v /tmp/$m-q4_0.gguf -t $t -r 2 -p 0 2>&1 | grep -E 'tg128|machine' | tr -s ' ' | tr '\n' '|')"
            done
        done
    done
done > "$OUT/bench.txt" 2>&1
cat "$OUT/bench.txt"
