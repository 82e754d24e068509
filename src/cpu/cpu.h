/* cpu.h - the CPU compute context of a session: the thread pool, the kernel table chosen
 * for this CPU, and the scratch the kernels need (a dequantized row per thread, the
 * activations quantized once per matmul). Model code calls cpu_matmul and cpu_parallel;
 * it never sees a kernel or a thread. */
#ifndef G4_CPU_H
#define G4_CPU_H

#include "kernels.h"
#include "pool.h"

typedef struct cpu_ctx {
    cpu_pool *pool;
    const cpu_kernels *k;
    int n_threads;
    int64_t max_cols;
    float *scratch;       /* n_threads * scratch_floats floats */
    int64_t scratch_floats; /* per thread: kernel_scratch_floats(k, max_cols) */
    void *xq;             /* quantized activations (block_a8 or block_a16 rows), xq_blocks blocks */
    int64_t xq_blocks;
    struct mv_claim *claims; /* n_threads: each thread's part of the current decode job or
                              * batch of MoE experts (cpu.c) */
} cpu_ctx;

/* n_threads <= 0: the number of online CPUs (G4_THREADS overrides). max_cols is the
 * widest matrix row, max_tokens the most activation rows per call. */
cpu_ctx *cpu_ctx_create(int n_threads, int64_t max_cols, int64_t max_tokens);
void cpu_ctx_free(cpu_ctx *c);

/* y[t][r] = dot(W[r], x[t]) for all rows of w and t < n; y is (n, w->rows), x (n, w->cols). */
void cpu_matmul(cpu_ctx *c, float *y, const mat *w, const float *x, int64_t n);

/* One token through several matrices as one parallel job (decode): y_i = W_i x_i. A
 * decode step is a few hundred matvecs, each ending with the threads waiting for the
 * slowest; the matrices of one step that do not depend on each other (q / k / v, gate /
 * up, a token's experts) pay that once. Each distinct x_i is quantized once; the rows of
 * all the matrices are split among the threads by bytes. */
typedef struct cpu_matvec_item { float *y; const mat *w; const float *x; } cpu_matvec_item;
void cpu_matvec_many(cpu_ctx *c, const cpu_matvec_item *items, int count);

/* One token's GeGLU and down-projection (decode): g = gelu(g) * u over w->cols values
 * (at most the context's max_cols, as for every matmul), then y = W g. The GeGLU and the quantization of its result are done inside the matvec
 * job, in slices claimed by whichever threads arrive first, rather than on the calling
 * thread while the others wait. g and the quantized row are the same as
 * gelu_mul followed by cpu_matmul would give. */
void cpu_matvec_geglu(cpu_ctx *c, float *y, const mat *w, float *g, const float *u);

/* Several matrices over consecutive row ranges of one input (prefill of a MoE layer:
 * each chosen expert over the rows routed to it): item i computes y_i (n_i, w_i->rows) =
 * W_i x[row0_i .. row0_i + n_i), x being (rows, cols) with every w_i->cols == cols.
 * x is quantized once and all the items' work goes to the threads as one job (an
 * expert's matmul of 1-5 rows was a job of its own, ending with a wait each). Every
 * w_i->cols must be cols and every n_i at most the context's max_tokens. Falls back to
 * one cpu_matmul per item where the matrices want different activation formats, x has
 * more rows than the context's buffer, or there are more than 1024 items. */
typedef struct cpu_rows_item { float *y; const mat *w; int64_t row0, n; } cpu_rows_item;
void cpu_matmul_rows(cpu_ctx *c, const cpu_rows_item *items, int count, const float *x, int64_t rows, int64_t cols);

/* Runs fn over [0, n) on the pool (see pool_run); `thread` indexes per-thread scratch. */
void cpu_parallel(cpu_ctx *c, pool_fn fn, void *arg, int64_t n, int64_t grain);

#endif
