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

/* what the shared kernels may use (kernels_x86_int8.h); kernels_avxvnni.c has X86_VNNI only */
#define X86_VNNI 1
#define X86_AVX512 1

#include "kernels_x86_int8.h"
#include "kernels_x86_q8.h"
#include "kernels_x86_kquant.h"
#include "kernels_x86_float.h"
#include "kernels_x86_kv.h"
#include "kernels_x86_attn.h"
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

void kernels_avx512_fill(cpu_kernels *k) {
    kernels_ref_fill(k);
    k->isa = "avx512";
    x86_fill_shared(k);
    /* the sideways engine (swz_matmul): 32 rows regrouped, 40 bytes per column, and the 8
     * rows being unpacked, 11, then 256 tokens' d s per block, 32 more, or for the types
     * with half scales (Q6_K, Q3_K, Q2_K) their two half sums, 64 more: 115 bytes and
     * the alignments; Q8_0's: 68 (q8z_matmul) */
    k->scratch_per_col = 30;
    x86_fill_q8(k);
    x86_fill_kquant(k);
    x86_fill_kv(k);
    x86_fill_attn(k);
    x86_fill_iq4(k);
    x86_fill_k23(k);
    k->matmul[G4_DTYPE_F32] = matmul_float_tiles;
    k->matmul[G4_DTYPE_F16] = matmul_float_tiles;
    k->matmul[G4_DTYPE_BF16] = matmul_float_tiles;
    k->quantize_a8 = quantize_a8;
    k->int8_peak = int8_peak;
}
