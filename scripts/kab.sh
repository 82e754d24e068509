#!/bin/sh
# kab.sh REV [ISA] -- KAB_ARGS: builds build/bench/kab, which calls one x86 kernel table
# as of git revision REV ("base"; or a directory holding that revision's src/ and
# include/, where there is no git) and as in this tree ("new") alternately in one process
# (bench/kab.c says why), then runs it once per argument set after --, e.g.
#   sh scripts/kab.sh HEAD~1 avx2 -- "q4_0 1536 512 64" "q4_k 1536 60000 1 6"
# ISA: avx2 (default), avxvnni (a CPU with AVX-VNNI only), avx512 or avx512bf16. NEW_ISA=LEVEL takes this tree's table of
# another level as "new" (NEW_ISA=avx512bf16 with ISA avx512: what VDPBF16PS gains over the
# AVX-512 table). Needs `make` to have built build/libg4.a.
set -eu
[ $# -ge 1 ] || { echo "usage: kab.sh REV [avx2|avxvnni|avx512|avx512bf16] -- \"TYPE COLS ROWS TOKENS [REPS]\" ..." >&2; exit 2; }
REV=$1; shift
ISA=avx2
if [ $# -ge 1 ] && [ "$1" != "--" ]; then ISA=$1; shift; fi
[ $# -ge 1 ] && [ "$1" = "--" ] && shift
case $ISA in
avx2) FLAGS="-mavx2 -mfma -mf16c" ;;
avxvnni) FLAGS="-mavx2 -mfma -mf16c -mavxvnni" ;;
avx512) FLAGS="-mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni" ;;
avx512bf16) FLAGS="-mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni -mavx512bf16" ;;
*) echo "kab.sh: ISA is avx2, avxvnni, avx512 or avx512bf16" >&2; exit 2 ;;
esac
BASE=$(mktemp -d)
trap 'rm -rf "$BASE"' EXIT
if [ -d "$REV" ]; then cp -r "$REV/src" "$REV/include" "$BASE/"; else git archive "$REV" src include | tar -x -C "$BASE"; fi
# both tables fill the same struct: a revision with another cpu_kernels layout would
# write garbage into it
if ! cmp -s "$BASE/src/cpu/kernels.h" src/cpu/kernels.h; then
    echo "kab.sh: src/cpu/kernels.h differs from $REV; the tables may not be comparable (FORCE=1 runs anyway)" >&2
    [ "${FORCE:-0}" = 1 ] || exit 1
fi
CC=${CC:-cc}
mkdir -p build/bench
# the revision's table, its fill function (and kernels_avx512.c's other globals) renamed; its own headers (quoted includes
# resolve next to the including file first)
$CC -std=c11 -D_DEFAULT_SOURCE -O2 $FLAGS -I"$BASE/include" -I"$BASE/src" -Dkernels_${ISA}_fill=kab_base_fill -Dkernels_avx512_rows=kab_base_rows -Dkernels_avx512_rows_why=kab_base_rows_why \
    -c "$BASE/src/cpu/kernels_$ISA.c" -o build/bench/kab_base.o
$CC -std=c11 -D_DEFAULT_SOURCE -O2 -Wall -Wextra -Werror -Iinclude -Isrc -DKAB_NEW_FILL=kernels_${NEW_ISA:-$ISA}_fill \
    bench/kab.c build/bench/kab_base.o build/libg4.a -lcjson -lm -lpthread -o build/bench/kab
for args in "$@"; do
    # shellcheck disable=SC2086
    build/bench/kab $args
done
