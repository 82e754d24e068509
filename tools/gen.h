/* gen.h - what `g4 run` and `g4 chat` share: the generation flags (sampling, context,
 * threads, length) with the checkpoint's defaults under them, and the loop that brings a
 * session up to a prompt and streams one answer. */
#ifndef G4_TOOLS_GEN_H
#define G4_TOOLS_GEN_H

#include "g4.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

typedef struct gen_opts {
    g4_sampler_params sp;   /* final values after gen_opts_finish */
    g4_sampler_params user; /* what the flags asked for; user_set says which */
    unsigned user_set;
    bool seed_set;
    double max_tokens, n_ctx, threads;
    bool think, verbose;
    g4_kv_type kv_type;     /* --kv f16|f32|q8_0 (--kv-f32: f32) */
    bool ignore_eos; /* keep generating past end-of-turn tokens (tests, benchmarks) */
} gen_opts;

void gen_opts_init(gen_opts *o);
/* If argv[*i] is a generation flag, consumes it (and its value) and returns 1; returns 0
 * if it is not one, -1 (message printed, prefixed with cmd) if its value is bad. */
int gen_opts_parse(gen_opts *o, const char *cmd, int argc, char **argv, int *i);
/* The checkpoint's recommended sampling under the flags; prints them with verbose. */
void gen_opts_finish(gen_opts *o, const g4_model *m);
/* Usage text of the shared flags. */
#define GEN_FLAGS_USAGE                                                                                        \
    "  --max-tokens N   longest answer (default 512)      --ctx N          context length (default 4096)\n"  \
    "  --threads N      compute threads (default: all)     --kv TYPE        KV cache: f16 (default), f32 (exact,\n"          \
    "                   2x memory) or q8_0 (0.53x memory); --kv-f32 is --kv f32\n"                                     \
    "  --temp T  --top-k K  --top-p P  --min-p P  --repeat-penalty R  --presence-penalty P\n"              \
    "  --frequency-penalty P   sampling (defaults: the checkpoint's, else temp 1, top-k 64, top-p 0.95)\n"  \
    "  --seed N         reproducible sampling          --think          show the model's thinking\n"         \
    "  --verbose        timing statistics on stderr    --ignore-eos     do not stop at end of turn\n"

/* Opens the model and its tokenizer, with messages that say what to do when that fails
 * (no such file, not a Gemma 4 checkpoint, a truncated download). Returns 0 or 1
 * (message printed, prefixed "g4 cmd: "). With verbose, a line about what was loaded. */
int gen_load(const char *cmd, const char *path, g4_model **m, g4_tokenizer **tok, bool verbose);
/* A session with the options' context, threads and cache type; 0 or 1 (message printed). */
int gen_session(const char *cmd, g4_model *m, const gen_opts *o, g4_session **s);

typedef struct gen_stats {
    int32_t n_prompt;   /* tokens of the prompt (the whole conversation) */
    int32_t n_reused;   /* of them, found in the cache: not evaluated again */
    int32_t n_gen;      /* tokens generated */
    double t_prefill;   /* seconds to bring the session up to the prompt (time to first token) */
    double t_decode;    /* seconds for the rest */
    bool stopped;       /* by the interrupt flag */
    bool ctx_full;      /* the context filled up during the answer */
    bool thought;       /* the answer opened the thought channel */
} gen_stats;

/* Streams an answer: makes the session's timeline equal ids (reusing what it can), then
 * samples until an end-of-turn token (unless ignore_eos), max_tokens, a full context, or *interrupt becomes
 * non-zero. The answer goes to `out` as it is generated (UTF-8 safe); the thought channel
 * goes to `thought` (NULL: hidden). With `answer` non-NULL, the answer text (without the
 * thought) is also returned there (allocated; caller frees). */
g4_status gen_reply(g4_session *s, const g4_tokenizer *tok, g4_sampler *smp, const int32_t *ids, size_t n_ids,
                    int32_t max_tokens, bool ignore_eos, FILE *out, FILE *thought, volatile sig_atomic_t *interrupt, char **answer,
                    gen_stats *st, g4_error *err);

/* One stats line: "prompt N tokens (M new), time to first token ..., prefill ... tok/s, decode ... tok/s" */
void gen_print_stats(FILE *f, const gen_stats *st);

double gen_now(void);

#endif
