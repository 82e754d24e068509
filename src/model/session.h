/* session.h - the inside of a g4_session, shared by session.c (the forward pass) and
 * session_file.c (saving and loading a timeline). Nothing outside src/model/ sees it. */
#ifndef G4_SESSION_H
#define G4_SESSION_H

#include "model.h"
#include "../cpu/cpu.h"
#include "../dtype.h"

/* Extra sliding-window slots beyond what one chunk needs, so that a timeline can be rolled
 * back this far (g4_session_truncate) without re-prefilling: a chat turn re-renders the
 * previous answer (thinking stripped), a server request shares a prefix with the last. */
#define G4_SWA_ROLLBACK 512

typedef struct kv_layer {
    void *k, *v;      /* (capacity, n_kv_head, head_dim) values in the session's kv_type; a
                         head's row is kv_bytes(kv_type, head_dim) bytes */
    int32_t capacity; /* slots; position p lives in slot p % capacity */
    size_t bytes;     /* of k and of v each, as mapped (kv_map) */
} kv_layer;

struct g4_session {
    g4_model *m;
    cpu_ctx *cpu;             /* threads, kernels and their scratch */
    int32_t n_ctx, n_ubatch, n_past;
    bool all_logits;
    g4_kv_type kv_type;       /* how the KV cache is stored (g4_session_params.kv_type) */
    kv_layer *kv;     /* n_layer; empty for KV-shared layers */
    int32_t *tokens;  /* (n_ctx) the timeline: tokens[0..n_past) */
    /* What the sliding-window rings still hold, for truncation: every position in
     * [swa_lo, n_past) whose slot no later write reused. written_hi is the highest position
     * written since the last reset (writes past a truncation point stay in the ring). */
    int32_t swa_lo, written_hi;

    /* scratch for a chunk of up to n_ubatch tokens */
    float *x, *h, *q, *k, *v, *o, *a, *g, *u, *ple, *tmp, *scores;
    size_t scores_per_thread; /* floats of s->scores per thread: (n_ctx + 2 x the largest head
                               * dim) x the largest q-head group (scores, then stacked q and o) */
    int32_t max_group;        /* the largest q-head group of a layer (q heads per KV head) */
    int32_t n_rows;           /* rows of the chunk in attention (its row tiles' bound) */
    float *moe_acc, *dense;   /* (n_ubatch, H) */
    float *router;            /* (n_ubatch, n_expert): router probabilities per row */
    float *moe_y;             /* (n_ubatch, H): one expert's down-projection outputs */
    int32_t *moe_sel;         /* (n_ubatch, n_expert_used): chosen experts per row */
    float *moe_gate;          /* (n_ubatch, n_expert_used): their weights */
    int32_t *moe_rows;        /* (n_ubatch * n_expert_used): (row, slot) pairs grouped by expert */
    int32_t *moe_count;       /* (n_expert + 1): group starts in moe_rows */
    float *logits;            /* (n_logit_rows, V) */
    int32_t *row_pos;         /* (n_ubatch) position of each row of the chunk being computed */
    float *rope_cs[2];        /* (n_ubatch, head dim) each row's cos | sin (ops_rope_table) for
                               * the sliding (0) and global (1) rotary tables */
    bool rope_ready[2];       /* rope_cs[i] holds this chunk's rows (reset per chunk) */
    g4_session **row_sess;    /* (n_ubatch) the session whose cache each row reads and writes */
    int64_t n_logit_rows, logits_cap_rows;
};

/* Bytes of n cached values stored as t (F32, F16, or Q8_0 blocks of 32: n a multiple of 32). */
static inline size_t kv_bytes(g4_kv_type t, int64_t n) {
    return t == G4_KV_F32 ? (size_t)n * 4 : t == G4_KV_F16 ? (size_t)n * 2 : (size_t)n / G4_QK * sizeof(block_q8_0);
}

/* Slots of layer l's cache for a session of n_ctx tokens evaluated n_ubatch at a time. */
int32_t kv_capacity(const g4_hparams *hp, int32_t l, int32_t n_ctx, int32_t n_ubatch);

/* Smallest sliding-window capacity among the session's cached layers (INT32_MAX if none). */
int32_t session_swa_capacity(const g4_session *s);

#endif
