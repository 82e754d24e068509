/* g4.h - the public C API of g4, an inference engine for Google's Gemma 4 models.
 *
 * A g4_model is a loaded checkpoint: hyper-parameters plus read-only weights that stay
 * memory-mapped from the file (GGUF) or files (Hugging Face safetensors directory) they
 * came from. A g4_session is one mutable inference timeline over a model: its KV cache,
 * its position and the logits of its last evaluation. Many sessions may share one model.
 *
 * Usage:
 *     g4_error err;
 *     g4_model *m;
 *     if (g4_model_open(&m, "gemma-4-e2b.gguf", NULL, &err) != G4_OK) { puts(err.msg); ... }
 *     g4_session *s;
 *     g4_session_create(&s, m, NULL, &err);              // NULL params: defaults
 *     int32_t toks[] = {2, 818, 5279};
 *     g4_session_eval(s, toks, 3, &err);                 // appends 3 tokens to the timeline
 *     const float *logits = g4_session_logits(s, -1);    // n_vocab floats, last position
 *     ...
 *     g4_session_free(s); g4_model_free(m);
 *
 * Errors: every fallible call returns a g4_status and, when `err` is non-NULL, fills it
 * with the same status and a one-line message naming the file and the problem. The
 * library never exits, never aborts on bad input and never prints.
 *
 * Threads: a model is immutable after g4_model_open and may be shared by threads. A
 * session must be used by one thread at a time. */
#ifndef G4_H
#define G4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define G4_VERSION "0.1.0"

typedef enum g4_status {
    G4_OK = 0,
    G4_ERR_IO,           /* a file could not be opened, read, mapped or written */
    G4_ERR_FORMAT,       /* a file is malformed, truncated or inconsistent */
    G4_ERR_UNSUPPORTED,  /* well-formed but not something g4 runs (architecture, tensor type) */
    G4_ERR_NOMEM,        /* an allocation failed or would exceed a sane bound */
    G4_ERR_ARG,          /* the caller passed an invalid argument */
    G4_ERR_CONTEXT_FULL, /* the session has no room for the tokens */
    G4_ERR_MISMATCH,     /* a saved session belongs to another model or other settings */
} g4_status;

typedef struct g4_error {
    g4_status status;
    char msg[512];
} g4_error;

/* Tensor storage types. The values are GGUF's (ggml_type) so they can be written to and
 * read from files without translation. */
typedef enum g4_dtype {
    G4_DTYPE_F32 = 0,
    G4_DTYPE_F16 = 1,
    G4_DTYPE_Q4_0 = 2,
    G4_DTYPE_Q8_0 = 8,
    G4_DTYPE_BF16 = 30,
} g4_dtype;

typedef struct g4_model g4_model;
typedef struct g4_session g4_session;

/* The shape of a loaded model, for display and for sizing buffers. */
typedef struct g4_model_info {
    const char *variant;      /* "e2b", "e4b", "26b-a4b", "31b" or "custom" */
    const char *source;       /* "gguf" or "safetensors" */
    int32_t n_vocab;
    int32_t n_layer;
    int32_t n_embd;           /* hidden size H */
    int32_t n_head;           /* query heads */
    int32_t n_head_kv_swa;    /* KV heads of sliding-window layers */
    int32_t n_head_kv_global; /* KV heads of global layers */
    int32_t head_dim_swa;
    int32_t head_dim_global;
    int32_t n_ff;             /* dense MLP width of layer 0 */
    int32_t sliding_window;
    int32_t n_layer_kv_shared;/* trailing layers that reuse an earlier layer's KV */
    int32_t n_embd_per_layer; /* per-layer-embedding width (0: none) */
    int32_t n_expert;         /* 0: dense */
    int32_t n_expert_used;
    int32_t n_ff_expert;
    int32_t n_ctx_train;
    bool attention_k_eq_v;
    float final_logit_softcap;
    int64_t n_params;         /* elements in all tensors the model uses */
    uint64_t weight_bytes;    /* bytes of those tensors as stored */
    uint64_t decode_bytes;    /* weight bytes one decoded token reads (selected experts only) */
    double prefill_ops;       /* multiply-adds x 2 per prompt token in the decoder layers */
} g4_model_info;

typedef struct g4_model_params {
    int32_t reserved; /* zero; room for future options (all options default to zero) */
} g4_model_params;

/* How a session stores its KV cache (K and V rows of every cached layer, per position). */
typedef enum g4_kv_type {
    G4_KV_F16 = 0,  /* IEEE half, the default: on the demo model F16 changes perplexity by
                       0.001% and the next-token distribution by a KL below 1e-6 nats */
    G4_KV_F32 = 1,  /* float32: exact, twice F16's memory */
    G4_KV_Q8_0 = 2, /* GGUF's Q8_0 blocks (an F16 scale and 32 int8 values, llama.cpp's
                       bytes): 34 bytes per 32 values, 53% of F16's memory; on the demo
                       model perplexity 45.6441 (f32) -> 45.6381, KL 1.6e-4 nats, top-1
                       agreement 99.1%; needs head dims that are multiples of 32 (every
                       Gemma 4 variant's are) */
} g4_kv_type;

/* "f16", "f32", "q8_0" (NULL for a value outside the enum). */
const char *g4_kv_type_name(g4_kv_type t);
/* The type named by name ("f16", "f32", "q8_0"; any case); false if there is none. */
bool g4_kv_type_parse(const char *name, g4_kv_type *out);

typedef struct g4_session_params {
    int32_t n_ctx;       /* context length in tokens; 0: 4096 (capped at the model's maximum) */
    int32_t n_threads;   /* compute threads; 0: G4_THREADS or the number of online CPUs */
    int32_t n_ubatch;    /* tokens evaluated per internal step; 0: 512 */
    bool all_logits;     /* keep logits of every evaluated position, not only the last */
    g4_kv_type kv_type;  /* KV cache storage; 0: G4_KV_F16. Random-weight test models
                            amplify the rounding of F16 and Q8_0 far more than trained
                            ones (their huge attention scores flip attention choices) */
} g4_session_params;

/* Opens a GGUF file or a Hugging Face checkpoint directory (config.json + safetensors).
 * params may be NULL. On success *out owns the model (free with g4_model_free). */
g4_status g4_model_open(g4_model **out, const char *path, const g4_model_params *params,
                        g4_error *err);
void g4_model_free(g4_model *m);
/* Borrowed; valid as long as the model. */
const g4_model_info *g4_model_get_info(const g4_model *m);

/* Progress of a long operation: done of total units (tensors, or MiB for prefetch). */
typedef void (*g4_progress_fn)(void *user, int64_t done, int64_t total);

/* Reads every weight into memory now (the file stays mapped, nothing is copied), calling
 * progress with MiB done/total: a large model's first answer then does not stall on disk
 * reads. Pointless, and slow, for a model larger than the free memory. */
g4_status g4_model_prefetch(const g4_model *m, g4_progress_fn progress, void *user, g4_error *err);

/* Writes the model as a GGUF file that llama.cpp can run. type is the storage type of
 * the large matrices (F32, F16, BF16, Q8_0, Q4_0); norms and small vectors stay F32.
 * progress (may be NULL) is called after each tensor with done/total counts. */
g4_status g4_model_save_gguf(const g4_model *m, const char *path, g4_dtype type,
                             g4_progress_fn progress, void *user, g4_error *err);

/* Writes a random-weight GGUF with the real shapes and metadata of a released variant
 * ("e2b", "e4b", "26b-a4b", "31b") and a placeholder vocabulary: a benchmark subject
 * that llama.cpp loads too. Matrices take `type`; norms stay F32. */
g4_status g4_synth_gguf(const char *variant, const char *path, g4_dtype type, g4_progress_fn progress, void *user,
                        g4_error *err);

/* g4_model_save_gguf and g4_synth_gguf with the storage named as `g4 convert --type` and
 * `g4 synth --type` take it (any case): "f32", "f16", "bf16", "q8_0", "q4_0" as above;
 * "q4_k", "q5_k", "q6_k" for every quantizable matrix in that K-quant type; or one of
 * llama.cpp's K-quant mixes ("q4_k_m", "q4_k_s", "q5_k_m", "q5_k_s", "q3_k_m", "q3_k_s",
 * "q3_k_l", "q2_k", "q2_k_s"). With the K-quant names each tensor gets the type llama.cpp's
 * quantize tool (without an importance matrix) gives it in a file of that type, including
 * its fallbacks for rows that are not a whole number of 256-value blocks, and the bytes
 * its quantizers write. An unknown name is G4_ERR_ARG. */
g4_status g4_model_save_gguf_as(const g4_model *m, const char *path, const char *quant, g4_progress_fn progress,
                                void *user, g4_error *err);
g4_status g4_synth_gguf_as(const char *variant, const char *path, const char *quant, g4_progress_fn progress,
                           void *user, g4_error *err);

/* Writes a human-readable description (hyper-parameters, per-layer table, tensor table,
 * memory estimate for n_ctx tokens of KV cache) to the buffer returned in *out
 * (allocates, caller frees with free()). */
g4_status g4_model_describe(const g4_model *m, int32_t n_ctx, char **out, g4_error *err);

g4_status g4_session_create(g4_session **out, g4_model *m, const g4_session_params *params,
                            g4_error *err);
void g4_session_free(g4_session *s);
/* Bytes of KV cache a session with these params (may be NULL) would allocate: to check a
 * context fits in memory before asking for it. 0 for params g4_session_create would refuse
 * (a negative size, an unknown kv_type, q8_0 with head dims not a multiple of 32). */
uint64_t g4_session_kv_bytes(const g4_model *m, const g4_session_params *params);

/* Appends n_tokens tokens at positions n_past .. n_past+n_tokens-1 and computes logits.
 * Fails with G4_ERR_CONTEXT_FULL (session unchanged) when they do not fit, and with
 * G4_ERR_ARG for a token id outside the vocabulary. */
g4_status g4_session_eval(g4_session *s, const int32_t *tokens, int32_t n_tokens, g4_error *err);

/* Logits of row i of the last g4_session_eval (i = -1: its last row; other rows need
 * all_logits). n_vocab floats, borrowed, valid until the next call that changes the
 * session. NULL if there is no such row. */
const float *g4_session_logits(const g4_session *s, int32_t i);

/* Number of tokens in the timeline. */
int32_t g4_session_n_past(const g4_session *s);
int32_t g4_session_n_ctx(const g4_session *s);

/* Forgets everything: the next eval starts at position 0. */
void g4_session_reset(g4_session *s);

/* The timeline's tokens: n_past of them, borrowed, valid until the session changes. */
const int32_t *g4_session_tokens(const g4_session *s);

/* Rolls the timeline back to its first n_keep tokens (0 <= n_keep <= n_past), keeping
 * their cache. Sliding-window layers keep a bounded ring, so a roll-back of more than about
 * 512 tokens past the last chunk can fail with G4_ERR_UNSUPPORTED (session unchanged):
 * reset and evaluate again. The logits of the last eval are dropped. */
g4_status g4_session_truncate(g4_session *s, int32_t n_keep, g4_error *err);

/* Makes the timeline equal tokens[0..n_tokens) with the least work: keeps the longest
 * common prefix of the current timeline that the cache can return to (always leaving at
 * least the last token to evaluate), and evaluates the rest, so that g4_session_logits(s,
 * -1) belongs to tokens[n_tokens - 1]. *n_reused (may be NULL) is the number of tokens that
 * were not evaluated again. This is how a chat turn or a request that repeats a
 * conversation's beginning avoids prefilling it again. */
g4_status g4_session_sync(g4_session *s, const int32_t *tokens, int32_t n_tokens, int32_t *n_reused,
                          g4_error *err);

/* One decode step for n sessions of the same model at once: appends tokens[i] to
 * sessions[i] and computes its next-token logits (g4_session_logits(sessions[i], -1)).
 * The weights are read once for the whole batch, which is what makes serving several
 * conversations cheaper than running them in turn. sessions[0] computes (its threads and
 * scratch); the others must have no larger a context (their KV cache types may differ);
 * n <= sessions[0]'s n_ubatch, and no session may appear twice. */
g4_status g4_session_decode_batch(g4_session *const *sessions, const int32_t *tokens, int32_t n, g4_error *err);

/* ---- sessions on disk ---------------------------------------------------------------
 * A saved session is its timeline and cache: load it into a fresh session and go on where
 * it stopped (a long document is prefilled once, then asked many questions). The file
 * records a format version and fingerprints of the model and of the cache's settings; a
 * file from another model or with other settings is refused with a message saying so. */

/* 64-bit fingerprint of the model's hyper-parameters and weights (sampled, so cheap). */
uint64_t g4_model_fingerprint(const g4_model *m);
g4_status g4_session_save(const g4_session *s, const char *path, g4_error *err);
/* Replaces the session's timeline with the file's. The session must belong to the same
 * model, store its cache in the same type (kv_type), and have room for the timeline. A
 * file of another type is refused with G4_ERR_MISMATCH naming both. */
g4_status g4_session_load(g4_session *s, const char *path, g4_error *err);

/* ---- sampling ---------------------------------------------------------------------
 * Picks the next token from a row of logits. Order: repetition / presence / frequency
 * penalties over the recent history, temperature, top-k, top-p, min-p, then a draw from
 * the renormalised distribution with a seeded generator (same seed and inputs, same
 * tokens). temperature <= 0 means greedy (argmax, ties to the lowest id). */
typedef struct g4_sampler_params {
    float temperature;       /* 0: greedy */
    int32_t top_k;           /* 0: off */
    float top_p;             /* 1 or 0: off */
    float min_p;             /* 0: off; drop tokens below min_p x the most likely one */
    float repeat_penalty;    /* 1 or 0: off; divides positive / multiplies negative logits */
    float presence_penalty;  /* subtracted once from every token in the history */
    float frequency_penalty; /* subtracted per occurrence in the history */
    int32_t penalty_last_n;  /* history length for penalties; 0: 64 */
    uint64_t seed;
} g4_sampler_params;

/* Gemma 4's generation_config.json: temperature 1, top-k 64, top-p 0.95. */
g4_sampler_params g4_sampler_default_params(void);
/* The built-in defaults overridden by what the checkpoint recommends: a GGUF file's
 * general.sampling.* keys or an HF directory's generation_config.json (do_sample false
 * gives temperature 0, greedy). Seed 0. */
g4_sampler_params g4_model_sampler_params(const g4_model *m);

typedef struct g4_sampler g4_sampler;
g4_status g4_sampler_create(g4_sampler **out, const g4_sampler_params *params, int32_t n_vocab, g4_error *err);
void g4_sampler_free(g4_sampler *s);
/* Samples from n_vocab logits (not modified). */
int32_t g4_sampler_sample(g4_sampler *s, const float *logits);
/* Adds a token to the history the penalties look at (prompt and generated tokens). */
void g4_sampler_accept(g4_sampler *s, int32_t token);
void g4_sampler_reset(g4_sampler *s);

/* Physical limits of this machine, measured (g4_machine_probe), for reporting speeds as
 * fractions of them. */
typedef struct g4_machine_limits {
    double read_bandwidth;   /* bytes/s, all threads reading memory */
    double int8_ops_per_s;   /* int8 multiply-adds x 2 per second, all threads */
    const char *isa;         /* kernel table in use: "scalar", "avx2", "avxvnni", "avx512",
                              * "avx512bf16", "neon", "i8mm" */
} g4_machine_limits;
g4_status g4_machine_probe(int32_t n_threads, g4_machine_limits *out, g4_error *err);

const char *g4_status_str(g4_status st);
const char *g4_dtype_name(g4_dtype t);

/* ---- tokenizer and chat -------------------------------------------------------
 *
 * A g4_tokenizer is a Gemma 4 vocabulary: text to token ids and back exactly as Hugging
 * Face's tokenizer does it, and the Gemma 4 chat format (rendering a conversation into
 * a prompt, reading the model's reply). It is immutable once opened, so threads may
 * share it.
 *
 *     g4_tokenizer *tok;
 *     g4_tokenizer_open(&tok, "gemma-4-e2b.gguf", &err);     // or an HF directory
 *     int32_t *ids; size_t n;
 *     g4_tokenize(tok, "Hello world", 11, G4_TOKENIZE_ADD_BOS, &ids, &n, &err);
 *     g4_chat_tokenize(tok, "[{\"role\":\"user\",\"content\":\"Hi\"}]", NULL, NULL, &ids, &n, &err);
 *     ... free(ids); g4_tokenizer_free(tok);
 *
 * User text must be tokenized without G4_TOKENIZE_SPECIAL: then a user who types
 * "<|turn>" gets the characters, not the control token. A rendered prompt holds control
 * tokens on purpose and user text too, so feed a model with g4_chat_tokenize, which
 * parses only the template's own markers as control tokens. */

typedef struct g4_tokenizer g4_tokenizer;

/* Ids of the tokens the chat format and generation loop need; -1 when absent. */
typedef struct g4_special_tokens {
    int32_t bos, eos, pad, unk;
    int32_t turn_start, turn_end;                   /* <|turn> <turn|> */
    int32_t channel_start, channel_end;             /* <|channel> <channel|> */
    int32_t tool_start, tool_end;                   /* <|tool> <tool|> (declarations) */
    int32_t tool_call_start, tool_call_end;         /* <|tool_call> <tool_call|> */
    int32_t tool_response_start, tool_response_end; /* <|tool_response> <tool_response|> */
    int32_t think;                                  /* <|think|> */
    int32_t string_quote;                           /* <|"|> */
    bool add_bos; /* the vocabulary asks for <bos> in front of a plain-text prompt */
} g4_special_tokens;

/* Opens the vocabulary of a GGUF file (model or vocabulary-only, tokenizer model
 * "gemma4") or of a Hugging Face directory (tokenizer.json + tokenizer_config.json). */
g4_status g4_tokenizer_open(g4_tokenizer **out, const char *path, g4_error *err);
void g4_tokenizer_free(g4_tokenizer *t);

int32_t g4_tokenizer_n_vocab(const g4_tokenizer *t);
/* Borrowed; valid as long as the tokenizer. */
const g4_special_tokens *g4_tokenizer_special(const g4_tokenizer *t);
/* The vocabulary's own string for id ("\u2581Hello", "<0x0A>", "<|turn>"), NUL-terminated.
 * Borrowed; NULL for an id outside the vocabulary. */
const char *g4_tokenizer_piece(const g4_tokenizer *t, int32_t id);
/* The id whose piece is exactly `piece`, or -1. */
int32_t g4_tokenizer_find(const g4_tokenizer *t, const char *piece);
/* True for control tokens (<bos>, <|turn>, ...), which decode leaves out on request. */
bool g4_tokenizer_is_control(const g4_tokenizer *t, int32_t id);
/* True for the tokens that end a model turn: <eos>, <turn|> and <|tool_response>. */
bool g4_tokenizer_is_end_of_turn(const g4_tokenizer *t, int32_t id);
/* The chat template text the file carries (for display and comparison), or NULL.
 * g4 renders the Gemma 4 format in C; it does not interpret this text. */
const char *g4_tokenizer_chat_template(const g4_tokenizer *t);

#define G4_TOKENIZE_ADD_BOS 1u /* put <bos> first */
#define G4_TOKENIZE_SPECIAL 2u /* control tokens written in the text become their ids */

/* Tokenizes text[0..len) (any bytes; malformed UTF-8 becomes byte tokens). *ids gets
 * the ids (allocates, caller frees with free()) and *n_ids their count. */
g4_status g4_tokenize(const g4_tokenizer *t, const char *text, size_t len, uint32_t flags,
                      int32_t **ids, size_t *n_ids, g4_error *err);

#define G4_DETOKENIZE_SKIP_SPECIAL 1u /* leave control tokens out of the text */

/* The text of ids: pieces with '\u2581' as ' ' and byte tokens as their bytes, so
 * detokenize(tokenize(x)) == x for any x. *text is NUL-terminated (allocates, caller
 * frees with free()); *len (may be NULL) gets its length. Fails with G4_ERR_ARG for an
 * id outside the vocabulary. */
g4_status g4_detokenize(const g4_tokenizer *t, const int32_t *ids, size_t n_ids, uint32_t flags,
                        char **text, size_t *len, g4_error *err);

/* Streaming detokenizer for generation: push ids one at a time and get back only
 * complete UTF-8 characters. Bytes of a character split over several byte tokens wait
 * until the character is complete; malformed bytes come out as U+FFFD. */
typedef struct g4_detok g4_detok;
g4_status g4_detok_create(g4_detok **out, const g4_tokenizer *t, uint32_t flags, g4_error *err);
/* Appends id. *text and *len get the text that became complete (may be empty). Borrowed,
 * valid until the next call on d. */
g4_status g4_detok_push(g4_detok *d, int32_t id, const char **text, size_t *len, g4_error *err);
/* Ends the stream: returns what is still held (an incomplete character, as U+FFFD) and
 * resets d for a new stream. Borrowed, valid until the next call on d. */
const char *g4_detok_flush(g4_detok *d, size_t *len);
void g4_detok_free(g4_detok *d);

typedef struct g4_chat_params {
    bool enable_thinking;      /* <|think|> in the system turn: the model reasons first */
    bool no_generation_prompt; /* leave out the opening of the model's turn at the end */
    bool no_bos;               /* leave out the leading <bos> */
} g4_chat_params;

/* Renders an OpenAI-style conversation as the Gemma 4 prompt, byte for byte what the
 * official chat template (the one in the vocabulary GGUF) gives. messages_json is a
 * JSON array of {"role", "content", "tool_calls", "tool_responses"} objects;
 * tools_json (may be NULL) a JSON array of {"type": "function", "function": {...}}.
 * params may be NULL (thinking off, generation prompt on). t may be NULL (then the
 * large-model template is assumed). *out is NUL-terminated (allocates, caller frees). */
g4_status g4_chat_render(const g4_tokenizer *t, const char *messages_json, const char *tools_json,
                         const g4_chat_params *params, char **out, g4_error *err);

/* Renders like g4_chat_render and tokenizes the prompt in the same step, so that only the
 * template's own markers become control tokens: a control-token look-alike inside the
 * request's text ("<|turn>" typed by a user, in a tool result, ...) stays text. For a
 * request without look-alikes the ids equal g4_tokenize(render, G4_TOKENIZE_SPECIAL).
 * This is the call that feeds a model safely. *ids (allocates, caller frees). */
g4_status g4_chat_tokenize(const g4_tokenizer *t, const char *messages_json, const char *tools_json,
                           const g4_chat_params *params, int32_t **ids, size_t *n_ids, g4_error *err);

/* A model reply taken apart. Strings are allocated and freed by g4_chat_reply_free. */
typedef struct g4_chat_reply {
    char *content;       /* the answer: channels and tool calls removed, trimmed */
    char *thinking;      /* the thought channel's text, or NULL */
    char *tool_calls;    /* JSON array [{"name": "...", "arguments": {...}}, ...], or NULL */
    int32_t n_tool_calls;
    bool malformed;      /* the reply broke the format; content then holds all of it */
    bool truncated;      /* it ended inside a thought channel or tool call */
} g4_chat_reply;

/* Parses the decoded text of a model turn (decoded without SKIP_SPECIAL or with it: the
 * channel and tool tokens are user-defined and always appear as text). Never fails on
 * bad text: that sets `malformed`; errors are for out-of-memory only. */
g4_status g4_chat_parse(const char *text, size_t len, g4_chat_reply *out, g4_error *err);
void g4_chat_reply_free(g4_chat_reply *r);

#ifdef __cplusplus
}
#endif
#endif /* G4_H */
