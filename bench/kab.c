/* kab.c - kernel A/B for developers: one weight type's matmul from two builds of the
 * same x86 kernel table, linked into one program and called alternately, best of many
 * calls each. On a shared machine whose speed drifts by 10-30% over minutes, comparing
 * two processes run one after the other measured the drift, not the change (a "40%"
 * gain that an A/B in one process showed to be nothing); interleaved calls see the same
 * machine. scripts/kab.sh builds it against a git revision. Not a test.
 *   kab TYPE COLS ROWS TOKENS [REPS]   (TOKENS 1: decode, the matvec path)
 *   KAB_CHUNK=N: rows in calls of N (cpu.c's prefill work items are 64 rows)
 *   KAB_TILE=T (and KAB_TILE_BASE=T for the base table): tokens in tiles of T per call
 *   KAB_THREADS=2: a second thread takes the second half of the rows in each timed call
 *   (decode's two cores sharing the memory bus; one thread alone cannot saturate it)
 *   KAB_A8=1: Q8_0 through each table's matmul_q8_a8 (int8 activations) where it has one
 *   KAB_READ=1: each rep also times the new table's read_sum (the bandwidth probe's loop)
 *   over the same weight bytes, split the same way, and prints the kernel's speed as a
 *   fraction of it: decode's ratio to the probe, one matrix, the same machine state */
#include "cpu/kernels.h"
#include "dtype.h"
#include "quant/quant.h"
#include "bench_util.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void kab_base_fill(cpu_kernels *k); /* the revision's kernels_<isa>_fill, renamed */
void KAB_NEW_FILL(cpu_kernels *k);  /* this tree's */

static uint32_t rng = 1;

/* what one timed call does, split between the caller and a helper thread by rows */
typedef struct kab_call {
    const cpu_kernels *k;
    int32_t type;
    float *y;
    const mat *m;
    const void *x;
    int64_t lda, n, chunk, tile;
    float *scratch;
    int read;        /* KAB_READ's variant: read_sum instead of the kernel */
    uint64_t *sink;  /* read_sum's results, one per half, so the reads are not dropped */
} kab_call;

static void kab_run(const kab_call *c, int64_t r0, int64_t r1) {
    if (c->read) { /* read_sum over the rows' bytes instead of the kernel */
        /* rounded down to 8 bytes (a row of 1260 bytes may start anywhere) */
        const uint64_t *p = (const uint64_t *)((uintptr_t)(c->m->data + (uint64_t)r0 * c->m->row_bytes) & ~(uintptr_t)7);
        c->sink[r0 != 0] += c->k->read_sum(p, (int64_t)((uint64_t)(r1 - r0) * c->m->row_bytes / 8));
        return;
    }
    for (; r0 < r1; r0 += c->chunk) /* one call, or cpu.c's prefill items */
        for (int64_t t0 = 0; t0 < c->n; t0 += c->tile)
            c->k->matmul[c->type](c->y + t0 * c->m->rows, c->m->rows, c->m, r0, r0 + c->chunk < r1 ? r0 + c->chunk : r1,
                                  (const char *)c->x + t0 * c->lda, c->lda, c->n - t0 < c->tile ? c->n - t0 : c->tile,
                                  c->scratch);
}

static pthread_barrier_t go, done;
static const kab_call *volatile helper_call;

static void *helper(void *arg) {
    (void)arg;
    for (;;) {
        pthread_barrier_wait(&go);
        const kab_call *c = helper_call;
        if (!c) return NULL;
        kab_run(c, c->m->rows / 2, c->m->rows);
        pthread_barrier_wait(&done);
    }
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: kab TYPE COLS ROWS TOKENS [REPS]\n"); return 2; }
    static cpu_kernels kb, kn;
    kab_base_fill(&kb);
    KAB_NEW_FILL(&kn);
    const int64_t cols = atoll(argv[2]), rows = atoll(argv[3]), n = atoll(argv[4]);
    const int reps = argc > 5 ? atoi(argv[5]) : 40;
    int32_t type = -1;
    for (int32_t t = 0; t < 40; t++)
        if (g4_dtype_name(t) && !strcasecmp(g4_dtype_name(t), argv[1])) type = t;
    /* KAB_CHUNK=64: rows in calls of 64, as cpu.c hands them to the threads in prefill */
    const char *ce = getenv("KAB_CHUNK");
    const int64_t chunk = ce && atoll(ce) > 0 ? atoll(ce) : rows;
    /* KAB_TILE=T: tokens in tiles of T within each row chunk (cpu.c's work items);
     * KAB_TILE_BASE: the base table's tile, to compare two tilings of one table (REV HEAD) */
    const char *te = getenv("KAB_TILE"), *tb = getenv("KAB_TILE_BASE");
    const int64_t tile_new = te && atoll(te) > 0 ? atoll(te) : n;
    const int64_t tile[2] = {tb && atoll(tb) > 0 ? atoll(tb) : tile_new, tile_new};
    uint64_t rb;
    /* KAB_A8=1: Q8_0 through each table's matmul_q8_a8 with int8 activations, where it has
     * one (the Q8_0 matrices of mixed files, mat.act8) */
    const char *a8e = getenv("KAB_A8");
    const int a8 = a8e && atoi(a8e) == 1 && type == G4_DTYPE_Q8_0;
    for (int k = 0; k < 2; k++) {
        cpu_kernels *t = k ? &kn : &kb;
        if (a8 && t->matmul_q8_a8) { t->act[type] = ACT_A8; t->matmul[type] = t->matmul_q8_a8; }
    }
    /* ACT_A8S rows are ACT_A8 rows too (kernels.h): a base table that wants ACT_A8 takes them */
    const int same_act = type >= 0 && (kb.act[type] == kn.act[type] || (kb.act[type] == ACT_A8 && kn.act[type] == ACT_A8S) || a8);
    if (type < 0 || !kn.matmul[type] || !kb.matmul[type] || !same_act || cols <= 0 || rows <= 0 ||
        n <= 0 || tile[0] > KERNEL_TILE_TOKENS || tile[1] > KERNEL_TILE_TOKENS || !dtype_row_bytes(type, cols, &rb)) {
        fprintf(stderr, "kab: %s %lld x %lld, %lld tokens: not comparable\n", argv[1], (long long)rows, (long long)cols, (long long)n);
        return 2;
    }
    uint8_t *w = bench_weights_alloc(rb * (size_t)rows);
    float *x = malloc((size_t)(n * cols) * sizeof(float)), *y[2];
    y[0] = malloc((size_t)(n * rows) * sizeof(float));
    y[1] = malloc((size_t)(n * rows) * sizeof(float));
    const size_t scratch_bytes = ((size_t)KERNEL_SCRATCH_FLOATS(cols) * sizeof(float) + 63) / 64 * 64;
    float *scratch = aligned_alloc(64, scratch_bytes), *scratch2 = aligned_alloc(64, scratch_bytes);
    const char *th = getenv("KAB_THREADS");
    const int threads = th && atoi(th) == 2 ? 2 : 1;
    pthread_t tid;
    if (threads == 2) {
        pthread_barrier_init(&go, NULL, 2);
        pthread_barrier_init(&done, NULL, 2);
        pthread_create(&tid, NULL, helper, NULL);
    }
    /* each table's activations in its own format (they differ only with KAB_A8) */
    int64_t ldx[2];
    char *xq[2];
    for (int k = 0; k < 2; k++) {
        ldx[k] = (cols / 32) * (int64_t)((k ? kn : kb).act[type] == ACT_A16 ? sizeof(block_a16) : sizeof(block_a8));
        xq[k] = malloc((size_t)(n * ldx[k]));
    }
    if (!w || !x || !y[0] || !y[1] || !scratch || !scratch2 || !xq[0] || !xq[1]) { fprintf(stderr, "kab: out of memory\n"); return 1; }
    for (int64_t r = 0; r < rows; r++) { /* distinct rows: quantizing is slow, so at most 4096 */
        if (r < 4096) {
            for (int64_t c = 0; c < cols; c++) x[c] = bench_frand(&rng);
            quantize_row(type, x, w + r * rb, cols);
        } else memcpy(w + r * rb, w + (r % 4096) * rb, rb);
    }
    for (int64_t i = 0; i < n * cols; i++) x[i] = bench_frand(&rng);
    const void *xa[2];
    int64_t lda[2];
    for (int k = 0; k < 2; k++) {
        const act_format f = (k ? kn : kb).act[type];
        for (int64_t t = 0; t < n; t++) {
            if (f == ACT_A16) kn.quantize_a16(x + t * cols, (block_a16 *)(xq[k] + t * ldx[k]), cols);
            else if (f == ACT_A8S || (f == ACT_A8 && kn.act[type] == ACT_A8S)) kn.quantize_a8s(x + t * cols, (block_a8 *)(xq[k] + t * ldx[k]), cols);
            else if (f == ACT_A8) kn.quantize_a8(x + t * cols, (block_a8 *)(xq[k] + t * ldx[k]), cols);
        }
        xa[k] = f == ACT_F32 ? (const void *)x : xq[k];
        lda[k] = f == ACT_F32 ? cols * (int64_t)sizeof(float) : ldx[k];
    }
    mat m = {w, type, rows, cols, rb, false};
    const char *re = getenv("KAB_READ");
    const int variants = re && atoi(re) == 1 ? 3 : 2;
    static uint64_t sink[2];
    double best[3] = {1e30, 1e30, 1e30}, sum[3] = {0, 0, 0};
    for (int rep = 0; rep < reps; rep++)
        for (int v = 0; v < variants; v++) {
            const int k = v == 2 ? 1 : v;
            const kab_call c = {k ? &kn : &kb, type, y[k], &m, xa[k], lda[k], n, chunk, tile[k], scratch, v == 2, sink};
            const kab_call c2 = {k ? &kn : &kb, type, y[k], &m, xa[k], lda[k], n, chunk, tile[k], scratch2, v == 2, sink};
            const double t0 = bench_now();
            if (threads == 2) {
                helper_call = &c2;
                pthread_barrier_wait(&go);
                kab_run(&c, 0, rows / 2);
                pthread_barrier_wait(&done);
            } else kab_run(&c, 0, rows);
            const double dt = bench_now() - t0;
            if (dt < best[v]) best[v] = dt;
            sum[v] += dt;
        }
    double diff = 0;
    for (int64_t i = 0; i < n * rows; i++) diff = fmax(diff, fabs((double)y[0][i] - y[1][i]));
    const double macs = (double)rows * (double)cols * (double)n;
    printf("%s%s %-6s %lld x %lld, %lld tokens: base %.1f, new %.1f G multiply-adds/s (%.2fx; %.2f GB/s of weights new); "
           "largest output difference %.3g\n",
           kn.isa, threads == 2 ? " 2 threads" : "", argv[1], (long long)rows, (long long)cols, (long long)n, macs / best[0] * 1e-9, macs / best[1] * 1e-9,
           best[0] / best[1], (double)rb * rows / best[1] * 1e-9, diff);
    if (variants == 3) /* best and mean: from memory the kernel's calls vary more than read_sum's */
        printf("  read_sum over the same bytes: best %.2f GB/s, kernel base %.1f%% new %.1f%% of it; mean %.2f GB/s, "
               "base %.1f%% new %.1f%% (sink %llu)\n",
               (double)rb * rows / best[2] * 1e-9, 100 * best[2] / best[0], 100 * best[2] / best[1],
               (double)rb * rows / (sum[2] / reps) * 1e-9, 100 * sum[2] / sum[0], 100 * sum[2] / sum[1],
               (unsigned long long)(sink[0] ^ sink[1]) & 1);
    if (threads == 2) {
        helper_call = NULL;
        pthread_barrier_wait(&go);
        pthread_join(tid, NULL);
    }
    free(w); free(x); free(y[0]); free(y[1]); free(scratch); free(scratch2); free(xq[0]); free(xq[1]);
    return 0;
}
