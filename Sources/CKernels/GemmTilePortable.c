// The portable register tile: plain loops over a 6 x 16 block that compilers turn into SIMD (NEON
// on Apple silicon, SSE on baseline x86-64).
#include "Gemm.h"
#include "Activation.h"

void pk_gemm_tile_portable(int kc, const float *a, const float *b, size_t ldb, float *c, size_t ldc,
                           int m, int n, const pk_tile_epilogue *e) {
    float sums[PK_MR][PK_NR] = {{0}};
    for (int k = 0; k < kc; k++, a += PK_MR, b += ldb)
        for (int r = 0; r < PK_MR; r++)
            for (int j = 0; j < PK_NR; j++) sums[r][j] += a[r] * b[j];
    for (int r = 0; r < m; r++) {
        float *row = c + (size_t)r * ldc;
        const float *residual = e->residual ? e->residual + (size_t)r * ldc : NULL;
        float bias = e->bias ? e->bias[r] : 0.0f;
        for (int j = 0; j < n; j++) {
            float value = sums[r][j] + (e->first ? (residual ? residual[j] : 0.0f) : row[j]);
            row[j] = e->last ? pk_activate(e->activation, value + bias) : value;
        }
    }
}

void pk_gemv_portable(int k, const float *x, const float *b, size_t b_next, int strips, float *sums) {
    for (int s = 0; s < strips; s++, b += b_next) {
        float row[PK_NR] = {0};
        for (int i = 0; i < k; i++)
            for (int j = 0; j < PK_NR; j++) row[j] += x[i] * b[(size_t)i * PK_NR + j];
        for (int j = 0; j < PK_NR; j++) sums[s * PK_NR + j] = row[j];
    }
}
