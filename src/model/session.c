/* session.c - one inference timeline: the KV cache, the scratch buffers, and the Gemma 4
 * forward pass over a chunk of tokens.
 *
 * KV cache. Only layers that own K/V have a cache (KV-shared layers read their donor's).
 * A global layer keeps every position: slot = position. A sliding-window layer keeps a
 * ring of W - 1 + n_ubatch + G4_SWA_ROLLBACK slots (slot = position mod capacity): enough
 * that while a chunk of up to n_ubatch new tokens is written, every key that any query of
 * the chunk can see (itself and the W - 1 before it) is still there (gemma4.md §2.5,
 * pitfall 8), plus room to roll the timeline back (g4_session_truncate). Cached K is
 * normalised and rotated, cached V normalised, stored as the session's kv_type: F16 (the
 * default), float32, or GGUF Q8_0 blocks (each head's row quantized on its own, by the
 * reference quantizer, so llama.cpp would write the same bytes); attention reads each type
 * through its own kernels (dot_* / axpy_*), the query and the output staying float.
 *
 * Batched decode. The forward pass works on "rows": row t is a token at position
 * row_pos[t] of session row_sess[t]. A prefill chunk is n rows of one session; a batched
 * decode step is one row from each of several sessions, so the weight matrices are read
 * once for all of them while each row attends over its own session's cache.
 *
 * The forward pass (gemma4.md §2.2-2.4) is written once for every variant; what differs
 * between E2B, E4B, 26B-A4B and 31B is data in hp->layer[] and which weights exist. */
#include "session.h"

#include "../dtype.h"
#include "ops.h"

#include <math.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

int32_t kv_capacity(const g4_hparams *hp, int32_t l, int32_t n_ctx, int32_t n_ubatch) {
    return hp->layer[l].swa ? G4_MIN(n_ctx, hp->sliding_window - 1 + n_ubatch + G4_SWA_ROLLBACK) : n_ctx;
}

const char *g4_kv_type_name(g4_kv_type t) {
    switch (t) {
    case G4_KV_F16: return "f16";
    case G4_KV_F32: return "f32";
    case G4_KV_Q8_0: return "q8_0";
    }
    return NULL;
}

bool g4_kv_type_parse(const char *name, g4_kv_type *out) {
    for (int t = G4_KV_F16; name && t <= G4_KV_Q8_0; t++)
        if (!strcasecmp(name, g4_kv_type_name((g4_kv_type)t))) {
            *out = (g4_kv_type)t;
            return true;
        }
    return false;
}

/* n_ctx and n_ubatch as g4_session_create settles them */
static void settle_params(const g4_hparams *hp, g4_session_params *p) {
    if (p->n_ctx == 0) p->n_ctx = G4_MIN(4096, hp->n_ctx_train);
    if (p->n_ubatch == 0) p->n_ubatch = 512;
    p->n_ubatch = G4_MIN(p->n_ubatch, p->n_ctx);
}

uint64_t g4_session_kv_bytes(const g4_model *m, const g4_session_params *params) {
    g4_session_params p = params ? *params : (g4_session_params){0};
    const g4_hparams *hp = &m->hp;
    if (p.n_ctx < 0 || p.n_ubatch < 0 || !g4_kv_type_name(p.kv_type)) return 0;
    settle_params(hp, &p);
    uint64_t total = 0;
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const layer_config *lc = &hp->layer[l];
        if (lc->kv_source != l) continue;
        if (p.kv_type == G4_KV_Q8_0 && lc->head_dim % G4_QK != 0) return 0; /* g4_session_create refuses it */
        total += 2ull * (uint64_t)kv_capacity(hp, l, p.n_ctx, p.n_ubatch) * (uint64_t)lc->n_kv_head *
                 (uint64_t)kv_bytes(p.kv_type, lc->head_dim);
    }
    return total;
}

/* A KV buffer of n bytes: anonymous memory, zero until written and only resident where
 * written, as calloc's, but in 2 MiB pages where the kernel offers them (Linux's
 * transparent huge pages; advice only). Decode reads the whole cache of every global
 * layer at every step, a stream that in 4 KiB pages misses the TLB every 4 KiB (as the
 * weights did: mapfile.c): E2B Q4_0 decode 4096 tokens deep, 2 threads, 10 alternating
 * pairs of runs, median 18.2 tok/s with the cache in 4 KiB pages against 20.0 in 2 MiB
 * ones, 8 pairs of 10 ahead; peak RSS unchanged (1.36 GB). NULL, with *ok cleared, when
 * the memory is refused. */
static void *kv_map(size_t n, bool *ok) {
    void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { *ok = false; return NULL; }
#ifdef MADV_HUGEPAGE
    (void)madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}

static void kv_unmap(void *p, size_t n) {
    if (p) munmap(p, n ? n : 1);
}

static void *falloc(size_t n, bool *ok) {
    void *p = g4_calloc(n, sizeof(float));
    if (!p) *ok = false;
    return p;
}

g4_status g4_session_create(g4_session **out, g4_model *m, const g4_session_params *params, g4_error *err) {
    g4_error_clear(err);
    *out = NULL;
    if (!m) return g4_fail(err, G4_ERR_ARG, "no model");
    g4_session_params p = params ? *params : (g4_session_params){0};
    const g4_hparams *hp = &m->hp;
    if (p.n_ctx < 0 || p.n_ubatch < 0) return g4_fail(err, G4_ERR_ARG, "negative context or batch size");
    if (!g4_kv_type_name(p.kv_type)) return g4_fail(err, G4_ERR_ARG, "unknown KV cache type %d", (int)p.kv_type);
    settle_params(hp, &p);
    if (p.n_ctx > hp->n_ctx_train)
        return g4_fail(err, G4_ERR_ARG, "context of %d tokens exceeds the model's maximum of %d", p.n_ctx, hp->n_ctx_train);
    for (int32_t l = 0; p.kv_type == G4_KV_Q8_0 && l < hp->n_layer; l++)
        if (hp->layer[l].head_dim % G4_QK != 0)
            return g4_fail(err, G4_ERR_UNSUPPORTED,
                           "a q8_0 KV cache needs head dims that are multiples of %d; layer %d has %d (use f16 or f32)",
                           G4_QK, l, hp->layer[l].head_dim);

    g4_session *s = calloc(1, sizeof *s);
    if (!s) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    s->m = m;
    s->n_ctx = p.n_ctx;
    s->n_ubatch = p.n_ubatch;
    s->all_logits = p.all_logits;
    s->kv_type = p.kv_type;
    bool ok = true;
    s->kv = calloc((size_t)hp->n_layer, sizeof *s->kv);
    ok = s->kv != NULL;
    int32_t max_d = G4_MAX(hp->head_dim_swa, hp->head_dim_global), max_kv = 1, max_ff = 1;
    for (int32_t l = 0; ok && l < hp->n_layer; l++) {
        const layer_config *lc = &hp->layer[l];
        max_kv = G4_MAX(max_kv, lc->n_kv_head);
        max_ff = G4_MAX(max_ff, G4_MAX(lc->n_ff, G4_MAX(2 * hp->n_ff_expert, hp->n_embd_per_layer)));
        if (lc->kv_source != l) continue;
        int32_t cap = kv_capacity(hp, l, s->n_ctx, s->n_ubatch);
        const size_t bytes = (size_t)cap * (size_t)lc->n_kv_head * kv_bytes(s->kv_type, lc->head_dim);
        s->kv[l].capacity = cap;
        s->kv[l].bytes = bytes;
        s->kv[l].k = kv_map(bytes, &ok);
        s->kv[l].v = kv_map(bytes, &ok);
    }
    const size_t nu = (size_t)s->n_ubatch, H = (size_t)hp->n_embd;
    const size_t qw = (size_t)hp->n_head * (size_t)max_d, kvw = (size_t)max_kv * (size_t)max_d;
    size_t widest = G4_MAX(G4_MAX(H, qw), (size_t)G4_MAX(max_ff, hp->n_ff_expert * 2));
    widest = G4_MAX(widest, (size_t)hp->n_layer * (size_t)hp->n_embd_per_layer);
    s->x = falloc(nu * H, &ok);
    s->h = falloc(nu * H, &ok);
    s->a = falloc(nu * H, &ok);
    s->q = falloc(nu * qw, &ok);
    s->o = falloc(nu * qw, &ok);
    s->k = falloc(nu * kvw, &ok);
    s->v = falloc(nu * kvw, &ok);
    s->g = falloc(nu * (size_t)max_ff, &ok);
    s->u = falloc(nu * (size_t)max_ff, &ok);
    s->tmp = falloc(widest, &ok);
    s->cpu = cpu_ctx_create(p.n_threads, (int64_t)G4_MAX(G4_MAX(H, qw), (size_t)max_ff), s->n_ubatch);
    ok = ok && s->cpu;
    /* attention's scores: per thread the largest q-head group of a layer x n_ctx floats,
     * then that many heads' queries and outputs (attention_rows' stacked rows) */
    int32_t max_group = 1, max_dim = 1;
    for (int32_t l = 0; l < hp->n_layer; l++) {
        max_group = G4_MAX(max_group, hp->n_head / hp->layer[l].n_kv_head);
        max_dim = G4_MAX(max_dim, hp->layer[l].head_dim);
    }
    s->max_group = max_group;
    s->scores_per_thread = ((size_t)s->n_ctx + 2 * (size_t)max_dim) * (size_t)max_group;
    s->scores = falloc(s->scores_per_thread * (size_t)(s->cpu ? s->cpu->n_threads : 1), &ok);
    if (hp->n_embd_per_layer) s->ple = falloc(nu * (size_t)hp->n_layer * (size_t)hp->n_embd_per_layer, &ok);
    if (hp->n_expert) {
        s->moe_acc = falloc(nu * H, &ok);
        s->dense = falloc(nu * H, &ok);
        const size_t k = (size_t)G4_MIN(hp->n_expert_used, 64);
        s->router = falloc(nu * (size_t)hp->n_expert, &ok);
        s->moe_y = falloc(nu * H, &ok);
        s->moe_gate = falloc(nu * k, &ok);
        s->moe_sel = g4_calloc(nu * k, sizeof *s->moe_sel);
        s->moe_rows = g4_calloc(nu * k, sizeof *s->moe_rows);
        s->moe_count = g4_calloc((size_t)hp->n_expert + 1, sizeof *s->moe_count);
        ok = ok && s->moe_sel && s->moe_rows && s->moe_count;
    }
    s->logits = falloc((size_t)hp->n_vocab, &ok);
    s->tokens = g4_calloc((size_t)s->n_ctx, sizeof *s->tokens);
    s->row_pos = g4_calloc((size_t)s->n_ubatch, sizeof *s->row_pos);
    s->rope_cs[0] = falloc(nu * (size_t)max_d, &ok);
    s->rope_cs[1] = falloc(nu * (size_t)max_d, &ok);
    s->row_sess = g4_calloc((size_t)s->n_ubatch, sizeof *s->row_sess);
    ok = ok && s->tokens && s->row_pos && s->row_sess;
    s->written_hi = -1;
    s->logits_cap_rows = 1;
    if (!ok) {
        g4_session_free(s);
        return g4_fail(err, G4_ERR_NOMEM, "out of memory for a %d-token context", p.n_ctx);
    }
    *out = s;
    return G4_OK;
}

void g4_session_free(g4_session *s) {
    if (!s) return;
    if (s->kv)
        for (int32_t l = 0; l < s->m->hp.n_layer; l++) { kv_unmap(s->kv[l].k, s->kv[l].bytes); kv_unmap(s->kv[l].v, s->kv[l].bytes); }
    free(s->kv);
    cpu_ctx_free(s->cpu);
    float *bufs[] = {s->x, s->h, s->a, s->q, s->o, s->k, s->v, s->g, s->u, s->tmp, s->scores, s->ple,
                     s->moe_acc, s->dense, s->router, s->moe_y, s->moe_gate, s->logits, s->rope_cs[0], s->rope_cs[1]};
    for (size_t i = 0; i < G4_ARRAY_LEN(bufs); i++) free(bufs[i]);
    free(s->moe_sel);
    free(s->moe_rows);
    free(s->moe_count);
    free(s->tokens);
    free(s->row_pos);
    free(s->row_sess);
    free(s);
}

int32_t g4_session_n_past(const g4_session *s) { return s->n_past; }
int32_t g4_session_n_ctx(const g4_session *s) { return s->n_ctx; }
void g4_session_reset(g4_session *s) {
    s->n_past = 0;
    s->n_logit_rows = 0;
    s->swa_lo = 0;
    s->written_hi = -1;
}

const int32_t *g4_session_tokens(const g4_session *s) { return s->tokens; }

int32_t session_swa_capacity(const g4_session *s) {
    int32_t cap = INT32_MAX;
    for (int32_t l = 0; l < s->m->hp.n_layer; l++)
        if (s->m->hp.layer[l].swa && s->m->hp.layer[l].kv_source == l) cap = G4_MIN(cap, s->kv[l].capacity);
    return cap;
}

/* Whether the timeline can be cut back to its first n_keep tokens: every sliding-window
 * key that position n_keep will attend to must still be in its ring. */
static bool can_truncate(const g4_session *s, int32_t n_keep) {
    if (n_keep < 0 || n_keep > s->n_past) return false;
    const int32_t cap = session_swa_capacity(s);
    if (n_keep == 0 || cap >= s->n_ctx) return true;
    const int32_t need_lo = G4_MAX(0, n_keep - s->m->hp.sliding_window + 1);
    return need_lo >= s->swa_lo && need_lo > s->written_hi - cap;
}

g4_status g4_session_truncate(g4_session *s, int32_t n_keep, g4_error *err) {
    g4_error_clear(err);
    if (n_keep < 0 || n_keep > s->n_past)
        return g4_fail(err, G4_ERR_ARG, "cannot keep %d tokens of a %d-token timeline", n_keep, s->n_past);
    if (!can_truncate(s, n_keep))
        return g4_fail(err, G4_ERR_UNSUPPORTED,
                       "cannot roll back from %d to %d tokens: the sliding-window cache no longer holds them",
                       s->n_past, n_keep);
    if (n_keep == 0) g4_session_reset(s);
    s->n_past = n_keep;
    s->n_logit_rows = 0;
    return G4_OK;
}

g4_status g4_session_sync(g4_session *s, const int32_t *tokens, int32_t n_tokens, int32_t *n_reused,
                          g4_error *err) {
    g4_error_clear(err);
    if (n_reused) *n_reused = 0;
    if (n_tokens <= 0 || !tokens) return g4_fail(err, G4_ERR_ARG, "no tokens to evaluate");
    if (n_tokens > s->n_ctx)
        return g4_fail(err, G4_ERR_CONTEXT_FULL, "%d tokens do not fit a %d-token context", n_tokens, s->n_ctx);
    /* keep the longest common prefix the caches can return to, and at least one token to
     * evaluate so that the logits are those of tokens[n_tokens - 1] */
    int32_t keep = 0;
    const int32_t lim = G4_MIN(s->n_past, n_tokens - 1);
    while (keep < lim && s->tokens[keep] == tokens[keep]) keep++;
    while (keep > 0 && !can_truncate(s, keep)) keep--;
    g4_status st = g4_session_truncate(s, keep, err);
    if (st != G4_OK) return st;
    st = g4_session_eval(s, tokens + keep, n_tokens - keep, err);
    if (st != G4_OK) return st;
    if (n_reused) *n_reused = keep;
    return G4_OK;
}

const float *g4_session_logits(const g4_session *s, int32_t i) {
    if (s->n_logit_rows == 0) return NULL;
    if (i < 0) i = (int32_t)s->n_logit_rows - 1;
    if (i >= s->n_logit_rows) return NULL;
    return s->logits + (size_t)i * (size_t)s->m->hp.n_vocab;
}

/* ---- forward pass ---------------------------------------------------------------- */

/* Per-row RMS norms, each optionally added into a residual row, split over the threads.
 * Run on the caller alone, the prefill's per-row norms and adds were about 5% of its wall
 * time with 2 threads (perf, E2B Q4_0 pp512), the other thread spinning meanwhile. */
typedef struct norm_job {
    const cpu_kernels *k;
    float *y;
    const float *x;
    const float *w;
    float *res;
    int64_t H;
    float eps;
} norm_job;

static void norm_rows_part(void *arg, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const norm_job *j = arg;
    for (int64_t t = t0; t < t1; t++) {
        float *y = j->y + t * j->H;
        j->k->rmsnorm(y, j->x + t * j->H, j->w, j->H, j->eps);
        if (j->res)
            for (int64_t i = 0; i < j->H; i++) j->res[t * j->H + i] += y[i];
    }
}

/* y[t] = RMS(x[t]; w) for n rows of H; then res[t] += y[t] when res is not NULL. */
static void norm_rows(g4_session *s, float *y, const float *x, const float *w, float *res, int32_t n) {
    norm_job j = {s->cpu->k, y, x, w, res, s->m->hp.n_embd, s->m->hp.rms_eps};
    cpu_parallel(s->cpu, norm_rows_part, &j, n, 4);
}

/* Per-layer inputs (E2B/E4B), gemma4.md §2.2 step 2: for each token and layer l,
 * ple[l] = (sqrt(P) * T[tok][l] + RMS(H^-1/2 * (M e)[l]; w)) / sqrt(2), where e is the
 * already sqrt(H)-scaled embedding in s->x. */
static void per_layer_inputs(g4_session *s, const int32_t *tok, int32_t n) {
    const g4_model *m = s->m;
    const g4_hparams *hp = &m->hp;
    const int64_t P = hp->n_embd_per_layer, LP = (int64_t)hp->n_layer * P;
    ops_matmul(s->cpu, s->ple, &m->ple_model_proj, s->x, n);
    const float proj_scale = 1.0f / sqrtf((float)hp->n_embd);
    for (int32_t t = 0; t < n; t++) {
        float *pt = s->ple + (size_t)t * (size_t)LP;
        /* transformers uses token id 0 for ids outside the per-layer vocabulary */
        int32_t id = tok[t] < hp->n_vocab_per_layer ? tok[t] : 0;
        const uint8_t *row = m->ple_embd.data + (uint64_t)id * m->ple_embd.row_bytes;
        dequantize_row(m->ple_embd.type, row, s->tmp, LP);
        mat_unmap_row(&m->ple_embd, id);
        for (int64_t l = 0; l < hp->n_layer; l++) {
            float *pl = pt + l * P;
            for (int64_t i = 0; i < P; i++) pl[i] *= proj_scale;
            s->cpu->k->rmsnorm(pl, pl, m->ple_proj_norm, P, hp->rms_eps);
            for (int64_t i = 0; i < P; i++) pl[i] = (pl[i] + s->tmp[l * P + i] * m->ple_embd_scale) * 0.70710678118654752f;
        }
    }
}

/* Attention of n query rows over layer l's cache (or its donor's) in each row's session,
 * gemma4.md §2.3 steps 5-7: scale 1, causal, sliding layers see the last W positions.
 * The group of q heads sharing a KV head (E2B: 8 per KV head) is done together with the
 * kernel table's grouped entries (kernels.h attn_scores / attn_wsum: one pass over each
 * cached row serves every head of the part). One work item per (row, KV head, part of the
 * group): the group is split into `parts` only as far as needed to give every thread an
 * item (E2B decode, 1 KV head and 2 threads: 2 parts of 4 heads; prefill: 1 part). Where a
 * layer's group is smaller than the model's largest, prefill items are (tile of rows, KV
 * head) instead, the rows' heads stacked into one group (attention_rows, below). */
typedef struct attn_job { g4_session *s; int32_t l, parts, rows; } attn_job;

/* Rows t0 .. t0 + R - 1 of one session at consecutive positions against KV head kh: q
 * heads [h0, h0 + G) of each (a part of the group, or all of it), as one call. One row
 * works in place; R rows have their heads stacked into a group of R G (queries copied
 * together), scored over the union of the rows' windows in one pass over each cached
 * row, each row's scores softmaxed over its own window and zeroed outside it, and summed.
 * A layer whose group is smaller than the model's largest (26B-A4B's sliding layers: 2 q
 * heads per KV head, its global ones 8) otherwise runs the kernels' 4-head tiles half
 * full. Each row's result is the one it gets alone, bit for bit: a key's score does not
 * depend on the call around it, and a zero weight adds nothing to the weighted sum, which
 * goes key by key (test_kernels' test_attn checks both), so float models stay
 * batch-invariant (test_fixtures: chunked prefill against one pass). */
static void attention_rows(g4_session *s, int32_t l, int32_t t0, int32_t R, int32_t kh, int32_t h0, int32_t G,
                           int thread) {
    const g4_hparams *hp = &s->m->hp;
    const layer_config *lc = &hp->layer[l];
    const int32_t D = lc->head_dim, nkv = lc->n_kv_head, GR = G * R;
    const size_t qw = (size_t)hp->n_head * (size_t)D;
    const cpu_kernels *k = s->cpu->k;
    const kv_layer *kv = &s->row_sess[t0]->kv[lc->kv_source];
    const g4_kv_type kt = s->row_sess[t0]->kv_type; /* batched rows may differ */
    const size_t hb = kv_bytes(kt, D);               /* bytes of one head's cached row */
    const size_t stride = (size_t)nkv * hb;          /* from one slot's head kh to the next slot's */
    const int32_t p0 = s->row_pos[t0], p1 = p0 + R - 1;
    const int32_t J0 = lc->swa ? G4_MAX(0, p0 - hp->sliding_window + 1) : 0, nw = p1 - J0 + 1;
    /* this thread's scores (head g at sc[g * nw + (j - J0)]: GR x nw <= max_group x n_ctx
     * floats), then room for the stacked q and o */
    float *sc = s->scores + (size_t)thread * s->scores_per_thread;
    float *qb = s->q + (size_t)t0 * qw + (size_t)h0 * D, *ob = s->o + (size_t)t0 * qw + (size_t)h0 * D;
    if (R > 1) {
        qb = sc + (size_t)s->n_ctx * (size_t)s->max_group;
        ob = qb + (size_t)s->max_group * (size_t)D;
        for (int32_t i = 0; i < R; i++)
            memcpy(qb + (size_t)i * G * D, s->q + (size_t)(t0 + i) * qw + (size_t)h0 * D, (size_t)G * (size_t)D * sizeof *qb);
    }
    const attn_scores_fn scores = kt == G4_KV_F16 ? k->attn_scores_f16 : kt == G4_KV_Q8_0 ? k->attn_scores_q8 : k->attn_scores_f32;
    const attn_wsum_fn wsum = kt == G4_KV_F16 ? k->attn_wsum_f16 : kt == G4_KV_Q8_0 ? k->attn_wsum_q8 : k->attn_wsum_f32;
    /* the window [J0, p1] as runs of consecutive slots (the cache is a ring, at most two
     * runs; it holds W - 1 + n_ubatch positions, so a chunk's union never wraps onto itself) */
    for (int32_t j = J0; j <= p1;) {
        const int32_t slot = j % kv->capacity, len = G4_MIN(p1 - j + 1, kv->capacity - slot);
        scores(sc + (j - J0), nw, qb, GR, (const uint8_t *)kv->k + ((size_t)slot * (size_t)nkv + (size_t)kh) * hb, stride, len, D);
        j += len;
    }
    for (int32_t i = 0; i < R; i++) { /* row i sees [j0_i, p0 + i] */
        const int32_t p = p0 + i, lo = (lc->swa ? G4_MAX(0, p - hp->sliding_window + 1) : 0) - J0, hi = p - J0 + 1;
        for (int32_t g = 0; g < G; g++) {
            float *row = sc + (size_t)(i * G + g) * (size_t)nw;
            memset(row, 0, (size_t)lo * sizeof *row);
            k->softmax(row + lo, hi - lo);
            memset(row + hi, 0, (size_t)(nw - hi) * sizeof *row);
        }
    }
    memset(ob, 0, (size_t)GR * (size_t)D * sizeof *ob);
    for (int32_t j = J0; j <= p1;) {
        const int32_t slot = j % kv->capacity, len = G4_MIN(p1 - j + 1, kv->capacity - slot);
        wsum(ob, sc + (j - J0), nw, GR, (const uint8_t *)kv->v + ((size_t)slot * (size_t)nkv + (size_t)kh) * hb, stride, len, D);
        j += len;
    }
    if (R > 1)
        for (int32_t i = 0; i < R; i++)
            memcpy(s->o + (size_t)(t0 + i) * qw + (size_t)h0 * D, ob + (size_t)i * G * D, (size_t)G * (size_t)D * sizeof *ob);
}

static void attention_items(void *arg, int64_t i0, int64_t i1, int thread) {
    const attn_job *jb = arg;
    g4_session *s = jb->s;
    const g4_hparams *hp = &s->m->hp;
    const int32_t l = jb->l, nkv = hp->layer[l].n_kv_head, group = hp->n_head / nkv;
    for (int64_t it = i0; it < i1; it++) {
        if (jb->rows > 1) { /* (tile of rows, KV head); a tile that is not one session's
                             * consecutive positions (rows of several sessions) goes row by row */
            const int32_t t0 = (int32_t)(it / nkv) * jb->rows, kh = (int32_t)(it % nkv);
            const int32_t R = G4_MIN(jb->rows, s->n_rows - t0);
            bool one = true;
            for (int32_t i = 1; i < R; i++)
                one = one && s->row_sess[t0 + i] == s->row_sess[t0] && s->row_pos[t0 + i] == s->row_pos[t0] + i;
            if (one) attention_rows(s, l, t0, R, kh, kh * group, group, thread);
            else
                for (int32_t i = 0; i < R; i++) attention_rows(s, l, t0 + i, 1, kh, kh * group, group, thread);
            continue;
        }
        /* (row, KV head, part of the group) */
        const int32_t parts = jb->parts, per = (group + parts - 1) / parts; /* heads per part */
        const int64_t rk = it / parts;
        const int32_t t = (int32_t)(rk / nkv), kh = (int32_t)(rk % nkv), part = (int32_t)(it % parts);
        const int32_t h0 = kh * group + part * per, G = G4_MIN(per, group - part * per); /* q heads [h0, h0+G) */
        if (G > 0) attention_rows(s, l, t, 1, kh, h0, G, thread);
    }
}

static void attention(g4_session *s, int32_t l, int32_t n) {
    const g4_hparams *hp = &s->m->hp;
    const int32_t nkv = hp->layer[l].n_kv_head, group = hp->n_head / nkv, threads = s->cpu->n_threads;
    int32_t parts = 1; /* the fewest parts (heads per part ceil(group / parts)) that give every thread an item */
    while ((int64_t)n * nkv * parts < threads && parts < group) parts++;
    /* rows stacked per item up to the largest group's heads (attention_rows), as long as
     * every thread still gets two items */
    int32_t rows = s->max_group / group;
    while (rows > 1 && (int64_t)((n + rows - 1) / rows) * nkv < 2 * threads) rows /= 2;
    attn_job jb = {s, l, parts, G4_MAX(rows, 1)};
    s->n_rows = n;
    if (jb.rows > 1) cpu_parallel(s->cpu, attention_items, &jb, (int64_t)((n + jb.rows - 1) / jb.rows) * nkv, 1);
    else cpu_parallel(s->cpu, attention_items, &jb, (int64_t)n * nkv * parts, 1);
}

/* The per-head work between the projections and the cache: q heads get their RMS norm and
 * rotation (items t * n_head + head), each row's k / v heads theirs and are stored in the
 * cache (items t). Spread over the threads for prefill; a decode step's few heads stay on
 * the calling thread (grain). */
typedef struct heads_job {
    g4_session *s;
    int32_t l;
    const float *freq, *cs; /* the layer's rotary table and its rows' cos | sin */
} heads_job;

static void q_heads(void *arg, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const heads_job *j = arg;
    g4_session *s = j->s;
    const g4_hparams *hp = &s->m->hp;
    const int64_t D = hp->layer[j->l].head_dim, qw = hp->n_head * D;
    for (int64_t i = i0; i < i1; i++) {
        const int64_t t = i / hp->n_head, hd = i % hp->n_head;
        float *qh = s->q + t * qw + hd * D;
        s->cpu->k->rmsnorm(qh, qh, s->m->layers[j->l].q_norm, D, hp->rms_eps);
        ops_rope(qh, (int32_t)D, j->freq, j->cs + t * D);
    }
}

static void kv_rows(void *arg, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const heads_job *j = arg;
    g4_session *s = j->s;
    const g4_hparams *hp = &s->m->hp;
    const int32_t l = j->l;
    const layer_weights *w = &s->m->layers[l];
    const int64_t D = hp->layer[l].head_dim, nkv = hp->layer[l].n_kv_head, kvw = nkv * D;
    for (int64_t t = t0; t < t1; t++) {
        kv_layer *kv = &s->row_sess[t]->kv[l];
        const size_t slot = (size_t)(s->row_pos[t] % kv->capacity);
        for (int64_t hd = 0; hd < nkv; hd++) {
            float *kh = s->k + t * kvw + hd * D, *vh = s->v + t * kvw + hd * D;
            s->cpu->k->rmsnorm(kh, kh, w->k_norm, D, hp->rms_eps);
            ops_rope(kh, (int32_t)D, j->freq, j->cs + t * D);
            s->cpu->k->rmsnorm(vh, vh, NULL, D, hp->rms_eps);
        }
        /* the slot's rows; a Q8_0 head row is whole blocks (D % 32 == 0), so the nkv
         * heads quantize as one row of kvw values */
        const g4_kv_type kt = s->row_sess[t]->kv_type;
        const size_t sb = slot * kv_bytes(kt, kvw);
        void *kd = (uint8_t *)kv->k + sb, *vd = (uint8_t *)kv->v + sb;
        if (kt == G4_KV_F16) {
            s->cpu->k->to_f16(s->k + t * kvw, kd, kvw);
            s->cpu->k->to_f16(s->v + t * kvw, vd, kvw);
        } else if (kt == G4_KV_Q8_0) {
            s->cpu->k->to_q8(s->k + t * kvw, kd, kvw);
            s->cpu->k->to_q8(s->v + t * kvw, vd, kvw);
        } else {
            memcpy(kd, s->k + t * kvw, (size_t)kvw * sizeof(float));
            memcpy(vd, s->v + t * kvw, (size_t)kvw * sizeof(float));
        }
    }
}

/* Attention block, §2.3 (A): x += RMS(Wo · attn(RoPE(RMS_head(Wq h))); post_attn_norm). */
static void attention_block(g4_session *s, int32_t l, int32_t n) {
    const g4_model *m = s->m;
    const g4_hparams *hp = &m->hp;
    const layer_config *lc = &hp->layer[l];
    const layer_weights *w = &m->layers[l];
    const int64_t D = lc->head_dim;
    const int tab = lc->swa ? 0 : 1;
    const float *freq = lc->swa ? m->rope_freq_swa : m->rope_freq_global;
    if (!s->rope_ready[tab]) { /* once per chunk for each table, not per head and layer */
        for (int32_t t = 0; t < n; t++) ops_rope_table(s->rope_cs[tab] + t * D, (int32_t)D, freq, s->row_pos[t]);
        s->rope_ready[tab] = true;
    }
    heads_job hj = {s, l, freq, s->rope_cs[tab]};

    norm_rows(s, s->h, s->x, w->attn_norm, NULL, n);
    const bool own_kv = lc->kv_source == l; /* else the layer reads a donor layer's cache */
    const cpu_matvec_item qkv[3] = {{s->q, &w->wq, s->h}, {s->k, &w->wk, s->h}, {s->v, &w->wv, s->h}};
    ops_matmul_many(s->cpu, qkv, own_kv ? (lc->has_v ? 3 : 2) : 1, n);
    cpu_parallel(s->cpu, q_heads, &hj, (int64_t)n * hp->n_head, 16);
    if (own_kv) {
        if (!lc->has_v) memcpy(s->v, s->k, (size_t)((int64_t)n * lc->n_kv_head * D) * sizeof(float)); /* K=V: raw K projection */
        cpu_parallel(s->cpu, kv_rows, &hj, n, 2);
    }
    attention(s, l, n);
    ops_matmul(s->cpu, s->a, &w->wo, s->o, n);
    norm_rows(s, s->a, s->a, w->post_attn_norm, s->x, n);
}

/* Dense GeGLU MLP: out[t] = Wd (gelu(Wg u[t]) * Wu u[t]) for n rows of u. */
static void mlp(g4_session *s, float *out, const mat *gate, const mat *up, const mat *down, const float *u, int32_t n) {
    const int64_t F = gate->rows;
    const cpu_matvec_item gu[2] = {{s->g, gate, u}, {s->u, up, u}};
    ops_matmul_many(s->cpu, gu, 2, n);
    if (n == 1) { /* the GeGLU inside the down-projection's job */
        cpu_matvec_geglu(s->cpu, out, down, s->g, s->u);
        return;
    }
    s->cpu->k->gelu_mul(s->g, s->u, (int64_t)n * F);
    ops_matmul(s->cpu, out, down, s->g, n);
}

/* Mixture of experts for n rows, §2.3 (B'): router on the un-normalised residual r,
 * softmax over all experts, top-k, renormalise, times per-expert scale; experts on u2.
 * out[t] = sum over t's chosen experts of gate * expert(u2[t]).
 *
 * The rows are grouped by expert, so each chosen expert runs once over all the rows that
 * chose it (one matmul of m rows: a prefill of 512 tokens gives each of 26B-A4B's 128
 * experts about 32 rows, which the int8 prefill kernels take as a tile, where one matvec
 * per token and expert re-read every expert's weights for every token). Per row, the
 * experts' contributions are added in expert order (decode and prefill alike). */
/* One token's k chosen experts (slots sel / gate, from moe_rows) as two parallel jobs,
 * all the gate-ups and then all the down-projections, instead of 2k matmuls that each
 * end with the threads waiting for the slowest (26B-A4B decode: 16 per layer).
 * Contributions are added in expert order, as moe_rows does. */
static void moe_token(g4_session *s, const layer_weights *w, const float *u2, float *out, int32_t k) {
    const int64_t H = s->m->hp.n_embd, FE = s->m->hp.n_ff_expert;
    const int32_t *sel = s->moe_sel;
    int32_t order[64]; /* slots by expert id */
    for (int32_t j = 0; j < k; j++) {
        int32_t i = j;
        for (; i > 0 && sel[order[i - 1]] > sel[j]; i--) order[i] = order[i - 1];
        order[i] = j;
    }
    mat gu[64], dn[64];
    cpu_matvec_item it[64] = {{0}};
    for (int32_t i = 0; i < k; i++) {
        gu[i] = mat_index(w->exp_gate_up, sel[order[i]]);
        it[i] = (cpu_matvec_item){s->g + i * 2 * FE, &gu[i], u2}; /* FE gate values, then FE up */
    }
    cpu_matvec_many(s->cpu, it, k);
    for (int32_t i = 0; i < k; i++) {
        s->cpu->k->gelu_mul(s->g + i * 2 * FE, s->g + i * 2 * FE + FE, FE);
        dn[i] = mat_index(w->exp_down, sel[order[i]]);
        it[i] = (cpu_matvec_item){s->moe_y + i * H, &dn[i], s->g + i * 2 * FE};
    }
    cpu_matvec_many(s->cpu, it, k);
    memset(out, 0, (size_t)H * sizeof *out);
    for (int32_t i = 0; i < k; i++) {
        const float g = s->moe_gate[order[i]];
        for (int64_t c = 0; c < H; c++) out[c] += g * s->moe_y[i * H + c];
    }
}

static void moe_rows(g4_session *s, const layer_weights *w, const float *r, const float *u2, float *out, int32_t n) {
    const g4_hparams *hp = &s->m->hp;
    const int64_t H = hp->n_embd, E = hp->n_expert, FE = hp->n_ff_expert;
    const int32_t k = G4_MIN(hp->n_expert_used, 64);
    float *ri = s->a; /* (n, H): the router inputs, then the gathered expert inputs */
    const float hs = 1.0f / sqrtf((float)H);
    for (int32_t t = 0; t < n; t++) {
        s->cpu->k->rmsnorm(ri + t * H, r + t * H, NULL, H, hp->rms_eps);
        for (int64_t i = 0; i < H; i++) ri[t * H + i] = ri[t * H + i] * w->router_scale[i] * hs;
    }
    ops_matmul(s->cpu, s->router, &w->router, ri, n);
    memset(s->moe_count, 0, (size_t)(E + 1) * sizeof *s->moe_count);
    for (int32_t t = 0; t < n; t++) {
        float *p = s->router + t * E, mx = -INFINITY;
        for (int64_t e = 0; e < E; e++) mx = fmaxf(mx, p[e]);
        double sum = 0.0;
        for (int64_t e = 0; e < E; e++) { p[e] = expf(p[e] - mx); sum += p[e]; }
        for (int64_t e = 0; e < E; e++) p[e] = (float)(p[e] / sum);
        int32_t *sel = s->moe_sel + (size_t)t * k;
        float *gate = s->moe_gate + (size_t)t * k, gsum = 0.0f;
        for (int32_t j = 0; j < k; j++) { /* exact top-k; ties go to the lower index like torch.topk */
            int32_t best = -1;
            for (int64_t e = 0; e < E; e++) {
                bool taken = false;
                for (int32_t q = 0; q < j; q++) taken |= sel[q] == e;
                if (!taken && (best < 0 || p[e] > p[best])) best = (int32_t)e;
            }
            sel[j] = best;
            gate[j] = p[best];
            gsum += gate[j];
        }
        for (int32_t j = 0; j < k; j++) {
            gate[j] = gate[j] / gsum * w->expert_scale[sel[j]];
            s->moe_count[sel[j] + 1]++;
        }
    }
    if (n == 1 && k <= s->n_ubatch) { /* g, u and moe_y hold n_ubatch rows: k of them here */
        moe_token(s, w, u2, out, k);
        return;
    }
    /* counting sort of the (row, slot) pairs by expert: group e is moe_rows[count[e] ..
     * count[e + 1]), rows in increasing order */
    for (int64_t e = 0; e < E; e++) s->moe_count[e + 1] += s->moe_count[e];
    int32_t *fill = s->moe_count; /* advanced while filling, then shifted back */
    for (int32_t t = 0; t < n; t++)
        for (int32_t j = 0; j < k; j++) s->moe_rows[fill[s->moe_sel[(size_t)t * k + j]]++] = t * k + j;
    for (int64_t e = E; e > 0; e--) s->moe_count[e] = s->moe_count[e - 1];
    s->moe_count[0] = 0;
    memset(out, 0, (size_t)n * (size_t)H * sizeof *out);
    /* Experts in batches of at most n_ubatch routed rows (ri, g, u and moe_y hold that
     * many): each batch's rows gathered in expert order, then all its gate-ups as one
     * parallel job and all its downs as another (cpu_matmul_rows). A 32-token prompt
     * reaches ~110 of 26B-A4B's 128 experts with 1-5 rows each: one job per expert and
     * matrix was ~6700 waits per forward pass. */
    enum { BATCH_EXPERTS = 256 };
    mat gu[BATCH_EXPERTS], dn[BATCH_EXPERTS];
    cpu_rows_item it[BATCH_EXPERTS];
    for (int64_t e = 0; e < E;) {
        int32_t rows = 0, cnt = 0;
        int64_t eb = e;
        for (; eb < E; eb++) {
            const int32_t g0 = s->moe_count[eb], m = s->moe_count[eb + 1] - g0;
            if (!m) continue;
            if (rows + m > s->n_ubatch || cnt == BATCH_EXPERTS) break;
            for (int32_t i = 0; i < m; i++)
                memcpy(ri + (size_t)(rows + i) * H, u2 + (s->moe_rows[g0 + i] / k) * H, (size_t)H * sizeof *ri);
            gu[cnt] = mat_index(w->exp_gate_up, (int32_t)eb);
            dn[cnt] = mat_index(w->exp_down, (int32_t)eb);
            it[cnt] = (cpu_rows_item){s->g + (size_t)rows * 2 * FE, &gu[cnt], rows, m}; /* (m, 2 FE): FE gate values, FE up */
            cnt++;
            rows += m;
        }
        if (!cnt) break; /* cannot happen: top-k sends a token to an expert once, so m <= n <= n_ubatch */
        cpu_matmul_rows(s->cpu, it, cnt, ri, rows, H);
        for (int32_t i = 0; i < rows; i++) { /* gelu(gate) * up, packed to (rows, FE) for the down-projections */
            s->cpu->k->gelu_mul(s->g + (size_t)i * 2 * FE, s->g + (size_t)i * 2 * FE + FE, FE);
            memcpy(s->u + (size_t)i * FE, s->g + (size_t)i * 2 * FE, (size_t)FE * sizeof *s->u);
        }
        for (int32_t q = 0; q < cnt; q++) it[q] = (cpu_rows_item){s->moe_y + (size_t)it[q].row0 * H, &dn[q], it[q].row0, it[q].n};
        cpu_matmul_rows(s->cpu, it, cnt, s->u, rows, FE);
        for (int64_t x = e, i = 0; x < eb; x++) /* contributions in expert order */
            for (int32_t g0 = s->moe_count[x]; g0 < s->moe_count[x + 1]; g0++, i++) {
                const int32_t t = s->moe_rows[g0] / k;
                const float g = s->moe_gate[s->moe_rows[g0]];
                for (int64_t c = 0; c < H; c++) out[t * H + c] += g * s->moe_y[i * H + c];
            }
        e = eb;
    }
}

static void ffn_block(g4_session *s, int32_t l, int32_t n) {
    const g4_hparams *hp = &s->m->hp;
    const layer_weights *w = &s->m->layers[l];
    const int64_t H = hp->n_embd;
    norm_rows(s, s->h, s->x, w->ffn_norm, NULL, n);
    if (!hp->n_expert) {
        mlp(s, s->a, &w->ffn_gate, &w->ffn_up, &w->ffn_down, s->h, n);
        norm_rows(s, s->a, s->a, w->post_ffn_norm, s->x, n);
        return;
    }
    mlp(s, s->dense, &w->ffn_gate, &w->ffn_up, &w->ffn_down, s->h, n);
    norm_rows(s, s->h, s->x, w->pre_ffn_norm_2, NULL, n);
    moe_rows(s, w, s->x, s->h, s->moe_acc, n);
    for (int32_t t = 0; t < n; t++) {
        float *r = s->x + t * H, *d = s->dense + t * H, *mo = s->moe_acc + t * H;
        s->cpu->k->rmsnorm(d, d, w->post_ffn_norm_1, H, hp->rms_eps);
        s->cpu->k->rmsnorm(mo, mo, w->post_ffn_norm_2, H, hp->rms_eps);
        for (int64_t i = 0; i < H; i++) d[i] += mo[i];
        s->cpu->k->rmsnorm(d, d, w->post_ffn_norm, H, hp->rms_eps);
        for (int64_t i = 0; i < H; i++) r[i] += d[i];
    }
}

/* §2.3 (C): x += RMS(Wproj (gelu(Wgate x) * ple[l]); post_norm). */
static void ple_block(g4_session *s, int32_t l, int32_t n) {
    const g4_hparams *hp = &s->m->hp;
    const layer_weights *w = &s->m->layers[l];
    const int64_t P = hp->n_embd_per_layer, LP = (int64_t)hp->n_layer * P;
    ops_matmul(s->cpu, s->g, &w->ple_gate, s->x, n);
    for (int32_t t = 0; t < n; t++)
        s->cpu->k->gelu_mul(s->g + t * P, s->ple + t * LP + l * P, P);
    ops_matmul(s->cpu, s->a, &w->ple_proj, s->g, n);
    norm_rows(s, s->a, s->a, w->ple_post_norm, s->x, n);
}

/* Final logit soft-capping over rows x vocabulary values, split over the threads. */
typedef struct softcap_job { const cpu_kernels *k; float *x; float c; } softcap_job;

static void softcap_part(void *arg, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const softcap_job *j = arg;
    j->k->softcap(j->x + i0, i1 - i0, j->c);
}

/* Runs n rows (n <= n_ubatch; s->row_pos and s->row_sess filled in) and writes logits
 * for the rows [first_logit, n) into out_logits. */
static void forward_chunk(g4_session *s, const int32_t *tok, int32_t n, int32_t first_logit, float *out_logits) {
    const g4_model *m = s->m;
    const g4_hparams *hp = &m->hp;
    const int64_t H = hp->n_embd;
    for (int32_t t = 0; t < n; t++) {
        float *xt = s->x + t * H;
        dequantize_row(m->tok_embd.type, m->tok_embd.data + (uint64_t)tok[t] * m->tok_embd.row_bytes, xt, H);
        for (int64_t i = 0; i < H; i++) xt[i] *= m->embd_scale;
    }
    if (hp->n_embd_per_layer) per_layer_inputs(s, tok, n);
    s->rope_ready[0] = s->rope_ready[1] = false; /* new rows, new positions */
    for (int32_t l = 0; l < hp->n_layer; l++) {
        attention_block(s, l, n);
        ffn_block(s, l, n);
        if (hp->n_embd_per_layer) ple_block(s, l, n);
        const float scale = m->layers[l].out_scale[0];
        for (int64_t i = 0; i < (int64_t)n * H; i++) s->x[i] *= scale;
    }
    const int32_t rows = n - first_logit;
    norm_rows(s, s->h + (size_t)first_logit * (size_t)H, s->x + (size_t)first_logit * (size_t)H, m->output_norm, NULL, rows);
    ops_matmul(s->cpu, out_logits, &m->output, s->h + (size_t)first_logit * (size_t)H, rows);
    if (hp->final_softcap > 0) {
        softcap_job j = {s->cpu->k, out_logits, hp->final_softcap};
        cpu_parallel(s->cpu, softcap_part, &j, (int64_t)rows * hp->n_vocab, 0);
    }
}

g4_status g4_session_eval(g4_session *s, const int32_t *tokens, int32_t n_tokens, g4_error *err) {
    g4_error_clear(err);
    const g4_hparams *hp = &s->m->hp;
    if (n_tokens <= 0 || !tokens) return g4_fail(err, G4_ERR_ARG, "no tokens to evaluate");
    if (n_tokens > s->n_ctx - s->n_past)
        return g4_fail(err, G4_ERR_CONTEXT_FULL, "%d tokens do not fit: %d of %d context positions are used",
                       n_tokens, s->n_past, s->n_ctx);
    for (int32_t i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
            return g4_fail(err, G4_ERR_ARG, "token id %d at index %d is outside the vocabulary (0..%d)", tokens[i], i,
                           hp->n_vocab - 1);
    const int64_t rows = s->all_logits ? n_tokens : 1;
    if (rows > s->logits_cap_rows) {
        float *nl = realloc(s->logits, (size_t)rows * (size_t)hp->n_vocab * sizeof(float));
        if (!nl) return g4_fail(err, G4_ERR_NOMEM, "out of memory for %lld rows of logits", (long long)rows);
        s->logits = nl;
        s->logits_cap_rows = rows;
    }
    for (int32_t done = 0; done < n_tokens;) {
        const int32_t n = G4_MIN(s->n_ubatch, n_tokens - done);
        const bool last_chunk = done + n == n_tokens;
        int32_t first = s->all_logits ? 0 : (last_chunk ? n - 1 : n);
        float *dst = s->all_logits ? s->logits + (size_t)done * (size_t)hp->n_vocab : s->logits;
        for (int32_t t = 0; t < n; t++) {
            s->row_pos[t] = s->n_past + t;
            s->row_sess[t] = s;
            s->tokens[s->n_past + t] = tokens[done + t];
        }
        forward_chunk(s, tokens + done, n, first, dst);
        s->n_past += n;
        s->written_hi = G4_MAX(s->written_hi, s->n_past - 1);
        done += n;
    }
    s->n_logit_rows = rows;
    return G4_OK;
}

g4_status g4_session_decode_batch(g4_session *const *ss, const int32_t *tokens, int32_t n, g4_error *err) {
    g4_error_clear(err);
    if (n <= 0 || !ss || !tokens) return g4_fail(err, G4_ERR_ARG, "empty batch");
    g4_session *d = ss[0]; /* drives: its threads and scratch compute the whole batch */
    if (n > d->n_ubatch) return g4_fail(err, G4_ERR_ARG, "batch of %d exceeds the first session's n_ubatch %d", n, d->n_ubatch);
    const g4_hparams *hp = &d->m->hp;
    for (int32_t i = 0; i < n; i++) {
        const g4_session *s = ss[i];
        if (!s || s->m != d->m) return g4_fail(err, G4_ERR_ARG, "batch row %d: not a session of the same model", i);
        if (s->n_ctx > d->n_ctx) return g4_fail(err, G4_ERR_ARG, "batch row %d: context larger than the first session's", i);
        if (s->n_past >= s->n_ctx)
            return g4_fail(err, G4_ERR_CONTEXT_FULL, "batch row %d: all %d context positions are used", i, s->n_ctx);
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
            return g4_fail(err, G4_ERR_ARG, "batch row %d: token id %d is outside the vocabulary", i, tokens[i]);
        for (int32_t j = 0; j < i; j++)
            if (ss[j] == s) return g4_fail(err, G4_ERR_ARG, "batch rows %d and %d are the same session", j, i);
    }
    if (n > d->logits_cap_rows) {
        float *nl = realloc(d->logits, (size_t)n * (size_t)hp->n_vocab * sizeof(float));
        if (!nl) return g4_fail(err, G4_ERR_NOMEM, "out of memory for %d rows of logits", n);
        d->logits = nl;
        d->logits_cap_rows = n;
    }
    for (int32_t t = 0; t < n; t++) {
        d->row_pos[t] = ss[t]->n_past;
        d->row_sess[t] = ss[t];
        ss[t]->tokens[ss[t]->n_past] = tokens[t];
    }
    forward_chunk(d, tokens, n, 0, d->logits);
    /* row 0 is d's own and stays in place; the others move to their sessions */
    for (int32_t t = 1; t < n; t++)
        memcpy(ss[t]->logits, d->logits + (size_t)t * (size_t)hp->n_vocab, (size_t)hp->n_vocab * sizeof(float));
    for (int32_t t = 0; t < n; t++) {
        g4_session *s = ss[t];
        s->n_past++;
        s->written_hi = G4_MAX(s->written_hi, s->n_past - 1);
        s->n_logit_rows = 1;
    }
    return G4_OK;
}
