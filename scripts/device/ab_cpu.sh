#!/bin/sh
# ab_cpu.sh - old against new CPU kernels on the GPU machine's host CPU (a quiet 16-core
# Xeon with AVX-512 VNNI, where the build VM is a noisy 2-vCPU AVX2 one). Run from the
# repository root with two source trees packed as tar files (git archive REV src include
# tools bench scripts Makefile tests/test_kernels.c tests/test.h):
#   OLD=.devcarry/old.tar NEW=.devcarry/wt.tar [KAB_FORCE=1] sh scripts/device/ab_cpu.sh
# It builds both, runs the new test_kernels (the only run of the AVX-512 table), the
# in-process kernel A/B (scripts/kab.sh: both x86 tables, prefill and decode shapes) and
# kbench for both trees, and g4 bench on synthetic E2B Q4_0 and Q4_K_M at 2 and all
# threads, old and new alternately. scripts/device/env.sh sets up cJSON and
# the bench-only g4. Output: $OUT (or ./out), plain text.
set -e
. scripts/device/env.sh
for v in old new; do
    T=$OLD; [ $v = new ] && T=$NEW
    rm -rf /tmp/$v && mkdir -p /tmp/$v && tar -xf "$T" -C /tmp/$v
    (cd /tmp/$v && make -j"$NPROC" build/libg4.a build/tests/test_kernels build/bench/kbench build/tools/cmd_bench.o \
        > "$OUT/build-$v.log" 2>&1 &&
     cc -O2 -Itools -Iinclude /tmp/g4b.c build/tools/cmd_bench.o build/libg4.a -lcjson -lm -lpthread -o /tmp/g4b-$v)
done
/tmp/new/build/tests/test_kernels > "$OUT/test_kernels.txt" 2>&1 || true
tail -n 3 "$OUT/test_kernels.txt"
# FORCE=1: kab.sh refuses tables whose kernels.h differs; set it (KAB_FORCE=1) only when
# the change keeps the struct's prefix (e.g. a field added at the end)
# KAB_SHAPES="q4_0 1536 512 32;q4_1 1536 512 32" replaces the default shapes
SHAPES=${KAB_SHAPES:-"q4_0 1536 512 64;q4_k 1536 512 64;q6_k 1536 512 64;q8_0 1536 512 64;\
q4_0 1536 256 1 300;q4_k 1536 256 1 300;q5_k 1536 256 1 300;q6_k 1536 256 1 300;\
q4_0 1536 60000 1 6;q4_k 1536 60000 1 6;q6_k 1536 60000 1 6;q8_0 1536 60000 1 6;\
q4_0 2816 1408 2 20;q4_k 2816 1408 2 20;q4_k 2816 1408 4 20;q4_k 2816 20000 4 6;\
q5_0 704 2816 2 20;q5_0 704 80000 2 6;q5_0 704 2816 32 20"}
for isa in avx512 avx2; do
    (cd /tmp/new && IFS=';' && set -f && FORCE=${KAB_FORCE:-0} sh scripts/kab.sh /tmp/old $isa -- $SHAPES) || true
done > "$OUT/kab.txt" 2>&1
cat "$OUT/kab.txt"
for rep in 1 2; do
    for v in old new; do
        for isa in avx512 avx2; do
            echo "== $v $isa rep $rep"; G4_CPU_ISA=$isa /tmp/$v/build/bench/kbench q4_0 q4_k q5_k q4_1 q5_1 | tail -n 5
        done
    done
done > "$OUT/kbench.txt" 2>&1
cat "$OUT/kbench.txt"
/tmp/g4b-new synth e2b /tmp/e2b-q4_0.gguf --type q4_0 > /dev/null 2>&1
/tmp/g4b-new synth e2b /tmp/e2b-q4_k_m.gguf --type q4_k_m > /dev/null 2>&1
for m in q4_0 q4_k_m; do
    for t in 2 $NPROC; do
        for rep in 1 2; do
            for v in old new; do
                echo "== $m threads $t $v: $(/tmp/g4b-$v /tmp/e2b-$m.gguf -t $t -r 1 -n 64 2>&1 | grep -E 'pp512|tg64|ttft32|machine' | tr -s ' ' | tr '\n' '|')"
            done
        done
    done
done > "$OUT/bench.txt" 2>&1
cat "$OUT/bench.txt"
