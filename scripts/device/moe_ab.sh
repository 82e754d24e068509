#!/bin/sh
# moe_ab.sh - 26B-A4B Q4_K_M prefill and decode, an old and a new g4 alternating on the GPU
# machine's host CPU (another x86 machine than the 2-vCPU VM: does a kernel change hold
# there?). OLD and NEW are source trees packed as tar files (git archive REV src include
# tools bench scripts Makefile tests/test_kernels.c tests/test.h), carried in .devcarry
# with the cJSON packages (scripts/device/env.sh), e.g.
#   OLD=.devcarry/old.tar NEW=.devcarry/new.tar sh scripts/device/moe_ab.sh
# THREADS (default "2 16") and ROUNDS (default 2) set the runs. Output: stdout.
set -e
. scripts/device/env.sh
for v in old new; do
    T=$OLD; [ $v = new ] && T=$NEW
    rm -rf /tmp/$v && mkdir -p /tmp/$v && tar -xf "$T" -C /tmp/$v
    (cd /tmp/$v && make -j"$NPROC" build/libg4.a build/tools/cmd_bench.o > "$OUT/build-$v.log" 2>&1 &&
     cc -O2 -Itools -Iinclude /tmp/g4b.c build/tools/cmd_bench.o build/libg4.a -lcjson -lm -lpthread -o /tmp/g4b-$v) &
done
wait
lscpu | grep -E "Model name|^CPU\(s\)|Flags" | sed 's/\(Flags:\).*\(avx512_vnni\).*/\1 ... \2 .../'
[ -s /tmp/26b.gguf ] || /tmp/g4b-new synth 26b-a4b /tmp/26b.gguf --type q4_k_m > /dev/null 2>&1
for t in ${THREADS:-2 16}; do
    for round in $(seq ${ROUNDS:-2}); do
        for v in old new; do
            echo "== threads $t round $round $v: $(/tmp/g4b-$v /tmp/26b.gguf -t $t -r 2 -p 512 -n 32 2>&1 | grep -E '^(pp512|tg32|ttft32) ' | tr -s ' ' | tr '\n' '|')"
        done
    done
done
