// Which implementation runs: decided once from the CPU, so every call in a process takes one path.
// The paths nest: a CPU with AVX-512 runs the AVX-512 tiles where they exist and the AVX2 ones
// elsewhere, so pk_use_avx2() is true on it too.
#include "Gemm.h"

#include <stdatomic.h>
#include <string.h>
#ifdef PK_HAVE_AVX512_PATH
#include <cpuid.h>
#endif

enum { ISA_UNDECIDED = -1, ISA_PORTABLE = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };

static atomic_int chosen = ISA_UNDECIDED;

static int cpu_has_avx2_fma(void) {
#ifdef PK_HAVE_AVX2_PATH
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static int cpu_has_avx512(void) {
#ifdef PK_HAVE_AVX512_PATH
    __builtin_cpu_init();
    return cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

static int isa(void) {
    int isa = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (isa == ISA_UNDECIDED) {
        isa = cpu_has_avx512() ? ISA_AVX512 : (cpu_has_avx2_fma() ? ISA_AVX2 : ISA_PORTABLE);
        atomic_store_explicit(&chosen, isa, memory_order_relaxed);
    }
    return isa;
}

int pk_use_avx2(void) { return isa() >= ISA_AVX2; }

int pk_avx512_full_width(void) {
#ifdef PK_HAVE_AVX512_PATH
    if (!cpu_has_avx512()) return 0;
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return 1;
    int amd = ebx == 0x68747541 && edx == 0x69746e65 && ecx == 0x444d4163;  // "AuthenticAMD"
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 1;
    unsigned family = (eax >> 8) & 0xF;
    if (family == 0xF) family += (eax >> 20) & 0xFF;
    return !(amd && family == 0x19);
#else
    return 0;
#endif
}

int pk_use_avx512(void) { return isa() == ISA_AVX512; }

const char *pk_kernels_isa(void) {
    switch (isa()) {
    case ISA_AVX512: return "avx512";
    case ISA_AVX2: return "avx2-fma";
    default: return "portable";
    }
}

int pk_kernels_select_isa(const char *name) {
    int wanted = strcmp(name, "portable") == 0 ? ISA_PORTABLE
        : strcmp(name, "avx2-fma") == 0 && cpu_has_avx2_fma() ? ISA_AVX2
        : strcmp(name, "avx512") == 0 && cpu_has_avx512() ? ISA_AVX512 : ISA_UNDECIDED;
    if (wanted == ISA_UNDECIDED) return 0;
    atomic_store(&chosen, wanted);
    return 1;
}

pk_gemm_tiles pk_gemm_tiles_for_cpu(void) {
    pk_gemm_tiles tiles = {pk_gemm_tile_portable, NULL, pk_gemv_portable};
#ifdef PK_HAVE_AVX2_PATH
    if (pk_use_avx2()) {
        tiles.tile = pk_gemm_tile_avx2;
        tiles.gemv = pk_gemv_avx2;
    }
#endif
#ifdef PK_HAVE_AVX512_PATH
    if (pk_use_avx512()) {
        tiles.wide = pk_gemm_wide_tile_avx512;
        tiles.gemv = pk_gemv_avx512;
    }
#endif
    return tiles;
}
