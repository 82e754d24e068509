/* kernels_avx2.c - AVX2 + FMA + F16C kernels (Haswell-class x86-64 and later); only this
 * file is compiled with those flags. Same structure as kernels_avx512.c (groups of four
 * weight rows, every token per group), but without VNNI: byte products go through
 * VPMADDUBSW (u8 x s8 -> pairs summed to int16) and VPMADDWD (int16 pairs -> int32).
 * Both types use the sign trick: |w| is the unsigned operand and w's sign moves onto the
 * activation, so pair sums stay within int16 (2 x 127 x 127 < 32768).
 *
 * kernels_avxvnni.c builds this file again with X86_VNNI defined: the same table with
 * AVX-VNNI's VEX-encoded VPDPBUSD / VPDPWSSD on 256-bit vectors (Intel's client cores
 * from Alder Lake on, which have no AVX-512), where the shared kernels take them
 * (kernels_x86_int8.h's X86_VNNI paths). */
#include "kernels.h"
#include "../dtype.h"

#include <immintrin.h>
#include <math.h>

#include "kernels_x86_int8.h"
#include "kernels_x86_q8.h"
#include "kernels_x86_kquant.h"
#include "kernels_x86_float.h"
#include "kernels_x86_kv.h"
#include "kernels_x86_attn.h"
#include "kernels_x86_iq4.h"
#include "kernels_x86_k23.h"

/* Activation quantization, bit-identical to the scalar one (x86_a8_block). */
static void quantize_a8(const float *x, block_a8 *y, int64_t cols) {
    for (int64_t b = 0; b < cols / 32; b++) {
        const float d = x86_amax(x + b * 32, 32) / 127.0f;
        x86_a8_block(x + b * 32, d, inv_scale(d), y + b);
    }
}

#ifdef X86_VNNI
/* The ISA's int8 multiply-add peak is VPDPBUSD's throughput on 256-bit registers: 32
 * multiply-adds per instruction, each accumulating into its own register. */
X86_INT8_PEAK("vpcmpeqb %%ymm15, %%ymm15, %%ymm15\n\tvpabsb %%ymm15, %%ymm14\n\t", X86_DPBUSD256, "ymm", 32)
#else
/* The ISA's int8 multiply-add peak is VPMADDUBSW's throughput: 32 u8 x s8 products per
 * instruction (the kernels sum several of its int16 results before one VPMADDWD). */
X86_INT8_PEAK("vpcmpeqb %%ymm15, %%ymm15, %%ymm15\n\tvpabsb %%ymm15, %%ymm14\n\t", "vpmaddubsw", "ymm", 32)
#endif

#ifndef X86_FILL /* kernels_avxvnni.c names its own */
#define X86_FILL kernels_avx2_fill
#define X86_ISA_NAME "avx2"
#endif
void X86_FILL(cpu_kernels *k) {
    kernels_ref_fill(k);
    k->isa = X86_ISA_NAME;
    x86_fill_shared(k);
    k->scratch_per_col = KERNEL_SCRATCH_PER_COL_MAX; /* the sideways prefill's 256 tokens of activations */
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
