/* ops.c - reference implementations of the forward pass primitives (see ops.h). */
#include "ops.h"

#include <math.h>
#include <string.h>

void ops_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float inv = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    for (int64_t i = 0; i < n; i++) y[i] = w ? x[i] * inv * w[i] : x[i] * inv;
}

void ops_rope(float *x, int32_t D, const float *freq, int64_t pos) {
    const int32_t half = D / 2;
    for (int32_t i = 0; i < half; i++) {
        if (freq[i] == 0.0f) continue;
        float a = (float)pos * freq[i]; /* fp32 angle, as transformers computes it */
        float c = cosf(a), s = sinf(a);
        float x0 = x[i], x1 = x[i + half];
        x[i] = x0 * c - x1 * s;
        x[i + half] = x1 * c + x0 * s;
    }
}

void ops_softcap(float *x, int64_t n, float c) {
    for (int64_t i = 0; i < n; i++) x[i] = c * tanhf(x[i] / c);
}
