#!/bin/sh
# attn_ab.sh - this tree's x86 attention kernels against a base revision's, on the GPU
# machine's host CPU (Sapphire Rapids: the L2 prefetches were tuned on the Zen 4 VM),
# in one process (attn_ab.c): kbench's attention lines for this tree, then E2B Q4_0 decode
# 4000 tokens deep at 4 threads and all, a 4096-token prefill at all, with the
# AVX-512 and AVX2 tables, and 16000 deep on AVX-512 at all threads (results/2026-11-28-attn-prefetch-xeon.txt);
# the base revision's tree packed as
#   git archive REV src include > .devcarry/old.tar
# scripts/device/env.sh sets up cJSON and the bench-only g4. Output: $OUT, plain text.
set -e
. scripts/device/env.sh
build_tree
unpack_base
X86="-mavx2 -mfma -mf16c"
AVX512="$X86 -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni"
for isa in avx2 avx512; do
    F=$X86; [ $isa = avx512 ] && F=$AVX512
    cc -std=c11 -D_DEFAULT_SOURCE -O2 $F -I/tmp/base/include -I/tmp/base/src -Dkernels_${isa}_fill=base_fill -Dkernels_avx512_rows=base_rows -Dkernels_avx512_rows_why=base_rows_why \
        -c /tmp/base/src/cpu/kernels_$isa.c -o /tmp/base_$isa.o
    cc -O2 -Iinclude -Isrc scripts/device/attn_ab.c /tmp/base_$isa.o build/libg4.a -lcjson -lm -lpthread -o /tmp/attn_ab_$isa
done
for isa in avx2 avx512; do
    echo "== kbench attention, $isa (this tree)"
    G4_CPU_ISA=$isa build/bench/kbench q4_0 2>&1 | grep attention
done | tee "$OUT/kbench.txt"
[ -f /tmp/e2b-q4_0.gguf ] || /tmp/g4b synth e2b /tmp/e2b-q4_0.gguf --type q4_0 > /dev/null
{
    for isa in avx512 avx2; do
        for t in 4 "$NPROC"; do G4_CPU_ISA=$isa /tmp/attn_ab_$isa /tmp/e2b-q4_0.gguf 12 6 "$t" 4000; done
        G4_CPU_ISA=$isa /tmp/attn_ab_$isa /tmp/e2b-q4_0.gguf 3 4096 "$NPROC" 0 prefill
    done
    G4_CPU_ISA=avx512 /tmp/attn_ab_avx512 /tmp/e2b-q4_0.gguf 8 4 "$NPROC" 16000
} 2>&1 | tee "$OUT/ab.txt"
