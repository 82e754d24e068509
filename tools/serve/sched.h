/* sched.h - the slot scheduler of `g4 serve`: one thread that owns every session.
 *
 * A slot is a g4_session that lives as long as the server, so its timeline (the last
 * prompt and answer it saw) stays in its KV cache between requests. HTTP threads submit
 * jobs; the scheduler thread gives each queued job the free slot whose timeline shares
 * the longest prefix with the job's prompt (g4_session_sync then evaluates only the
 * rest: a conversation's next turn skips the system prompt and the earlier turns), and
 * loops:
 *   1. one prefill chunk (at most `prefill_chunk` tokens) of one slot still reading its
 *      prompt, so a long prompt delays the others' next token by one chunk, not by all;
 *   2. one decode step for all generating slots together (g4_session_decode_batch: the
 *      weights are read once for the whole batch), then a sampled token for each.
 * Each token's text goes into the job's reply (reply.h) under the job's lock and wakes
 * the HTTP thread waiting on it. A job whose client went away is cancelled: its slot is
 * free at the next step. Jobs wait in a bounded FIFO when all slots are busy.
 *
 * Locks: the scheduler's mutex guards the queue, the slots' job pointers and the
 * statistics; a job's mutex guards its results. The scheduler's is always taken first. */
#ifndef G4_SERVE_SCHED_H
#define G4_SERVE_SCHED_H

#include "g4.h"
#include "reply.h"
#include "request.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct serve_job {
    serve_request req;           /* read-only once submitted */
    g4_sampler *smp;             /* the scheduler's */
    double t_submit;             /* seconds, monotonic clock */
    /* results, under mu; the HTTP side waits on cv */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    reply rp;
    bool done;
    const char *finish;          /* "stop", "length", "tool_calls"; NULL when cancelled or failed */
    serve_error err;             /* err.status != 0: the job failed */
    int32_t n_cached;            /* prompt tokens found in the slot's cache (not evaluated) */
    int32_t n_gen;               /* tokens generated */
    int slot;
    double t_first, t_done;      /* first token and end, monotonic seconds (0: not yet) */
    atomic_bool cancelled;
    atomic_int refs;
} serve_job;

/* Takes over *req (zeroed). NULL when out of memory. */
serve_job *job_create(serve_request *req);
void job_release(serve_job *j);

typedef struct sched sched;

typedef struct sched_params {
    int32_t n_slots;        /* requests generating at once */
    int32_t n_ctx;          /* each slot's context (capped at the model's) */
    int32_t n_threads;      /* compute threads (0: all CPUs) */
    int32_t queue_cap;      /* jobs that may wait for a slot */
    int32_t prefill_chunk;  /* prompt tokens evaluated between two decode steps */
    g4_kv_type kv_type;     /* KV cache storage of every slot (0: F16) */
    bool quiet;             /* no per-request log line */
} sched_params;

typedef struct sched_stats {
    int32_t n_slots, active, queued;
    uint64_t requests, cancelled, failed;
    uint64_t prompt_tokens, cached_tokens, generated_tokens;
    uint64_t decode_steps, decode_rows; /* rows / steps = the average batch */
} sched_stats;

g4_status sched_create(sched **out, g4_model *m, const g4_tokenizer *tok, const sched_params *p, g4_error *err);
/* The context each slot was given. */
int32_t sched_n_ctx(const sched *s);
/* Queues j (taking a reference). False with e set (503) when the queue is full or the
 * server is stopping, or (500) out of memory. */
bool sched_submit(sched *s, serve_job *j, serve_error *e);
/* The client is gone: the job stops at the next step and its slot is freed. */
void sched_cancel(sched *s, serve_job *j);
void sched_get_stats(sched *s, sched_stats *out);
/* Ends every job (503 "shutting down") and joins the scheduler thread. */
void sched_stop(sched *s);
void sched_free(sched *s);

/* Monotonic seconds. */
double serve_now(void);

#endif
