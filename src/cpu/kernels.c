/* kernels.c - builds the kernel tables once and hands out the best one for this CPU. */
#include "kernels.h"

#include <pthread.h>

static cpu_kernels tables[CPU_ISA_COUNT];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* A table is built only when the CPU can run it: the filler itself is compiled with its
 * ISA's flags, and the compiler may use those instructions anywhere in that file. */
static void build(void) {
    kernels_ref_fill(&tables[CPU_ISA_SCALAR]);
#if defined(__x86_64__)
    const cpu_features *f = cpu_features_get();
    if (f->avx2 && f->fma && f->f16c) kernels_avx2_fill(&tables[CPU_ISA_AVX2]);
    if (f->avx2 && f->fma && f->f16c && f->avx512f && f->avx512bw && f->avx512dq && f->avx512vl && f->avx512vnni)
        kernels_avx512_fill(&tables[CPU_ISA_AVX512]);
    if (tables[CPU_ISA_AVX512].isa && f->avx512bf16) kernels_avx512bf16_fill(&tables[CPU_ISA_AVX512BF16]);
#elif defined(__aarch64__)
    const cpu_features *f = cpu_features_get();
    if (f->neon && f->dotprod) kernels_neon_fill(&tables[CPU_ISA_NEON]);
    if (f->neon && f->dotprod && f->i8mm) kernels_i8mm_fill(&tables[CPU_ISA_I8MM]);
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
