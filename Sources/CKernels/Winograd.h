// Winograd F(4x4, 3x3) for 3x3 stride-1 convolutions: each 4x4 output block costs 36 products per
// (input, output) channel pair instead of 144, at the price of transforms on input and output.
#ifndef PTHKIT_WINOGRAD_H
#define PTHKIT_WINOGRAD_H

#include "PthKitKernels.h"
#include <stddef.h>

/// Whether `shape` runs as Winograd F(4x4, 3x3): decided from the shape alone, so packing and
/// running agree on one machine and across ISAs.
int pk_conv2d_uses_winograd(const pk_conv2d_shape *shape);

/// Transformed weights: [36 points][6-row panel][in_channels][6 rows], the GEMM's panel layout per point.
size_t pk_winograd_packed_weights_count(const pk_conv2d_shape *shape);
void pk_winograd_pack_weights(const pk_conv2d_shape *shape, const float *weight, float *packed);

/// Eight floats: the transforms' vector (GCC and Clang vector extensions, whatever the target has).
typedef float pk_wt_vector __attribute__((vector_size(32)));
typedef int pk_wt_ivector __attribute__((vector_size(32)));

/// The input and output transforms of one strip of PK_NR output blocks (WinogradTransforms.h).
typedef void (*pk_winograd_input_fn)(const pk_conv2d_shape *shape, const float *image, const int *top,
                                     const int *left, int count, float *v);
typedef void (*pk_winograd_output_fn)(const float *m, int rows, int channels, size_t plane, int out_width,
                                      const float *bias, const float *residual, pk_activation activation, float *out,
                                      const size_t *offset, const int *block_height, const int *block_width,
                                      int count);

void pk_winograd_transform_input_portable(const pk_conv2d_shape *shape, const float *image, const int *top,
                                          const int *left, int count, float *v);
void pk_winograd_transform_output_portable(const float *m, int rows, int channels, size_t plane, int out_width,
                                           const float *bias, const float *residual, pk_activation activation,
                                           float *out, const size_t *offset, const int *block_height,
                                           const int *block_width, int count);
/// The same on the channel-blocked layout (WinogradBlockedTransforms.h).
void pk_winograd_transform_input_blocked_portable(const pk_conv2d_shape *shape, const float *image, const int *top,
                                                  const int *left, int count, float *v);
void pk_winograd_transform_output_blocked_portable(const float *m, int rows, int channels, size_t plane,
                                                   int out_width, const float *bias, const float *residual,
                                                   pk_activation activation, float *out, const size_t *offset,
                                                   const int *block_height, const int *block_width, int count);
#if defined(__x86_64__) || defined(__i386__)
void pk_winograd_transform_input_blocked_avx2(const pk_conv2d_shape *shape, const float *image, const int *top,
                                              const int *left, int count, float *v);
void pk_winograd_transform_output_blocked_avx2(const float *m, int rows, int channels, size_t plane, int out_width,
                                               const float *bias, const float *residual, pk_activation activation,
                                               float *out, const size_t *offset, const int *block_height,
                                               const int *block_width, int count);
void pk_winograd_transform_input_avx2(const pk_conv2d_shape *shape, const float *image, const int *top,
                                      const int *left, int count, float *v);
void pk_winograd_transform_output_avx2(const float *m, int rows, int channels, size_t plane, int out_width,
                                       const float *bias, const float *residual, pk_activation activation, float *out,
                                       const size_t *offset, const int *block_height, const int *block_width,
                                       int count);
#endif

void pk_conv2d_run_winograd(const pk_conv2d_shape *shape, const float *input, const float *packed_weights,
                            const float *bias, const float *residual, pk_activation activation, float *output);

/// Whether pk_conv2d_run_winograd_blocked takes `shape`: a Winograd shape whose channel counts are
/// whole channel blocks. Its weights are packed as for pk_conv2d_run_winograd.
int pk_conv2d_winograd_blocked_fits(const pk_conv2d_shape *shape);
/// pk_conv2d_run_winograd on channel-blocked input, residual and output (`output` may alias `residual`).
void pk_conv2d_run_winograd_blocked(const pk_conv2d_shape *shape, const float *input, const float *packed_weights,
                                    const float *bias, const float *residual, pk_activation activation,
                                    float *output);

#endif
