/* bench_util.h - the clock, the random numbers and the weight buffers the developer
 * benchmarks (kbench.c, kab.c) share. */
#ifndef G4_BENCH_UTIL_H
#define G4_BENCH_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* uniform in [-1, 1), from a linear congruential state the caller keeps */
static inline float bench_frand(uint32_t *rng) {
    *rng = *rng * 1664525u + 1013904223u;
    return (float)(*rng >> 8) / 8388608.0f - 1.0f;
}

/* A buffer for weights, in 2 MiB pages where the kernel gives them, as g4 maps model
 * files (src/format/mapfile.c): decode from memory in 4 KiB pages pays a TLB miss every
 * 4 KiB that the model's decode does not. Free with free(). */
static inline void *bench_weights_alloc(size_t bytes) {
    const size_t huge = (size_t)2 << 20, n = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, n);
#ifdef MADV_HUGEPAGE
    if (p) (void)madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}

#endif
