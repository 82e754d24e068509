/* kernels_avx512.c - AVX-512 (F, BW, DQ, VL, VNNI) kernels; only this file is compiled with
 * those flags, and the table is used only when CPUID says they are there.
 *
 * The int8 block kernels (Q4_0 x block_a8, Q8_0 x block_a16) are the shared ones of
 * kernels_x86_int8.h and kernels_x86_q8.h with VPDPBUSD / VPDPWSSD as the dot products, on 256-bit vectors (one
 * block is 32 bytes, and Zen 4 splits 512-bit operations anyway). Float weights use
 * 512-bit FMAs; activation quantization uses 512-bit vectors. */
#include "kernels.h"
#include "../dtype.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdio.h>

/* what the shared kernels may use (kernels_x86_int8.h); kernels_avxvnni.c has X86_VNNI only */
#define X86_VNNI 1
#define X86_AVX512 1

#include "kernels_x86_int8.h"
#include "kernels_x86_q8.h"
#include "kernels_x86_kquant.h"
#include "kernels_x86_float.h"
#include "kernels_x86_kv.h"
#include "kernels_x86_attn.h"
#include "kernels_avx512_attn.h"
#include "kernels_x86_iq4.h"
#include "kernels_x86_k23.h"

static void quantize_a8(const float *x, block_a8 *y, int64_t cols) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t b = 0; b < cols / 32; b++) {
        __m512 v0 = _mm512_loadu_ps(x + b * 32), v1 = _mm512_loadu_ps(x + b * 32 + 16);
        __m512 m = _mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1));
        const float amax = _mm512_reduce_max_ps(m);
        const float d = amax / 127.0f, id = inv_scale(d);
        const __m512 idv = _mm512_set1_ps(id);
        /* round half away from zero exactly as roundf: truncate, then step away from zero
         * when the (exactly computed) remainder is at least one half */
        __m512 s0 = _mm512_mul_ps(v0, idv), s1 = _mm512_mul_ps(v1, idv);
        __m512 t0 = _mm512_roundscale_ps(s0, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        __m512 t1 = _mm512_roundscale_ps(s1, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        __mmask16 k0 = _mm512_cmp_ps_mask(_mm512_andnot_ps(sign, _mm512_sub_ps(s0, t0)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
        __mmask16 k1 = _mm512_cmp_ps_mask(_mm512_andnot_ps(sign, _mm512_sub_ps(s1, t1)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
        t0 = _mm512_mask_add_ps(t0, k0, t0, _mm512_or_ps(_mm512_and_ps(s0, sign), _mm512_set1_ps(1.0f)));
        t1 = _mm512_mask_add_ps(t1, k1, t1, _mm512_or_ps(_mm512_and_ps(s1, sign), _mm512_set1_ps(1.0f)));
        __m512i q0 = _mm512_cvttps_epi32(t0), q1 = _mm512_cvttps_epi32(t1);
        _mm_storeu_si128((__m128i *)y[b].qs, _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), _mm512_cvtepi32_epi8(q1));
        y[b].d = d;
        y[b].s = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    }
}

/* The ISA's int8 multiply-add peak is VPDPBUSD's throughput on 512-bit registers: 64
 * multiply-adds per instruction, each accumulating into its own register. */
X86_INT8_PEAK("vpternlogd $0xff, %%zmm15, %%zmm15, %%zmm15\n\tvpabsb %%zmm15, %%zmm14\n\t", "vpdpbusd", "zmm", 64)

/* ---- Which sideways engine: 16 rows with broadcast operands, or 32 with registers -------
 * Times the two engines' inner forms on 12 accumulators: A, every VPDPBUSD taking its
 * activation group as a {1to16} memory broadcast (swz_tokens); B, one VPBROADCASTD into
 * a register feeding two VPDPBUSD (swz32_tokens). Ice Lake Xeon: A 0.33-0.37 ns per
 * VPDPBUSD, B 0.24 (A/B 1.45-1.68 in this timing); where the broadcast operand is free
 * (the GPU machine's Emerald Rapids Xeon: A/B 0.92-0.95) the 16-row engine, which shares
 * each weight vector among more tokens, wins. Zen 4 issues one 512-bit VPDPBUSD per cycle
 * either way, so it should keep the 16-row engine it was tuned with (not measured). About
 * 0.4 ms at start-up. */
#define ZMM_ROWS_ITERS 5000
#define ZMM_ROWS_RATIO 1.25 /* A / B above this: 32 rows */
static double zmm_rows_time(int form, long n) {
    static int32_t src[16] __attribute__((aligned(64)));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
#define ZR_A(o, r) "vpdpbusd " #o "(%1)%{1to16%}, %%zmm31, %%zmm" #r "\n\t"
#define ZR_B(o, r0, r1, t) "vpbroadcastd " #o "(%1), %%zmm" #t "\n\tvpdpbusd %%zmm" #t ", %%zmm31, %%zmm" #r0 \
                            "\n\tvpdpbusd %%zmm" #t ", %%zmm30, %%zmm" #r1 "\n\t"
    if (form == 0)
        __asm__ volatile("vpxord %%zmm31, %%zmm31, %%zmm31\n\t1:\n\t"
                         ZR_A(0, 0) ZR_A(4, 1) ZR_A(8, 2) ZR_A(12, 3) ZR_A(16, 4) ZR_A(20, 5)
                         ZR_A(24, 6) ZR_A(28, 7) ZR_A(32, 8) ZR_A(36, 9) ZR_A(40, 10) ZR_A(44, 11)
                         "dec %0\n\tjnz 1b\n\tvzeroupper"
                         : "+r"(n) : "r"(src)
                         : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                           "xmm11", "xmm31", "cc", "memory");
    else
        __asm__ volatile("vpxord %%zmm31, %%zmm31, %%zmm31\n\tvpxord %%zmm30, %%zmm30, %%zmm30\n\t1:\n\t"
                         ZR_B(0, 0, 1, 16) ZR_B(4, 2, 3, 17) ZR_B(8, 4, 5, 18) ZR_B(12, 6, 7, 19)
                         ZR_B(16, 8, 9, 20) ZR_B(20, 10, 11, 21)
                         "dec %0\n\tjnz 1b\n\tvzeroupper"
                         : "+r"(n) : "r"(src)
                         : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                           "xmm11", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm30", "xmm31", "cc",
                           "memory");
#undef ZR_A
#undef ZR_B
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
}

/* G4_ZMM_ROWS=16 or 32 forces the engine (tests run both; bug reports); otherwise the
 * timing above decides. zmm_rows_why: how (kernels_avx512_rows). */
static char zmm_rows_why[96];
static int zmm_rows32_choice(void) {
    const char *e = getenv("G4_ZMM_ROWS");
    if (e && (!strcmp(e, "16") || !strcmp(e, "32"))) {
        snprintf(zmm_rows_why, sizeof zmm_rows_why, "G4_ZMM_ROWS");
        return e[0] == '3';
    }
    /* first ~0.1 ms of 512-bit work: in the first tens of microseconds after a pause
     * the core runs it slower (2000-iteration timings there came out A = B) */
    zmm_rows_time(1, 8 * ZMM_ROWS_ITERS);
    /* the median of 9 ratios of back-to-back timings: each pair sees one clock speed */
    double r[9];
    for (int i = 0; i < 9; i++) {
        const double ta = zmm_rows_time(0, ZMM_ROWS_ITERS), tb = zmm_rows_time(1, ZMM_ROWS_ITERS);
        r[i] = ta / (tb > 0 ? tb : 1e-12);
        for (int j = i; j > 0 && r[j] < r[j - 1]; j--) { const double x = r[j]; r[j] = r[j - 1]; r[j - 1] = x; }
    }
    snprintf(zmm_rows_why, sizeof zmm_rows_why, "broadcast operand / register %.2f, median of 9 %.2f..%.2f", r[4], r[0], r[8]);
    return r[4] > ZMM_ROWS_RATIO;
}

const char *kernels_avx512_rows(void) { return swz_rows32 ? "32" : "16"; }
const char *kernels_avx512_rows_why(void) { return zmm_rows_why; }

void kernels_avx512_fill(cpu_kernels *k) {
    swz_rows32 = zmm_rows32_choice();
    kernels_ref_fill(k);
    k->isa = "avx512";
    x86_fill_shared(k);
    /* the sideways engine (swz_matmul): 32 rows' blocks, 40 bytes per column, then 256
     * tokens' d s per block, 32 more, or for the types with half scales (Q6_K, Q3_K,
     * Q2_K) their two half sums, 64 more: 104 bytes and the alignments; Q8_0's: 68
     * (q8z_matmul) */
    k->scratch_per_col = 30;
    x86_fill_q8(k);
    x86_fill_kquant(k);
    x86_fill_kv(k);
    x86_fill_attn(k);
    avx512_fill_attn(k);
    x86_fill_iq4(k);
    x86_fill_k23(k);
    k->matmul[G4_DTYPE_F32] = matmul_float_tiles;
    k->matmul[G4_DTYPE_F16] = matmul_float_tiles;
    k->matmul[G4_DTYPE_BF16] = matmul_float_tiles;
    k->quantize_a8 = quantize_a8;
    k->int8_peak = int8_peak;
}
