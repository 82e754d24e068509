/* commands.h - subcommands of the `g4` tool that live in their own files. Each takes
 * the arguments after its name (argv[0] is the first of them) and returns the exit
 * status: 0 on success, 1 on failure, 2 on a usage error. */
#ifndef G4_TOOLS_COMMANDS_H
#define G4_TOOLS_COMMANDS_H

#include <stdint.h>

/* g4 tokenize PATH "text" [--ids] [--file F] [--special] [--bos]
 * g4 tokenize PATH --bench FILE [--reps N]                    (tools/cmd_tokenize.c) */
int cmd_tokenize(int argc, char **argv);

/* g4 template PATH --messages FILE [--tools FILE] [--think] [--no-generation-prompt] [--ids]
 *                                                             (tools/cmd_tokenize.c) */
int cmd_template(int argc, char **argv);

/* g4 bench PATH [-t THREADS] [-r REPS] [-p N] [-n N] [--kv TYPE] [--json]  (tools/cmd_bench.c) */
int cmd_bench(int argc, char **argv);

/* g4 synth e2b|e4b|26b-a4b|31b OUT.gguf [--type T]              (tools/cmd_bench.c) */
int cmd_synth(int argc, char **argv);

/* g4 run PATH "prompt" [--system T] [--think] [--raw] [--max-tokens N] ... (tools/cmd_run.c) */
int cmd_run(int argc, char **argv);

/* g4 chat PATH [--system T] [--load FILE] [--on-full drop|refuse] ...  (tools/cmd_chat.c) */
int cmd_chat(int argc, char **argv);

/* g4 serve PATH [--host H] [--port N] [--parallel N] [--ctx N] [--api-key KEY] ...  (tools/cmd_serve.c) */
int cmd_serve(int argc, char **argv);

/* g4 perplexity PATH FILE [--ctx N] [--stride N] [--kl-base PATH2]  (tools/cmd_perplexity.c) */
int cmd_perplexity(int argc, char **argv);

/* progress callback of the commands that write GGUF files (g4 convert, quantize, synth)
 *                                                             (tools/g4.c) */
void write_progress(void *user, int64_t done, int64_t total);

#endif
