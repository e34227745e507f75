// AVX2 + FMA rows of the channel-blocked grouped convolution (GroupedBlocked.c).
#include "ChannelBlocks.h"

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx2.h"

#define PK_AVX2_INLINE static inline __attribute__((always_inline)) PK_AVX2

/// Output pixels of one tile: eight accumulators, one weight vector and one broadcast. Each step is
/// eight FMAs against nine loads, which Zen 3's three load ports keep up with.
enum { GROUPED_PIXELS = 8 };

// `pixels` consecutive output pixels from `ox`, specialized by the dispatcher below for a constant
// count, so the accumulators stay in registers.
PK_AVX2_INLINE void grouped_tile(const pk_grouped_row *row, const float *in, const float *w, __m256 bias, int oy,
                                 int ox, const int pixels, const float *residual, pk_activation activation,
                                 float *out) {
    const pk_conv2d_shape *s = row->shape;
    __m256 sums[GROUPED_PIXELS];
    for (int j = 0; j < pixels; j++) sums[j] = _mm256_setzero_ps();
    size_t pixel_step = (size_t)s->stride_width * PK_CHANNEL_BLOCK;
    for (int ib = 0; ib < row->in_blocks; ib++) {
        for (int kh = 0; kh < s->kernel_height; kh++) {
            const float *input_row = in + (size_t)ib * row->block_stride +
                ((size_t)(oy * s->stride_height + kh * s->dilation_height) * row->padded_width +
                 (size_t)ox * s->stride_width) * PK_CHANNEL_BLOCK;
            for (int kw = 0; kw < s->kernel_width; kw++) {
                const float *window = input_row + (size_t)kw * s->dilation_width * PK_CHANNEL_BLOCK;
                for (int i = 0; i < PK_CHANNEL_BLOCK; i++, w += PK_CHANNEL_BLOCK) {
                    __m256 weights = _mm256_loadu_ps(w);
                    for (int j = 0; j < pixels; j++)
                        sums[j] = _mm256_fmadd_ps(_mm256_broadcast_ss(window + (size_t)j * pixel_step + i), weights, sums[j]);
                }
            }
        }
    }
    for (int j = 0; j < pixels; j++) {
        size_t at = (size_t)j * PK_CHANNEL_BLOCK;
        __m256 value = _mm256_add_ps(sums[j], bias);
        if (residual) value = _mm256_add_ps(value, _mm256_loadu_ps(residual + at));
        _mm256_storeu_ps(out + at, pk_activate_avx2(activation, value));
    }
}

PK_AVX2 void pk_grouped_blocked_row_avx2(const pk_grouped_row *row, const float *in, const float *w,
                                         const float *bias, int oy, const float *residual,
                                         pk_activation activation, float *out) {
    __m256 bias_v = _mm256_loadu_ps(bias);
    int width = row->shape->out_width;
    for (int ox = 0; ox < width; ox += GROUPED_PIXELS) {
        size_t at = (size_t)ox * PK_CHANNEL_BLOCK;
        const float *r = residual ? residual + at : NULL;
        switch (width - ox < GROUPED_PIXELS ? width - ox : GROUPED_PIXELS) {
        case 8: grouped_tile(row, in, w, bias_v, oy, ox, 8, r, activation, out + at); break;
        case 7: grouped_tile(row, in, w, bias_v, oy, ox, 7, r, activation, out + at); break;
        case 6: grouped_tile(row, in, w, bias_v, oy, ox, 6, r, activation, out + at); break;
        case 5: grouped_tile(row, in, w, bias_v, oy, ox, 5, r, activation, out + at); break;
        case 4: grouped_tile(row, in, w, bias_v, oy, ox, 4, r, activation, out + at); break;
        case 3: grouped_tile(row, in, w, bias_v, oy, ox, 3, r, activation, out + at); break;
        case 2: grouped_tile(row, in, w, bias_v, oy, ox, 2, r, activation, out + at); break;
        default: grouped_tile(row, in, w, bias_v, oy, ox, 1, r, activation, out + at); break;
        }
    }
}
#endif
