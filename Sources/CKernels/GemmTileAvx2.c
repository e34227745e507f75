// The AVX2 + FMA register tile: 6 output channels x 16 output pixels, accumulated in twelve registers.
#include "Gemm.h"

#ifdef PK_HAVE_AVX2_PATH
#include "ActivationAvx2.h"

// Stores one row's two vectors after the epilogue. Partial rows (n < 16) use masked loads and stores,
// so nothing past the output's last column is read or written.
static inline PK_AVX2 void finish_row(__m256 low, __m256 high, float *c, const float *residual, float bias,
                                      const pk_tile_epilogue *e, int n, __m256i mask_low, __m256i mask_high) {
    if (n == PK_NR) {
        if (!e->first) {
            low = _mm256_add_ps(low, _mm256_loadu_ps(c));
            high = _mm256_add_ps(high, _mm256_loadu_ps(c + 8));
        } else if (residual) {
            low = _mm256_add_ps(low, _mm256_loadu_ps(residual));
            high = _mm256_add_ps(high, _mm256_loadu_ps(residual + 8));
        }
        if (e->last) {
            low = pk_activate_avx2(e->activation, _mm256_add_ps(low, _mm256_set1_ps(bias)));
            high = pk_activate_avx2(e->activation, _mm256_add_ps(high, _mm256_set1_ps(bias)));
        }
        _mm256_storeu_ps(c, low);
        _mm256_storeu_ps(c + 8, high);
        return;
    }
    if (!e->first) {
        low = _mm256_add_ps(low, _mm256_maskload_ps(c, mask_low));
        high = _mm256_add_ps(high, _mm256_maskload_ps(c + 8, mask_high));
    } else if (residual) {
        low = _mm256_add_ps(low, _mm256_maskload_ps(residual, mask_low));
        high = _mm256_add_ps(high, _mm256_maskload_ps(residual + 8, mask_high));
    }
    if (e->last) {
        low = pk_activate_avx2(e->activation, _mm256_add_ps(low, _mm256_set1_ps(bias)));
        high = pk_activate_avx2(e->activation, _mm256_add_ps(high, _mm256_set1_ps(bias)));
    }
    _mm256_maskstore_ps(c, mask_low, low);
    _mm256_maskstore_ps(c + 8, mask_high, high);
}

#define PK_FMA_ROW(r, low, high)                                    \
    do {                                                            \
        __m256 a_r = _mm256_broadcast_ss(a + (r));                  \
        low = _mm256_fmadd_ps(a_r, b_low, low);                     \
        high = _mm256_fmadd_ps(a_r, b_high, high);                  \
    } while (0)

PK_AVX2 void pk_gemm_tile_avx2(int kc, const float *a, const float *b, size_t ldb, float *c, size_t ldc,
                               int m, int n, const pk_tile_epilogue *e) {
    __m256 c0l = _mm256_setzero_ps(), c0h = _mm256_setzero_ps(), c1l = _mm256_setzero_ps(),
           c1h = _mm256_setzero_ps(), c2l = _mm256_setzero_ps(), c2h = _mm256_setzero_ps(),
           c3l = _mm256_setzero_ps(), c3h = _mm256_setzero_ps(), c4l = _mm256_setzero_ps(),
           c4h = _mm256_setzero_ps(), c5l = _mm256_setzero_ps(), c5h = _mm256_setzero_ps();
    __m256i mask_low = pk_lane_mask_avx2(n), mask_high = pk_lane_mask_avx2(n - 8);
    if (n > 8) {
        for (int k = 0; k < kc; k++, a += PK_MR, b += ldb) {
            __m256 b_low = _mm256_loadu_ps(b), b_high = _mm256_loadu_ps(b + 8);
            PK_FMA_ROW(0, c0l, c0h); PK_FMA_ROW(1, c1l, c1h); PK_FMA_ROW(2, c2l, c2h);
            PK_FMA_ROW(3, c3l, c3h); PK_FMA_ROW(4, c4l, c4h); PK_FMA_ROW(5, c5l, c5h);
        }
    } else {
        // Half the work for a narrow last strip (a 7x7 layer's 49 pixels end with one).
        for (int k = 0; k < kc; k++, a += PK_MR, b += ldb) {
            __m256 b_low = _mm256_loadu_ps(b);
            c0l = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 0), b_low, c0l);
            c1l = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 1), b_low, c1l);
            c2l = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 2), b_low, c2l);
            c3l = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 3), b_low, c3l);
            c4l = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 4), b_low, c4l);
            c5l = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 5), b_low, c5l);
        }
    }
    __m256 rows[PK_MR][2] = {{c0l, c0h}, {c1l, c1h}, {c2l, c2h}, {c3l, c3h}, {c4l, c4h}, {c5l, c5h}};
    for (int r = 0; r < m; r++) {
        const float *residual = e->residual ? e->residual + (size_t)r * ldc : NULL;
        float bias = e->bias ? e->bias[r] : 0.0f;
        finish_row(rows[r][0], rows[r][1], c + (size_t)r * ldc, residual, bias, e, n, mask_low, mask_high);
    }
}

// Each strip's two vectors summed over even and odd k apart: four independent sums, so the loop
// does not wait out the FMA latency at every k as one running sum per vector would. One row reads
// each weight once: the loop is bound by memory, not by the multiplies.
PK_AVX2 void pk_gemv_avx2(int k, const float *x, const float *b, size_t b_next, int strips, float *sums) {
    for (int s = 0; s < strips; s++, b += b_next) {
        __m256 even_low = _mm256_setzero_ps(), even_high = _mm256_setzero_ps();
        __m256 odd_low = _mm256_setzero_ps(), odd_high = _mm256_setzero_ps();
        int i = 0;
        for (; i + 2 <= k; i += 2) {
            const float *row = b + (size_t)i * PK_NR;
            __m256 x0 = _mm256_broadcast_ss(x + i), x1 = _mm256_broadcast_ss(x + i + 1);
            even_low = _mm256_fmadd_ps(x0, _mm256_loadu_ps(row), even_low);
            even_high = _mm256_fmadd_ps(x0, _mm256_loadu_ps(row + 8), even_high);
            odd_low = _mm256_fmadd_ps(x1, _mm256_loadu_ps(row + PK_NR), odd_low);
            odd_high = _mm256_fmadd_ps(x1, _mm256_loadu_ps(row + PK_NR + 8), odd_high);
        }
        if (i < k) {
            __m256 x0 = _mm256_broadcast_ss(x + i);
            even_low = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b + (size_t)i * PK_NR), even_low);
            even_high = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b + (size_t)i * PK_NR + 8), even_high);
        }
        _mm256_storeu_ps(sums + s * PK_NR, _mm256_add_ps(even_low, odd_low));
        _mm256_storeu_ps(sums + s * PK_NR + 8, _mm256_add_ps(even_high, odd_high));
    }
}
#endif
