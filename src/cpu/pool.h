/* pool.h - a persistent pool of worker threads. Created once per session and reused
 * for every operation: no thread is created per token. pool_run splits [0, n) into
 * chunks of `grain` items that the caller and the workers claim from an atomic counter
 * (cheap load balancing for uneven work such as MoE experts); with grain = 0 the range is
 * split statically into one contiguous part per thread (with n = the thread count, one
 * index each: decode's matvecs balance their bytes themselves, cpu.c). */
#ifndef G4_CPU_POOL_H
#define G4_CPU_POOL_H

#include <stdint.h>

typedef struct cpu_pool cpu_pool;
typedef void (*pool_fn)(void *arg, int64_t i0, int64_t i1, int thread);

/* n_threads counts the calling thread; 1 means no workers. NULL on failure. */
cpu_pool *pool_create(int n_threads);
void pool_free(cpu_pool *p);
int pool_threads(const cpu_pool *p);
void pool_run(cpu_pool *p, pool_fn fn, void *arg, int64_t n, int64_t grain);

/* One round of a spin-wait: the CPU's pause hint. */
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ volatile("yield")
#else
#define cpu_relax() ((void)0)
#endif

#endif
