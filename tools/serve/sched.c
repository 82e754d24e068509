/* sched.c - slots, the queue and the scheduler thread (see sched.h for the design). */
#include "sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SLOTS 64

typedef enum { S_FREE, S_PREFILL, S_DECODE } slot_state;

typedef struct slot {
    g4_session *sess;   /* lives as long as the server: its timeline is the prefix cache */
    g4_detok *dt;
    serve_job *job;     /* NULL when free */
    slot_state state;
    int32_t n_fed;      /* prompt tokens in the timeline so far (prefill progress) */
    int32_t pending;    /* the sampled token the next decode step appends */
    uint64_t last_used; /* for picking the least recently used slot */
    uint64_t seq;       /* admission order, for prefilling first come first */
} slot;

struct sched {
    g4_model *m;
    const g4_tokenizer *tok;
    sched_params p;
    int32_t n_vocab;
    slot slots[MAX_SLOTS];
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    serve_job **queue; /* ring of queue_cap */
    serve_job **dropped; /* room for the cancelled jobs admit() takes out of the queue */
    int32_t q_head, q_len;
    bool stopping;
    uint64_t tick, seq, seed;
    sched_stats st;
};

double serve_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- jobs ------------------------------------------------------------------------- */

serve_job *job_create(serve_request *req) {
    serve_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->req = *req;
    memset(req, 0, sizeof *req);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    atomic_init(&j->cancelled, false);
    atomic_init(&j->refs, 1);
    j->slot = -1;
    return j;
}

void job_release(serve_job *j) {
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1) return;
    reply_free(&j->rp);
    g4_sampler_free(j->smp);
    serve_request_free(&j->req);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/* Ends a job: finish reason, or an error (err != NULL), or a cancellation (both NULL). */
static void job_end(sched *s, serve_job *j, const char *finish, const serve_error *err) {
    serve_error oom;
    pthread_mutex_lock(&j->mu);
    if (!err && finish) reply_finish(&j->rp);
    if (finish && j->rp.n_calls > 0) finish = "tool_calls";
    if (!err && j->rp.failed) {
        serve_fail(&oom, 500, "server_error", NULL, NULL, "out of memory");
        err = &oom;
    }
    if (err) j->err = *err;
    j->finish = err ? NULL : finish;
    j->done = true;
    j->t_done = serve_now();
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);

    pthread_mutex_lock(&s->mu);
    s->st.requests++;
    if (err) s->st.failed++;
    else if (!finish) s->st.cancelled++;
    if (j->slot >= 0) {
        s->st.prompt_tokens += (uint64_t)j->req.n_prompt;
        s->st.cached_tokens += (uint64_t)j->n_cached;
        s->st.generated_tokens += (uint64_t)j->n_gen;
    }
    pthread_mutex_unlock(&s->mu);
    if (!s->p.quiet && j->slot >= 0) {
        const double gen_s = j->t_first > 0 ? j->t_done - j->t_first : 0;
        fprintf(stderr,
                "g4 serve: slot %d: prompt %d tokens (%d cached, %d evaluated), %d generated, first token %.0f ms, "
                "%.1f tok/s, %s\n",
                j->slot, j->req.n_prompt, j->n_cached, j->req.n_prompt - j->n_cached, j->n_gen,
                j->t_first > 0 ? (j->t_first - j->t_submit) * 1e3 : 0.0, j->n_gen > 1 && gen_s > 0 ? (j->n_gen - 1) / gen_s : 0.0,
                err ? err->message : finish ? finish : "cancelled");
    }
    job_release(j); /* the scheduler's reference */
}

/* ---- slots ------------------------------------------------------------------------ */

static int32_t common_prefix(const g4_session *sess, const int32_t *tok, int32_t n) {
    const int32_t np = g4_session_n_past(sess);
    const int32_t *t = np > 0 ? g4_session_tokens(sess) : NULL;
    int32_t k = 0;
    while (t && k < np && k < n && t[k] == tok[k]) k++;
    return k;
}

/* Frees a slot; its timeline stays as the cache of what it last saw. */
static void slot_release(sched *s, slot *sl) {
    size_t len;
    g4_detok_flush(sl->dt, &len); /* forget a half character */
    pthread_mutex_lock(&s->mu);
    sl->job = NULL;
    sl->state = S_FREE;
    sl->last_used = ++s->tick;
    pthread_mutex_unlock(&s->mu);
}

static void slot_fail(sched *s, slot *sl, const g4_error *gerr) {
    serve_error e;
    serve_fail(&e, 500, "server_error", NULL, NULL, "generation failed: %s", gerr->msg);
    g4_session_reset(sl->sess); /* its timeline is no longer known to be right */
    serve_job *j = sl->job;
    slot_release(s, sl);
    job_end(s, j, NULL, &e);
}

static void slot_finish(sched *s, slot *sl, const char *finish) {
    serve_job *j = sl->job;
    size_t len;
    const char *rest = g4_detok_flush(sl->dt, &len);
    if (len) {
        pthread_mutex_lock(&j->mu);
        reply_push(&j->rp, rest, len);
        pthread_mutex_unlock(&j->mu);
    }
    slot_release(s, sl);
    job_end(s, j, finish, NULL);
}

/* A token was sampled for the slot's job: stop, or pass its text on and go on. */
static void slot_token(sched *s, slot *sl, int32_t id) {
    serve_job *j = sl->job;
    j->n_gen++;
    if (j->t_first == 0) {
        pthread_mutex_lock(&j->mu);
        j->t_first = serve_now();
        pthread_mutex_unlock(&j->mu);
    }
    if (!j->req.ignore_eos && g4_tokenizer_is_end_of_turn(s->tok, id)) { slot_finish(s, sl, "stop"); return; }
    g4_sampler_accept(j->smp, id);
    const char *text = NULL;
    size_t len = 0;
    g4_error gerr;
    if (g4_detok_push(sl->dt, id, &text, &len, &gerr) != G4_OK) { slot_fail(s, sl, &gerr); return; }
    pthread_mutex_lock(&j->mu);
    bool stopped = len ? reply_push(&j->rp, text, len) : false;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (stopped) slot_finish(s, sl, "stop");
    else if (j->n_gen >= j->req.max_tokens || g4_session_n_past(sl->sess) >= g4_session_n_ctx(sl->sess)) slot_finish(s, sl, "length");
    else {
        sl->pending = id;
        sl->state = S_DECODE;
    }
}

static void slot_sample(sched *s, slot *sl) {
    const float *logits = g4_session_logits(sl->sess, -1);
    slot_token(s, sl, g4_sampler_sample(sl->job->smp, logits));
}

/* One chunk of the prompt of sl's job; the first chunk finds how much the cache holds. */
static void slot_prefill(sched *s, slot *sl) {
    serve_job *j = sl->job;
    const int32_t n = j->req.n_prompt;
    int32_t from = sl->n_fed;
    if (from == 0) {
        from = common_prefix(sl->sess, j->req.prompt, n);
        if (from >= n) from = n - 1;
    }
    const int32_t target = from + s->p.prefill_chunk < n ? from + s->p.prefill_chunk : n;
    int32_t reused = 0;
    g4_error gerr;
    if (g4_session_sync(sl->sess, j->req.prompt, target, &reused, &gerr) != G4_OK) { slot_fail(s, sl, &gerr); return; }
    if (sl->n_fed == 0) {
        pthread_mutex_lock(&j->mu);
        j->n_cached = reused;
        pthread_mutex_unlock(&j->mu);
    }
    sl->n_fed = target;
    if (target < n) return;
    /* the prompt is in: the answer may start with a forced part the prompt already holds */
    if (j->req.prefill) {
        pthread_mutex_lock(&j->mu);
        reply_push(&j->rp, j->req.prefill, strlen(j->req.prefill));
        pthread_mutex_unlock(&j->mu);
    }
    slot_sample(s, sl);
}

/* The free slot for j: the one whose cache holds the longest prefix of its prompt, if
 * that is at least half the prompt or 256 tokens; else the least recently used one, so
 * that a new conversation does not evict another's cache for the sake of a shared <bos>
 * and turn marker (llama.cpp's server has the same rule, --slot-prompt-similarity 0.5). */
static int best_slot(sched *s, const serve_job *j) {
    int best = -1, lru = -1;
    int32_t best_lcp = -1;
    for (int i = 0; i < s->p.n_slots; i++) {
        const slot *sl = &s->slots[i];
        if (sl->job) continue;
        int32_t lcp = common_prefix(sl->sess, j->req.prompt, j->req.n_prompt);
        if (lcp > best_lcp) {
            best = i;
            best_lcp = lcp;
        }
        if (lru < 0 || sl->last_used < s->slots[lru].last_used) lru = i;
    }
    if (best >= 0 && (2 * (int64_t)best_lcp >= j->req.n_prompt || best_lcp >= 256)) return best;
    return lru;
}

/* ---- the scheduler thread ---------------------------------------------------------- */

static serve_job *queue_pop(sched *s) {
    serve_job *j = s->queue[s->q_head];
    s->q_head = (s->q_head + 1) % s->p.queue_cap;
    s->q_len--;
    return j;
}

/* Under s->mu: queued jobs into free slots. Cancelled ones are dropped. */
static void admit(sched *s, serve_job **dropped, int *n_dropped) {
    while (s->q_len > 0) {
        serve_job *j = s->queue[s->q_head];
        if (atomic_load(&j->cancelled)) {
            dropped[(*n_dropped)++] = queue_pop(s);
            continue;
        }
        int i = best_slot(s, j);
        if (i < 0) break;
        queue_pop(s);
        slot *sl = &s->slots[i];
        sl->job = j;
        sl->state = S_PREFILL;
        sl->n_fed = 0;
        sl->seq = ++s->seq;
        j->slot = i;
    }
}

/* One round: cancellations, one prefill chunk, one batched decode step. Without s->mu. */
static void step(sched *s) {
    for (int i = 0; i < s->p.n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->job && atomic_load(&sl->job->cancelled)) {
            serve_job *j = sl->job;
            slot_release(s, sl);
            job_end(s, j, NULL, NULL);
        }
    }
    slot *first = NULL;
    for (int i = 0; i < s->p.n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->job && sl->state == S_PREFILL && (!first || sl->seq < first->seq)) first = sl;
    }
    if (first) slot_prefill(s, first);

    g4_session *ss[MAX_SLOTS];
    int32_t toks[MAX_SLOTS];
    slot *rows[MAX_SLOTS];
    int n = 0;
    for (int i = 0; i < s->p.n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->job && sl->state == S_DECODE) {
            ss[n] = sl->sess;
            toks[n] = sl->pending;
            rows[n++] = sl;
        }
    }
    if (n == 0) return;
    g4_error gerr;
    if (g4_session_decode_batch(ss, toks, n, &gerr) != G4_OK) {
        for (int r = 0; r < n; r++) slot_fail(s, rows[r], &gerr);
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->st.decode_steps++;
    s->st.decode_rows += (uint64_t)n;
    pthread_mutex_unlock(&s->mu);
    for (int r = 0; r < n; r++) slot_sample(s, rows[r]);
}

static void *run(void *arg) {
    sched *s = arg;
    serve_job **dropped = s->dropped;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        int n_dropped = 0;
        admit(s, dropped, &n_dropped);
        bool active = false;
        for (int i = 0; i < s->p.n_slots; i++) active |= s->slots[i].job != NULL;
        if (!active && n_dropped == 0) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        for (int i = 0; i < n_dropped; i++) job_end(s, dropped[i], NULL, NULL);
        if (active) step(s);
        pthread_mutex_lock(&s->mu);
    }
    /* stopping: every job ends with an error the client can read */
    serve_error e;
    serve_fail(&e, 503, "server_error", "server_shutting_down", NULL, "The server is shutting down.");
    while (s->q_len > 0) {
        serve_job *j = queue_pop(s);
        pthread_mutex_unlock(&s->mu);
        job_end(s, j, NULL, &e);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->p.n_slots; i++) {
        slot *sl = &s->slots[i];
        if (!sl->job) continue;
        serve_job *j = sl->job;
        slot_release(s, sl);
        job_end(s, j, NULL, &e);
    }
    return NULL;
}

/* ---- the public side ---------------------------------------------------------------- */

g4_status sched_create(sched **out, g4_model *m, const g4_tokenizer *tok, const sched_params *p, g4_error *err) {
    *out = NULL;
    if (p->n_slots < 1 || p->n_slots > MAX_SLOTS || p->queue_cap < 1 || p->prefill_chunk < 1) {
        snprintf(err->msg, sizeof err->msg, "slots must be 1 to %d, the queue and the prefill chunk at least 1", MAX_SLOTS);
        err->status = G4_ERR_ARG;
        return G4_ERR_ARG;
    }
    sched *s = calloc(1, sizeof *s);
    if (!s) { snprintf(err->msg, sizeof err->msg, "out of memory"); return err->status = G4_ERR_NOMEM; }
    s->m = m;
    s->tok = tok;
    s->p = *p;
    s->n_vocab = g4_model_get_info(m)->n_vocab;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20) ^ (uint64_t)(uintptr_t)s;
    s->queue = calloc((size_t)p->queue_cap, sizeof *s->queue);
    s->dropped = calloc((size_t)p->queue_cap, sizeof *s->dropped);
    g4_status st = s->queue && s->dropped ? G4_OK : G4_ERR_NOMEM;
    if (st != G4_OK) snprintf(err->msg, sizeof err->msg, "out of memory");
    const int32_t n_ctx_train = g4_model_get_info(m)->n_ctx_train;
    s->p.n_ctx = p->n_ctx > 0 && p->n_ctx < n_ctx_train ? p->n_ctx : n_ctx_train;
    /* the first session of a decode batch computes it: every slot can lead a batch */
    g4_session_params sp = {.n_ctx = s->p.n_ctx, .n_threads = p->n_threads, .n_ubatch = 512, .kv_type = p->kv_type};
    for (int i = 0; st == G4_OK && i < p->n_slots; i++) {
        st = g4_session_create(&s->slots[i].sess, m, &sp, err);
        if (st == G4_OK) st = g4_detok_create(&s->slots[i].dt, tok, G4_DETOKENIZE_SKIP_SPECIAL, err);
    }
    if (st == G4_OK && pthread_create(&s->thread, NULL, run, s) != 0) {
        snprintf(err->msg, sizeof err->msg, "cannot start the scheduler thread");
        st = err->status = G4_ERR_NOMEM;
    }
    if (st != G4_OK) {
        sched_free(s);
        return st;
    }
    s->started = true;
    *out = s;
    return G4_OK;
}

int32_t sched_n_ctx(const sched *s) { return s->p.n_ctx; }

bool sched_submit(sched *s, serve_job *j, serve_error *e) {
    if (!j->req.seeded) {
        pthread_mutex_lock(&s->mu);
        j->req.sp.seed = s->seed += 0x9e3779b97f4a7c15ull;
        pthread_mutex_unlock(&s->mu);
    }
    g4_error gerr;
    if (!j->smp && g4_sampler_create(&j->smp, &j->req.sp, s->n_vocab, &gerr) != G4_OK)
        return serve_fail(e, 500, "server_error", NULL, NULL, "%s", gerr.msg);
    reply_init(&j->rp, !j->req.chat_format, j->req.stop, j->req.n_stop, j->req.sp.seed);
    j->t_submit = serve_now();
    pthread_mutex_lock(&s->mu);
    bool ok = false;
    if (s->stopping) serve_fail(e, 503, "server_error", "server_shutting_down", NULL, "The server is shutting down.");
    else if (s->q_len >= s->p.queue_cap)
        serve_fail(e, 503, "server_error", "server_overloaded",
                   NULL, "All %d slots are busy and %d requests are waiting: try again later.", s->p.n_slots, s->q_len);
    else {
        atomic_fetch_add(&j->refs, 1);
        s->queue[(s->q_head + s->q_len) % s->p.queue_cap] = j;
        s->q_len++;
        pthread_cond_signal(&s->cv);
        ok = true;
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void sched_cancel(sched *s, serve_job *j) {
    atomic_store(&j->cancelled, true);
    pthread_mutex_lock(&s->mu);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void sched_get_stats(sched *s, sched_stats *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    out->n_slots = s->p.n_slots;
    out->queued = s->q_len;
    out->active = 0;
    for (int i = 0; i < s->p.n_slots; i++) out->active += s->slots[i].job != NULL;
    pthread_mutex_unlock(&s->mu);
}

void sched_stop(sched *s) {
    if (!s || !s->started) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->started = false;
}

void sched_free(sched *s) {
    if (!s) return;
    sched_stop(s);
    for (int i = 0; i < MAX_SLOTS; i++) {
        g4_session_free(s->slots[i].sess);
        g4_detok_free(s->slots[i].dt);
    }
    free(s->queue);
    free(s->dropped);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
