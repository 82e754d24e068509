#!/bin/sh
# bf16_cpu.sh - the AVX512_BF16 table (src/cpu/kernels_avx512bf16.c) on the GPU machine's
# host CPU, an Intel Xeon whose VDPBF16PS is Intel's implementation (the build VM's is
# AMD Zen 4's). Run from the repository root with the tree packed as a tar file (git archive
# REV src include tools bench scripts Makefile tests/test_kernels.c tests/test.h):
#   NEW=.devcarry/wt.tar sh scripts/device/bf16_cpu.sh
# Builds it, runs test_kernels (every table against the scalar one, and BF16's batch
# invariance), the in-process kernel A/B of the AVX-512 table's BF16 kernel against the
# AVX512_BF16 one (kab.sh, NEW_ISA), and g4 bench on a synthetic E2B BF16 with
# G4_CPU_ISA=avx512 and avx512bf16 alternately, at 2 and all threads. Output: $OUT.
set -e
. scripts/device/env.sh
grep -o -m1 'avx512_bf16' /proc/cpuinfo > "$OUT/cpu.txt" || echo "no avx512_bf16" > "$OUT/cpu.txt"
grep -m1 'model name' /proc/cpuinfo >> "$OUT/cpu.txt"
cat "$OUT/cpu.txt"
rm -rf /tmp/new && mkdir -p /tmp/new && tar -xf "$NEW" -C /tmp/new
(cd /tmp/new && make -j"$NPROC" build/libg4.a build/tests/test_kernels build/tools/cmd_bench.o > "$OUT/build.log" 2>&1 &&
 cc -O2 -Itools -Iinclude /tmp/g4b.c build/tools/cmd_bench.o build/libg4.a -lcjson -lm -lpthread -o /tmp/g4b)
/tmp/new/build/tests/test_kernels > "$OUT/test_kernels.txt" 2>&1 || true
grep -E 'best kernel|FAIL|passed' "$OUT/test_kernels.txt" | head -20
SHAPES=${KAB_SHAPES:-"bf16 1536 512 256 5;bf16 1536 64 256 20;bf16 6144 64 256 5;bf16 2048 64 64 20;\
bf16 1536 512 16 20;bf16 1536 60000 1 3;bf16 6144 20000 1 3"}
(cd /tmp/new && IFS=';' && set -f && FORCE=1 NEW_ISA=avx512bf16 sh scripts/kab.sh /tmp/new avx512 -- $SHAPES) \
    > "$OUT/kab.txt" 2>&1 || true
cat "$OUT/kab.txt"
/tmp/g4b synth e2b /tmp/e2b-bf16.gguf --type bf16 > /dev/null 2>&1
for t in 2 $NPROC; do
    for rep in 1 2; do
        for isa in avx512 avx512bf16; do
            echo "== threads $t $isa: $(G4_CPU_ISA=$isa /tmp/g4b /tmp/e2b-bf16.gguf -t $t -r 1 -n 64 2>&1 | grep -E 'pp512|tg64|ttft32|machine' | tr -s ' ' | tr '\n' '|')"
        done
    done
done > "$OUT/bench.txt" 2>&1
cat "$OUT/bench.txt"
