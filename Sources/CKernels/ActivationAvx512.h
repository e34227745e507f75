// The epilogue activations on 16 floats at a time, for functions compiled with PK_AVX512. The cheap
// ones run on the accumulators (pk_activate_cheap_avx512); the ones built on e^x or erf run after
// the tile has stored its sums (pk_activate_stored_avx512): inline they would need more registers
// than the accumulators leave. e^x and erf are the AVX2 formulas (ActivationAvx2.h) op for op on
// twice the lanes.
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

/// e^x = 2^n e^r for x already clamped: n = round(x / ln2), r = x - n ln2 with ln2 split in two so
/// n ln2 is exact, and Cephes's degree-6 polynomial for e^r, returned with n for the caller to scale.
PK_AVX512_INLINE __m512 pk_exp_reduced_avx512(__m512 x, __m512 *n) {
    *n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(*n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(*n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
    return _mm512_add_ps(p, _mm512_set1_ps(1.0f));
}

/// pk_exp_avx2 on sixteen lanes: 2^n built in the exponent bits, the tails set as it sets them.
PK_AVX512_INLINE __m512 pk_exp_avx512(__m512 x) {
    __mmask16 overflow = _mm512_cmp_ps_mask(x, _mm512_set1_ps(88.72284f), _CMP_GT_OQ);
    __mmask16 underflow = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.33654f), _CMP_LT_OQ);
    x = _mm512_min_ps(_mm512_set1_ps(88.0f), x);
    x = _mm512_max_ps(_mm512_set1_ps(-87.0f), x);
    __m512 n;
    __m512 p = pk_exp_reduced_avx512(x, &n);
    __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    __m512 result = _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
    result = _mm512_mask_blend_ps(overflow, result, _mm512_set1_ps(__builtin_inff()));
    return _mm512_maskz_mov_ps((__mmask16)~underflow, result);
}

/// pk_erf_avx2 on sixteen lanes.
PK_AVX512_INLINE __m512 pk_erf_avx512(__m512 x) {
    const __m512i sign_bit = _mm512_set1_epi32((int)0x80000000u);
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512i sign = _mm512_and_si512(sign_bit, _mm512_castps_si512(x));
    __m512 magnitude = _mm512_castsi512_ps(_mm512_xor_si512(sign, _mm512_castps_si512(x)));
    __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), magnitude, one));
    __m512 r = _mm512_set1_ps(1.061405429f);
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-1.453152027f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(1.421413741f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-0.284496736f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(0.254829592f));
    __m512 negated_square = _mm512_castsi512_ps(_mm512_xor_si512(sign_bit, _mm512_castps_si512(_mm512_mul_ps(x, x))));
    __m512 y = _mm512_fnmadd_ps(_mm512_mul_ps(r, t), pk_exp_avx512(negated_square), one);
    return _mm512_castsi512_ps(_mm512_xor_si512(sign, _mm512_castps_si512(y)));
}

/// 1 / (1 + e^-x), the logistic function, within about 2 ulps, in fewer steps than pk_exp_avx512 and
/// a division: e^-x is pk_exp_reduced_avx512's polynomial scaled by 2^n with VSCALEFPS, which saturates to
/// inf or 0 by itself, and the reciprocal is VRCP14PS's 14 bits refined by one Newton step (about
/// 28 bits; a division takes 16 lanes ten cycles or more). Where e^-x overflows (x < -88.72) the
/// result is 0, as 1 / inf is.
PK_AVX512_INLINE __m512 pk_logistic_avx512(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    __mmask16 vanishes = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-88.72284f), _CMP_LT_OQ);
    // Clamped so that n stays small; beyond +-100 the scaling saturates all the same.
    __m512 minus_x = _mm512_min_ps(_mm512_set1_ps(100.0f), _mm512_max_ps(_mm512_set1_ps(-100.0f), _mm512_sub_ps(_mm512_setzero_ps(), x)));
    __m512 n;
    __m512 p = pk_exp_reduced_avx512(minus_x, &n);
    __m512 denominator = _mm512_add_ps(one, _mm512_scalef_ps(p, n));
    __m512 estimate = _mm512_rcp14_ps(denominator);
    __m512 reciprocal = _mm512_fmadd_ps(estimate, _mm512_fnmadd_ps(denominator, estimate, one), estimate);
    return _mm512_maskz_mov_ps((__mmask16)~vanishes, reciprocal);
}

/// Every activation on sixteen lanes. SiLU and sigmoid use pk_logistic_avx512, so their last bit
/// may differ from the AVX2 path's division; the rest are the AVX2 formulas op for op.
PK_AVX512_INLINE __m512 pk_activate_avx512(pk_activation activation, __m512 x) {
    switch (activation) {
    case PK_ACTIVATION_SILU: return _mm512_mul_ps(x, pk_logistic_avx512(x));
    case PK_ACTIVATION_SIGMOID: return pk_logistic_avx512(x);
    case PK_ACTIVATION_GELU: {
        __m512 half_x = _mm512_mul_ps(x, _mm512_set1_ps(0.5f));
        return _mm512_fmadd_ps(half_x, pk_erf_avx512(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f))), half_x);
    }
    default: return pk_activate_cheap_avx512(activation, x);
    }
}

/// Lanes 0 ..< count (count in 0...16) set: the mask of a partial vector.
PK_AVX512_INLINE __mmask16 pk_lane_mask_avx512(int count) {
    return count >= 16 ? (__mmask16)0xffff : (count <= 0 ? (__mmask16)0 : (__mmask16)((1u << count) - 1));
}

/// As PK_WITH_CONSTANT_ACTIVATION, for every activation: for tiles that apply even the costly ones in
/// registers (pk_activate_avx512).
#define PK_WITH_ANY_CONSTANT_ACTIVATION(activation, call)                                                 \
    switch (activation) {                                                                              \
    case PK_ACTIVATION_SILU: { const pk_activation act = PK_ACTIVATION_SILU; call; break; }             \
    case PK_ACTIVATION_SIGMOID: { const pk_activation act = PK_ACTIVATION_SIGMOID; call; break; }       \
    case PK_ACTIVATION_GELU: { const pk_activation act = PK_ACTIVATION_GELU; call; break; }             \
    default: PK_WITH_CONSTANT_ACTIVATION(activation, call)                                             \
    }

/// Applies `activation` in place to the `count` floats stored at `at`, 16 at a time, the last 16 or
/// fewer masked: the second pass of a tile whose activation is not cheap. Out of line, so a tile's
/// registers are free again when it runs.
static inline __attribute__((noinline)) PK_AVX512 void pk_activate_stored_avx512(pk_activation activation, float *at,
                                                                          int count) {
    for (; count >= 16; count -= 16, at += 16) _mm512_storeu_ps(at, pk_activate_avx512(activation, _mm512_loadu_ps(at)));
    if (count > 0) {
        __mmask16 mask = pk_lane_mask_avx512(count);
        _mm512_mask_storeu_ps(at, mask, pk_activate_avx512(activation, _mm512_maskz_loadu_ps(mask, at)));
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

#endif
#endif
