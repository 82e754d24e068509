/* features.c - CPU feature detection (see features.h). */
#include "features.h"

#include <stdlib.h>
#include <string.h>

unsigned cpu_family(unsigned eax) {
    const unsigned base = (eax >> 8) & 15;
    return base + (base == 15 ? (eax >> 20) & 255 : 0);
}

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
static unsigned long long xgetbv0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}
static void detect(cpu_features *f) {
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    const unsigned max_leaf = a; /* leaves above it return another leaf's data on Intel */
    /* "AuthenticAMD" (ebx, edx, ecx): Zen 4 and 5 run VDPBF16PS at twice the FMA rate in
     * multiply-adds; Intel's (Sapphire Rapids) at the FMA rate, where the split-activation
     * BF16 kernel, two VDPBF16PS per pair, lost a third of its prefill speed */
    const bool amd = b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;
    f->bf16_dot_fast = amd;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    f->zmm_halves = amd && cpu_family(a) == 0x19; /* Zen 4; Zen 5 (1Ah) desktop and server parts have
                                            * full-width units (its laptop parts do not, untold here) */
    bool osxsave = c & (1u << 27), avx = c & (1u << 28);
    f->fma = c & (1u << 12);
    f->f16c = c & (1u << 29);
    if (!osxsave || !avx) return;
    unsigned long long xcr0 = xgetbv0();
    bool ymm = (xcr0 & 6) == 6, zmm = (xcr0 & 0xe6) == 0xe6;
    if (!ymm || max_leaf < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    const unsigned max_sub7 = a;
    f->avx2 = b & (1u << 5);
    if (zmm) {
        f->avx512f = b & (1u << 16);
        f->avx512bw = b & (1u << 30);
        f->avx512dq = b & (1u << 17);
        f->avx512vl = b & (1u << 31);
        f->avx512vnni = c & (1u << 11);
    }
    if (max_sub7 >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        f->avxvnni = a & (1u << 4);
        f->avx512bf16 = zmm && (a & (1u << 5));
    }
}
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
static void detect(cpu_features *f) {
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    f->neon = true; /* mandatory on AArch64 */
    f->dotprod = hw & (1ul << 20);  /* HWCAP_ASIMDDP */
    f->i8mm = hw2 & (1ul << 13);    /* HWCAP2_I8MM */
}
#else
static void detect(cpu_features *f) { (void)f; }
#endif

static cpu_features feats;
static int detected;

const cpu_features *cpu_features_get(void) {
    if (!__atomic_load_n(&detected, __ATOMIC_ACQUIRE)) { /* idempotent: racing callers compute the same */
        cpu_features f = {0};
        detect(&f);
        feats = f;
        __atomic_store_n(&detected, 1, __ATOMIC_RELEASE);
    }
    return &feats;
}

const char *cpu_isa_name(cpu_isa isa) {
    static const char *n[CPU_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon", "i8mm", "avx512bf16", "avxvnni"};
    return n[isa];
}

bool cpu_isa_supported(cpu_isa isa) {
    const cpu_features *f = cpu_features_get();
    const bool avx2 = f->avx2 && f->fma && f->f16c;
    const bool avx512 = avx2 && f->avx512f && f->avx512bw && f->avx512dq && f->avx512vl && f->avx512vnni;
    switch (isa) {
    case CPU_ISA_SCALAR: return true;
    case CPU_ISA_AVX2: return avx2;
    case CPU_ISA_AVXVNNI: return avx2 && f->avxvnni;
    case CPU_ISA_AVX512: return avx512;
    case CPU_ISA_AVX512BF16: return avx512 && f->avx512bf16;
    case CPU_ISA_NEON: return f->neon && f->dotprod;
    case CPU_ISA_I8MM: return f->neon && f->dotprod && f->i8mm;
    default: return false;
    }
}

cpu_isa cpu_isa_best(void) {
    const cpu_features *f = cpu_features_get();
    cpu_isa best = CPU_ISA_SCALAR;
    static const cpu_isa order[] = {CPU_ISA_NEON, CPU_ISA_I8MM, CPU_ISA_AVX2, CPU_ISA_AVXVNNI, CPU_ISA_AVX512};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (cpu_isa_supported(order[i])) best = order[i];
    /* avx512bf16 only where VDPBF16PS outruns FMA (AMD: kernels_avx512bf16.c) */
    if (cpu_isa_supported(CPU_ISA_AVX512BF16) && f->bf16_dot_fast) best = CPU_ISA_AVX512BF16;
    const char *force = getenv("G4_CPU_ISA");
    if (force && *force)
        for (int i = 0; i < (int)CPU_ISA_COUNT; i++)
            if (!strcmp(force, cpu_isa_name((cpu_isa)i)) && cpu_isa_supported((cpu_isa)i)) return (cpu_isa)i;
    return best;
}
