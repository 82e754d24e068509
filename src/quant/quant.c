/* quant.c - the importance-matrix entry point: routes quantize_row_imatrix to the
 * per-type quantizers of legacy.c, kquants.c and iq4.c. Which types use an imatrix, and
 * which ignore it, follows llama.cpp's ggml_quantize_chunk (quant-formats.md §5.4, §6.6,
 * §7.2): Q8_0, MXFP4 and the float types ignore it. */
#include "quant.h"

#include "../dtype.h"

bool quant_uses_imatrix(int32_t type) {
    switch (type) {
    case QT_Q4_0: case QT_Q4_1: case QT_Q5_0: case QT_Q5_1:
    case QT_Q2_K: case QT_Q3_K: case QT_Q4_K: case QT_Q5_K: case QT_Q6_K:
    case QT_IQ4_NL: case QT_IQ4_XS:
        return true;
    default:
        return false;
    }
}

void quantize_row_imatrix(int32_t type, const float *src, void *dst, int64_t n, const float *qw) {
    if (!qw || !quant_uses_imatrix(type)) { quantize_row(type, src, dst, n); return; }
    switch (type) {
    case QT_Q4_0: q4_0_quantize_row_imatrix(src, dst, n, qw); return;
    case QT_Q4_1: q4_1_quantize_row(src, dst, n, qw); return;
    case QT_Q5_0: q5_0_quantize_row(src, dst, n, qw); return;
    case QT_Q5_1: q5_1_quantize_row(src, dst, n, qw); return;
    case QT_Q2_K: q2_K_quantize_row(src, dst, n, qw); return;
    case QT_Q3_K: q3_K_quantize_row(src, dst, n, qw); return;
    case QT_Q4_K: q4_K_quantize_row(src, dst, n, qw); return;
    case QT_Q5_K: q5_K_quantize_row(src, dst, n, qw); return;
    case QT_Q6_K: q6_K_quantize_row(src, dst, n, qw); return;
    case QT_IQ4_NL: iq4_nl_quantize_row(src, dst, n, qw); return;
    case QT_IQ4_XS: iq4_xs_quantize_row(src, dst, n, qw); return;
    default: G4_ASSERT(!"quantize_row_imatrix: unreachable");
    }
}
