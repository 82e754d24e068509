/* kernels.c - builds the kernel tables once and hands out the best one for this CPU. */
#include "kernels.h"

#include <pthread.h>

static cpu_kernels tables[CPU_ISA_COUNT];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* A table is built only when the CPU can run it (cpu_isa_supported, features.c): the
 * filler itself is compiled with its ISA's flags, and the compiler may use those
 * instructions anywhere in that file. */
static void build(void) {
    kernels_ref_fill(&tables[CPU_ISA_SCALAR]);
#if defined(__x86_64__)
    if (cpu_isa_supported(CPU_ISA_AVX2)) kernels_avx2_fill(&tables[CPU_ISA_AVX2]);
    if (cpu_isa_supported(CPU_ISA_AVXVNNI)) kernels_avxvnni_fill(&tables[CPU_ISA_AVXVNNI]);
    if (cpu_isa_supported(CPU_ISA_AVX512)) kernels_avx512_fill(&tables[CPU_ISA_AVX512]);
    if (cpu_isa_supported(CPU_ISA_AVX512BF16)) kernels_avx512bf16_fill(&tables[CPU_ISA_AVX512BF16]);
#elif defined(__aarch64__)
    if (cpu_isa_supported(CPU_ISA_NEON)) kernels_neon_fill(&tables[CPU_ISA_NEON]);
    if (cpu_isa_supported(CPU_ISA_I8MM)) kernels_i8mm_fill(&tables[CPU_ISA_I8MM]);
#endif
}

const cpu_kernels *cpu_kernels_for(cpu_isa isa) {
    pthread_once(&once, build);
    return tables[isa].isa ? &tables[isa] : NULL;
}

const cpu_kernels *cpu_kernels_get(void) {
    const cpu_kernels *k = cpu_kernels_for(cpu_isa_best());
    return k ? k : cpu_kernels_for(CPU_ISA_SCALAR);
}
