/* ops.c - reference implementations of the forward pass primitives (see ops.h). */
#include "ops.h"

#include <math.h>
#include <string.h>

void ops_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps) {
    /* four partial sums: one chain of double adds waited 4 cycles per element */
    double p[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) p[k] += (double)x[i + k] * x[i + k];
    for (; i < n; i++) p[0] += (double)x[i] * x[i];
    const double ss = (p[0] + p[1]) + (p[2] + p[3]);
    float inv = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    for (i = 0; i < n; i++) y[i] = w ? x[i] * inv * w[i] : x[i] * inv;
}

void ops_rope_table(float *cs, int32_t D, const float *freq, int64_t pos) {
    const int32_t half = D / 2;
    for (int32_t i = 0; i < half; i++) {
        const float a = (float)pos * freq[i]; /* fp32 angle, as transformers computes it */
        cs[i] = cosf(a);
        cs[half + i] = sinf(a);
    }
}

void ops_rope(float *x, int32_t D, const float *freq, const float *cs) {
    const int32_t half = D / 2;
    for (int32_t i = 0; i < half; i++) {
        if (freq[i] == 0.0f) continue;
        const float c = cs[i], s = cs[half + i];
        float x0 = x[i], x1 = x[i + half];
        x[i] = x0 * c - x1 * s;
        x[i + half] = x1 * c + x0 * s;
    }
}
