// The epilogue activations on 8 floats at a time, for functions compiled with target("avx2,fma").
// Operand order keeps NaN flowing through as the scalar formulas (Activation.h) let it: AVX's
// min/max return their second operand when either is NaN.
#ifndef PTHKIT_ACTIVATION_AVX2_H
#define PTHKIT_ACTIVATION_AVX2_H

#if defined(__x86_64__) || defined(__i386__)
#include "PthKitKernels.h"
#include <immintrin.h>

#define PK_AVX2 __attribute__((target("avx2,fma")))

/// e^x within about 1 ulp on [-87, 88]: x = n ln2 + r with |r| <= ln2 / 2, ln2 split in two so
/// n ln2 is exact, then Cephes's degree-6 minimax polynomial for e^r and 2^n built in the exponent
/// bits. Outside, as the Swift reference's `exponential`: +inf above 88.72 (where e^x overflows), 0
/// below -87.34 (where it would be subnormal), so sigmoid(-inf) is 0 and SiLU(-inf) is -0, as in torch.
/// n comes from one multiply-add with 1.5 * 2^23 + 127: the sum's low bits are n + 127, the biased
/// exponent of 2^n, rounded to nearest, so no rounding and conversion instructions (SiLU in a loop,
/// old and new in one binary: 6.7 -> 6.3 ns a vector, Zen 3; EfficientNet spends about a fifth of
/// its time in SiLUs).
static inline PK_AVX2 __m256 pk_exp_avx2(__m256 x) {
    __m256 overflow = _mm256_cmp_ps(x, _mm256_set1_ps(88.72284f), _CMP_GT_OQ);
    __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(-87.33654f), _CMP_LT_OQ);
    // Only the top needs a clamp (2^128 has no exponent); below -87.34 the underflow mask zeroes
    // whatever the exponent bits became.
    x = _mm256_min_ps(_mm256_set1_ps(88.0f), x);
    const __m256 biased_shift = _mm256_set1_ps(12582912.0f + 127.0f);
    __m256 shifted = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), biased_shift);
    __m256 n = _mm256_sub_ps(shifted, biased_shift);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_slli_epi32(_mm256_castps_si256(shifted), 23);
    __m256 result = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
    result = _mm256_blendv_ps(result, _mm256_set1_ps(__builtin_inff()), overflow);
    return _mm256_andnot_ps(underflow, result);
}

/// pk_erf (Activation.h) on eight lanes: the sign is taken off, the formula evaluated on |x|, the
/// sign put back.
static inline PK_AVX2 __m256 pk_erf_avx2(__m256 x) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    __m256 sign = _mm256_and_ps(sign_bit, x);
    __m256 magnitude = _mm256_xor_ps(sign, x);
    __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), magnitude, one));
    __m256 r = _mm256_set1_ps(1.061405429f);
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-1.453152027f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(1.421413741f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-0.284496736f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(0.254829592f));
    __m256 decay = pk_exp_avx2(_mm256_xor_ps(sign_bit, _mm256_mul_ps(x, x)));
    __m256 y = _mm256_fnmadd_ps(_mm256_mul_ps(r, t), decay, one);
    return _mm256_xor_ps(sign, y);
}

static inline PK_AVX2 __m256 pk_clamp_avx2(__m256 x, float low, float high) {
    return _mm256_min_ps(_mm256_set1_ps(high), _mm256_max_ps(_mm256_set1_ps(low), x));
}

static inline PK_AVX2 __m256 pk_activate_avx2(pk_activation activation, __m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f), three = _mm256_set1_ps(3.0f), six = _mm256_set1_ps(6.0f);
    switch (activation) {
    case PK_ACTIVATION_NONE: return x;
    case PK_ACTIVATION_RELU: return _mm256_max_ps(_mm256_setzero_ps(), x);
    case PK_ACTIVATION_RELU6: return pk_clamp_avx2(x, 0, 6);
    case PK_ACTIVATION_HARDSWISH:
        return _mm256_div_ps(_mm256_mul_ps(x, pk_clamp_avx2(_mm256_add_ps(x, three), 0, 6)), six);
    case PK_ACTIVATION_HARDSIGMOID: return _mm256_div_ps(pk_clamp_avx2(_mm256_add_ps(x, three), 0, 6), six);
    case PK_ACTIVATION_SILU:
        return _mm256_div_ps(x, _mm256_add_ps(one, pk_exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x))));
    case PK_ACTIVATION_SIGMOID:
        return _mm256_div_ps(one, _mm256_add_ps(one, pk_exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x))));
    case PK_ACTIVATION_GELU: {
        __m256 half_x = _mm256_mul_ps(x, _mm256_set1_ps(0.5f));
        return _mm256_fmadd_ps(half_x, pk_erf_avx2(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f))), half_x);
    }
    }
    return x;
}

/// Whether `activation` costs a few instructions (clamps and products), so a kernel's epilogue applies
/// it in registers; the others (exp and erf, about thirty instructions) go in a pass of their own.
static inline int pk_activation_is_cheap_avx2(pk_activation activation) {
    return activation == PK_ACTIVATION_NONE || activation == PK_ACTIVATION_RELU || activation == PK_ACTIVATION_RELU6 ||
        activation == PK_ACTIVATION_HARDSWISH || activation == PK_ACTIVATION_HARDSIGMOID;
}

/// `activation` over `count` stored floats (a multiple of 8), in place: the expensive activations
/// after a kernel has stored its outputs. Not inlined, so the loop has every register for itself:
/// inside a kernel's epilogue SiLU took about 21 cycles a vector, in this loop 15-18 (Zen 3).
static inline __attribute__((noinline)) PK_AVX2 void pk_activate_stored_avx2(pk_activation activation, float *at,
                                                                             size_t count) {
    for (size_t i = 0; i < count; i += 8) _mm256_storeu_ps(at + i, pk_activate_avx2(activation, _mm256_loadu_ps(at + i)));
}

/// Transposes the 8 x 8 block held in v[0..7] (v[i] is row i) in place, so v[j] becomes column j:
/// unpack pairs, shuffle quads, then swap 128-bit halves.
static inline PK_AVX2 void pk_transpose8x8_avx2(__m256 v[8]) {
    __m256 t[8], u[8];
    for (int pair = 0; pair < 8; pair += 2) {
        t[pair] = _mm256_unpacklo_ps(v[pair], v[pair + 1]);
        t[pair + 1] = _mm256_unpackhi_ps(v[pair], v[pair + 1]);
    }
    for (int quad = 0; quad < 8; quad += 4) {
        u[quad] = _mm256_shuffle_ps(t[quad], t[quad + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[quad + 1] = _mm256_shuffle_ps(t[quad], t[quad + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[quad + 2] = _mm256_shuffle_ps(t[quad + 1], t[quad + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[quad + 3] = _mm256_shuffle_ps(t[quad + 1], t[quad + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    // u[c] holds column c of rows 0-3 in its low half (column c + 4 in its high half); u[4 + c], rows 4-7.
    for (int j = 0; j < 4; j++) {
        v[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
        v[j + 4] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
    }
}

/// pk_keep_max (Activation.h) on eight lanes: max_ps(value, kept) is value only where value > kept
/// (kept on ties and on NaN); then NaN values win.
static inline PK_AVX2 __m256 pk_keep_max_avx2(__m256 kept, __m256 value) {
    __m256 larger = _mm256_max_ps(value, kept);
    return _mm256_blendv_ps(larger, value, _mm256_cmp_ps(value, value, _CMP_UNORD_Q));
}

/// Lanes 0, 2, ..., 14 of the sixteen floats `low` then `high`, in order: a stride-2 row read as two
/// vectors. Lanes 0, 2 of each 128-bit half of both, then the 64-bit pairs back in order.
static inline PK_AVX2 __m256 pk_even_lanes_avx2(__m256 low, __m256 high) {
    __m256 evens = _mm256_shuffle_ps(low, high, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(evens), _MM_SHUFFLE(3, 1, 2, 0)));
}

/// Lane j of the result is all ones for j < count (count in 0...8): masks for partial vectors.
static inline PK_AVX2 __m256i pk_lane_mask_avx2(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#endif
#endif
