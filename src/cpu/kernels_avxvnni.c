/* kernels_avxvnni.c - the AVX2 table with AVX-VNNI: VEX-encoded VPDPBUSD / VPDPWSSD on
 * 256-bit vectors, which Intel's client cores have had since Alder Lake (2021: Alder,
 * Raptor, Meteor, Lunar and Arrow Lake, none with AVX-512) and AMD's since Zen 5. Most
 * x86 laptops sold since then run this table. It is kernels_avx2.c compiled with X86_VNNI:
 * where the shared kernels multiply bytes (kernels_x86_int8.h and the others), one
 * VPDPBUSD replaces VPMADDUBSW + VPMADDWD + VPADDD (no int16 stage, so no depth limit on
 * the sums), and VPDPWSSD replaces VPMADDWD + VPADDD. Only this file is compiled with
 * -mavxvnni, and its table is built only when CPUID says AVX-VNNI (leaf 7.1 EAX bit 4).
 *
 * Zen 4 (the build machine) has AVX-512 VNNI but not AVX-VNNI, so test_kernels also links
 * this file built with G4_AVXVNNI_EVEX (the same instructions in their AVX-512 VL encoding,
 * Makefile) and checks that table wherever AVX-512 VNNI runs. */
#define X86_VNNI 1
#ifdef G4_AVXVNNI_EVEX
#define X86_FILL kernels_avxvnni_evex_fill
#define X86_ISA_NAME "avxvnni(evex)"
#else
#define X86_FILL kernels_avxvnni_fill
#define X86_ISA_NAME "avxvnni"
#endif
#include "kernels_avx2.c"
