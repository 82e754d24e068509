/* kernels_ref.c - portable scalar kernels: the fallback on any CPU and the oracle for
 * every SIMD table. Integer block dot products are exact; floats accumulate in the
 * natural order. */
#include "kernels.h"
#include "../dtype.h"

#include <math.h>
#include <string.h>

/* Any computable type: dequantize each row (into scratch, `cols` floats), then dot. */
static void matmul_generic(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                           int64_t n, float *scratch) {
    const float *x = xv;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *src = w->data + (uint64_t)r * w->row_bytes;
        const float *wr = scratch;
        if (w->type == G4_DTYPE_F32) wr = (const float *)src;
        else dequantize_row(w->type, src, scratch, w->cols);
        for (int64_t t = 0; t < n; t++) {
            const float *xt = (const float *)((const char *)x + t * ldx);
            float acc = 0.0f;
            for (int64_t c = 0; c < w->cols; c++) acc += wr[c] * xt[c];
            y[t * ldy + r] = acc;
        }
    }
}

static void matmul_q4_0(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    (void)scratch;
    const int64_t nb = w->cols / 32;
    for (int64_t r = r0; r < r1; r++) {
        const block_q4_0 *wb = (const block_q4_0 *)(w->data + (uint64_t)r * w->row_bytes);
        for (int64_t t = 0; t < n; t++) {
            const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                int32_t dot = 0;
                for (int e = 0; e < 16; e++)
                    dot += (wb[b].qs[e] & 15) * xb[b].qs[e] + (wb[b].qs[e] >> 4) * xb[b].qs[e + 16];
                dot -= 8 * xb[b].s;
                acc += (float)dot * (fp16_to_f32(wb[b].d) * xb[b].d);
            }
            y[t * ldy + r] = acc;
        }
    }
}

static void matmul_q8_0(float *y, int64_t ldy, const mat *w, int64_t r0, int64_t r1, const void *xv, int64_t ldx,
                        int64_t n, float *scratch) {
    (void)scratch;
    const int64_t nb = w->cols / 32;
    for (int64_t r = r0; r < r1; r++) {
        const block_q8_0 *wb = (const block_q8_0 *)(w->data + (uint64_t)r * w->row_bytes);
        for (int64_t t = 0; t < n; t++) {
            const block_a8 *xb = (const block_a8 *)((const char *)xv + t * ldx);
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                int32_t dot = 0;
                for (int e = 0; e < 32; e++) dot += wb[b].qs[e] * xb[b].qs[e];
                acc += (float)dot * (fp16_to_f32(wb[b].d) * xb[b].d);
            }
            y[t * ldy + r] = acc;
        }
    }
}

/* d = max|x| / 127, q = round-half-away(x / d), as Q8_0 does for weights. */
static void quantize_a8(const float *x, block_a8 *y, int64_t cols) {
    for (int64_t b = 0; b < cols / 32; b++) {
        const float *xb = x + b * 32;
        float amax = 0.0f;
        for (int e = 0; e < 32; e++) amax = fmaxf(amax, fabsf(xb[e]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        int32_t s = 0;
        for (int e = 0; e < 32; e++) {
            int q = (int)roundf(xb[e] * id);
            y[b].qs[e] = (int8_t)q;
            s += q;
        }
        y[b].d = d;
        y[b].s = s;
    }
}

static float dot_f32(const float *x, const float *y, int64_t n) {
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) acc += x[i] * y[i];
    return acc;
}

static void axpy_f32(float *y, const float *x, float a, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static float dot_f16(const float *x, const uint16_t *y, int64_t n) {
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) acc += x[i] * fp16_to_f32(y[i]);
    return acc;
}

static void axpy_f16(float *y, const uint16_t *x, float a, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * fp16_to_f32(x[i]);
}

static void to_f16(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = f32_to_fp16(x[i]);
}

static int64_t int8_peak(int64_t iters, int32_t *sink) {
    int32_t acc[16] = {0};
    for (int64_t i = 0; i < iters; i++)
        for (int j = 0; j < 16; j++) acc[j] += (int8_t)(i + j) * (int8_t)(j - (int)i);
    int32_t s = 0;
    for (int j = 0; j < 16; j++) s += acc[j];
    *sink = s;
    return iters * 16;
}

void kernels_ref_fill(cpu_kernels *k) {
    memset(k, 0, sizeof *k);
    k->isa = "scalar";
    for (int t = 0; t < KERNEL_TYPES; t++) {
        const dtype_traits *tr = dtype_get(t);
        if (tr && tr->computable) { k->matmul[t] = matmul_generic; k->act[t] = ACT_F32; }
    }
    k->matmul[G4_DTYPE_Q4_0] = matmul_q4_0;
    k->act[G4_DTYPE_Q4_0] = ACT_A8;
    k->matmul[G4_DTYPE_Q8_0] = matmul_q8_0;
    k->act[G4_DTYPE_Q8_0] = ACT_A8;
    k->quantize_a8 = quantize_a8;
    k->int8_peak = int8_peak;
    k->dot_f32 = dot_f32;
    k->axpy_f32 = axpy_f32;
    k->dot_f16 = dot_f16;
    k->axpy_f16 = axpy_f16;
    k->to_f16 = to_f16;
}
