/* attn_ab.c - decode (or prefill) deep in a context, in one process: a base revision's
 * x86 attention kernels (A) against this tree's (B), alternating windows, everything else
 * this tree's. The base revision's kernels_<isa>.c is compiled with its fill renamed
 * base_fill (scripts/device/attn_ab.sh does it); the session's kernel table is copied and
 * its six attention entries swapped. Uses the library's internal headers (a developer's
 * tool, not a test).
 *   attn_ab MODEL PAIRS WINDOW THREADS DEPTH [decode|prefill [f16|q8_0]]
 * decode: PAIRS pairs of WINDOW one-token steps after a DEPTH-token context; prefill:
 * PAIRS pairs of a WINDOW-token prompt evaluation from an empty context; the KV cache in
 * F16 (default) or Q8_0. */
#include "g4.h"
#include "model/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void base_fill(cpu_kernels *k);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: attn_ab MODEL PAIRS WINDOW THREADS DEPTH [decode|prefill [f16|q8_0]]\n"); return 2; }
    const char *path = argv[1];
    const int pairs = atoi(argv[2]), W = atoi(argv[3]), th = atoi(argv[4]), depth = atoi(argv[5]);
    const int prefill = argc > 6 && !strcmp(argv[6], "prefill"), q8 = argc > 7 && !strcmp(argv[7], "q8_0");
    g4_error err;
    g4_model *m;
    g4_session *s;
    if (g4_model_open(&m, path, NULL, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    g4_session_params sp = {.n_ctx = prefill ? W + 64 : depth + 2 * pairs * (W + 1) + 64, .n_threads = th,
                            .kv_type = q8 ? G4_KV_Q8_0 : G4_KV_F16};
    if (g4_session_create(&s, m, &sp, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    static cpu_kernels ka, kb, base;
    kb = *s->cpu->k;
    ka = kb;
    base_fill(&base);
    ka.attn_scores_f32 = base.attn_scores_f32; ka.attn_scores_f16 = base.attn_scores_f16; ka.attn_scores_q8 = base.attn_scores_q8;
    ka.attn_wsum_f32 = base.attn_wsum_f32; ka.attn_wsum_f16 = base.attn_wsum_f16; ka.attn_wsum_q8 = base.attn_wsum_q8;
    const int ntok = (depth > W ? depth : W) + 64;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)ntok);
    double *r = malloc(sizeof(double) * (size_t)pairs), ta = 0, tb = 0;
    if (!tok || !r) return 1;
    for (int i = 0; i < ntok; i++) tok[i] = 2 + (i * 7919) % 50000;
    if (!prefill)
        for (int d = 0; d < depth; d += 512)
            if (g4_session_eval(s, tok + d, depth - d < 512 ? depth - d : 512, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    int wins = 0;
    for (int p = 0; p < pairs; p++) {
        double t[2];
        for (int q = 0; q < 2; q++) {
            const int v = (p & 1) ? 1 - q : q;
            s->cpu->k = v ? &kb : &ka;
            double t0;
            if (prefill) {
                g4_session_reset(s);
                t0 = now();
                if (g4_session_eval(s, tok, W, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            } else {
                t0 = now();
                for (int i = 0; i < W; i++)
                    if (g4_session_eval(s, &tok[i % 64], 1, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            }
            t[v] = now() - t0;
        }
        r[p] = t[0] / t[1];
        ta += t[0];
        tb += t[1];
        wins += t[1] < t[0];
    }
    qsort(r, (size_t)pairs, sizeof *r, cmp);
    printf("%s%d t%d depth %d (%s, %s cache): A (base attention) %.2f tok/s, B (this tree) %.2f tok/s: B/A mean %.4f, median %.4f, "
           "B faster in %d/%d\n", prefill ? "pp" : "tg window ", W, th, depth, s->cpu->k->isa, q8 ? "Q8_0" : "F16", pairs * W / ta, pairs * W / tb,
           ta / tb, r[pairs / 2], wins, pairs);
    return 0;
}
