#!/bin/sh
# avxvnni_ab.sh - the AVX-VNNI table (kernels_avxvnni.c) against the AVX2 one on the GPU
# machine's Xeon: Sapphire Rapids, whose Golden Cove cores are Alder Lake's P-cores with
# AVX-512 added, so G4_CPU_ISA=avx2 / avxvnni there stand for an Intel laptop without
# AVX-512. Run from the repository root with the base revision's tree packed as
#   git archive REV src include tools bench scripts Makefile tests/test_kernels.c tests/test.h > .devcarry/old.tar
# It builds this tree, runs test_kernels (the only native run of the VEX-encoded table:
# the build machine's Zen 4 lacks AVX-VNNI and tests its AVX-512 VL encoding), the
# in-process kernel A/B of the base revision's AVX2 table against this tree's AVX-VNNI
# one (scripts/kab.sh with NEW_ISA=avxvnni), kbench for both levels, and g4 bench on
# synthetic E2B Q4_0 and Q4_K_M at 4 threads and all, the two levels alternately.
# scripts/device/env.sh sets up cJSON and the bench-only g4. Output: $OUT, plain text.
set -e
. scripts/device/env.sh
build_tree
unpack_base
SHAPES=${KAB_SHAPES:-"q4_0 1536 512 64;q4_k 1536 512 64;q5_k 1536 512 64;q6_k 1536 512 64;q8_0 1536 512 64;\
q5_0 1536 512 64;q4_1 1536 512 64;iq4_xs 1536 512 64;iq4_nl 1536 512 64;q4_0 1536 512 8;q4_k 1536 512 8;\
q4_0 1536 256 1 300;q4_k 1536 256 1 300;q6_k 1536 256 1 300;q8_0 1536 256 1 300;iq4_xs 1536 256 1 300;\
q4_0 1536 60000 1 6;q4_k 1536 60000 1 6;q5_0 704 2816 2 20"}
(IFS=';' && set -f && NEW_ISA=avxvnni FORCE=1 sh scripts/kab.sh /tmp/base avx2 -- $SHAPES) > "$OUT/kab.txt" 2>&1 || true
cat "$OUT/kab.txt"
for isa in avx2 avxvnni; do
    echo "== kbench $isa"; G4_CPU_ISA=$isa build/bench/kbench 2>&1 | tail -n 30
done > "$OUT/kbench.txt" 2>&1
cat "$OUT/kbench.txt"
[ -f /tmp/e2b-q4_0.gguf ] || /tmp/g4b synth e2b /tmp/e2b-q4_0.gguf --type q4_0 > /dev/null
[ -f /tmp/e2b-q4_k_m.gguf ] || /tmp/g4b synth e2b /tmp/e2b-q4_k_m.gguf --type q4_k_m > /dev/null
for f in q4_0 q4_k_m; do
    for t in 4 "$NPROC"; do
        for rep in 1 2; do
            for isa in avx2 avxvnni; do
                echo "== e2b-$f $isa -t $t rep $rep"
                G4_CPU_ISA=$isa /tmp/g4b /tmp/e2b-$f.gguf -t "$t" -r 1 2>&1 | grep -E "^(pp512|tg128|ttft32|machine)"
            done
        done
    done
done > "$OUT/bench.txt" 2>&1
cat "$OUT/bench.txt"
