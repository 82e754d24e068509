/* config.h - Gemma 4 hyper-parameters and the per-layer table that drives the forward
 * pass. Every variant (E2B, E4B, 26B-A4B, 31B, and the tiny test models) is described by
 * data here; the forward pass has no per-variant code.
 *
 * Filled from GGUF metadata (llama.cpp's gemma4 keys, gemma4.md §4.1) or from a Hugging
 * Face config.json (Gemma4Config with text_config, or a bare Gemma4TextConfig). Both
 * routes end in config_finish(), which derives the per-layer table and validates
 * everything, so a malformed or inconsistent config is rejected in one place. */
#ifndef G4_CONFIG_H
#define G4_CONFIG_H

#include "../base.h"
#include "../format/gguf.h"

#define G4_MAX_LAYERS 256
#define G4_MAX_HEAD_DIM 1024

typedef struct layer_config {
    bool swa;          /* sliding-window ("local") layer; else global */
    int32_t head_dim;  /* 256 sliding / 512 global in the released models */
    int32_t n_kv_head; /* KV heads this layer's cache holds */
    int32_t n_ff;      /* dense MLP width (E2B doubles it on KV-shared layers) */
    int32_t kv_source; /* layer whose K/V this layer reads; == own index if it owns them */
    bool has_v;        /* false: V comes from the K projection (attention_k_eq_v, global) */
} layer_config;

typedef struct g4_hparams {
    int32_t n_vocab;
    int32_t n_layer;
    int32_t n_embd;            /* H */
    int32_t n_head;            /* query heads, all layers */
    int32_t n_kv_swa, n_kv_global;
    int32_t head_dim_swa, head_dim_global;
    int32_t n_ff;              /* base dense MLP width */
    bool double_wide_mlp;      /* KV-shared layers use 2*n_ff (E2B) */
    int32_t sliding_window;    /* W: a query sees itself and the W-1 keys before it */
    int32_t n_layer_kv_shared; /* trailing layers that reuse a donor's KV */
    int32_t n_embd_per_layer;  /* P, per-layer-embedding width (0: none) */
    int32_t n_vocab_per_layer;
    int32_t n_expert, n_expert_used, n_ff_expert;
    bool k_eq_v;               /* global layers have no V projection */
    float rope_base_swa, rope_base_global;
    int32_t rope_pairs_swa, rope_pairs_global; /* rotating (i, i+D/2) pairs; the rest pass through */
    float rms_eps;
    float final_softcap;       /* 0: none */
    int32_t n_ctx_train;
    bool swa_pattern[G4_MAX_LAYERS]; /* true = sliding layer */
    int32_t ff_per_layer[G4_MAX_LAYERS]; /* 0: use n_ff (and doubling rule) */
    int32_t kv_per_layer[G4_MAX_LAYERS]; /* 0: use n_kv_swa / n_kv_global */
    layer_config layer[G4_MAX_LAYERS];   /* derived by config_finish */
} g4_hparams;

/* Reads the gemma4.* metadata of a GGUF file. n_vocab must be filled by the caller
 * (from the embedding tensor) before config_finish. */
g4_status config_from_gguf(g4_hparams *hp, const gguf_file *g, g4_error *err);
/* Parses a config.json text. name is used in messages. */
g4_status config_from_hf_json(g4_hparams *hp, const char *json, const char *name, g4_error *err);
/* Derives the per-layer table and validates. */
g4_status config_finish(g4_hparams *hp, const char *name, g4_error *err);

/* "e2b", "e4b", "26b-a4b", "31b" for the released shapes, else "custom". */
const char *config_variant(const g4_hparams *hp);

#endif
