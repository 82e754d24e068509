/* features.h - what this CPU can run, detected once: x86 CPUID + XGETBV (the OS must
 * save AVX / AVX-512 state), arm64 HWCAP. G4_CPU_ISA=scalar|avx2|avxvnni|avx512|avx512bf16|neon|i8mm
 * forces a level, for tests and bug reports (a level the CPU lacks is refused).
 *
 * The levels (avx512 does not need avxvnni: Zen 4 has AVX-512 VNNI and not AVX-VNNI):
 *   avx2     AVX2 + FMA + F16C;
 *   avxvnni  avx2 + AVX-VNNI (VEX-encoded VPDPBUSD on 256-bit vectors: Intel's client
 *            cores from Alder Lake on, which lack AVX-512; chosen where avx512 is not there);
 *   avx512   avx2 + AVX-512 F/BW/DQ/VL + VNNI;
 *   avx512bf16  avx512 + AVX512_BF16 (BF16 weights by VDPBF16PS: the default on AMD only,
 *               where that instruction outruns FMA; on Intel, G4_CPU_ISA=avx512bf16 asks for it);
 *   neon     AArch64 NEON + SDOT (FEAT_DotProd);   i8mm  neon + SMMLA (FEAT_I8MM). */
#ifndef G4_CPU_FEATURES_H
#define G4_CPU_FEATURES_H

#include <stdbool.h>

typedef enum cpu_isa { CPU_ISA_SCALAR = 0, CPU_ISA_AVX2, CPU_ISA_AVX512, CPU_ISA_NEON, CPU_ISA_I8MM, CPU_ISA_AVX512BF16,
                       CPU_ISA_AVXVNNI, CPU_ISA_COUNT } cpu_isa;

typedef struct cpu_features {
    bool avx2, fma, f16c;                       /* the AVX2 level needs all three */
    bool avxvnni;                               /* AVX-VNNI (VEX), CPUID 7.1 EAX bit 4 */
    bool avx512f, avx512bw, avx512dq, avx512vl, avx512vnni, avx512bf16;
    bool bf16_dot_fast;                         /* VDPBF16PS at twice FMA's rate (AMD) */
    bool zmm_halves;                            /* 512-bit operations as two 256-bit halves
                                                 * (AMD family 19h: Zen 4) */
    bool neon, dotprod, i8mm;
} cpu_features;

const cpu_features *cpu_features_get(void);
/* x86 family from CPUID leaf 1's EAX: the base family, plus the extended one when the
 * base is 15 (AMD Zen 4: 0xA10F11 -> 0x19) */
unsigned cpu_family(unsigned eax);
/* Whether this CPU runs a level's table. */
bool cpu_isa_supported(cpu_isa isa);
/* Best level for this CPU, or the level G4_CPU_ISA names when the CPU supports it. */
cpu_isa cpu_isa_best(void);
const char *cpu_isa_name(cpu_isa isa);

#endif
