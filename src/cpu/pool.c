/* pool.c - the worker pool (see pool.h). A job is published with a generation counter;
 * every thread (the caller too) claims chunks until none remain, and the caller waits
 * until all workers have left the job. Decode issues a few hundred jobs per token, so
 * the hand-offs must not go through the kernel: workers spin on the generation counter
 * and only sleep (condition variable) after SPIN_ITERS idle rounds, and the caller spins
 * on the count of busy workers the same way. The mutex is taken only when someone sleeps
 * or may be sleeping. (With a mutex-protected count and a sleeping caller, every job
 * cost a futex wake-up: on a 16-core Xeon, E2B decode stopped scaling at 8 threads.)
 *
 * Lost wake-ups: a worker announces itself in `sleepers` and then re-reads `gen` before
 * waiting; the caller bumps `gen` and then reads `sleepers` (all sequentially consistent),
 * so at least one of them sees the other's write. The caller and the last worker to
 * finish do the same with `caller_sleeps` and `busy`. */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>

#define SPIN_ITERS 20000 /* ~10-50 us of spinning before a worker sleeps */
/* While spinning, give the core away every YIELD_EVERY rounds: when the machine has more
 * runnable threads than cores (a browser, a build, another model), the thread being waited
 * for may be the one that is not running, and pure spinning would burn the waiter's whole
 * time slice before the scheduler lets it run. With idle cores sched_yield returns at
 * once (a fraction of a microsecond). */
#define YIELD_EVERY 256

static inline void spin_wait(int spins) {
    if (spins % YIELD_EVERY == YIELD_EVERY - 1) sched_yield();
    else cpu_relax();
}

struct cpu_pool {
    int n;                 /* threads including the caller */
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    /* current job */
    pool_fn fn;
    void *arg;
    int64_t total, grain;
    int64_t next;          /* atomic: next chunk start (dynamic) */
    unsigned gen;          /* atomic: job generation */
    int busy;              /* atomic: workers still in the job */
    int sleepers;          /* atomic: workers asleep (or about to be) on `wake` */
    int caller_sleeps;     /* atomic: the caller is asleep (or about to be) on `done` */
    bool quit;
};

typedef struct { cpu_pool *p; int id; } worker_arg;

static void run_share(cpu_pool *p, int id) {
    if (p->grain == 0) { /* static split */
        int64_t per = (p->total + p->n - 1) / p->n, i0 = per * id, i1 = i0 + per;
        if (i1 > p->total) i1 = p->total;
        if (i0 < i1) p->fn(p->arg, i0, i1, id);
        return;
    }
    for (;;) {
        int64_t i0 = __atomic_fetch_add(&p->next, p->grain, __ATOMIC_RELAXED);
        if (i0 >= p->total) break;
        int64_t i1 = i0 + p->grain < p->total ? i0 + p->grain : p->total;
        p->fn(p->arg, i0, i1, id);
    }
}

static void *worker_main(void *a) {
    worker_arg wa = *(worker_arg *)a;
    free(a);
    cpu_pool *p = wa.p;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = __atomic_load_n(&p->gen, __ATOMIC_SEQ_CST)) == seen && spins < SPIN_ITERS) spin_wait(spins++);
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            __atomic_add_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
            while ((g = __atomic_load_n(&p->gen, __ATOMIC_SEQ_CST)) == seen && !p->quit) pthread_cond_wait(&p->wake, &p->mu);
            __atomic_sub_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
            bool quit = p->quit;
            pthread_mutex_unlock(&p->mu);
            if (quit) return NULL;
        }
        seen = g;
        run_share(p, wa.id);
        if (__atomic_sub_fetch(&p->busy, 1, __ATOMIC_SEQ_CST) == 0 && __atomic_load_n(&p->caller_sleeps, __ATOMIC_SEQ_CST)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

cpu_pool *pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    cpu_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->workers = calloc((size_t)n_threads, sizeof *p->workers);
    if (!p->workers) { pool_free(p); return NULL; }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) { p->n = i; pool_free(p); return NULL; }
        *wa = (worker_arg){p, i};
        if (pthread_create(&p->workers[i], NULL, worker_main, wa) != 0) {
            free(wa);
            p->n = i;
            pool_free(p);
            return NULL;
        }
    }
    return p;
}

void pool_free(cpu_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p);
}

int pool_threads(const cpu_pool *p) { return p ? p->n : 1; }

void pool_run(cpu_pool *p, pool_fn fn, void *arg, int64_t n, int64_t grain) {
    if (n <= 0) return;
    if (!p || p->n == 1 || (grain > 0 && n <= grain)) { fn(arg, 0, n, 0); return; }
    /* no worker is in a job here (the previous pool_run waited for busy == 0), so the
     * job fields can be written before the generation bump publishes them */
    p->fn = fn;
    p->arg = arg;
    p->total = n;
    p->grain = grain;
    __atomic_store_n(&p->next, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&p->busy, p->n - 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&p->gen, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&p->sleepers, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    run_share(p, 0);
    for (int spins = 0; __atomic_load_n(&p->busy, __ATOMIC_SEQ_CST) > 0; spins++) {
        if (spins < SPIN_ITERS) { spin_wait(spins); continue; }
        pthread_mutex_lock(&p->mu);
        __atomic_store_n(&p->caller_sleeps, 1, __ATOMIC_SEQ_CST);
        while (__atomic_load_n(&p->busy, __ATOMIC_SEQ_CST) > 0) pthread_cond_wait(&p->done, &p->mu);
        __atomic_store_n(&p->caller_sleeps, 0, __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(&p->mu);
        break;
    }
}
