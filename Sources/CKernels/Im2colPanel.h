// The implicit GEMM's B operand: a block of the im2col matrix, gathered on the fly into scratch.
#ifndef PTHKIT_IM2COL_PANEL_H
#define PTHKIT_IM2COL_PANEL_H

#include "PthKitKernels.h"
#include <stddef.h>

/// dst[kk * ldb + j] = im2col[k0 + kk][p0 + j] for kk < kc, j < np (zero where the window is in the
/// padding), and zero for np <= j < ldb. Row k of im2col is (input channel, ky, kx) of one group;
/// column p is output pixel (p / out_width, p % out_width). `image_group` is the group's first input
/// channel of one image.
void pk_im2col_panel(const pk_conv2d_shape *shape, const float *image_group, int k0, int kc, int p0, int np,
                     float *dst, size_t ldb);

#endif
