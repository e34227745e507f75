// The AVX-512 pointwise tile on channel blocks: one 16-float vector holds a pixel's two output
// blocks of a panel, so a tile of PK_POINTWISE_PIXELS_WIDE pixels keeps twelve accumulators (the
// AVX2 tile's six pixels would leave only six, too few to hide the FMA latency). Each input channel
// costs one weight load and one broadcast per pixel, as in the AVX2 tile, for twice the lanes.
#include "ChannelBlocks.h"

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx512.h"

// Specialized for a constant `pixels` and cheap `activation` (the dispatcher below), so the
// accumulators stay in registers and the epilogue has no branches.
PK_AVX512_INLINE void pointwise_panel_tile(int in_blocks, size_t block_stride, const float *x, const float *w,
                                           const int pixels, const float *bias, const float *residual,
                                           const pk_activation activation, float *out) {
    // Every loop over the pixels unrolls fully: one left rolled keeps `sums` in memory, and the
    // accumulators are then stored on every step of the input-channel loop.
    __m512 sums[PK_POINTWISE_PIXELS_WIDE];
    PK_UNROLL for (int r = 0; r < pixels; r++) sums[r] = _mm512_setzero_ps();
    for (int ib = 0; ib < in_blocks; ib++, x += block_stride) {
        for (int i = 0; i < PK_CHANNEL_BLOCK; i++, w += 2 * PK_CHANNEL_BLOCK) {
            __m512 weights = _mm512_loadu_ps(w);
            PK_UNROLL for (int r = 0; r < pixels; r++)
                sums[r] = _mm512_fmadd_ps(_mm512_set1_ps(x[r * PK_CHANNEL_BLOCK + i]), weights, sums[r]);
        }
    }
    // out = activation(sum + bias (+ residual)), the AVX2 tile's order; the low half is the panel's
    // first output block, the high half its second, block_stride floats further on.
    __m512 bias_v = _mm512_loadu_ps(bias);
    PK_UNROLL for (int r = 0; r < pixels; r++) {
        size_t at = (size_t)r * PK_CHANNEL_BLOCK;
        __m512 value = _mm512_add_ps(sums[r], bias_v);
        if (residual)
            value = _mm512_add_ps(value, pk_join_halves_avx512(_mm256_loadu_ps(residual + at),
                                                               _mm256_loadu_ps(residual + block_stride + at)));
        value = pk_activate_cheap_avx512(activation, value);
        _mm256_storeu_ps(out + at, pk_low_half_avx512(value));
        _mm256_storeu_ps(out + block_stride + at, pk_high_half_avx512(value));
    }
}

// Two panels at once: each broadcast input feeds two FMAs, so a step of the input-channel loop
// loads 2 weight vectors and 12 inputs for 24 FMAs (one panel's tile loads 13 for 12). The second
// panel holds `second_blocks` (1 or 2) output blocks: a layer's last panel may be half a vector,
// read with a masked load and stored as its low half.
PK_AVX512_INLINE void pointwise_pair_tile(int in_blocks, size_t block_stride, const float *x, const float *w,
                                          const int pixels, const int second_blocks, const float *bias,
                                          const float *residual, const pk_activation activation, float *out) {
    const int second_width = second_blocks * PK_CHANNEL_BLOCK;
    const __mmask16 second_lanes = pk_lane_mask_avx512(second_width);
    const float *w1 = w + (size_t)in_blocks * PK_CHANNEL_BLOCK * 2 * PK_CHANNEL_BLOCK;
    __m512 sums[PK_POINTWISE_PIXELS_WIDE], sums1[PK_POINTWISE_PIXELS_WIDE];
    PK_UNROLL for (int r = 0; r < pixels; r++) sums[r] = sums1[r] = _mm512_setzero_ps();
    for (int ib = 0; ib < in_blocks; ib++, x += block_stride) {
        for (int i = 0; i < PK_CHANNEL_BLOCK; i++, w += 2 * PK_CHANNEL_BLOCK, w1 += second_width) {
            __m512 weights = _mm512_loadu_ps(w), weights1 = _mm512_maskz_loadu_ps(second_lanes, w1);
            PK_UNROLL for (int r = 0; r < pixels; r++) {
                __m512 input = _mm512_set1_ps(x[r * PK_CHANNEL_BLOCK + i]);
                sums[r] = _mm512_fmadd_ps(input, weights, sums[r]);
                sums1[r] = _mm512_fmadd_ps(input, weights1, sums1[r]);
            }
        }
    }
    __m512 bias_v = _mm512_loadu_ps(bias), bias1 = _mm512_maskz_loadu_ps(second_lanes, bias + 2 * PK_CHANNEL_BLOCK);
    float *out1 = out + 2 * block_stride;
    const float *residual1 = residual ? residual + 2 * block_stride : NULL;
    PK_UNROLL for (int r = 0; r < pixels; r++) {
        size_t at = (size_t)r * PK_CHANNEL_BLOCK;
        __m512 value = _mm512_add_ps(sums[r], bias_v), value1 = _mm512_add_ps(sums1[r], bias1);
        if (residual) {
            value = _mm512_add_ps(value, pk_join_halves_avx512(_mm256_loadu_ps(residual + at),
                                                               _mm256_loadu_ps(residual + block_stride + at)));
            __m256 high = second_blocks == 2 ? _mm256_loadu_ps(residual1 + block_stride + at) : _mm256_setzero_ps();
            value1 = _mm512_add_ps(value1, pk_join_halves_avx512(_mm256_loadu_ps(residual1 + at), high));
        }
        value = pk_activate_avx512(activation, value);
        value1 = pk_activate_avx512(activation, value1);
        _mm256_storeu_ps(out + at, pk_low_half_avx512(value));
        _mm256_storeu_ps(out + block_stride + at, pk_high_half_avx512(value));
        _mm256_storeu_ps(out1 + at, pk_low_half_avx512(value1));
        if (second_blocks == 2) _mm256_storeu_ps(out1 + block_stride + at, pk_high_half_avx512(value1));
    }
}

#define PK_PIXELS_CASE(n) \
    case n: pointwise_panel_tile(in_blocks, block_stride, x, w, n, bias, residual, PK_ACTIVATION_NONE, out); break;

#define PK_PAIR_CASE(n, second) \
    case n: pointwise_pair_tile(in_blocks, block_stride, x, w, n, second, bias, residual, PK_ACTIVATION_NONE, out); break;

#define PK_PAIR_CASES(second)                                                                                \
    switch (pixels) {                                                                                        \
    PK_PAIR_CASE(12, second) PK_PAIR_CASE(11, second) PK_PAIR_CASE(10, second) PK_PAIR_CASE(9, second)      \
    PK_PAIR_CASE(8, second) PK_PAIR_CASE(7, second) PK_PAIR_CASE(6, second) PK_PAIR_CASE(5, second)          \
    PK_PAIR_CASE(4, second) PK_PAIR_CASE(3, second) PK_PAIR_CASE(2, second)                                  \
    default: pointwise_pair_tile(in_blocks, block_stride, x, w, 1, second, bias, residual, PK_ACTIVATION_NONE, out); break; \
    }

// Three or four output blocks: two panels. Full tiles of the second panel's full width get a
// specialized epilogue; the rest store their sums and take the activation as a second pass.
PK_AVX512 static void pointwise_pair(int in_blocks, size_t block_stride, const float *x, const float *w, int blocks,
                                     int pixels, const float *bias, const float *residual, pk_activation activation,
                                     float *out) {
    if (pixels == PK_POINTWISE_PIXELS_WIDE && blocks == 4) {
        PK_WITH_ANY_CONSTANT_ACTIVATION(activation, pointwise_pair_tile(in_blocks, block_stride, x, w,
                                                                        PK_POINTWISE_PIXELS_WIDE, 2, bias, residual, act, out))
        return;
    } else {
        if (blocks == 4) PK_PAIR_CASES(2) else PK_PAIR_CASES(1)
        if (activation == PK_ACTIVATION_NONE) return;
    }
    for (int b = 0; b < blocks; b++)
        pk_activate_stored_avx512(activation, out + (size_t)b * block_stride, pixels * PK_CHANNEL_BLOCK);
}

PK_AVX512 void pk_pointwise_tile_avx512(int in_blocks, size_t block_stride, const float *x, const float *w, int blocks,
                                        int pixels, const float *bias, const float *residual, pk_activation activation,
                                        float *out) {
    if (blocks > 2) {
        pointwise_pair(in_blocks, block_stride, x, w, blocks, pixels, bias, residual, activation, out);
        return;
    }
    // A last panel of one block (out_channels an odd number of blocks) is half a vector: AVX2's.
    if (blocks == 1) {
        for (int p = 0; p < pixels; p += PK_POINTWISE_PIXELS) {
            size_t at = (size_t)p * PK_CHANNEL_BLOCK;
            int count = pixels - p < PK_POINTWISE_PIXELS ? pixels - p : PK_POINTWISE_PIXELS;
            pk_pointwise_tile_avx2(in_blocks, block_stride, x + at, w, 1, count, bias, residual ? residual + at : NULL,
                                   activation, out + at);
        }
        return;
    }
    if (pixels == PK_POINTWISE_PIXELS_WIDE) {
        PK_WITH_CONSTANT_ACTIVATION(activation, pointwise_panel_tile(in_blocks, block_stride, x, w,
                                                                     PK_POINTWISE_PIXELS_WIDE, bias, residual, act, out))
        if (pk_activation_is_cheap(activation)) return;
    } else {
        // A pixel block's last tile: sums stored, then the activation as a second pass.
        switch (pixels) {
        PK_PIXELS_CASE(11) PK_PIXELS_CASE(10) PK_PIXELS_CASE(9) PK_PIXELS_CASE(8) PK_PIXELS_CASE(7)
        PK_PIXELS_CASE(6) PK_PIXELS_CASE(5) PK_PIXELS_CASE(4) PK_PIXELS_CASE(3) PK_PIXELS_CASE(2)
        default: pointwise_panel_tile(in_blocks, block_stride, x, w, 1, bias, residual, PK_ACTIVATION_NONE, out); break;
        }
        if (activation == PK_ACTIVATION_NONE) return;
    }
    pk_activate_stored_avx512(activation, out, pixels * PK_CHANNEL_BLOCK);
    pk_activate_stored_avx512(activation, out + block_stride, pixels * PK_CHANNEL_BLOCK);
}

// One channel block's float64 sums over `pixels` pixels, as mean_task (ChannelBlocks.c) takes them.
// Four sums in flight, so the additions' latency is not the limit (the scalar loop ran one block at 4
// cycles a pixel).
PK_AVX512 void pk_channel_block_sum_avx512(const float *from, size_t pixels, double *sums) {
    __m512d part[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd()};
    size_t p = 0;
    for (; p + 4 <= pixels; p += 4)
        PK_UNROLL for (int r = 0; r < 4; r++)
            part[r] = _mm512_add_pd(part[r], _mm512_cvtps_pd(_mm256_loadu_ps(from + (p + (size_t)r) * PK_CHANNEL_BLOCK)));
    for (; p < pixels; p++) part[0] = _mm512_add_pd(part[0], _mm512_cvtps_pd(_mm256_loadu_ps(from + p * PK_CHANNEL_BLOCK)));
    _mm512_storeu_pd(sums, _mm512_add_pd(_mm512_add_pd(part[0], part[1]), _mm512_add_pd(part[2], part[3])));
}
#endif
