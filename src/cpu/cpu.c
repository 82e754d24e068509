/* cpu.c - the CPU compute context and the matmul driver. A matmul is cut into work items
 * of (a chunk of weight rows) x (a tile of tokens), tile first, and each thread takes a
 * contiguous run of them (mm_units: one kernel call per run of chunks, whose next rows
 * the kernel prefetches as it goes). A kernel unpacks its weight rows once per tile, so
 * tiles are as long as the work still splits into enough items to keep every thread
 * busy (up to 256 tokens: 256 tokens of a 1536-wide row are 480 KB of quantized
 * activations, in L2). Decode (one token) gives
 * each thread one contiguous slice of the bytes to stream, claimed front to back in a
 * few large pieces, and a thread done early takes pieces of another's from the back
 * (mv_part); a prompt's batch of MoE experts (cpu_matmul_rows) splits its work items
 * among the threads the same way (rows_part). */
#include "cpu.h"

#include <stdlib.h>
#include <unistd.h>

#define TOKEN_TILE_MAX 256 /* tokens per prefill work item, at most (kernels.h's KERNEL_TILE_TOKENS) */
#define TOKEN_TILE_MIN 64  /* ... and at least, while the prompt has that many */
#define ROW_CHUNK 64       /* weight rows per work item in prefill */
_Static_assert(TOKEN_TILE_MAX <= KERNEL_TILE_TOKENS, "kernels size their scratch for the tile");

/* one thread's claim word in a decode job (mv_part) or a batch of MoE experts
 * (rows_part), alone on its cache line */
typedef struct mv_claim { _Alignas(64) uint64_t v; } mv_claim;

cpu_ctx *cpu_ctx_create(int n_threads, int64_t max_cols, int64_t max_tokens) {
    if (n_threads <= 0) {
        const char *env = getenv("G4_THREADS");
        n_threads = env && atoi(env) > 0 ? atoi(env) : (int)sysconf(_SC_NPROCESSORS_ONLN);
        if (n_threads < 1) n_threads = 1;
    }
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->n_threads = n_threads;
    c->k = cpu_kernels_get();
    c->max_cols = max_cols;
    c->scratch_floats = kernel_scratch_floats(c->k, max_cols);
    c->scratch = malloc((size_t)n_threads * (size_t)c->scratch_floats * sizeof(float));
    c->xq_blocks = max_tokens * ((max_cols + 31) / 32);
    c->xq = malloc((size_t)c->xq_blocks * G4_MAX(sizeof(block_a8), sizeof(block_a16)));
    c->pool = pool_create(n_threads);
    c->claims = aligned_alloc(64, (size_t)n_threads * sizeof *c->claims);
    if (!c->scratch || !c->xq || !c->pool || !c->claims) { cpu_ctx_free(c); return NULL; }
    return c;
}

void cpu_ctx_free(cpu_ctx *c) {
    if (!c) return;
    pool_free(c->pool);
    free(c->scratch);
    free(c->xq);
    free(c->claims);
    free(c);
}

void cpu_parallel(cpu_ctx *c, pool_fn fn, void *arg, int64_t n, int64_t grain) { pool_run(c->pool, fn, arg, n, grain); }

/* Matrix w's activation format and kernel in this table: a Q8_0 matrix of a lower-bit
 * file (mat.act8) takes int8 rows where the table has matmul_q8_a8 (kernels.h). */
static bool takes_a8(const cpu_ctx *c, const mat *w) { return w->act8 && w->type == G4_DTYPE_Q8_0 && c->k->matmul_q8_a8; }
static act_format mat_act(const cpu_ctx *c, const mat *w) { return takes_a8(c, w) ? ACT_A8 : c->k->act[w->type]; }
static matmul_fn mat_kernel(const cpu_ctx *c, const mat *w) { return takes_a8(c, w) ? c->k->matmul_q8_a8 : c->k->matmul[w->type]; }

typedef struct mm_job {
    cpu_ctx *c;
    float *y;
    const mat *w;
    const void *x;
    int64_t ldx, n, row_chunks, tile;
    matmul_fn fn;
} mm_job;

typedef struct q_job { cpu_ctx *c; const float *x; int64_t cols; act_format fmt; } q_job;

/* bytes of one activation row of cols values in format fmt */
static int64_t act_row_bytes(act_format fmt, int64_t cols) {
    return fmt == ACT_F32 ? cols * (int64_t)sizeof(float)
                          : (cols / 32) * (int64_t)(fmt == ACT_A16 ? sizeof(block_a16) : sizeof(block_a8));
}

/* one row x of cols values into dst in format fmt (not ACT_F32) */
static void act_quantize(const cpu_kernels *k, act_format fmt, const float *x, void *dst, int64_t cols) {
    if (fmt == ACT_A16) k->quantize_a16(x, dst, cols);
    else if (fmt == ACT_A8S) k->quantize_a8s(x, dst, cols);
    else k->quantize_a8(x, dst, cols);
}

static void quantize_rows(void *arg, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    q_job *q = arg;
    const int64_t rb = act_row_bytes(q->fmt, q->cols);
    for (int64_t t = t0; t < t1; t++) act_quantize(q->c->k, q->fmt, q->x + t * q->cols, (char *)q->c->xq + t * rb, q->cols);
}

/* n rows of x (cols wide) as the kernels for format fmt take them: x itself for
 * ACT_F32, else quantized into c->xq on the threads; *ldx: their row bytes. */
static const void *act_input(cpu_ctx *c, act_format fmt, const float *x, int64_t n, int64_t cols, int64_t *ldx) {
    *ldx = act_row_bytes(fmt, cols);
    if (fmt == ACT_F32) return x;
    q_job q = {c, x, cols, fmt};
    pool_run(c->pool, quantize_rows, &q, n, n >= 2 * c->n_threads ? 1 : n);
    return c->xq;
}

/* cpu_matvec_many: MV_MAX matrices at most per job (a token's q, k, v; gate, up; up to
 * 64 experts' matrices) */
#define MV_MAX 64

/* Decode's split. Equal shares of bytes do not finish together: over E2B decode on the
 * 2-vCPU VM the thread with the second half of each job took 6-8% longer than the one
 * with the first (whichever thread that was; kab's two halves of one big matrix finish
 * together), and the caller waited 8-11% of its time. So the bytes of a job are cut into
 * about MV_UNITS units per thread; each thread owns an equal run of them (mv_start) and
 * claims it from the front, half of what is left at a time (a few kernel calls, each
 * continuing the previous one's prefetch), and a thread done with its own takes half of
 * what is left of another's from the back. The owner's last claims are then one unit
 * (1/256 of the job with two threads), so neither waits long for the other: against 32
 * units and claims of three quarters, E2B decode ran 0.6-1.9% faster (Q4_0 and Q4_K_M,
 * alternating 6-token windows in one process, 100-150 pairs). Claims are
 * compare-and-swaps on one word per thread, (next unit << 32) | end unit, each on a cache
 * line of its own in the context. */
#define MV_UNITS 128

/* A decode job's input prologue (cpu_matvec_geglu): slices of PRO_SLICE values, a
 * multiple of every activation format's scale group (256 for ACT_A8S) and of the GeGLU
 * kernels' vector width, so slice by slice gives the floats and blocks the whole row
 * gives. */
#define PRO_SLICE 512

typedef struct mv_prologue {
    float *g;          /* becomes gelu(g) * u */
    const float *u;
    void *dst;         /* g quantized (NULL for ACT_F32: the kernels read g) */
    act_format fmt;
    int64_t cols, n;   /* n: slices */
    _Alignas(64) int64_t next; /* slices claimed (atomic) */
    _Alignas(64) int64_t done; /* slices finished (atomic) */
} mv_prologue;

typedef struct mv_job {
    cpu_ctx *c;
    mv_prologue *pro; /* NULL: the inputs are ready */
    const cpu_matvec_item *items;
    const void *xq[MV_MAX]; /* each item's activations as its kernel takes them */
    int64_t ldx[MV_MAX];    /* ... and their row bytes */
    uint64_t start[MV_MAX + 1]; /* item i's rows are bytes [start[i], start[i + 1]) of the whole */
    int count;
    uint64_t unit;   /* bytes per unit */
} mv_job;

/* bytes [b0, b1) of the concatenated matrices, cut at row boundaries (a row goes to the
 * range its first byte falls in) */
static void mv_bytes(const mv_job *j, uint64_t b0, uint64_t b1, float *scratch) {
    for (int i = 0; i < j->count; i++) {
        if (j->start[i + 1] <= b0 || j->start[i] >= b1) continue;
        const mat *w = j->items[i].w;
        /* rows whose first byte lies in [b0, b1) */
        const uint64_t rb = w->row_bytes, lo = b0 > j->start[i] ? b0 - j->start[i] : 0, hi = b1 - j->start[i];
        const int64_t r0 = (int64_t)((lo + rb - 1) / rb), r1 = G4_MIN(w->rows, (int64_t)((hi + rb - 1) / rb));
        if (r0 < r1) mat_kernel(j->c, w)(j->items[i].y, w->rows, w, r0, r1, j->xq[i], j->ldx[i], 1, scratch);
    }
}

/* Claims units of thread v's remaining range: half of what is left, at least one, from
 * its front (the owner) or its back (another thread); returns the first unit and
 * sets *n (0 when nothing is left). */
static uint64_t claim_take(mv_claim *claim, int v, bool front, uint64_t *n) {
    uint64_t old = __atomic_load_n(&claim[v].v, __ATOMIC_RELAXED);
    for (;;) {
        const uint64_t cur = old >> 32, end = old & 0xffffffffu;
        if (cur >= end) { *n = 0; return 0; }
        const uint64_t left = end - cur, take = G4_MAX(1, left / 2);
        const uint64_t next = front ? ((cur + take) << 32) | end : (cur << 32) | (end - take);
        if (__atomic_compare_exchange_n(&claim[v].v, &old, next, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            *n = take;
            return front ? cur : end - take;
        }
    }
}

/* Thread t0's pass over the context's claims (one call per thread): its own run first,
 * half of what is left at a time, then halves of the others' from their backs; fn gets
 * each claimed range of units [u0, u1). */
typedef void (*claim_fn)(const void *arg, uint64_t u0, uint64_t u1, float *scratch);
static void claims_work(const cpu_ctx *c, int64_t t0, claim_fn fn, const void *arg, float *scratch) {
    const int T = c->n_threads;
    for (int k = 0; k < T; k++) {
        const int v = (int)((t0 + k) % T);
        uint64_t u, n;
        while (u = claim_take(c->claims, v, k == 0, &n), n > 0) fn(arg, u, u + n, scratch);
    }
}

/* Claims prologue slices until none is left, then waits until all are finished (a thread
 * arriving late finds them done and goes straight to the matvec). */
static void mv_prologue_run(const cpu_kernels *k, mv_prologue *p) {
    const int64_t slice_bytes = act_row_bytes(p->fmt, PRO_SLICE);
    for (;;) {
        const int64_t s = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED);
        if (s >= p->n) break;
        const int64_t c0 = s * PRO_SLICE, n = G4_MIN(PRO_SLICE, p->cols - c0);
        k->gelu_mul(p->g + c0, p->u + c0, n);
        if (p->dst) act_quantize(k, p->fmt, p->g + c0, (char *)p->dst + s * slice_bytes, n);
        __atomic_fetch_add(&p->done, 1, __ATOMIC_RELEASE);
    }
    while (__atomic_load_n(&p->done, __ATOMIC_ACQUIRE) < p->n) cpu_relax();
}

/* units [u0, u1) of a decode job: their bytes */
static void mv_units(const void *arg, uint64_t u0, uint64_t u1, float *scratch) {
    const mv_job *j = arg;
    mv_bytes(j, u0 * j->unit, G4_MIN(j->start[j->count], u1 * j->unit), scratch);
}

static void mv_part(void *arg, int64_t t0, int64_t t1, int thread) {
    (void)t1;
    mv_job *j = arg;
    if (j->pro) mv_prologue_run(j->c->k, j->pro);
    claims_work(j->c, t0, mv_units, j, j->c->scratch + (int64_t)thread * j->c->scratch_floats);
}

/* N units split evenly among the context's claims, thread t owning [t N / T, (t + 1) N / T) */
static void claims_split(cpu_ctx *c, uint64_t N) {
    const uint64_t T = (uint64_t)c->n_threads;
    for (uint64_t t = 0; t < T; t++) c->claims[t].v = ((t * N / T) << 32) | ((t + 1) * N / T);
}

/* the job's claims: its bytes in about MV_UNITS units per thread */
static void mv_start(cpu_ctx *c, mv_job *j) {
    const uint64_t total = j->start[j->count], want = (uint64_t)c->n_threads * MV_UNITS;
    j->unit = G4_MAX(1, (total + want - 1) / want);
    claims_split(c, (total + j->unit - 1) / j->unit);
    pool_run(c->pool, mv_part, j, c->n_threads, 0);
}

void cpu_matvec_many(cpu_ctx *c, const cpu_matvec_item *items, int count) {
    mv_job j = {.c = c, .items = items, .count = count};
    int64_t used = 0; /* xq blocks taken */
    bool fits = count <= MV_MAX;
    for (int i = 0; fits && i < count; i++) {
        const mat *w = items[i].w;
        const act_format fmt = mat_act(c, w);
        j.start[i + 1] = j.start[i] + (uint64_t)w->rows * w->row_bytes;
        j.ldx[i] = act_row_bytes(fmt, w->cols);
        if (fmt == ACT_F32) { j.xq[i] = items[i].x; continue; }
        int same = -1; /* an earlier item with this input in this format */
        for (int q = 0; q < i && same < 0; q++)
            if (items[q].x == items[i].x && mat_act(c, items[q].w) == fmt && items[q].w->cols == w->cols) same = q;
        if (same >= 0) { j.xq[i] = j.xq[same]; continue; }
        const int64_t nb = w->cols / 32;
        if (used + nb > c->xq_blocks) { fits = false; break; }
        void *dst = (char *)c->xq + (size_t)used * G4_MAX(sizeof(block_a8), sizeof(block_a16));
        act_quantize(c->k, fmt, items[i].x, dst, w->cols);
        j.xq[i] = dst;
        used += nb;
    }
    if (!fits) { /* more inputs than the activation buffer holds */
        for (int i = 0; i < count; i++) cpu_matmul(c, items[i].y, items[i].w, items[i].x, 1);
        return;
    }
    mv_start(c, &j);
}

/* E2B Q4_0 decode, alternating 6-token windows in one process (150 pairs, twice): +1.8%
 * and +0.5% (medians +0.7%, +0.3%); the logits are bit for bit the same. */
void cpu_matvec_geglu(cpu_ctx *c, float *y, const mat *w, float *g, const float *u) {
    const act_format fmt = mat_act(c, w);
    const cpu_matvec_item item = {y, w, g};
    mv_prologue pro = {.g = g, .u = u, .dst = fmt == ACT_F32 ? NULL : c->xq, .fmt = fmt, .cols = w->cols,
                       .n = (w->cols + PRO_SLICE - 1) / PRO_SLICE};
    mv_job j = {.c = c, .pro = &pro, .items = &item, .count = 1, .start = {0, (uint64_t)w->rows * w->row_bytes}};
    j.xq[0] = fmt == ACT_F32 ? (const void *)g : c->xq;
    j.ldx[0] = act_row_bytes(fmt, w->cols);
    mv_start(c, &j);
}

/* cpu_matmul_rows: work item k of the job is (item, row chunk, token tile), items in
 * order; first[i] is item i's first work item. Each thread takes a contiguous run of
 * items (rows_part), so it streams an expert's rows in order: claimed one at a time from
 * a shared counter, consecutive 64-row chunks went to alternate threads and every claim
 * bounced the counter's cache line between them. 26B-A4B Q4_K_M prefill, 2 threads,
 * alternating in one process: pp32 +12% (10 of 10 pairs), pp256 +2.7% (5 of 6), pp512
 * +4.3% (4 of 4). (Kernels prefetching the 16 rows past their range, for the run's next
 * item, added nothing. Dense matmuls now run this way too: mm_units.) */
typedef struct rows_job {
    cpu_ctx *c;
    const cpu_rows_item *items;
    const void *x;    /* the quantized (or float) input rows */
    int64_t ldx;
    const int64_t *first; /* count + 1 entries */
    int count;
} rows_job;

/* work item k of the job */
static void rows_item(const rows_job *j, int64_t k, float *scratch) {
    int lo = 0, hi = j->count - 1; /* the item with first[i] <= k < first[i + 1] */
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (j->first[mid] <= k) lo = mid;
        else hi = mid - 1;
    }
    const int i = lo;
    const cpu_rows_item *it = &j->items[i];
    const int64_t n_tiles = (it->n + TOKEN_TILE_MAX - 1) / TOKEN_TILE_MAX, local = k - j->first[i];
    const int64_t rc = local / n_tiles, tt = local % n_tiles;
    const int64_t t0 = tt * TOKEN_TILE_MAX, nt = G4_MIN(TOKEN_TILE_MAX, it->n - t0);
    const int64_t r0 = rc * ROW_CHUNK, r1 = G4_MIN(r0 + ROW_CHUNK, it->w->rows);
    mat_kernel(j->c, it->w)(it->y + t0 * it->w->rows, it->w->rows, it->w, r0, r1,
                            (const char *)j->x + (it->row0 + t0) * j->ldx, j->ldx, nt, scratch);
}

/* work items [u0, u1), one after another */
static void rows_units(const void *arg, uint64_t u0, uint64_t u1, float *scratch) {
    for (uint64_t k = u0; k < u1; k++) rows_item(arg, (int64_t)k, scratch);
}

/* Thread t0's share of the work items (one call per thread), claimed as decode's bytes are */
static void rows_part(void *arg, int64_t t0, int64_t t1, int thread) {
    (void)t1;
    const rows_job *j = arg;
    claims_work(j->c, t0, rows_units, j, j->c->scratch + (int64_t)thread * j->c->scratch_floats);
}

void cpu_matmul_rows(cpu_ctx *c, const cpu_rows_item *items, int count, const float *x, int64_t rows, int64_t cols) {
    if (count <= 0) return;
    const act_format fmt = mat_act(c, items[0].w);
    bool one_job = count <= 1024 && (fmt == ACT_F32 || rows * (cols / 32) <= c->xq_blocks);
    for (int i = 0; i < count && one_job; i++) one_job = mat_act(c, items[i].w) == fmt && items[i].w->cols == cols;
    if (!one_job) {
        for (int i = 0; i < count; i++) cpu_matmul(c, items[i].y, items[i].w, x + items[i].row0 * cols, items[i].n);
        return;
    }
    rows_job j = {.c = c, .items = items, .count = count};
    j.x = act_input(c, fmt, x, rows, cols, &j.ldx);
    int64_t first[1025];
    first[0] = 0;
    for (int i = 0; i < count; i++)
        first[i + 1] = first[i] + (items[i].w->rows + ROW_CHUNK - 1) / ROW_CHUNK * ((items[i].n + TOKEN_TILE_MAX - 1) / TOKEN_TILE_MAX);
    j.first = first;
    claims_split(c, (uint64_t)first[count]);
    pool_run(c->pool, rows_part, &j, c->n_threads, 0);
}

/* Prefill: the work items are (token tile, 64-row chunk), tile-major, and each thread
 * takes a contiguous run of them as decode does (claims_work), calling the kernel once
 * per tile's run of consecutive chunks, so that the kernel's prefetch of its next rows
 * runs on across chunks. Claimed one at a time from a shared counter, consecutive chunks
 * went to alternate threads, and each call began by unpacking rows nobody had fetched:
 * E2B Q4_0 on 2 Ice Lake threads, the two schemes alternating in one process (a
 * temporary switch): a 32-token prompt best 289 -> 270 ms, faster in 15 of 20 pairs;
 * 128 and 512 tokens the same (best 1147 / 4124 -> 1120 / 4115 ms, 5 of 12 and 4 of 10
 * pairs). (Earlier, before the kernels spread their prefetches over their calls,
 * contiguous runs of 64-row calls gave pp32 +1.8% and pp512 -5%.)
 * units [u0, u1) of the job: */
static void mm_units(const void *arg, uint64_t u0, uint64_t u1, float *scratch) {
    const mm_job *j = arg;
    while (u0 < u1) {
        const int64_t tt = (int64_t)u0 / j->row_chunks, rc0 = (int64_t)u0 % j->row_chunks;
        const int64_t rc1 = G4_MIN(j->row_chunks, rc0 + (int64_t)(u1 - u0));
        const int64_t t0 = tt * j->tile, nt = G4_MIN(j->tile, j->n - t0);
        j->fn(j->y + t0 * j->w->rows, j->w->rows, j->w, rc0 * ROW_CHUNK, G4_MIN(rc1 * ROW_CHUNK, j->w->rows),
              (const char *)j->x + t0 * j->ldx, j->ldx, nt, scratch);
        u0 += (uint64_t)(rc1 - rc0);
    }
}

static void mm_part(void *arg, int64_t t0, int64_t t1, int thread) {
    (void)t1;
    const mm_job *j = arg;
    claims_work(j->c, t0, mm_units, j, j->c->scratch + (int64_t)thread * j->c->scratch_floats);
}

void cpu_matmul(cpu_ctx *c, float *y, const mat *w, const float *x, int64_t n) {
    mm_job j = {.c = c, .y = y, .w = w, .n = n, .fn = mat_kernel(c, w)};
    j.x = act_input(c, mat_act(c, w), x, n, w->cols, &j.ldx);
    if (n == 1) { /* decode's split (mv_part), one matrix */
        const cpu_matvec_item item = {y, w, x};
        mv_job mj = {.c = c, .items = &item, .count = 1, .start = {0, (uint64_t)w->rows * w->row_bytes}};
        mj.xq[0] = j.x;
        mj.ldx[0] = j.ldx;
        mv_start(c, &mj);
        return;
    }
    j.row_chunks = (w->rows + ROW_CHUNK - 1) / ROW_CHUNK;
    /* the longest tile that still gives each thread 4 items or more (a small matrix,
     * e.g. E2B's 256-row K projection, has only 4 row chunks) */
    j.tile = TOKEN_TILE_MAX;
    while (j.tile > TOKEN_TILE_MIN && j.row_chunks * ((n + j.tile - 1) / j.tile) < 4 * c->n_threads) j.tile /= 2;
    const int64_t items = j.row_chunks * ((n + j.tile - 1) / j.tile);
    claims_split(c, (uint64_t)items);
    pool_run(c->pool, mm_part, &j, c->n_threads, 0);
}
