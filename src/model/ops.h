/* ops.h - the numeric building blocks of the forward pass. Matmuls, and the element-wise
 * ops a decode step runs on its critical path (RMS norm, GeGLU, softcap, softmax), go to
 * the CPU kernels (src/cpu/, SIMD with a scalar reference); RoPE is plain C here.
 * Shapes: a batch of n tokens is row-major [n][width]. */
#ifndef G4_OPS_H
#define G4_OPS_H

#include "../cpu/cpu.h"
#include "model.h"

/* y[t][r] = sum_c W[r][c] * x[t][c] for t < n: W (rows, cols) in its storage type,
 * on the session's threads with the kernels chosen for this CPU (src/cpu/). */
static inline void ops_matmul(cpu_ctx *c, float *y, const mat *w, const float *x, int64_t n) {
    cpu_matmul(c, y, w, x, n);
}

/* y_i = W_i x_i for count matrices whose inputs do not depend on each other's outputs,
 * n rows each: one parallel job for a decode step (cpu_matvec_many), one matmul after
 * another for a prompt. */
static inline void ops_matmul_many(cpu_ctx *c, const cpu_matvec_item *items, int count, int64_t n) {
    if (n == 1) cpu_matvec_many(c, items, count);
    else
        for (int i = 0; i < count; i++) cpu_matmul(c, items[i].y, items[i].w, items[i].x, n);
}

/* The rotation of position pos for a head of D values: cs[i] = cos(pos * freq[i]) and
 * cs[D/2 + i] = sin(pos * freq[i]), i < D/2, with the angle rounded to fp32 as
 * transformers computes it. Computed once per row and table, shared by every head and
 * layer that uses the table. */
void ops_rope_table(float *cs, int32_t D, const float *freq, int64_t pos);

/* Rotates pairs (i, i + D/2) of one head vector by the angles of cs (ops_rope_table;
 * split-half, "NeoX" layout); pairs with freq 0 are left as they are. */
void ops_rope(float *x, int32_t D, const float *freq, const float *cs);

#endif
