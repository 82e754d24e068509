/* probe.c - the machine's physical limits, measured in the same run as a benchmark so
 * that speeds can be reported as fractions of them (g4_machine_probe):
 *   - memory read bandwidth: all threads sum disjoint slices of a buffer much larger
 *     than the caches with the kernel table's widest loads (read_sum; best of several
 *     passes);
 *   - int8 multiply-add peak: every thread runs the kernel table's int8_peak loop
 *     (12 or 16 independent register chains of the widest int8 dot instruction, in
 *     assembly).
 * It runs in a forked child so the probe's buffer never counts in the caller's peak RSS. */
#include "cpu.h"
#include "g4.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BW_BYTES ((size_t)1 << 30) /* 1 GiB: far beyond any L3 */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct { const cpu_kernels *k; const uint64_t *buf; int64_t n; uint64_t sums[64]; } bw_job;

static void bw_read(void *arg, int64_t i0, int64_t i1, int thread) {
    bw_job *j = arg;
    j->sums[thread % 64] += j->k->read_sum(j->buf + i0, i1 - i0);
}

typedef struct { const cpu_kernels *k; int64_t iters; int64_t macs[64]; int32_t sink[64]; } peak_job;

static void peak_run(void *arg, int64_t i0, int64_t i1, int thread) {
    peak_job *j = arg;
    for (int64_t i = i0; i < i1; i++) j->macs[thread % 64] += j->k->int8_peak(j->iters, &j->sink[thread % 64]);
}

static void measure(int n_threads, double out[2]) {
    out[0] = out[1] = 0;
    cpu_ctx *c = cpu_ctx_create(n_threads, 32, 1);
    uint64_t *buf = aligned_alloc((size_t)2 << 20, BW_BYTES);
    if (!c || !buf) { free(buf); cpu_ctx_free(c); return; }
    /* in 2 MiB pages where the kernel gives them: the bandwidth memory delivers, not one
     * limited by a TLB miss every 4 KiB (the weights are mapped so too, mapfile.c) */
#ifdef MADV_HUGEPAGE
    (void)madvise(buf, BW_BYTES, MADV_HUGEPAGE);
#endif
    memset(buf, 1, BW_BYTES); /* fault every page in before timing */
    bw_job bj = {.k = c->k, .buf = buf, .n = (int64_t)(BW_BYTES / 8)};
    double best = 0;
    for (int pass = 0; pass < 5; pass++) {
        double t0 = now();
        cpu_parallel(c, bw_read, &bj, bj.n, 0);
        double dt = now() - t0;
        if (dt > 0 && BW_BYTES / dt > best) best = BW_BYTES / dt;
    }
    out[0] = best;
    free(buf);
    peak_job pj = {.k = c->k, .iters = 2000000};
    best = 0;
    for (int pass = 0; pass < 3; pass++) {
        memset(pj.macs, 0, sizeof pj.macs);
        double t0 = now();
        cpu_parallel(c, peak_run, &pj, c->n_threads, 0); /* static: one item per thread (with
                                                          * dynamic grabbing, one thread could run two) */
        double dt = now() - t0;
        int64_t macs = 0;
        for (int i = 0; i < 64; i++) macs += pj.macs[i];
        if (dt > 0 && 2.0 * (double)macs / dt > best) best = 2.0 * (double)macs / dt; /* ops = 2 x multiply-adds */
    }
    out[1] = best;
    cpu_ctx_free(c);
}

g4_status g4_machine_probe(int32_t n_threads, g4_machine_limits *out, g4_error *err) {
    memset(out, 0, sizeof *out);
    int fd[2];
    if (pipe(fd) != 0) return g4_fail(err, G4_ERR_IO, "machine probe: cannot create a pipe");
    pid_t pid = fork();
    if (pid < 0) { close(fd[0]); close(fd[1]); return g4_fail(err, G4_ERR_IO, "machine probe: cannot fork"); }
    if (pid == 0) {
        close(fd[0]);
        double r[2];
        measure(n_threads, r);
        ssize_t w = write(fd[1], r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fd[1]);
    double r[2] = {0, 0};
    ssize_t got = read(fd[0], r, sizeof r);
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof r || r[0] <= 0) return g4_fail(err, G4_ERR_NOMEM, "machine probe failed (1 GiB buffer?)");
    out->read_bandwidth = r[0];
    out->int8_ops_per_s = r[1];
    out->isa = cpu_kernels_get()->isa;
    return G4_OK;
}
