/* describe.c - the human-readable model report behind `g4 inspect`: variant and
 * hyper-parameters, the per-layer table, every tensor with type and shape, and a memory
 * estimate (weights as stored + KV cache for a given context + scratch). */
#include "../dtype.h"
#include "model.h"
#include "session.h"

#include <stdarg.h>
#include <string.h>

typedef struct sbuf { char *p; size_t n, cap; bool oom; } sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) G4_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) { b->oom = true; return; }
        if ((size_t)k < b->cap - b->n) { b->n += (size_t)k; return; }
        size_t nc = (b->cap + (size_t)k + 1) * 2;
        char *np = realloc(b->p, nc);
        if (!np) { b->oom = true; return; }
        b->p = np;
        b->cap = nc;
    }
}

/* Q8_0 matrices (counts[0]) and those of them that take int8 activations (counts[1]) */
static void count_q8(mat *w, int64_t copies, void *user) {
    (void)copies;
    int *counts = user;
    if (w->type != G4_DTYPE_Q8_0) return;
    counts[0]++;
    counts[1] += w->act8;
}

g4_status g4_model_describe(const g4_model *m, int32_t n_ctx, char **out, g4_error *err) {
    const g4_hparams *hp = &m->hp;
    const g4_model_info *in = &m->info;
    sbuf b = {.cap = 4096};
    *out = NULL;
    if (!(b.p = malloc(b.cap))) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    b.p[0] = 0;
    if (n_ctx <= 0) n_ctx = G4_MIN(4096, hp->n_ctx_train);
    sb_printf(&b, "model      %s\n", m->path);
    sb_printf(&b, "format     %s\n", in->source);
    sb_printf(&b, "variant    %s\n", in->variant);
    sb_printf(&b, "vocab      %d\n", hp->n_vocab);
    sb_printf(&b, "layers     %d (%d KV-shared)\n", hp->n_layer, hp->n_layer_kv_shared);
    sb_printf(&b, "hidden     %d\n", hp->n_embd);
    sb_printf(&b, "heads      %d query; KV %d sliding / %d global; head dim %d sliding / %d global\n", hp->n_head,
              hp->n_kv_swa, hp->n_kv_global, hp->head_dim_swa, hp->head_dim_global);
    sb_printf(&b, "window     %d\n", hp->sliding_window);
    sb_printf(&b, "rope       base %g sliding (%d of %d pairs) / %g global (%d of %d pairs)\n", hp->rope_base_swa,
              hp->rope_pairs_swa, hp->head_dim_swa / 2, hp->rope_base_global, hp->rope_pairs_global, hp->head_dim_global / 2);
    sb_printf(&b, "per-layer  input width %d\n", hp->n_embd_per_layer);
    if (hp->n_expert) sb_printf(&b, "experts    %d, %d used, width %d\n", hp->n_expert, hp->n_expert_used, hp->n_ff_expert);
    sb_printf(&b, "k_eq_v     %s\n", hp->k_eq_v ? "yes (global layers have no V projection)" : "no");
    sb_printf(&b, "softcap    %g\n", hp->final_softcap);
    sb_printf(&b, "context    %d trained\n", hp->n_ctx_train);
    sb_printf(&b, "params     %lld (%.1f MiB as stored)\n", (long long)in->n_params, (double)in->weight_bytes / 1048576.0);
    sb_printf(&b, "\nlayer  type     head_dim  kv_heads  mlp     kv_from\n");
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const layer_config *lc = &hp->layer[l];
        sb_printf(&b, "%5d  %-7s  %8d  %8d  %-6d  %s%d\n", l, lc->swa ? "sliding" : "global", lc->head_dim, lc->n_kv_head,
                  lc->n_ff, lc->kv_source == l ? "own " : "layer ", lc->kv_source);
    }
    sb_printf(&b, "\ntensors (%lld, ggml order: ne0 = row length)\n", (long long)m->dir->n);
    for (int64_t i = 0; i < m->dir->n; i++) {
        const tensor_entry *t = &m->dir->t[i];
        const dtype_traits *tr = dtype_get(t->type);
        sb_printf(&b, "  %-60s %-5s [", t->name, tr ? tr->name : "?");
        for (int d = 0; d < t->n_dims; d++) sb_printf(&b, d ? ", %lld" : "%lld", (long long)t->ne[d]);
        sb_printf(&b, "]\n");
    }
    int q8[2] = {0, 0};
    model_for_each_mat((g4_model *)m, count_q8, q8); /* count_q8 only reads */
    if (q8[1])
        sb_printf(&b, "Q8_0 matrices: %d of %d take int8 activations with AVX-512 VNNI, AVX-VNNI or NEON (the file's "
                      "matrices are mostly fewer bits)\n", q8[1], q8[0]);
    /* the KV cache in each storage type: the whole cache for n_ctx, and what one position
     * costs in global layers (which keep every position) and sliding ones (rings) */
    sb_printf(&b, "\nmemory for a %d-token context: weights %.1f MiB (mapped), KV cache", n_ctx,
              (double)in->weight_bytes / 1048576.0);
    for (int t = G4_KV_F16; t <= G4_KV_Q8_0; t++) {
        g4_session_params sp = {.n_ctx = n_ctx, .kv_type = (g4_kv_type)t};
        const uint64_t kv = g4_session_kv_bytes(m, &sp);
        if (kv) sb_printf(&b, "%s %.1f MiB as %s%s", t ? "," : "", (double)kv / 1048576.0, g4_kv_type_name(sp.kv_type),
                          t == G4_KV_F16 ? " (default)" : "");
        else if (t == G4_KV_Q8_0) sb_printf(&b, "; no q8_0 (head dims not multiples of %d)", G4_QK);
    }
    int32_t ring = 0; /* a sliding-window layer's slots with the default chunk of 512 */
    for (int32_t l = 0; l < hp->n_layer; l++)
        if (hp->layer[l].swa) ring = kv_capacity(hp, l, n_ctx, G4_MIN(512, n_ctx));
    sb_printf(&b, "\nKV cache bytes per position, global layers + sliding-window layers (at most %d positions):", ring);
    for (int t = G4_KV_F16; t <= G4_KV_Q8_0; t++) {
        uint64_t glob = 0, swa = 0;
        bool ok = true;
        for (int32_t l = 0; l < hp->n_layer; l++) {
            const layer_config *lc = &hp->layer[l];
            if (lc->kv_source != l) continue;
            ok &= t != G4_KV_Q8_0 || lc->head_dim % G4_QK == 0;
            *(lc->swa ? &swa : &glob) += 2ull * (uint64_t)lc->n_kv_head * kv_bytes((g4_kv_type)t, lc->head_dim);
        }
        if (ok) sb_printf(&b, "%s %s %llu + %llu", t ? "," : "", g4_kv_type_name((g4_kv_type)t), (unsigned long long)glob,
                          (unsigned long long)swa);
    }
    sb_printf(&b, "\n");
    if (b.oom) { free(b.p); return g4_fail(err, G4_ERR_NOMEM, "out of memory"); }
    *out = b.p;
    return G4_OK;
}
