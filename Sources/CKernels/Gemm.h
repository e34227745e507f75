// The implicit-GEMM convolution's internal contract: how weights are packed and what a register
// tile computes. Both ISAs share the packed layout, so a plan packed once runs on either path.
#ifndef PTHKIT_GEMM_H
#define PTHKIT_GEMM_H

#include "PthKitKernels.h"
#include <stddef.h>

/// Rows (output channels) and columns (output pixels) of one register tile: 6 x 16 keeps twelve
/// 8-float accumulators, two B vectors and one broadcast in AVX2's sixteen registers (MLAS's and
/// BLIS's Haswell sgemm shape).
enum { PK_MR = 6, PK_NR = 16 };

/// How a tile combines with what its output already holds. K is split in blocks; the first block
/// starts from the residual (read and written by the same tile, so output may alias residual),
/// later blocks add to the stored partial sums, and the last adds the bias and applies the activation.
typedef struct {
    const float *bias;      // this tile's first row's bias, or NULL
    const float *residual;  // same layout as the output (ldc), or NULL
    pk_activation activation;
    int first, last;
} pk_tile_epilogue;

/// c[r * ldc + j] (r < m <= PK_MR, j < n <= PK_NR) gets sum over k < kc of a[k * PK_MR + r] * b[k * ldb + j],
/// combined per `epilogue`. `a` is one packed micro-panel; b is one packed strip, whose rows hold
/// PK_NR floats (zero past n), so B loads never need a mask; only C's are partial.
typedef void (*pk_gemm_tile_fn)(int kc, const float *a, const float *b, size_t ldb, float *c, size_t ldc,
                                int m, int n, const pk_tile_epilogue *epilogue);

void pk_gemm_tile_portable(int kc, const float *a, const float *b, size_t ldb, float *c, size_t ldc,
                           int m, int n, const pk_tile_epilogue *epilogue);
#if defined(__x86_64__) || defined(__i386__)
#define PK_HAVE_AVX2_PATH 1
void pk_gemm_tile_avx2(int kc, const float *a, const float *b, size_t ldb, float *c, size_t ldc,
                       int m, int n, const pk_tile_epilogue *epilogue);
#endif

/// A macro tile: up to two A panels (`a_next` floats apart) by up to two B strips (`b_next` floats
/// apart), m <= PK_WIDE_MR rows and n <= PK_WIDE_NR columns, combined per `epilogue` as four tiles
/// would be. AVX-512 computes it in one pass: sixteen lanes make one B strip row a single vector, so
/// a 6 x 16 tile would hold only six accumulators, too few to hide the FMA latency.
enum { PK_WIDE_MR = 2 * PK_MR, PK_WIDE_NR = 2 * PK_NR };
typedef void (*pk_gemm_wide_tile_fn)(int kc, const float *a, size_t a_next, const float *b, size_t ldb, size_t b_next,
                                     float *c, size_t ldc, int m, int n, const pk_tile_epilogue *epilogue);

#if defined(__x86_64__) || defined(__i386__)
#define PK_HAVE_AVX512_PATH 1
void pk_gemm_wide_tile_avx512(int kc, const float *a, size_t a_next, const float *b, size_t ldb, size_t b_next,
                              float *c, size_t ldc, int m, int n, const pk_tile_epilogue *epilogue);
#endif

/// Whether the AVX-512 tiles run (pk_use_avx2() is true too then: the other kernels take AVX2).
int pk_use_avx512(void);

/// Whether this CPU executes 512-bit arithmetic at full width: not on AMD's Zen 4 (family 19h, the
/// only one of that family with AVX-512), which issues each 512-bit operation as two 256-bit halves,
/// so there AVX-512 tiles gain little over AVX2 ones. 0 on CPUs without AVX-512.
int pk_avx512_full_width(void);

/// One input row against `strips` (1 or 2) packed B strips of depth k (`b_next` floats apart, rows
/// of PK_NR floats): sums[s * PK_NR + j] = sum over k of x[k] * b_s[k * PK_NR + j]. A linear layer's
/// single row (a batch-1 classifier): each weight is read once, with no A panel of five zero rows.
typedef void (*pk_gemv_fn)(int k, const float *x, const float *b, size_t b_next, int strips, float *sums);

void pk_gemv_portable(int k, const float *x, const float *b, size_t b_next, int strips, float *sums);
#if defined(__x86_64__) || defined(__i386__)
void pk_gemv_avx2(int k, const float *x, const float *b, size_t b_next, int strips, float *sums);
void pk_gemv_avx512(int k, const float *x, const float *b, size_t b_next, int strips, float *sums);
#endif

/// The drivers' tile functions for this machine: `wide` is NULL where the macro tile runs as 6 x 16 tiles.
typedef struct {
    pk_gemm_tile_fn tile;
    pk_gemm_wide_tile_fn wide;
    pk_gemv_fn gemv;
} pk_gemm_tiles;

pk_gemm_tiles pk_gemm_tiles_for_cpu(void);

/// One macro tile (see pk_gemm_wide_tile_fn) through `tiles`.
static inline void pk_gemm_macro_tile(const pk_gemm_tiles *tiles, int kc, const float *a, size_t a_next,
                                      const float *b, size_t ldb, size_t b_next, float *c, size_t ldc, int m, int n,
                                      const pk_tile_epilogue *epilogue) {
    if (tiles->wide) {
        tiles->wide(kc, a, a_next, b, ldb, b_next, c, ldc, m, n, epilogue);
        return;
    }
    for (int panel = 0; panel * PK_MR < m; panel++) {
        for (int strip = 0; strip * PK_NR < n; strip++) {
            size_t at = (size_t)panel * PK_MR * ldc + (size_t)strip * PK_NR;
            pk_tile_epilogue part = *epilogue;
            part.bias = epilogue->bias ? epilogue->bias + panel * PK_MR : NULL;
            part.residual = epilogue->residual ? epilogue->residual + at : NULL;
            int rows = m - panel * PK_MR < PK_MR ? m - panel * PK_MR : PK_MR;
            int columns = n - strip * PK_NR < PK_NR ? n - strip * PK_NR : PK_NR;
            tiles->tile(kc, a + (size_t)panel * a_next, b + (size_t)strip * b_next, ldb, c + at, ldc, rows, columns,
                        &part);
        }
    }
}

/// The packed form of a non-depthwise convolution's weights: [group][6-row panel][k][6 rows].
size_t pk_gemm_packed_weights_count(const pk_conv2d_shape *shape);
void pk_gemm_pack_weights(const pk_conv2d_shape *shape, const float *weight, float *packed);

/// Whether the AVX2 + FMA path runs (decided once from the CPU, or forced by pk_kernels_select_isa).
int pk_use_avx2(void);

/// Convolutions with groups == in_channels == out_channels: weights stay [channel][kh * kw].
int pk_conv2d_is_depthwise(const pk_conv2d_shape *shape);

/// pk_linear_run plus a residual: output = activation(input x weight^T + bias + residual), where
/// `residual` (rows x out_features, or NULL) may be `output` itself.
void pk_linear_run_adding(int rows, int in_features, int out_features, const float *input, const float *packed,
                          const float *bias, const float *residual, pk_activation activation, float *output);

void pk_conv2d_run_gemm(const pk_conv2d_shape *shape, const float *input, const float *packed_weights,
                        const float *bias, const float *residual, pk_activation activation, float *output);
void pk_conv2d_run_depthwise(const pk_conv2d_shape *shape, const float *input, const float *weights,
                             const float *bias, const float *residual, pk_activation activation, float *output);

#endif
