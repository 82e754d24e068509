#!/bin/sh
# decode_threads.sh - where decode's time goes at 2, 8 and all threads on the GPU
# machine's host CPU, and old against new decode there. Three builds from source trees
# packed as tar files (git archive REV src include tools bench scripts Makefile
# tests/test_kernels.c tests/test.h): OLD, NEW, and NEW with scripts/device/pool-stats.patch
# applied (STATS), which times every pool job with rdtsc and prints, at exit, the shares
# of the time the workers took to start ("wake"), the caller waited for the last worker
# ("callerwait"), a worker waited for the caller at the end ("workerwait-end"), and the
# caller worked alone between jobs ("serial"), per job function (by address). E.g.
#   OLD=.devcarry/old.tar NEW=.devcarry/wt.tar STATS=.devcarry/stats.tar sh scripts/device/decode_threads.sh
# scripts/device/env.sh sets up cJSON and the bench-only g4. Output: stdout, plain text.
set -e
. scripts/device/env.sh
for v in old new stats; do
    T=$OLD; [ $v = new ] && T=$NEW; [ $v = stats ] && T=$STATS
    rm -rf /tmp/$v && mkdir -p /tmp/$v && tar -xf "$T" -C /tmp/$v
    (cd /tmp/$v && make -j"$NPROC" build/libg4.a build/tools/cmd_bench.o > "$OUT/build-$v.log" 2>&1 &&
     cc -O2 -Itools -Iinclude /tmp/g4b.c build/tools/cmd_bench.o build/libg4.a -lcjson -lm -lpthread -o /tmp/g4b-$v) &
done
wait
lscpu | grep -E "Model name|^CPU\(s\)"
/tmp/g4b-new synth e2b /tmp/e2b-q4_0.gguf --type q4_0 > /dev/null 2>&1
for t in 2 8 $NPROC; do
    echo "== stats threads $t"
    /tmp/g4b-stats /tmp/e2b-q4_0.gguf -t $t -r 1 -p 0 -n 128 -c 512 2>&1 | grep -E "tg128 |pool|bucket|sleeps|^  0x"
done
for t in 2 8 $NPROC; do
    for rep in 1 2; do
        for v in old new; do
            echo "== e2b threads $t $v: $(/tmp/g4b-$v /tmp/e2b-q4_0.gguf -t $t -r 2 -p 0 -c 512 2>&1 | grep -E 'tg128 |machine' | tr -s ' ' | tr '\n' '|')"
        done
    done
done
