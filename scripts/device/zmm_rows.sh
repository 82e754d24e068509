#!/bin/sh
# zmm_rows.sh - the AVX-512 sideways prefill's two engines (16 rows with broadcast
# operands, 32 rows with register broadcasts; kernels_avx512.c) on the GPU machine's
# Xeon: what the start-up timing picks (kbench's first line, 5 runs), the kernel A/B of
# this tree with each engine forced (G4_ZMM_ROWS) against the base revision, whose
# sideways engine is the 16-row one, and test_kernels natively. Run from the repository
# root with .devcarry/old.tar (git archive BASE src include) and .devcarry/debs:
#   sh scripts/device/zmm_rows.sh        output: $OUT (or ./out)
set -e
. scripts/device/env.sh
build_tree
unpack_base
for i in 1 2 3 4 5; do build/bench/kbench q4_0 | head -n 1; done > "$OUT/choice.txt"
cat "$OUT/choice.txt"
SHAPES="q4_0 1536 512 64;q4_0 1536 2048 32;q4_k 1536 512 64;q6_k 1536 512 64;q8_0 1536 512 64;q8_0 1536 2048 12;q5_0 704 2816 32 20"
for rows in 16 32; do
    (IFS=';' && set -f && G4_ZMM_ROWS=$rows FORCE=1 sh scripts/kab.sh /tmp/base avx512 -- $SHAPES) | sed "s/^/rows $rows: /"
done > "$OUT/kab.txt" 2>&1
cat "$OUT/kab.txt"
