// Depthwise convolution (one filter per channel) vectorized across output pixels.
#ifndef PTHKIT_DEPTHWISE_H
#define PTHKIT_DEPTHWISE_H

#include "PthKitKernels.h"
#include <stddef.h>

/// One channel's input, zero-padded on every side, with each padded row stored as `stride_width`
/// phases (columns c with c % stride == q, in order) so a strided window reads contiguous floats:
/// padded column ox * stride + kx * dilation is phase (kx * dilation) % stride, index
/// ox + (kx * dilation) / stride. Each phase has `phase_width` floats, at least 32 past the last
/// one any output reads, so 32-pixel blocks never leave the row.
typedef struct {
    const float *floats;
    size_t row_floats, phase_width;
    const ptrdiff_t *tap_offsets;  // per tap (ky, kx): where its window starts for output row 0, pixel 0
} pk_padded_plane;

/// out[ox] = activation(sum over taps + bias (+ residual[ox])) for one output row `oy`.
typedef void (*pk_depthwise_row_fn)(const pk_conv2d_shape *shape, const pk_padded_plane *plane,
                                    const float *taps, int oy, float bias, const float *residual,
                                    pk_activation activation, float *out);

void pk_depthwise_row_portable(const pk_conv2d_shape *shape, const pk_padded_plane *plane, const float *taps,
                               int oy, float bias, const float *residual, pk_activation activation, float *out);
#if defined(__x86_64__) || defined(__i386__)
/// out[i] = source[2 * i] for i < count, reading nothing past source[2 * (count - 1)]: a stride-2
/// convolution's input row split into its phases.
void pk_gather_stride2_avx2(const float *source, int count, float *out);
void pk_depthwise_row_avx2(const pk_conv2d_shape *shape, const pk_padded_plane *plane, const float *taps,
                           int oy, float bias, const float *residual, pk_activation activation, float *out);
/// Whether pk_depthwise_plane_direct_avx2 runs this shape: small planes, horizontal stride 1 or 2.
int pk_depthwise_direct_avx2_fits(const pk_conv2d_shape *shape);
/// One channel's whole output plane, read straight from its unpadded input plane; `zeros` holds
/// in_width + 16 zeros, read in place of window rows in the padding.
void pk_depthwise_plane_direct_avx2(const pk_conv2d_shape *shape, const float *input, const float *zeros,
                                    const float *taps, float bias, const float *residual,
                                    pk_activation activation, float *out);
#endif

#endif
