/* ops.c - reference implementations of the forward pass primitives (see ops.h). */
#include "ops.h"

#include <math.h>
#include <string.h>

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
