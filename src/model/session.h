/* session.h - the inside of a g4_session, shared by session.c (the forward pass) and
 * session_file.c (saving and loading a timeline). Nothing outside src/model/ sees it. */
#ifndef G4_SESSION_H
#define G4_SESSION_H

#include "model.h"
#include "../cpu/cpu.h"

/* Extra sliding-window slots beyond what one chunk needs, so that a timeline can be rolled
 * back this far (g4_session_truncate) without re-prefilling: a chat turn re-renders the
 * previous answer (thinking stripped), a server request shares a prefix with the last. */
#define G4_SWA_ROLLBACK 512

typedef struct kv_layer {
    void *k, *v;      /* (capacity, n_kv_head, head_dim), F16 or F32 (session's kv_f16) */
    int32_t capacity; /* slots; position p lives in slot p % capacity */
} kv_layer;

struct g4_session {
    g4_model *m;
    cpu_ctx *cpu;             /* threads, kernels and their scratch */
    int32_t n_ctx, n_ubatch, n_past;
    bool all_logits;
    bool kv_f16;              /* KV cache stored as IEEE half (the default; g4_session_params.kv_f32 turns it off) */
    kv_layer *kv;     /* n_layer; empty for KV-shared layers */
    int32_t *tokens;  /* (n_ctx) the timeline: tokens[0..n_past) */
    /* What the sliding-window rings still hold, for truncation: every position in
     * [swa_lo, n_past) whose slot no later write reused. written_hi is the highest position
     * written since the last reset (writes past a truncation point stay in the ring). */
    int32_t swa_lo, written_hi;

    /* scratch for a chunk of up to n_ubatch tokens */
    float *x, *h, *q, *k, *v, *o, *a, *g, *u, *ple, *tmp, *scores;
    float *moe_acc, *dense;   /* (n_ubatch, H) */
    float *router;            /* (n_expert) */
    float *logits;            /* (n_logit_rows, V) */
    int32_t *row_pos;         /* (n_ubatch) position of each row of the chunk being computed */
    g4_session **row_sess;    /* (n_ubatch) the session whose cache each row reads and writes */
    int64_t n_logit_rows, logits_cap_rows;
};

/* Slots of layer l's cache for a session of n_ctx tokens evaluated n_ubatch at a time. */
int32_t kv_capacity(const g4_hparams *hp, int32_t l, int32_t n_ctx, int32_t n_ubatch);

/* Smallest sliding-window capacity among the session's cached layers (INT32_MAX if none). */
int32_t session_swa_capacity(const g4_session *s);

#endif
