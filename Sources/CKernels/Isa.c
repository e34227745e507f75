// Which implementation runs: decided once from the CPU, so every call in a process takes one path.
#include "Gemm.h"

#include <stdatomic.h>
#include <string.h>

enum { ISA_UNDECIDED = -1, ISA_PORTABLE = 0, ISA_AVX2 = 1 };

static atomic_int chosen = ISA_UNDECIDED;

static int cpu_has_avx2_fma(void) {
#ifdef PK_HAVE_AVX2_PATH
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int pk_use_avx2(void) {
    int isa = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (isa == ISA_UNDECIDED) {
        isa = cpu_has_avx2_fma() ? ISA_AVX2 : ISA_PORTABLE;
        atomic_store_explicit(&chosen, isa, memory_order_relaxed);
    }
    return isa == ISA_AVX2;
}

const char *pk_kernels_isa(void) { return pk_use_avx2() ? "avx2-fma" : "portable"; }

int pk_kernels_select_isa(const char *isa) {
    if (strcmp(isa, "portable") == 0) {
        atomic_store(&chosen, ISA_PORTABLE);
        return 1;
    }
    if (strcmp(isa, "avx2-fma") == 0 && cpu_has_avx2_fma()) {
        atomic_store(&chosen, ISA_AVX2);
        return 1;
    }
    return 0;
}
