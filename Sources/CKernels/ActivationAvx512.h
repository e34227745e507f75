// The epilogue activations on 16 floats at a time, for functions compiled with PK_AVX512. The cheap
// ones run on the whole vector (pk_activate_cheap_avx512); the ones built on e^x or erf run as two
// AVX2 halves, one formula for both paths, after the tile has stored its sums
// (pk_activate_stored_avx512): an out-of-line call while the accumulators are live would spill them.
#ifndef PTHKIT_ACTIVATION_AVX512_H
#define PTHKIT_ACTIVATION_AVX512_H

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx2.h"

#define PK_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define PK_AVX512_INLINE static inline __attribute__((always_inline)) PK_AVX512
/// Before a loop whose bound is constant once specialized: unroll it fully (up to 32 trips; a
/// depthwise step reads 21 input pairs per kernel row).
#define PK_UNROLL _Pragma("GCC unroll 32")

PK_AVX512_INLINE __m256 pk_low_half_avx512(__m512 x) { return _mm512_castps512_ps256(x); }

PK_AVX512_INLINE __m256 pk_high_half_avx512(__m512 x) {
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1));
}

PK_AVX512_INLINE __m512 pk_join_halves_avx512(__m256 low, __m256 high) {
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(low)), _mm256_castps_pd(high), 1));
}

// Operand order as in pk_clamp_avx2: NaN passes through, as the scalar formulas let it.
PK_AVX512_INLINE __m512 pk_clamp_avx512(__m512 x, float low, float high) {
    return _mm512_min_ps(_mm512_set1_ps(high), _mm512_max_ps(_mm512_set1_ps(low), x));
}

/// Whether pk_activate_cheap_avx512 applies `activation` (otherwise: pk_activate_stored_avx512).
static inline int pk_activation_is_cheap(pk_activation activation) {
    return activation == PK_ACTIVATION_NONE || activation == PK_ACTIVATION_RELU || activation == PK_ACTIVATION_RELU6 ||
        activation == PK_ACTIVATION_HARDSWISH || activation == PK_ACTIVATION_HARDSIGMOID;
}

/// The cheap activations in registers; any other returns x unchanged. Tiles call it with a constant
/// `activation`, so the switch folds away.
PK_AVX512_INLINE __m512 pk_activate_cheap_avx512(pk_activation activation, __m512 x) {
    const __m512 three = _mm512_set1_ps(3.0f), six = _mm512_set1_ps(6.0f);
    switch (activation) {
    case PK_ACTIVATION_RELU: return _mm512_max_ps(_mm512_setzero_ps(), x);
    case PK_ACTIVATION_RELU6: return pk_clamp_avx512(x, 0, 6);
    case PK_ACTIVATION_HARDSWISH:
        return _mm512_div_ps(_mm512_mul_ps(x, pk_clamp_avx512(_mm512_add_ps(x, three), 0, 6)), six);
    case PK_ACTIVATION_HARDSIGMOID: return _mm512_div_ps(pk_clamp_avx512(_mm512_add_ps(x, three), 0, 6), six);
    default: return x;
    }
}

/// Applies `activation` in place to the `count` floats stored at `at`, 8 at a time, the last 8 or
/// fewer masked: the second pass of a tile whose activation is not cheap.
static inline PK_AVX2 void pk_activate_stored_avx512(pk_activation activation, float *at, int count) {
    for (; count >= 8; count -= 8, at += 8) _mm256_storeu_ps(at, pk_activate_avx2(activation, _mm256_loadu_ps(at)));
    if (count > 0) {
        __m256i mask = pk_lane_mask_avx2(count);
        _mm256_maskstore_ps(at, mask, pk_activate_avx2(activation, _mm256_maskload_ps(at, mask)));
    }
}

/// Calls `tile(..., activation)` with `activation` a constant for the cheap ones, so each gets a
/// specialized epilogue, and with PK_ACTIVATION_NONE otherwise: the caller then runs the stored pass.
#define PK_WITH_CONSTANT_ACTIVATION(activation, call)                  \
    switch (activation) {                                              \
    case PK_ACTIVATION_RELU: { const pk_activation act = PK_ACTIVATION_RELU; call; break; }               \
    case PK_ACTIVATION_RELU6: { const pk_activation act = PK_ACTIVATION_RELU6; call; break; }             \
    case PK_ACTIVATION_HARDSWISH: { const pk_activation act = PK_ACTIVATION_HARDSWISH; call; break; }     \
    case PK_ACTIVATION_HARDSIGMOID: { const pk_activation act = PK_ACTIVATION_HARDSIGMOID; call; break; } \
    default: { const pk_activation act = PK_ACTIVATION_NONE; call; break; }                              \
    }

/// Lanes 0 ..< count (count in 0...16) set: the mask of a partial vector.
PK_AVX512_INLINE __mmask16 pk_lane_mask_avx512(int count) {
    return count >= 16 ? (__mmask16)0xffff : (count <= 0 ? (__mmask16)0 : (__mmask16)((1u << count) - 1));
}

#endif
#endif
