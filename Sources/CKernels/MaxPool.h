// Max pooling's per-ISA plane kernels (MaxPool.c).
#ifndef PTHKIT_MAX_POOL_H
#define PTHKIT_MAX_POOL_H

#include "PthKitKernels.h"
#include <math.h>
#include <stddef.h>

/// Floats past a line's last tap that vector loads may read: -inf, so they change nothing. The
/// AVX-512 path reads up to 31 past a window's first tap (two vectors at stride 2) and writes up to
/// 15 floats past the last column.
enum { PK_MAX_POOL_LINE_SLACK = 40 };

#if defined(__x86_64__) || defined(__i386__)
/// The 16-float vectors the AVX-512 row path keeps for one output row, or 0 when the pool takes the
/// line path instead.
size_t pk_max_pool_row_vectors(const pk_pool2d_shape *shape);
/// One plane's output rows [oy_begin, oy_end); dilation 1 and stride 1 or 2 across. `lines` (64-byte aligned) holds
/// max(rows * line_floats, 16 * pk_max_pool_row_vectors) floats: the row path's vectors, or the
/// line path's `rows` lines filled before any is reduced.
void pk_max_pool_plane_avx512(const pk_pool2d_shape *shape, const float *plane, float *output, float *lines, int rows,
                              size_t line_floats, int oy_begin, int oy_end);
#endif

#endif
