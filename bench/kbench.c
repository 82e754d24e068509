/* kbench.c - kernel micro-benchmark for developers: each weight type's matmul on one
 * thread, prefill (a 64-token tile against a matrix that stays in cache) in G
 * multiply-adds per second and as a fraction of the kernel table's int8 peak, and decode
 * (one token against a matrix far beyond the caches) in GB/s of weights; then decode's
 * attention (one layer's scores and weighted sum for a group of 4 heads: 3072 cached keys
 * of head dim 512 from memory, as E2B's global layers deep in a context; 512 keys of 256
 * in cache, as its sliding-window layers), with an F16 cache and a Q8_0 one, and a
 * prompt row's (8 heads, F16, in cache: 512 keys of 256 and 2048 of 512). Best of
 * several runs, so that other jobs on the machine disturb it less than g4 bench. Not a
 * test.
 *   make kbench && build/bench/kbench [TYPE ...]        (G4_CPU_ISA=... picks a table,
 *   G4_ZMM_ROWS=16|32 the AVX-512 sideways engine) */
#include "cpu/cpu.h"
#include "dtype.h"
#include "quant/quant.h"
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rng = 12345;

/* weights: rows x cols of `type`, filled with a few distinct quantized rows (quantizing
 * hundreds of MB row by row would take longer than the benchmark) */
static uint8_t *make_weights(int32_t type, int64_t rows, int64_t cols, uint64_t *rb) {
    if (!dtype_row_bytes(type, cols, rb)) return NULL;
    uint8_t *w = bench_weights_alloc(*rb * (size_t)rows);
    float *row = malloc((size_t)cols * sizeof(float));
    if (!w || !row) { free(w); free(row); return NULL; }
    for (int64_t r = 0; r < rows; r++) {
        if (r < 16) {
            for (int64_t c = 0; c < cols; c++) row[c] = bench_frand(&rng);
            quantize_row(type, row, w + r * *rb, cols);
        } else memcpy(w + r * *rb, w + (r % 16) * *rb, *rb);
    }
    free(row);
    return w;
}

static double peak_macs(const cpu_kernels *k) {
    int32_t sink;
    double best = 0;
    for (int i = 0; i < 3; i++) {
        double t0 = bench_now();
        int64_t m = k->int8_peak(4000000, &sink);
        double dt = bench_now() - t0;
        if (m / dt > best) best = m / dt;
    }
    return best;
}

/* attention for G heads over an F16 (or Q8_0) cache of nk keys of head dim d, nreg
 * layers' caches in turn (48 for 288 MB: each read from memory, as a real step reads a
 * long context; 1: the same cache again, in the caches, as a sliding-window layer's).
 * G = 4: E2B decode on 2 threads (each takes half of the KV head's 8 q heads); G = 8: a
 * prompt row's whole group, as prefill calls it. */
static int attn_bench(const cpu_kernels *k, int64_t d, int64_t nk, int nreg, int q8, int G) {
    const size_t stride = q8 ? (size_t)d / 32 * sizeof(block_q8_0) : (size_t)d * 2, region = (size_t)nk * stride * 2; /* K then V */
    uint8_t *pool = bench_weights_alloc(region * (size_t)nreg); /* 2 MiB pages, as session.c maps the cache */
    float *q = malloc(G * (size_t)d * sizeof(float)), *s = malloc(G * (size_t)nk * sizeof(float));
    float *o = malloc(G * (size_t)d * sizeof(float));
    if (!pool || !q || !s || !o) { fprintf(stderr, "out of memory\n"); return 1; }
    for (size_t i = 0; i < region * (size_t)nreg / 2; i++)
        ((uint16_t *)pool)[i] = (uint16_t)(0x3000 | (bench_frand(&rng) > 0 ? 0x8000 : 0) | (i & 0x3ff));
    if (q8) /* Q8_0 blocks: scale 1/16, the random bytes as levels */
        for (size_t i = 0; i < region * (size_t)nreg; i += sizeof(block_q8_0)) ((block_q8_0 *)(pool + i))->d = 0x2c00;
    for (int64_t i = 0; i < G * d; i++) q[i] = bench_frand(&rng);
    const attn_scores_fn scores = q8 ? k->attn_scores_q8 : k->attn_scores_f16;
    const attn_wsum_fn wsum = q8 ? k->attn_wsum_q8 : k->attn_wsum_f16;
    double best = 1e9;
    const int calls = nreg > 1 ? nreg : 48;
    for (int rep = 0; rep < 5; rep++) {
        const double t0 = bench_now();
        for (int r = 0; r < calls; r++) {
            const uint8_t *K = pool + (size_t)(r % nreg) * region, *V = K + (size_t)nk * stride;
            scores(s, nk, q, G, K, stride, nk, d);
            for (int64_t i = 0; i < G * nk; i++) s[i] = 1.0f / (float)nk;
            memset(o, 0, G * (size_t)d * sizeof(float));
            wsum(o, s, nk, G, V, stride, nk, d);
        }
        const double t = (bench_now() - t0) / calls;
        if (t < best) best = t;
    }
    printf("attention, %s cache %s, %lld keys x head dim %lld, %d heads: %.0f us per layer (%.1f GB/s of cache, %.1f G MAC/s)\n",
           q8 ? "Q8_0" : "F16", nreg > 1 ? "from memory" : "in cache", (long long)nk, (long long)d, G, best * 1e6,
           2.0 * (double)nk * (double)stride / best * 1e-9, 2.0 * G * (double)nk * (double)d / best * 1e-9);
    free(pool); free(q); free(s); free(o);
    return 0;
}

int main(int argc, char **argv) {
    const cpu_kernels *k = cpu_kernels_get();
    static const char *def[] = {"q4_0", "q8_0", "q4_k", "q5_k", "q6_k", "q5_0", "q4_1", "q5_1", "iq4_nl", "iq4_xs", "q3_k", "q2_k"};
    const int ntypes = argc > 1 ? argc - 1 : (int)(sizeof def / sizeof def[0]);
    const double peak = peak_macs(k);
    printf("%s table, int8 peak %.1f G multiply-adds/s on one thread", k->isa, peak * 1e-9);
#if defined(__x86_64__)
    if (!strncmp(k->isa, "avx512", 6))
        printf(", %s-row sideways prefill (%s)", kernels_avx512_rows(), kernels_avx512_rows_why());
#endif
    printf("\n");
    printf("%-6s %22s %22s\n", "type", "prefill (64 tokens)", "decode (1 token)");
    for (int ti = 0; ti < ntypes; ti++) {
        const char *name = argc > 1 ? argv[ti + 1] : def[ti];
        int32_t type = -1;
        for (int t = 0; t < 40; t++)
            if (g4_dtype_name(t) && !strcasecmp(g4_dtype_name(t), name)) type = t;
        if (type < 0 || !k->matmul[type]) { printf("%-6s unknown or not computable\n", name); continue; }
        const int64_t cols = 1536, prow = 512, n = 64;
        const int64_t drow = (int64_t)(96e6 / (cols * 0.6)); /* ~100 MB of 4-bit weights */
        uint64_t rb;
        uint8_t *w = make_weights(type, drow, cols, &rb);
        float *x = malloc((size_t)(n * cols) * sizeof(float)), *y = malloc((size_t)(n * drow) * sizeof(float));
        float *scratch = malloc((size_t)KERNEL_SCRATCH_FLOATS(cols) * sizeof(float));
        void *xq = malloc((size_t)(n * cols / 32) * sizeof(block_a16)); /* the larger block */
        if (!w || !x || !y || !scratch || !xq) { fprintf(stderr, "out of memory\n"); return 1; }
        for (int64_t i = 0; i < n * cols; i++) x[i] = bench_frand(&rng);
        const void *xa = x;
        int64_t ldx = cols * 4;
        if (k->act[type] == ACT_A8 || k->act[type] == ACT_A8S) {
            for (int64_t t = 0; t < n; t++)
                (k->act[type] == ACT_A8S ? k->quantize_a8s : k->quantize_a8)(x + t * cols, (block_a8 *)xq + t * (cols / 32), cols);
            xa = xq;
            ldx = cols / 32 * (int64_t)sizeof(block_a8);
        } else if (k->act[type] == ACT_A16) { /* Q8_0 */
            for (int64_t t = 0; t < n; t++) k->quantize_a16(x + t * cols, (block_a16 *)xq + t * (cols / 32), cols);
            xa = xq;
            ldx = cols / 32 * (int64_t)sizeof(block_a16);
        }
        mat m = {w, type, drow, cols, rb, false};
        double best_p = 1e9, best_d = 1e9;
        for (int rep = 0; rep < 7; rep++) {
            double t0 = bench_now();
            k->matmul[type](y, prow, &m, 0, prow, xa, ldx, n, scratch);
            double t1 = bench_now();
            k->matmul[type](y, drow, &m, 0, drow, xa, ldx, 1, scratch);
            double t2 = bench_now();
            if (rep && t1 - t0 < best_p) best_p = t1 - t0; /* the first prefill run warms the caches */
            if (t2 - t1 < best_d) best_d = t2 - t1;
        }
        const double macs = (double)prow * cols * n / best_p;
        printf("%-6s %9.1f G MAC/s (%3.0f%%) %15.2f GB/s\n", name, macs * 1e-9, 100 * macs / peak,
               (double)rb * drow / best_d * 1e-9);
        free(w); free(x); free(y); free(scratch); free(xq);
    }
    return attn_bench(k, 512, 3072, 48, 0, 4) || attn_bench(k, 256, 512, 1, 0, 4) || attn_bench(k, 512, 3072, 48, 1, 4) ||
           attn_bench(k, 256, 512, 1, 1, 4) || attn_bench(k, 256, 512, 1, 0, 8) || attn_bench(k, 512, 2048, 1, 0, 8);
}
