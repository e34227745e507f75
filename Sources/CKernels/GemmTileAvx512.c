// The AVX-512 macro tile: 12 output rows (two A panels) x 32 columns (two B strips) in 24
// accumulators. Per k it loads two B vectors and broadcasts twelve A values into 24 FMAs, where the
// AVX2 tile's twelve FMAs take two loads and six broadcasts: fewer loads per FMA, and enough
// independent sums to keep both FMA units busy through their latency.
#include "Gemm.h"

#ifdef PK_HAVE_AVX512_PATH
#include "ActivationAvx512.h"

// Specialized below for constant `panels` and `strips` (1 or 2 each) and a cheap `activation`, so
// the accumulators stay in registers, the row loops unroll and the epilogue has no branches.
PK_AVX512_INLINE void wide_tile(int kc, const float *a, size_t a_next, const float *b, size_t ldb, size_t b_next,
                                float *c, size_t ldc, int m, int n, const pk_tile_epilogue *e, const int panels,
                                const int strips, const pk_activation activation) {
    // Every loop over the rows unrolls fully: one left rolled keeps `sums` in memory.
    __m512 sums[PK_WIDE_MR][2];
    PK_UNROLL for (int r = 0; r < panels * PK_MR; r++) sums[r][0] = sums[r][1] = _mm512_setzero_ps();
    const float *a1 = a + a_next, *b1 = b + b_next;
    for (int k = 0; k < kc; k++, a += PK_MR, a1 += PK_MR, b += ldb, b1 += ldb) {
        __m512 b_0 = _mm512_loadu_ps(b), b_1 = strips == 2 ? _mm512_loadu_ps(b1) : b_0;
        PK_UNROLL for (int r = 0; r < PK_MR; r++) {
            __m512 x = _mm512_set1_ps(a[r]);
            sums[r][0] = _mm512_fmadd_ps(x, b_0, sums[r][0]);
            if (strips == 2) sums[r][1] = _mm512_fmadd_ps(x, b_1, sums[r][1]);
        }
        if (panels == 2) {
            PK_UNROLL for (int r = 0; r < PK_MR; r++) {
                __m512 x = _mm512_set1_ps(a1[r]);
                sums[PK_MR + r][0] = _mm512_fmadd_ps(x, b_0, sums[PK_MR + r][0]);
                if (strips == 2) sums[PK_MR + r][1] = _mm512_fmadd_ps(x, b_1, sums[PK_MR + r][1]);
            }
        }
    }
    // Partial columns are masked, so nothing past the output's last column is read or written.
    __mmask16 masks[2] = {pk_lane_mask_avx512(n), pk_lane_mask_avx512(n - PK_NR)};
    PK_UNROLL for (int r = 0; r < panels * PK_MR; r++) {
        if (r >= m) break;
        float *row = c + (size_t)r * ldc;
        const float *residual = e->residual ? e->residual + (size_t)r * ldc : NULL;
        __m512 bias = _mm512_set1_ps(e->bias ? e->bias[r] : 0.0f);
        PK_UNROLL for (int s = 0; s < strips; s++) {
            __m512 value = sums[r][s];
            if (!e->first) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(masks[s], row + s * PK_NR));
            else if (residual) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(masks[s], residual + s * PK_NR));
            if (e->last) value = pk_activate_cheap_avx512(activation, _mm512_add_ps(value, bias));
            _mm512_mask_storeu_ps(row + s * PK_NR, masks[s], value);
        }
    }
}

PK_AVX512 void pk_gemm_wide_tile_avx512(int kc, const float *a, size_t a_next, const float *b, size_t ldb,
                                        size_t b_next, float *c, size_t ldc, int m, int n,
                                        const pk_tile_epilogue *e) {
    int two_panels = m > PK_MR, two_strips = n > PK_NR;
    if (two_panels && two_strips) {
        PK_WITH_CONSTANT_ACTIVATION(e->activation, wide_tile(kc, a, a_next, b, ldb, b_next, c, ldc, m, n, e, 2, 2, act))
    } else if (two_panels) {
        wide_tile(kc, a, a_next, b, ldb, b_next, c, ldc, m, n, e, 2, 1, PK_ACTIVATION_NONE);
    } else if (two_strips) {
        wide_tile(kc, a, a_next, b, ldb, b_next, c, ldc, m, n, e, 1, 2, PK_ACTIVATION_NONE);
    } else {
        wide_tile(kc, a, a_next, b, ldb, b_next, c, ldc, m, n, e, 1, 1, PK_ACTIVATION_NONE);
    }
    // The activations the tile did not apply in registers, as a second pass over what it stored.
    int applied = two_panels && two_strips && pk_activation_is_cheap(e->activation);
    if (e->last && !applied && e->activation != PK_ACTIVATION_NONE)
        for (int r = 0; r < m; r++) pk_activate_stored_avx512(e->activation, c + (size_t)r * ldc, n);
}

// A strip row is one vector: four running sums per strip (k modulo 4), so the loop does not wait out
// the FMA latency at every k. One row reads each weight once: memory, not the multiplies, bounds it.
PK_AVX512 void pk_gemv_avx512(int k, const float *x, const float *b, size_t b_next, int strips, float *sums) {
    for (int s = 0; s < strips; s++, b += b_next) {
        __m512 part[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        int i = 0;
        for (; i + 4 <= k; i += 4)
            PK_UNROLL for (int u = 0; u < 4; u++)
                part[u] = _mm512_fmadd_ps(_mm512_set1_ps(x[i + u]), _mm512_loadu_ps(b + (size_t)(i + u) * PK_NR), part[u]);
        for (; i < k; i++) part[0] = _mm512_fmadd_ps(_mm512_set1_ps(x[i]), _mm512_loadu_ps(b + (size_t)i * PK_NR), part[0]);
        _mm512_storeu_ps(sums + s * PK_NR, _mm512_add_ps(_mm512_add_ps(part[0], part[1]), _mm512_add_ps(part[2], part[3])));
    }
}
#endif
