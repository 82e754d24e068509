# env.sh - sourced by the scripts in this folder on the GPU machine: that machine has
# no libedit / libmicrohttpd and no cJSON, so cJSON comes from Debian packages carried
# in .devcarry/debs (apt-get download libcjson1 libcjson-dev), unpacked into
# /tmp/g4deps, and the g4 command is linked with only its synth and bench commands
# (tools/cmd_bench.c needs nothing but libg4) from /tmp/g4b.c, written here:
#   cc -O2 -Itools -Iinclude /tmp/g4b.c build/tools/cmd_bench.o build/libg4.a -lcjson -lm -lpthread
# Sets OUT (default ./out, created) and NPROC.
OUT=${OUT:-out}
mkdir -p "$OUT" /tmp/g4deps
for d in .devcarry/debs/*.deb; do dpkg -x "$d" /tmp/g4deps; done
export CPATH=/tmp/g4deps/usr/include LIBRARY_PATH=/tmp/g4deps/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=/tmp/g4deps/usr/lib/x86_64-linux-gnu
NPROC=$(nproc)
# (write_progress lives in tools/g4.c, which holds the full command's main: a silent one here)
printf '#include <stdint.h>\n#include "commands.h"\n#include <string.h>\nvoid write_progress(void *u, int64_t d, int64_t t) { (void)u; (void)d; (void)t; }\nint main(int c, char **v) { return c > 1 && !strcmp(v[1], "synth") ? cmd_synth(c - 2, v + 2) : cmd_bench(c - 1, v + 1); }\n' > /tmp/g4b.c

# build_tree: this tree's library, test_kernels, kbench and /tmp/g4b (build log in
# $OUT/build.log), then test_kernels natively, its output in $OUT/test_kernels.txt and
# the counts line printed. unpack_base: .devcarry/old.tar (a base revision's tree) into
# /tmp/base.
build_tree() {
    make -j"$NPROC" build/libg4.a build/tests/test_kernels build/bench/kbench build/tools/cmd_bench.o > "$OUT/build.log" 2>&1
    cc -O2 -Itools -Iinclude /tmp/g4b.c build/tools/cmd_bench.o build/libg4.a -lcjson -lm -lpthread -o /tmp/g4b
    build/tests/test_kernels > "$OUT/test_kernels.txt" 2>&1 || true
    tail -n 1 "$OUT/test_kernels.txt"
}
unpack_base() { rm -rf /tmp/base && mkdir -p /tmp/base && tar -xf .devcarry/old.tar -C /tmp/base; }
