// The AVX2 + FMA tile of the channel-blocked dense convolution (DenseBlocked.c).
#include "ChannelBlocks.h"

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx2.h"

#define PK_AVX2_INLINE static inline __attribute__((always_inline)) PK_AVX2

// Specialized by the dispatcher below for constant `blocks` and `pixels`, so the accumulators stay in
// registers, and for the input's lanes (a block, or one channel for NCHW input). Per input channel:
// two weight loads and `pixels` broadcasts for 2 x `pixels` FMAs.
PK_AVX2_INLINE void dense_tile(const pk_dense_tile *tile, const float *const *pixels_in, const float *w,
                               const int lanes, const int blocks, const int pixels, const float *bias,
                               const float *residual, pk_activation activation, float *out) {
    const pk_conv2d_shape *s = tile->shape;
    __m256 sums[PK_DENSE_PIXELS][PK_DENSE_PANEL_BLOCKS];
    for (int r = 0; r < pixels; r++) sums[r][0] = sums[r][1] = _mm256_setzero_ps();
    const float *in[PK_DENSE_PIXELS];
    for (int r = 0; r < pixels; r++) in[r] = pixels_in[r];
    size_t row_step = (size_t)s->dilation_height * tile->padded_width * (size_t)lanes;
    size_t tap_step = (size_t)s->dilation_width * (size_t)lanes;
    for (int ib = 0; ib < tile->in_blocks; ib++) {
        for (int kh = 0; kh < s->kernel_height; kh++) {
            size_t row = (size_t)ib * tile->block_stride + (size_t)kh * row_step;
            for (int kw = 0; kw < s->kernel_width; kw++) {
                size_t offset = row + (size_t)kw * tap_step;
                for (int i = 0; i < lanes; i++, w += blocks * PK_CHANNEL_BLOCK) {
                    __m256 w0 = _mm256_loadu_ps(w), w1 = blocks == 2 ? _mm256_loadu_ps(w + PK_CHANNEL_BLOCK) : w0;
                    for (int r = 0; r < pixels; r++) {
                        __m256 a = _mm256_broadcast_ss(in[r] + offset + i);
                        sums[r][0] = _mm256_fmadd_ps(a, w0, sums[r][0]);
                        if (blocks == 2) sums[r][1] = _mm256_fmadd_ps(a, w1, sums[r][1]);
                    }
                }
            }
        }
    }
    for (int b = 0; b < blocks; b++) {
        __m256 bias_b = _mm256_loadu_ps(bias + b * PK_CHANNEL_BLOCK);
        for (int r = 0; r < pixels; r++) {
            size_t at = (size_t)b * tile->out_block_stride + (size_t)r * PK_CHANNEL_BLOCK;
            __m256 value = _mm256_add_ps(sums[r][b], bias_b);
            if (residual) value = _mm256_add_ps(value, _mm256_loadu_ps(residual + at));
            _mm256_storeu_ps(out + at, pk_activate_avx2(activation, value));
        }
    }
}

#define PK_DENSE_CASES(lanes, blocks)                                                                     \
    switch (pixels) {                                                                                     \
    case 6: dense_tile(tile, pixels_in, w, lanes, blocks, 6, bias, residual, activation, out); return;    \
    case 5: dense_tile(tile, pixels_in, w, lanes, blocks, 5, bias, residual, activation, out); return;    \
    case 4: dense_tile(tile, pixels_in, w, lanes, blocks, 4, bias, residual, activation, out); return;    \
    case 3: dense_tile(tile, pixels_in, w, lanes, blocks, 3, bias, residual, activation, out); return;    \
    case 2: dense_tile(tile, pixels_in, w, lanes, blocks, 2, bias, residual, activation, out); return;    \
    default: dense_tile(tile, pixels_in, w, lanes, blocks, 1, bias, residual, activation, out); return;   \
    }

_Static_assert(PK_DENSE_PIXELS == 6 && PK_DENSE_PANEL_BLOCKS == 2, "the cases below cover the tile's sizes");

PK_AVX2 void pk_dense_blocked_tile_avx2(const pk_dense_tile *tile, const float *const *pixels_in, const float *w,
                                        int blocks, int pixels, const float *bias, const float *residual,
                                        pk_activation activation, float *out) {
    if (tile->lanes == 1) {
        if (blocks == 2) PK_DENSE_CASES(1, 2)
        PK_DENSE_CASES(1, 1)
    }
    if (blocks == 2) PK_DENSE_CASES(PK_CHANNEL_BLOCK, 2)
    PK_DENSE_CASES(PK_CHANNEL_BLOCK, 1)
}
#endif
