// Activations as a pass of their own, over a buffer: what a linear layer's GELU or a standalone
// SiLU runs when no convolution epilogue could take it.
#include "Activation.h"
#include "Gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx512.h"

static PK_AVX2 void apply_avx2(pk_activation activation, const float *source, float *destination, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8)
        _mm256_storeu_ps(destination + i, pk_activate_avx2(activation, _mm256_loadu_ps(source + i)));
    if (i < count) {
        __m256i mask = pk_lane_mask_avx2((int)(count - i));
        _mm256_maskstore_ps(destination + i, mask, pk_activate_avx2(activation, _mm256_maskload_ps(source + i, mask)));
    }
}

static PK_AVX512 void apply_avx512(pk_activation activation, const float *source, float *destination, size_t count) {
    size_t i = 0;
    for (; i + 16 <= count; i += 16)
        _mm512_storeu_ps(destination + i, pk_activate_avx512(activation, _mm512_loadu_ps(source + i)));
    if (i < count) {
        __mmask16 mask = pk_lane_mask_avx512((int)(count - i));
        _mm512_mask_storeu_ps(destination + i, mask, pk_activate_avx512(activation, _mm512_maskz_loadu_ps(mask, source + i)));
    }
}
#endif

void pk_activation_apply(pk_activation activation, const float *source, float *destination, size_t count) {
#ifdef PK_HAVE_AVX512_PATH
    if (pk_use_avx512()) {
        apply_avx512(activation, source, destination, count);
        return;
    }
#endif
#ifdef PK_HAVE_AVX2_PATH
    if (pk_use_avx2()) {
        apply_avx2(activation, source, destination, count);
        return;
    }
#endif
    for (size_t i = 0; i < count; i++) destination[i] = pk_activate(activation, source[i]);
}
