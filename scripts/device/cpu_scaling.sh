#!/bin/sh
# cpu_scaling.sh - CPU figures the 2-vCPU build machine cannot give, taken on the GPU
# machine's host CPU (run there from the repository root, e.g. through the device tool):
#   1. the AVX-512 VNNI kernel table checked against the reference (test_kernels; the
#      build machine's VM hides AVX-512, so only this run exercises those kernels);
#   2. make kbench on one thread, AVX-512 and AVX2 tables;
#   3. g4 bench on a synthetic E2B Q4_0 at 1, 2, 4, 8 and all threads (thread scaling).
# scripts/device/env.sh sets up cJSON and a g4 with only synth and bench (that machine
# has no libedit, libmicrohttpd or cJSON). Output goes to $OUT (or ./out) as plain text.
set -e
. scripts/device/env.sh
{
    lscpu | grep -E "Model name|^CPU\(s\)|Thread|Flags" | sed 's/Flags:.*\(avx512[a-z_]*\).*/Flags: (avx512 present)/'
    grep -o 'avx512[a-z_]*\|avx_vnni' /proc/cpuinfo | sort -u | tr '\n' ' '; echo
} > "$OUT/cpu.txt" 2>&1
build_tree
{ ./build/bench/kbench; G4_CPU_ISA=avx2 ./build/bench/kbench; } > "$OUT/kbench.txt" 2>&1
cat "$OUT/kbench.txt"
/tmp/g4b synth e2b /tmp/e2b-q4_0.gguf --type q4_0 > /dev/null 2>&1
for t in 1 2 4 8 $NPROC; do
    /tmp/g4b /tmp/e2b-q4_0.gguf -t $t -r 2 -n 64 > "$OUT/bench-t$t.txt" 2>&1 || true
    echo "threads $t:"; grep -E "machine|pp512|tg64|ttft32" "$OUT/bench-t$t.txt"
done
G4_CPU_ISA=avx2 /tmp/g4b /tmp/e2b-q4_0.gguf -t $NPROC -r 2 -n 64 > "$OUT/bench-avx2-t$NPROC.txt" 2>&1 || true
echo "avx2 table, threads $NPROC:"; grep -E "machine|pp512|tg64|ttft32" "$OUT/bench-avx2-t$NPROC.txt"
