// The Winograd transforms compiled for AVX2 + FMA: 8-float vectors in one register each.
#include "Gemm.h"
#include "Winograd.h"

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx2.h"

// An 8 x 8 transpose of which the first six columns are kept.
static inline PK_AVX2 void gather_avx2(float *d, const float *const *rows) {
    __m256 r[8];
    for (int lane = 0; lane < 8; lane++) r[lane] = _mm256_loadu_ps(rows[lane]);
    pk_transpose8x8_avx2(r);
    for (int j = 0; j < 6; j++) _mm256_storeu_ps(d + j * PK_NR, r[j]);
}

// The 4 x 4 transpose within each 128-bit half that takes four 8-lane columns to eight 4-float rows
// (lane k in the low half of x[k], lane k + 4 in its high half) and back.
static inline PK_AVX2 void transpose4_halves(__m256 x[4]) {
    __m256 t0 = _mm256_unpacklo_ps(x[0], x[1]), t1 = _mm256_unpackhi_ps(x[0], x[1]);
    __m256 t2 = _mm256_unpacklo_ps(x[2], x[3]), t3 = _mm256_unpackhi_ps(x[2], x[3]);
    x[0] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    x[1] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    x[2] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    x[3] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
}

static inline PK_AVX2 void gather4_avx2(float *d, const float *const *rows) {
    __m256 x[4];
    for (int k = 0; k < 4; k++)
        x[k] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(rows[k])), _mm_loadu_ps(rows[k + 4]), 1);
    transpose4_halves(x);
    for (int b = 0; b < 4; b++) _mm256_storeu_ps(d + b * PK_NR, x[b]);
}

static inline PK_AVX2 void scatter4_avx2(float *const *targets, const float *o) {
    __m256 x[4];
    for (int b = 0; b < 4; b++) x[b] = _mm256_loadu_ps(o + b * PK_NR);
    transpose4_halves(x);
    for (int k = 0; k < 4; k++) {
        _mm_storeu_ps(targets[k], _mm256_castps256_ps128(x[k]));
        _mm_storeu_ps(targets[k + 4], _mm256_extractf128_ps(x[k], 1));
    }
}

#define PK_WT_NAME(name) name##_avx2
#define PK_WT_TARGET PK_AVX2
#define PK_WT_ACTIVATE(activation, x) _mm256_storeu_ps((x), pk_activate_avx2(activation, _mm256_loadu_ps(x)))
#define PK_WT_GATHER(d, rows) gather_avx2(d, rows)
#define PK_WT_GATHER4(d, rows) gather4_avx2(d, rows)
#define PK_WT_SCATTER4(targets, o) scatter4_avx2(targets, o)
#include "WinogradTransforms.h"

static inline PK_AVX2 void transpose8_avx2(pk_wt_vector v[8]) {
    __m256 r[8];
    for (int i = 0; i < 8; i++) r[i] = (__m256)v[i];
    pk_transpose8x8_avx2(r);
    for (int i = 0; i < 8; i++) v[i] = (pk_wt_vector)r[i];
}

#define PK_WT_TRANSPOSE8(v) transpose8_avx2(v)
#include "WinogradBlockedTransforms.h"
#endif
