// The implicit GEMM's B operand: a block of the im2col matrix, gathered on the fly into scratch.
#ifndef PTHKIT_IM2COL_PANEL_H
#define PTHKIT_IM2COL_PANEL_H

#include "PthKitKernels.h"
#include <stddef.h>

/// Largest pixel count of one panel.
enum { PK_PANEL_PIXELS_MAX = 512 };

/// Packs im2col[k0 + kk][p0 + j] (kk < kc, j < np <= PK_PANEL_PIXELS_MAX; zero where the window is
/// in the padding) as strips of PK_NR pixels, each strip kc rows of PK_NR floats in a row:
/// dst[(j / PK_NR) * kc * PK_NR + kk * PK_NR + j % PK_NR], the last strip zero-filled past np. A tile
/// then streams its B operand from consecutive memory. Row k of im2col is (input channel, ky, kx)
/// of one group; column p is output pixel (p / out_width, p % out_width). `image_group` is the
/// group's first input channel of one image.
void pk_im2col_panel(const pk_conv2d_shape *shape, const float *image_group, int k0, int kc, int p0, int np,
                     float *dst);

#endif
