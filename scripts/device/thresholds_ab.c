/* thresholds_ab.c - prefill A/B in one process: two settings A and B of (the token count
 * from which Q8_0 x int8 turns rows sideways, Q8A8_SW_TOKENS; the token count up to which
 * AVX-512 Q5_0 goes by rows, Q5_0_ROWS_TOKENS), alternating evaluations of an N-token
 * prompt. Needs a tree patched by thresholds_patch.py (the two constants read from
 * globals). On the GPU machine, from a tree unpacked in /tmp/xt:
 *   python3 thresholds_patch.py && make build/libg4.a &&
 *   cc -O2 -Iinclude thresholds_ab.c build/libg4.a -lcjson -lm -lpthread -o abx
 *   ./abx MODEL PAIRS N THREADS Q8_A Q5_A Q8_B Q5_B
 * Results: results/2026-11-27-moe-thresholds-xeon.txt. */
#include "g4.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
extern int g4_thr_q8, g4_thr_q5;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
int main(int argc, char **argv) {
    const char *path = argv[1]; int pairs = atoi(argv[2]), N = atoi(argv[3]), th = atoi(argv[4]);
    int cfg[2][2] = {{atoi(argv[5]), atoi(argv[6])}, {atoi(argv[7]), atoi(argv[8])}};
    g4_error err; g4_model *m; g4_session *s;
    if (g4_model_open(&m, path, NULL, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    g4_session_params sp = {.n_ctx = N + 16, .n_threads = th};
    if (g4_session_create(&s, m, &sp, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    int32_t *tok = malloc(sizeof(int32_t) * N);
    for (int i = 0; i < N; i++) tok[i] = 2 + (i * 7919) % 50000;
    g4_session_eval(s, tok, N, &err); /* warm */
    double *r = malloc(sizeof(double) * pairs), ta = 0, tb = 0; int wins = 0;
    for (int p = 0; p < pairs; p++) {
        double t[2];
        for (int q = 0; q < 2; q++) {
            int v = (p & 1) ? 1 - q : q;
            g4_thr_q8 = cfg[v][0]; g4_thr_q5 = cfg[v][1];
            g4_session_reset(s);
            double t0 = now();
            if (g4_session_eval(s, tok, N, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            t[v] = now() - t0;
        }
        r[p] = t[0] / t[1]; ta += t[0]; tb += t[1]; wins += t[1] < t[0];
    }
    qsort(r, pairs, sizeof *r, cmp);
    printf("pp%d t%d: A (q8 sideways from %d, q5 rows to %d) %.2f tok/s, B (%d, %d) %.2f tok/s: B/A mean %.4f, median %.4f, B faster in %d/%d\n",
           N, th, cfg[0][0], cfg[0][1], pairs * N / ta, cfg[1][0], cfg[1][1], pairs * N / tb, ta / tb, r[pairs / 2], wins, pairs);
    return 0;
}
