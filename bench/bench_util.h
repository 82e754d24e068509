/* bench_util.h - the clock and the random numbers the developer benchmarks (kbench.c,
 * kab.c) share. */
#ifndef G4_BENCH_UTIL_H
#define G4_BENCH_UTIL_H

#include <stdint.h>
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

#endif
