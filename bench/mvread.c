/* mvread.c - decode's matvec on a model's own mapped weights against the bandwidth
 * probe's read loop over exactly the same bytes, alternating in one process: the kernel's
 * fraction of what the memory gives for those bytes, free of the drift between g4 bench's
 * probes and its decode reps and of the probe's buffer being anonymous memory in 2 MiB
 * pages where the model's file may sit partly in 4 KiB ones. The matrix is the output
 * projection (E2B: 262,144 x 1,536, the largest a decode step reads). A third alternation
 * reads an anonymous buffer of the same size in 2 MiB pages, as the probe's is: what the
 * file mapping itself costs against the probe's kind of memory. For developers; not a
 * test.
 *   make mvread && build/bench/mvread MODEL.gguf [THREADS [REPS]] */
#include "g4.h"
#include "model/model.h"
#include "model/session.h"
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* sink: the sums, kept so that the reads are not dropped */
typedef struct read_job { const cpu_kernels *k; const uint64_t *p; uint64_t sink[64]; } read_job;

static void read_part(void *arg, int64_t i0, int64_t i1, int thread) {
    read_job *j = arg;
    j->sink[thread % 64] += j->k->read_sum(j->p + i0, i1 - i0);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: mvread MODEL [THREADS [REPS]]\n"); return 2; }
    const int threads = argc > 2 ? atoi(argv[2]) : 2, reps = argc > 3 ? atoi(argv[3]) : 20;
    g4_error err;
    g4_model *m = NULL;
    g4_session *s = NULL;
    g4_session_params sp = {.n_ctx = 64, .n_threads = threads};
    if (g4_model_open(&m, argv[1], NULL, &err) != G4_OK || g4_session_create(&s, m, &sp, &err) != G4_OK) {
        fprintf(stderr, "mvread: %s\n", err.msg);
        return 1;
    }
    const mat *w = &m->output;
    const uint64_t bytes = (uint64_t)w->rows * w->row_bytes;
    float *x = malloc((size_t)w->cols * sizeof *x), *y = malloc((size_t)w->rows * sizeof *y);
    if (!x || !y) { fprintf(stderr, "mvread: out of memory\n"); return 1; }
    uint32_t rng = 7;
    for (int64_t i = 0; i < w->cols; i++) x[i] = bench_frand(&rng);
    /* rounded down to 8 bytes: a tensor's data is only 32-byte aligned within the file */
    read_job j = {.k = s->cpu->k, .p = (const uint64_t *)((uintptr_t)w->data & ~(uintptr_t)7)};
    const size_t anon_bytes = (bytes + ((size_t)2 << 20) - 1) & ~(((size_t)2 << 20) - 1);
    uint64_t *anon = aligned_alloc((size_t)2 << 20, anon_bytes);
    if (!anon) { fprintf(stderr, "mvread: out of memory\n"); return 1; }
#ifdef MADV_HUGEPAGE
    (void)madvise(anon, anon_bytes, MADV_HUGEPAGE);
#endif
    memset(anon, 1, anon_bytes);
    read_job ja = {.k = s->cpu->k, .p = anon};
    cpu_matmul(s->cpu, y, w, x, 1); /* fault the pages in */
    double best[3] = {0, 0, 0}, sum[3] = {0, 0, 0};
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        cpu_matmul(s->cpu, y, w, x, 1);
        const double mv = (double)bytes / (bench_now() - t0);
        t0 = bench_now();
        cpu_parallel(s->cpu, read_part, &j, (int64_t)(bytes / 8), 0);
        const double rd = (double)bytes / (bench_now() - t0);
        t0 = bench_now();
        cpu_parallel(s->cpu, read_part, &ja, (int64_t)(bytes / 8), 0);
        const double ra = (double)bytes / (bench_now() - t0);
        sum[0] += mv, sum[1] += rd, sum[2] += ra;
        if (mv > best[0]) best[0] = mv;
        if (rd > best[1]) best[1] = rd;
        if (ra > best[2]) best[2] = ra;
    }
    printf("%s table, %d threads, output %lld x %lld %s (%.0f MB), %d alternations: matvec best %.1f mean %.1f GB/s, "
           "read_sum best %.1f mean %.1f GB/s: %.1f%% of it (means)\n",
           s->cpu->k->isa, threads, (long long)w->rows, (long long)w->cols, g4_dtype_name(w->type), bytes / 1e6, reps,
           best[0] / 1e9, sum[0] / reps / 1e9, best[1] / 1e9, sum[1] / reps / 1e9, 100 * sum[0] / sum[1]);
    printf("read_sum over anonymous memory of that size in 2 MiB pages: best %.1f mean %.1f GB/s (the mapping's read_sum "
           "%.1f%% of it, means)\n", best[2] / 1e9, sum[2] / reps / 1e9, 100 * sum[1] / sum[2]);
    free(anon);
    free(x);
    free(y);
    g4_session_free(s);
    g4_model_free(m);
    return 0;
}
