// The channel-blocked kernels' internal contract: the register tiles each ISA provides.
#ifndef PTHKIT_CHANNEL_BLOCKS_H
#define PTHKIT_CHANNEL_BLOCKS_H

#include "Activation.h"
#include "PthKitKernels.h"
#include <stddef.h>

/// Output pixels of one pointwise tile; with two output blocks that is twelve accumulators, plus two
/// weight vectors and one broadcast, in AVX2's sixteen registers. AVX-512's tile takes twice the
/// pixels, each pixel's two blocks one vector, and two panels (PK_POINTWISE_BLOCKS_WIDE blocks) at once.
enum {
    PK_POINTWISE_PIXELS = 6,
    PK_POINTWISE_BLOCKS = 2,
    PK_POINTWISE_PIXELS_WIDE = 2 * PK_POINTWISE_PIXELS,
    PK_POINTWISE_BLOCKS_WIDE = 2 * PK_POINTWISE_BLOCKS,
};

/// One pointwise tile: `pixels` (1...PK_POINTWISE_PIXELS, or PK_POINTWISE_PIXELS_WIDE for AVX-512's)
/// consecutive pixels of `blocks` output blocks (1 or 2: one panel; AVX-512's also 3 or 4, two panels,
/// the second's weights 16 * in_channels floats after the first's). `x` is the first pixel's channel
/// block 0 (further input blocks `block_stride` floats apart), `w` the first panel's packed weights
/// [input channel][panel width], `bias` the panel's first channel's; `residual` (or NULL) and `out`
/// are the first pixel's in the panel's first output block, output blocks `block_stride` floats apart.
/// out = activation(sum + bias + residual).
typedef void (*pk_pointwise_tile_fn)(int in_blocks, size_t block_stride, const float *x, const float *w, int blocks,
                                     int pixels, const float *bias, const float *residual, pk_activation activation,
                                     float *out);

/// One output row `oy` of a depthwise convolution on one channel block: `in` is the block's
/// [in_height][in_width][8] plane, `w` its packed taps [kernel_height * kernel_width][8], `bias` its
/// eight biases; `residual` (or NULL) and `out` are the row's [out_width][8].
typedef void (*pk_depthwise_blocked_row_fn)(const pk_conv2d_shape *shape, const float *in, const float *w,
                                            const float *bias, int oy, const float *residual,
                                            pk_activation activation, float *out);

/// Output rows [oy_begin, oy_end) of a depthwise convolution on one channel block, computed from a
/// zero-padded copy of the input rows they read (DepthwisePaddedAvx2.c); arguments as
/// pk_depthwise_blocked_row_fn, `residual` and `out` starting at row oy_begin. Taken for small planes
/// and the kernels it specializes (pk_depthwise_padded_rows_take); each copy holds as many rows as fit
/// in PK_DEPTHWISE_PADDED_FLOATS (half of L1).
enum { PK_DEPTHWISE_PADDED_FLOATS = 4096 };

/// Depthwise planes this many columns wide or narrower are small: the AVX2 path reads them from
/// padded copies, and both paths split them between tasks by channel blocks alone (ChannelBlocks.c).
enum { PK_DEPTHWISE_SMALL_PLANE_WIDTH = 32 };
int pk_depthwise_padded_rows_take(const pk_conv2d_shape *shape);
typedef void (*pk_depthwise_padded_rows_fn)(const pk_conv2d_shape *shape, const float *in, const float *w,
                                            const float *bias, int oy_begin, int oy_end, const float *residual,
                                            pk_activation activation, float *out);

/// The kernel rows [*kh_begin, *kh_end) of output row `oy` whose input row (the returned iy0 plus
/// kh * dilation_height) lies inside the image; the others read padding (zeros) and are skipped.
static inline int pk_depthwise_row_taps(const pk_conv2d_shape *s, int oy, int *kh_begin, int *kh_end) {
    int iy0 = oy * s->stride_height - s->padding_height;
    *kh_begin = 0;
    *kh_end = s->kernel_height;
    while (*kh_begin < *kh_end && iy0 + *kh_begin * s->dilation_height < 0) ++*kh_begin;
    while (*kh_end > *kh_begin && iy0 + (*kh_end - 1) * s->dilation_height >= s->in_height) --*kh_end;
    return iy0;
}

/// Along one axis of a sliding window (convolution or pooling), the output positions [*begin, *end)
/// whose every tap lies inside the input: the rest are the borders, whose taps need clipping.
static inline void pk_window_interior(int in_size, int kernel, int stride, int padding, int dilation, int out_size,
                                      int *begin, int *end) {
    int last = in_size - 1 - (kernel - 1) * dilation + padding;
    *begin = (padding + stride - 1) / stride;
    *end = last < 0 ? 0 : last / stride + 1;
    if (*end > out_size) *end = out_size;
    if (*begin > *end) *begin = *end;
}

/// The output columns [*begin, *end) whose every tap lies inside the row: the rest are the borders.
static inline void pk_depthwise_interior_columns(const pk_conv2d_shape *s, int *begin, int *end) {
    pk_window_interior(s->in_width, s->kernel_width, s->stride_width, s->padding_width, s->dilation_width, s->out_width,
                       begin, end);
}

/// Grouped convolutions (not depthwise) whose output blocks each read whole input blocks (GroupedBlocked.c).
int pk_conv2d_is_grouped_blocked(const pk_conv2d_shape *shape);
size_t pk_grouped_blocked_packed_weights_count(const pk_conv2d_shape *shape);
void pk_grouped_blocked_pack_weights(const pk_conv2d_shape *shape, const float *weight, float *packed);
void pk_grouped_blocked_run(const pk_conv2d_shape *shape, const float *input, const float *packed, const float *bias,
                            const float *residual, pk_activation activation, float *output);

/// A 1x1 dense convolution without padding, at any stride (dilation moves no tap of a 1x1 kernel):
/// the pointwise kernel's, the strided ones after a gather (ChannelBlocks.c).
int pk_conv2d_is_blocked_pointwise(const pk_conv2d_shape *shape);

/// Dense (one group) convolutions with a window, not 1x1 and not Winograd's, and those that read
/// NCHW (pk_conv2d_blocked_reads_nchw) (DenseBlocked.c).
int pk_conv2d_is_dense_blocked(const pk_conv2d_shape *shape);
size_t pk_dense_blocked_packed_weights_count(const pk_conv2d_shape *shape);
void pk_dense_blocked_pack_weights(const pk_conv2d_shape *shape, const float *weight, float *packed);
void pk_dense_blocked_run(const pk_conv2d_shape *shape, const float *input, const float *packed, const float *bias,
                          const float *residual, pk_activation activation, float *output);

/// A dense tile: up to PK_DENSE_PIXELS output pixels by PK_DENSE_PANEL_BLOCKS output blocks (twelve
/// AVX2 accumulators, as the pointwise tile).
enum { PK_DENSE_PIXELS = 6, PK_DENSE_PANEL_BLOCKS = 2 };

/// What a dense tile reads: `in_blocks` input blocks of `lanes` channels (8, or 1 for NCHW input),
/// each a zero-padded plane [..][padded_width][lanes], `block_stride` floats apart; its output
/// blocks are `out_block_stride` floats apart.
typedef struct {
    const pk_conv2d_shape *shape;
    int lanes, in_blocks, padded_width;
    size_t block_stride, out_block_stride;
} pk_dense_tile;

/// `pixels` consecutive output pixels (1...PK_DENSE_PIXELS) of `blocks` output blocks (1 or 2):
/// `pixels_in[r]` is the top left corner of pixel r's window in the first input block, `w` the panel's
/// packed weights, `bias` its biases; `residual` (or NULL) and `out` the first pixel of its first block.
typedef void (*pk_dense_tile_fn)(const pk_dense_tile *tile, const float *const *pixels_in, const float *w,
                                 int blocks, int pixels, const float *bias, const float *residual,
                                 pk_activation activation, float *out);

/// Each of `planes` planes [height][width][lanes] of `source` (lanes 8 for channel blocks, 1 for
/// NCHW) into the middle of a zeroed [height + 2 * padding_height][width + 2 * padding_width][lanes]
/// plane of `destination`: the input the grouped and dense blocked convolutions read without
/// bounds checks.
void pk_planes_pad(const float *source, float *destination, size_t planes, size_t lanes, size_t height, size_t width,
                   size_t padding_height, size_t padding_width);

/// What a grouped row reads: `in_blocks` input blocks per output block, each a zero-padded plane
/// [in_height + 2 * padding_height][padded_width][8], `block_stride` floats apart.
typedef struct {
    const pk_conv2d_shape *shape;
    int in_blocks, padded_width;
    size_t block_stride;
} pk_grouped_row;

/// One output row `oy` of one output block of a grouped convolution: `in` is the block's first
/// input block's padded plane, `w` its packed weights [input block][tap][8 inputs][8 outputs], `bias`
/// its eight biases; `residual` (or NULL) and `out` are the row's [out_width][8].
typedef void (*pk_grouped_row_fn)(const pk_grouped_row *row, const float *in, const float *w, const float *bias,
                                  int oy, const float *residual, pk_activation activation, float *out);

/// out[l] = activation(sums[l] + bias[l] (+ residual[l])) for one pixel's channel block: how the
/// portable blocked kernels finish a pixel.
static inline void pk_finish_block_portable(const float *sums, const float *bias, const float *residual,
                                            pk_activation activation, float *out) {
    for (int l = 0; l < PK_CHANNEL_BLOCK; l++) {
        float value = sums[l] + bias[l];
        if (residual) value += residual[l];
        out[l] = pk_activate(activation, value);
    }
}

#if defined(__x86_64__) || defined(__i386__)
void pk_dense_blocked_tile_avx2(const pk_dense_tile *tile, const float *const *pixels_in, const float *w, int blocks,
                                int pixels, const float *bias, const float *residual, pk_activation activation,
                                float *out);
void pk_grouped_blocked_row_avx2(const pk_grouped_row *row, const float *in, const float *w, const float *bias,
                                 int oy, const float *residual, pk_activation activation, float *out);
/// A layer's last three output blocks, a full panel and the half panel after it (24 or 40 channels),
/// over `pixels` (1...PK_POINTWISE_THREE_BLOCK_PIXELS): `w` the full panel's packed weights, the half
/// panel's 16 * in_channels floats after them; otherwise as pk_pointwise_tile_fn with blocks = 3.
enum { PK_POINTWISE_THREE_BLOCK_PIXELS = 4 };
typedef void (*pk_pointwise_three_blocks_fn)(int in_blocks, size_t block_stride, const float *x, const float *w,
                                             int pixels, const float *bias, const float *residual,
                                             pk_activation activation, float *out);
void pk_pointwise_three_blocks_avx2(int in_blocks, size_t block_stride, const float *x, const float *w, int pixels,
                                    const float *bias, const float *residual, pk_activation activation, float *out);
void pk_pointwise_tile_avx2(int in_blocks, size_t block_stride, const float *x, const float *w, int blocks,
                            int pixels, const float *bias, const float *residual, pk_activation activation, float *out);
void pk_pointwise_tile_avx512(int in_blocks, size_t block_stride, const float *x, const float *w, int blocks,
                              int pixels, const float *bias, const float *residual, pk_activation activation, float *out);
void pk_depthwise_blocked_row_avx2(const pk_conv2d_shape *shape, const float *in, const float *w, const float *bias,
                                   int oy, const float *residual, pk_activation activation, float *out);
void pk_depthwise_padded_rows_avx2(const pk_conv2d_shape *shape, const float *in, const float *w, const float *bias,
                                   int oy_begin, int oy_end, const float *residual, pk_activation activation,
                                   float *out);
void pk_depthwise_blocked_row_avx512(const pk_conv2d_shape *shape, const float *in, const float *w, const float *bias,
                                     int oy, const float *residual, pk_activation activation, float *out);
/// One channel block's eight float64 sums over `pixels` consecutive pixels.
void pk_channel_block_sum_avx2(const float *from, size_t pixels, double *sums);
void pk_channel_block_sum_avx512(const float *from, size_t pixels, double *sums);
void pk_to_channel_blocks_avx2(const float *source, float *destination, size_t channels, size_t plane);
void pk_from_channel_blocks_avx2(const float *source, float *destination, size_t channels, size_t plane);
#endif

#endif
