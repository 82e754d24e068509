/* kquants.c - the K-quants Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (super-blocks of 256 values, each
 * cut into sub-blocks with their own small integer scale) and the Q8_K activation type,
 * plus the scale searches they and the legacy imatrix paths share (quant-formats.md §6).
 *
 * Each quantizer runs in three steps: a per-sub-block search (AFFINE, SYM or Q3SEARCH)
 * proposes a float scale (and min) and levels; the sub-block scales are themselves
 * quantized to 4 or 6 bits against one or two fp16 super-scales; then the levels are
 * recomputed ("requantized") from the decoded fp16 values by division. A sub-block whose
 * decoded scale is exactly 0 keeps the levels its search found (they decode to 0 but
 * are stored, §13). All of it is binary32 arithmetic in the exact order §6 gives; the
 * file must be compiled without FP contraction.
 *
 * Bit placements used below (e = element 0..255 of a super-block):
 *   P2: byte 32*(e/128) + e%32, bits 2*((e/32)%4)    (Q2_K qs, Q3_K low bits)
 *   P4: byte 32*(e/64) + e%32, high nibble if (e/32) odd   (Q4_K/Q5_K qs)
 *   PH: bit e/32 of byte e%32                          (Q3_K hmask, Q5_K qh) */
#include "quant.h"

#include "../dtype.h"

#include <math.h>

/* Sub-blocks whose largest magnitude is below this are "all zero" (llama.cpp's
 * GROUP_MAX_EPS): the searches return scale 0 without dividing by it. */
#define GROUP_EPS 1e-15f

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---- Scale searches (§6.1-6.4) ---------------------------------------------------- */

float quant_search_affine(int n, int nmax, const float *x, const float *w, uint8_t *L,
                          float *m_out, float rmin, float rdelta, int nstep, bool abs_err) {
    float lo = x[0], hi = x[0], sw = w[0], sx = sw * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
        sw += w[i];
        sx += w[i] * x[i];
    }
    if (lo > 0.0f) lo = 0.0f; /* the offset never goes above zero */
    if (hi <= lo) {           /* hi == lo: all zero, or constant <= 0 */
        for (int i = 0; i < n; i++) L[i] = 0;
        *m_out = -lo;
        return 0.0f;
    }
    float is = (float)nmax / (hi - lo), scale = 1.0f / is, best = 0.0f;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(quant_rne(is * (x[i] - lo)), 0, nmax);
        float diff = scale * (float)L[i] + lo - x[i];
        best += w[i] * (abs_err ? fabsf(diff) : diff * diff);
    }
    uint8_t Laux[256];
    G4_ASSERT(n <= 256);
    for (int s = 0; s <= nstep; s++) {
        /* Trial scales just around nmax/(hi-lo). Note that lo is the best offset so far:
         * once a trial wins, later trials measure from its offset (§6.1 "Beware"). */
        is = (rmin + rdelta * (float)s + (float)nmax) / (hi - lo);
        float s1 = 0.0f, s2 = 0.0f, sxl = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = clampi(quant_rne(is * (x[i] - lo)), 0, nmax);
            Laux[i] = (uint8_t)l;
            s1 += w[i] * (float)l;
            s2 += w[i] * (float)l * (float)l;
            sxl += w[i] * (float)l * x[i];
        }
        float D = sw * s2 - s1 * s1;
        if (!(D > 0.0f)) continue;
        /* weighted least squares of x ~ a*L + b, with b forced <= 0 */
        float a = (sw * sxl - sx * s1) / D, b = (s2 * sx - s1 * sxl) / D;
        if (b > 0.0f) { b = 0.0f; a = sxl / s2; }
        float err = 0.0f;
        for (int i = 0; i < n; i++) {
            float diff = a * (float)Laux[i] + b - x[i];
            err += w[i] * (abs_err ? fabsf(diff) : diff * diff);
        }
        if (err < best) {
            memcpy(L, Laux, (size_t)n);
            best = err;
            scale = a;
            lo = b;
        }
    }
    *m_out = -lo;
    return scale;
}

float quant_search_sym(int n, int nmax, const float *x, uint8_t *L, const float *w) {
    float amax, mx = quant_signed_max(x, n, &amax);
    if (amax < GROUP_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    /* is = -nmax/mx puts the largest-magnitude element on -nmax, the side with one
     * more level. */
    float is = (float)-nmax / mx, sxl = 0.0f, sll = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = clampi(quant_rne(is * x[i]), -nmax, nmax - 1);
        L[i] = (uint8_t)(l + nmax);
        float wi = w ? w[i] : x[i] * x[i];
        sxl += wi * x[i] * (float)l;
        sll += wi * (float)l * (float)l;
    }
    float scale = sll != 0.0f ? sxl / sll : 0.0f, best = scale * sxl;
    for (int s = -9; s <= 9; s++) {
        if (s == 0) continue;
        is = -((float)nmax + 0.1f * (float)s) / mx;
        sxl = sll = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = clampi(quant_rne(is * x[i]), -nmax, nmax - 1);
            float wi = w ? w[i] : x[i] * x[i];
            sxl += wi * x[i] * (float)l;
            sll += wi * (float)l * (float)l;
        }
        if (sll > 0.0f && sxl * sxl > best * sll) {
            for (int i = 0; i < n; i++)
                L[i] = (uint8_t)(clampi(quant_rne(is * x[i]), -nmax, nmax - 1) + nmax);
            scale = sxl / sll;
            best = scale * sxl;
        }
    }
    return scale;
}

/* Q3SEARCH (§6.3): 16 values, levels -4..3, weights x^2, then coordinate descent that
 * moves one level at a time while the weighted fit improves. L gets biased levels 0..7. */
static float q3_search(const float *x, uint8_t *L) {
    enum { N = 16, NMAX = 4 };
    float amax, mx = quant_signed_max(x, N, &amax);
    if (amax < GROUP_EPS) {
        for (int i = 0; i < N; i++) L[i] = 0;
        return 0.0f;
    }
    float is = (float)-NMAX / mx, sxl = 0.0f, sll = 0.0f;
    int l[N];
    for (int i = 0; i < N; i++) {
        l[i] = clampi(quant_rne(is * x[i]), -NMAX, NMAX - 1);
        float w = x[i] * x[i];
        sxl += w * x[i] * (float)l[i];
        sll += w * (float)l[i] * (float)l[i];
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < N; i++) {
            float w = x[i] * x[i];
            float a = sxl - w * x[i] * (float)l[i];
            if (!(a > 0.0f)) continue;
            float c = sll - w * (float)l[i] * (float)l[i];
            int nl = clampi(quant_rne(x[i] * c / a), -NMAX, NMAX - 1);
            if (nl == l[i]) continue;
            a += w * x[i] * (float)nl;
            c += w * (float)nl * (float)nl;
            if (c > 0.0f && a * a * sll > sxl * sxl * c) {
                l[i] = nl; sxl = a; sll = c;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < N; i++) L[i] = (uint8_t)(l[i] + NMAX);
    return sll > 0.0f ? sxl / sll : 0.0f;
}

/* QP (§6.4): non-negative values (sub-block scales or mins) to levels 0..nmax with
 * weights w; used only on the imatrix paths. Levels live in uint8 as in llama.cpp, so a
 * negative candidate (possible only for a negative input) wraps exactly as it does there. */
static float qp_search(int n, int nmax, const float *x, uint8_t *L, const float *w) {
    float mx = 0.0f;
    for (int i = 0; i < n; i++) mx = mx > x[i] ? mx : x[i];
    if (mx < GROUP_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    float is = (float)nmax / mx, scale = 1.0f / is, best = 0.0f;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)quant_rne(is * x[i]);
        float diff = x[i] - scale * (float)L[i];
        best += w[i] * diff * diff;
    }
    for (int s = -4; s <= 4; s++) {
        if (s == 0) continue;
        float is_s = (0.1f * (float)s + (float)nmax) / mx, sc_s = 1.0f / is_s, mse = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = G4_MIN(nmax, quant_rne(is_s * x[i]));
            float diff = x[i] - sc_s * (float)l;
            mse += w[i] * diff * diff;
        }
        if (mse < best) { best = mse; is = is_s; }
    }
    float sxl = 0.0f, sll = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = G4_MIN(nmax, quant_rne(is * x[i]));
        L[i] = (uint8_t)l;
        sxl += w[i] * x[i] * (float)l;
        sll += w[i] * (float)l * (float)l;
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float a = sxl - w[i] * x[i] * (float)L[i];
            float c = sll - w[i] * (float)L[i] * (float)L[i];
            if (!(a > 0.0f && c > 0.0f)) continue;
            int nl = G4_MIN(nmax, quant_rne(x[i] * c / a));
            if (nl == L[i]) continue;
            a += w[i] * x[i] * (float)nl;
            c += w[i] * (float)nl * (float)nl;
            if (a * a * sll > sxl * sxl * c) {
                L[i] = (uint8_t)nl; sxl = a; sll = c;
                changed++;
            }
        }
        if (!changed) break;
    }
    return sll > 0.0f ? sxl / sll : 0.0f;
}

/* ---- Bit packing helpers (§6.0) --------------------------------------------------- */

/* 2-bit fields, pattern P2, from levels q[0..255] (each 0..3). */
static void pack_p2(const uint8_t *q, uint8_t *qs) {
    for (int h = 0; h < 2; h++)
        for (int b = 0; b < 32; b++) {
            const uint8_t *p = q + 128 * h + b;
            qs[32 * h + b] = (uint8_t)(p[0] | p[32] << 2 | p[64] << 4 | p[96] << 6);
        }
}
static inline int get_p2(const uint8_t *qs, int e) {
    return (qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3;
}

/* 4-bit fields, pattern P4, from the low nibbles of q[0..255]. */
static void pack_p4(const uint8_t *q, uint8_t *qs) {
    for (int h = 0; h < 4; h++)
        for (int b = 0; b < 32; b++)
            qs[32 * h + b] = (uint8_t)((q[64 * h + b] & 15) | (q[64 * h + b + 32] & 15) << 4);
}
static inline int get_p4(const uint8_t *qs, int e) {
    return (qs[32 * (e / 64) + e % 32] >> (4 * ((e / 32) % 2))) & 15;
}

static inline int get_ph(const uint8_t *h, int e) { return (h[e % 32] >> (e / 32)) & 1; }

static void set_scales_k4(const uint8_t *ls, const uint8_t *lm, uint8_t *S) {
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            S[j] = ls[j];
            S[j + 4] = lm[j];
        } else {
            S[j + 4] = (uint8_t)((ls[j] & 15) | (lm[j] & 15) << 4);
            S[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            S[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

/* Q3_K: the 6-bit (biased) scale of sub-block j (0..15). */
static int get_scale_q3(const uint8_t *S, int j) {
    int low = j < 8 ? S[j] & 15 : S[j - 8] >> 4;
    int high = (S[8 + j % 4] >> (2 * (j / 4))) & 3;
    return low | high << 4;
}
static void set_scales_q3(const uint8_t *l, uint8_t *S) {
    memset(S, 0, 12);
    for (int j = 0; j < 16; j++) {
        if (j < 8) S[j] = l[j] & 15;
        else S[j - 8] |= (uint8_t)((l[j] & 15) << 4);
        S[8 + j % 4] |= (uint8_t)((l[j] >> 4) << (2 * (j / 4)));
    }
}

/* ---- Dequantization (§6.0) -------------------------------------------------------- */

void q2_K_dequantize_row(const void *src, float *dst, int64_t n) {
    const block_q2_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
        for (int e = 0; e < QK_K; e++) {
            int sc = b[i].scales[e / 16];
            dst[e] = d * (float)(sc & 15) * (float)get_p2(b[i].qs, e) - dmin * (float)(sc >> 4);
        }
    }
}

void q3_K_dequantize_row(const void *src, float *dst, int64_t n) {
    const block_q3_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        float d = fp16_to_f32(b[i].d);
        for (int e = 0; e < QK_K; e++) {
            int s = get_scale_q3(b[i].scales, e / 16) - 32;
            int q = get_p2(b[i].qs, e) - (get_ph(b[i].hmask, e) ? 0 : 4);
            dst[e] = d * (float)s * (float)q;
        }
    }
}

void q4_K_dequantize_row(const void *src, float *dst, int64_t n) {
    const block_q4_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            k4_scale_min(b[i].scales, j, &sc, &m);
            float a = d * (float)sc, c = dmin * (float)m;
            for (int e = 32 * j; e < 32 * j + 32; e++) dst[e] = a * (float)get_p4(b[i].qs, e) - c;
        }
    }
}

void q5_K_dequantize_row(const void *src, float *dst, int64_t n) {
    const block_q5_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            k4_scale_min(b[i].scales, j, &sc, &m);
            float a = d * (float)sc, c = dmin * (float)m;
            for (int e = 32 * j; e < 32 * j + 32; e++) {
                int q = get_p4(b[i].qs, e) + 16 * get_ph(b[i].qh, e);
                dst[e] = a * (float)q - c;
            }
        }
    }
}

/* Q6_K element e: low 4 bits in ql, high 2 bits in qh (§6.0). */
static int get_q6(const block_q6_K *b, int e) {
    int h = e / 128, k = (e % 128) / 32, l = e % 32;
    int lo = (b->ql[64 * h + 32 * (k % 2) + l] >> (k < 2 ? 0 : 4)) & 15;
    int hi = (b->qh[32 * h + l] >> (2 * k)) & 3;
    return (lo | hi << 4) - 32;
}

void q6_K_dequantize_row(const void *src, float *dst, int64_t n) {
    const block_q6_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        float d = fp16_to_f32(b[i].d);
        for (int e = 0; e < QK_K; e++) dst[e] = d * (float)b[i].scales[e / 16] * (float)get_q6(&b[i], e);
    }
}

void q8_K_dequantize_row(const void *src, float *dst, int64_t n) {
    const block_q8_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K)
        for (int e = 0; e < QK_K; e++) dst[e] = b[i].d * (float)b[i].qs[e];
}

/* ---- Q2_K (§6.5, §6.6) ------------------------------------------------------------ */

void q2_K_quantize_row(const float *src, void *dst, int64_t n, const float *qw) {
    block_q2_K *b = dst;
    uint8_t L[QK_K];
    float sc[16], mn[16], w[16], sw[16];
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        const float *x = src;
        float sigma2 = 0.0f;
        if (qw) {
            for (int e = 0; e < QK_K; e++) sigma2 += x[e] * x[e];
            sigma2 = sigma2 / (float)QK_K;
        }
        for (int j = 0; j < 16; j++) {
            const float *xs = x + 16 * j;
            if (qw) {
                const float *q = qw + QK_K * i + 16 * j;
                for (int l = 0; l < 16; l++) w[l] = q[l] * sqrtf(sigma2 + xs[l] * xs[l]);
                sw[j] = 0.0f;
                for (int l = 0; l < 16; l++) sw[j] += w[l];
                sc[j] = quant_search_affine(16, 3, xs, w, L + 16 * j, &mn[j], -0.9f, 0.05f, 36, false);
            } else {
                /* weights |x|, absolute error: the reference's choice for 2-bit levels */
                for (int l = 0; l < 16; l++) w[l] = fabsf(xs[l]);
                sc[j] = quant_search_affine(16, 3, xs, w, L + 16 * j, &mn[j], -0.5f, 0.1f, 15, true);
            }
        }
        if (qw) {
            uint8_t Ls[16], Lm[16];
            float dm = qp_search(16, 15, sc, Ls, sw), mm = qp_search(16, 15, mn, Lm, sw);
            b[i].d = f32_to_fp16(dm);
            b[i].dmin = f32_to_fp16(mm);
            for (int j = 0; j < 16; j++) b[i].scales[j] = (uint8_t)(Ls[j] | Lm[j] << 4);
        } else {
            float max_sc = 0.0f, max_m = 0.0f;
            for (int j = 0; j < 16; j++) {
                if (sc[j] > max_sc) max_sc = sc[j];
                if (mn[j] > max_m) max_m = mn[j];
            }
            /* scales and mins each get 4 bits (0..15) against their own fp16
             * super-scale, the largest one landing on 15 */
            memset(b[i].scales, 0, 16);
            if (max_sc > 0.0f) {
                float is = 15.0f / max_sc;
                for (int j = 0; j < 16; j++) b[i].scales[j] = (uint8_t)quant_rne(is * sc[j]);
                b[i].d = f32_to_fp16(max_sc / 15.0f);
            } else {
                b[i].d = f32_to_fp16(0.0f);
            }
            if (max_m > 0.0f) {
                float im = 15.0f / max_m;
                for (int j = 0; j < 16; j++) b[i].scales[j] |= (uint8_t)(quant_rne(im * mn[j]) << 4);
                b[i].dmin = f32_to_fp16(max_m / 15.0f);
            } else {
                b[i].dmin = f32_to_fp16(0.0f);
            }
        }
        float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
        for (int j = 0; j < 16; j++) {
            float dl = d * (float)(b[i].scales[j] & 15);
            if (dl == 0.0f) continue; /* keeps the search's levels (§13) */
            float ml = dmin * (float)(b[i].scales[j] >> 4);
            for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)clampi(quant_rne((x[16 * j + l] + ml) / dl), 0, 3);
        }
        pack_p2(L, b[i].qs);
    }
}

/* ---- Q3_K -------------------------------------------------------------------------- */

void q3_K_quantize_row(const float *src, void *dst, int64_t n, const float *qw) {
    block_q3_K *b = dst;
    uint8_t L[QK_K], ls[16];
    float sc[16], w[16], sw[16];
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        const float *x = src;
        if (qw) {
            float sum = 0.0f;
            for (int e = 0; e < QK_K; e++) sum += x[e] * x[e];
            float sigma2 = 2.0f * sum / (float)QK_K;
            for (int j = 0; j < 16; j++) {
                const float *xs = x + 16 * j, *q = qw + QK_K * i + 16 * j;
                for (int l = 0; l < 16; l++) w[l] = q[l] * sqrtf(sigma2 + xs[l] * xs[l]);
                sw[j] = 0.0f;
                for (int l = 0; l < 16; l++) sw[j] += w[l];
                sc[j] = quant_search_sym(16, 4, xs, L + 16 * j, w);
            }
            /* sigma^2 here is twice the mean square (llama.cpp's choice for Q3_K..Q5_K);
             * the sub-block scales go through SYM too (nmax 32: 6-bit signed), which
             * yields the biased 6-bit fields (0..63) directly */
            b[i].d = f32_to_fp16(quant_search_sym(16, 32, sc, ls, sw));
            set_scales_q3(ls, b[i].scales);
        } else {
            for (int j = 0; j < 16; j++) sc[j] = q3_search(x + 16 * j, L + 16 * j);
            float max_sc = quant_signed_max(sc, 16, NULL);
            if (max_sc != 0.0f) {
                /* the largest sub-block scale lands on -32 (field 0) */
                float is = -32.0f / max_sc;
                for (int j = 0; j < 16; j++) ls[j] = (uint8_t)(clampi(quant_rne(is * sc[j]), -32, 31) + 32);
                set_scales_q3(ls, b[i].scales);
                b[i].d = f32_to_fp16(1.0f / is);
            } else {
                memset(b[i].scales, 0, 12);
                b[i].d = f32_to_fp16(0.0f);
            }
        }
        float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            float dl = d * (float)(get_scale_q3(b[i].scales, j) - 32);
            if (dl == 0.0f) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)(clampi(quant_rne(x[16 * j + l] / dl), -4, 3) + 4);
        }
        memset(b[i].hmask, 0, 32);
        for (int e = 0; e < QK_K; e++) {
            if (L[e] >= 4) {
                b[i].hmask[e % 32] |= (uint8_t)(1 << (e / 32));
                L[e] -= 4;
            }
        }
        pack_p2(L, b[i].qs);
    }
}

/* ---- Q4_K and Q5_K ----------------------------------------------------------------- */

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): fills d, dmin, the 12 scale bytes and the
 * final levels L[0..255]. */
static void q45_K_block(const float *x, const float *qw, int nmax, float rmin, float rdelta,
                        int nstep, uint16_t *d16, uint16_t *dmin16, uint8_t *S, uint8_t *L) {
    float sc[8], mn[8], w[32], sw[8];
    uint8_t ls[8], lm[8];
    float sigma2 = 0.0f;
    if (qw) {
        for (int e = 0; e < QK_K; e++) sigma2 += x[e] * x[e];
        sigma2 = 2.0f * sigma2 / (float)QK_K;
    }
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        if (qw) {
            for (int l = 0; l < 32; l++) w[l] = qw[32 * j + l] * sqrtf(sigma2 + xs[l] * xs[l]);
            sw[j] = 0.0f;
            for (int l = 0; l < 32; l++) sw[j] += w[l];
            sc[j] = quant_search_affine(32, nmax, xs, w, L + 32 * j, &mn[j], -0.9f, 0.05f, 36, false);
        } else {
            /* weights: the sub-block's RMS plus |x|, which favours the large values */
            float sum = 0.0f;
            for (int l = 0; l < 32; l++) sum += xs[l] * xs[l];
            float av = sqrtf(sum / 32.0f);
            for (int l = 0; l < 32; l++) w[l] = av + fabsf(xs[l]);
            sc[j] = quant_search_affine(32, nmax, xs, w, L + 32 * j, &mn[j], rmin, rdelta, nstep, false);
        }
    }
    if (qw) {
        float dm = qp_search(8, 63, sc, ls, sw), mm = qp_search(8, 63, mn, lm, sw);
        *d16 = f32_to_fp16(dm);
        *dmin16 = f32_to_fp16(mm);
    } else {
        float max_sc = 0.0f, max_m = 0.0f;
        for (int j = 0; j < 8; j++) {
            if (sc[j] > max_sc) max_sc = sc[j];
            if (mn[j] > max_m) max_m = mn[j];
        }
        float is = max_sc > 0.0f ? 63.0f / max_sc : 0.0f, im = max_m > 0.0f ? 63.0f / max_m : 0.0f;
        /* 6-bit fields (0..63), the largest scale and the largest min landing on 63 */
        for (int j = 0; j < 8; j++) {
            /* taken as uint8 before the clamp, as llama.cpp does */
            ls[j] = (uint8_t)G4_MIN(63, (uint8_t)quant_rne(is * sc[j]));
            lm[j] = (uint8_t)G4_MIN(63, (uint8_t)quant_rne(im * mn[j]));
        }
        *d16 = f32_to_fp16(max_sc / 63.0f);
        *dmin16 = f32_to_fp16(max_m / 63.0f);
    }
    set_scales_k4(ls, lm, S);
    float d = fp16_to_f32(*d16), dmin = fp16_to_f32(*dmin16);
    for (int j = 0; j < 8; j++) {
        int s, m;
        k4_scale_min(S, j, &s, &m);
        float dl = d * (float)s;
        if (dl == 0.0f) continue;
        float ml = dmin * (float)m;
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)clampi(quant_rne((x[32 * j + l] + ml) / dl), 0, nmax);
    }
}

/* The reference search parameters (rmin, rdelta, nstep) are llama.cpp's per-type choices:
 * Q4_K tries 21 scales from (15-1)/(hi-lo) up in steps of 0.1, Q5_K 16 from (31-0.5).
 * With an imatrix both use (-0.9, 0.05, 36). */
void q4_K_quantize_row(const float *src, void *dst, int64_t n, const float *qw) {
    block_q4_K *b = dst;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++) {
        q45_K_block(src + QK_K * i, qw ? qw + QK_K * i : NULL, 15, -1.0f, 0.1f, 20,
                    &b[i].d, &b[i].dmin, b[i].scales, L);
        pack_p4(L, b[i].qs);
    }
}

void q5_K_quantize_row(const float *src, void *dst, int64_t n, const float *qw) {
    block_q5_K *b = dst;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++) {
        q45_K_block(src + QK_K * i, qw ? qw + QK_K * i : NULL, 31, -0.5f, 0.1f, 15,
                    &b[i].d, &b[i].dmin, b[i].scales, L);
        memset(b[i].qh, 0, 32);
        for (int e = 0; e < QK_K; e++) b[i].qh[e % 32] |= (uint8_t)((L[e] >> 4) << (e / 32));
        pack_p4(L, b[i].qs);
    }
}

/* ---- Q6_K -------------------------------------------------------------------------- */

void q6_K_quantize_row(const float *src, void *dst, int64_t n, const float *qw) {
    block_q6_K *b = dst;
    uint8_t L[QK_K];
    float sc[16];
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        const float *x = src;
        /* with an imatrix, the raw column weights (no sigma term) replace x^2 */
        for (int j = 0; j < 16; j++)
            sc[j] = quant_search_sym(16, 32, x + 16 * j, L + 16 * j, qw ? qw + QK_K * i + 16 * j : NULL);
        float amax, max_sc = quant_signed_max(sc, 16, &amax);
        if (amax < GROUP_EPS) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        /* the largest sub-block scale lands on -128, the extra level of an int8 */
        float is = -128.0f / max_sc;
        b[i].d = f32_to_fp16(1.0f / is);
        for (int j = 0; j < 16; j++) b[i].scales[j] = (int8_t)G4_MIN(127, quant_rne(is * sc[j]));
        float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            float dl = d * (float)b[i].scales[j];
            if (dl == 0.0f) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)(clampi(quant_rne(x[16 * j + l] / dl), -32, 31) + 32);
        }
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++) {
                const uint8_t *q = L + 128 * h + l;
                b[i].ql[64 * h + l] = (uint8_t)((q[0] & 15) | (q[64] & 15) << 4);
                b[i].ql[64 * h + 32 + l] = (uint8_t)((q[32] & 15) | (q[96] & 15) << 4);
                b[i].qh[32 * h + l] = (uint8_t)(q[0] >> 4 | (q[32] >> 4) << 2 | (q[64] >> 4) << 4 | (q[96] >> 4) << 6);
            }
    }
}

/* ---- Q8_K (activations) ------------------------------------------------------------ */

void q8_K_quantize_row(const float *src, void *dst, int64_t n) {
    block_q8_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        float amax, mx = quant_signed_max(src, QK_K, &amax);
        memset(&b[i], 0, sizeof b[i]);
        if (amax == 0.0f) continue; /* d = 0, qs = 0, bsums = 0 (llama.cpp leaves them) */
        /* the largest element lands on -127, so d is negative when it is positive */
        float is = -127.0f / mx;
        for (int e = 0; e < QK_K; e++) {
            b[i].qs[e] = (int8_t)G4_MIN(127, quant_rne(is * src[e]));
            b[i].bsums[e / 16] = (int16_t)(b[i].bsums[e / 16] + b[i].qs[e]);
        }
        b[i].d = 1.0f / is;
    }
}
