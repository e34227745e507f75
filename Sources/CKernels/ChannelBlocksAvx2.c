// AVX2 + FMA tiles of the channel-blocked kernels: one 8-float vector is one pixel's channel block.
#include "ChannelBlocks.h"

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx2.h"

#define PK_AVX2_INLINE static inline __attribute__((always_inline)) PK_AVX2

// out = activation(sum + bias (+ residual)): the reference path's order, bias inside the convolution.
PK_AVX2_INLINE void finish(__m256 sum, __m256 bias, const float *residual, pk_activation activation, float *out) {
    __m256 value = _mm256_add_ps(sum, bias);
    if (residual) value = _mm256_add_ps(value, _mm256_loadu_ps(residual));
    _mm256_storeu_ps(out, pk_activate_avx2(activation, value));
}

// The next tile's input in this channel block (its pixels follow this tile's), fetched while this
// one computes. A tile reads a few pixels from each of in_blocks planes a plane apart, too many short
// streams for the hardware prefetchers: where the input came from memory (batch 8, past the caches)
// each tile waited on it. Measured on two threads at batch 8 (Zen 3, min of 30): 256 -> 64 at 56x56
// 1340-1500 -> 720-830 us an image, 512 -> 128 at 28x28 880-1130 -> 630, 256 -> 256 at 56x56
// 3000-3300 -> 2490-2710; batch 1 unchanged or faster. The last byte too: a tile need not start on
// a cache line.
PK_AVX2_INLINE void prefetch_next_tile(const float *next, const int pixels) {
    const char *at = (const char *)next;
    const int bytes = pixels * PK_CHANNEL_BLOCK * (int)sizeof(float);
    for (int offset = 0; offset < bytes; offset += 64) _mm_prefetch(at + offset, _MM_HINT_T0);
    _mm_prefetch(at + bytes - 1, _MM_HINT_T0);
}

// Specialized by the dispatcher below for constant `blocks` and `pixels`, so the accumulators stay in
// registers and the pixel loops unroll.
PK_AVX2_INLINE void pointwise_tile(int in_blocks, size_t block_stride, const float *x, const float *w,
                                   const int blocks, const int pixels, const float *bias, const float *residual,
                                   pk_activation activation, float *out) {
    __m256 sums[PK_POINTWISE_PIXELS][PK_POINTWISE_BLOCKS];
    for (int r = 0; r < pixels; r++) {
        sums[r][0] = _mm256_setzero_ps();
        sums[r][1] = _mm256_setzero_ps();
    }
    for (int ib = 0; ib < in_blocks; ib++, x += block_stride) {
        prefetch_next_tile(x + pixels * PK_CHANNEL_BLOCK, pixels);
        for (int i = 0; i < PK_CHANNEL_BLOCK; i++, w += blocks * PK_CHANNEL_BLOCK) {
            __m256 w0 = _mm256_loadu_ps(w), w1 = blocks == 2 ? _mm256_loadu_ps(w + PK_CHANNEL_BLOCK) : w0;
            for (int r = 0; r < pixels; r++) {
                __m256 a = _mm256_broadcast_ss(x + r * PK_CHANNEL_BLOCK + i);
                sums[r][0] = _mm256_fmadd_ps(a, w0, sums[r][0]);
                if (blocks == 2) sums[r][1] = _mm256_fmadd_ps(a, w1, sums[r][1]);
            }
        }
    }
    for (int b = 0; b < blocks; b++) {
        __m256 bias_b = _mm256_loadu_ps(bias + b * PK_CHANNEL_BLOCK);
        for (int r = 0; r < pixels; r++) {
            size_t at = (size_t)b * block_stride + (size_t)r * PK_CHANNEL_BLOCK;
            finish(sums[r][b], bias_b, residual ? residual + at : NULL, activation, out + at);
        }
    }
}

#define PK_POINTWISE_CASES(blocks)                                                                        \
    switch (pixels) {                                                                                     \
    case 6: pointwise_tile(in_blocks, block_stride, x, w, blocks, 6, bias, residual, activation, out); return; \
    case 5: pointwise_tile(in_blocks, block_stride, x, w, blocks, 5, bias, residual, activation, out); return; \
    case 4: pointwise_tile(in_blocks, block_stride, x, w, blocks, 4, bias, residual, activation, out); return; \
    case 3: pointwise_tile(in_blocks, block_stride, x, w, blocks, 3, bias, residual, activation, out); return; \
    case 2: pointwise_tile(in_blocks, block_stride, x, w, blocks, 2, bias, residual, activation, out); return; \
    default: pointwise_tile(in_blocks, block_stride, x, w, blocks, 1, bias, residual, activation, out); return; \
    }

PK_AVX2 void pk_pointwise_tile_avx2(int in_blocks, size_t block_stride, const float *x, const float *w, int blocks,
                                    int pixels, const float *bias, const float *residual, pk_activation activation,
                                    float *out) {
    if (blocks == 2) PK_POINTWISE_CASES(2)
    PK_POINTWISE_CASES(1)
}

// Four pixels of three blocks: twelve accumulators from three weight loads and four broadcasts per
// input channel. The half panel's own tile (one block over six pixels) loaded seven values for six
// FMAs and was bound by its loads: 144 -> 24 at 56x56 took as long as 144 -> 32.
PK_AVX2_INLINE void three_blocks_tile(int in_blocks, size_t block_stride, const float *x, const float *w,
                                      const int pixels, const float *bias, const float *residual,
                                      pk_activation activation, float *out) {
    const float *half = w + (size_t)in_blocks * PK_CHANNEL_BLOCK * 2 * PK_CHANNEL_BLOCK;
    __m256 sums[PK_POINTWISE_THREE_BLOCK_PIXELS][3];
    for (int r = 0; r < pixels; r++) sums[r][0] = sums[r][1] = sums[r][2] = _mm256_setzero_ps();
    for (int ib = 0; ib < in_blocks; ib++, x += block_stride) {
        prefetch_next_tile(x + pixels * PK_CHANNEL_BLOCK, pixels);
        for (int i = 0; i < PK_CHANNEL_BLOCK; i++, w += 2 * PK_CHANNEL_BLOCK, half += PK_CHANNEL_BLOCK) {
            __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + PK_CHANNEL_BLOCK), w2 = _mm256_loadu_ps(half);
            for (int r = 0; r < pixels; r++) {
                __m256 a = _mm256_broadcast_ss(x + r * PK_CHANNEL_BLOCK + i);
                sums[r][0] = _mm256_fmadd_ps(a, w0, sums[r][0]);
                sums[r][1] = _mm256_fmadd_ps(a, w1, sums[r][1]);
                sums[r][2] = _mm256_fmadd_ps(a, w2, sums[r][2]);
            }
        }
    }
    for (int b = 0; b < 3; b++) {
        __m256 bias_b = _mm256_loadu_ps(bias + b * PK_CHANNEL_BLOCK);
        for (int r = 0; r < pixels; r++) {
            size_t at = (size_t)b * block_stride + (size_t)r * PK_CHANNEL_BLOCK;
            finish(sums[r][b], bias_b, residual ? residual + at : NULL, activation, out + at);
        }
    }
}

PK_AVX2 void pk_pointwise_three_blocks_avx2(int in_blocks, size_t block_stride, const float *x, const float *w,
                                            int pixels, const float *bias, const float *residual,
                                            pk_activation activation, float *out) {
    switch (pixels) {
    case 4: three_blocks_tile(in_blocks, block_stride, x, w, 4, bias, residual, activation, out); return;
    case 3: three_blocks_tile(in_blocks, block_stride, x, w, 3, bias, residual, activation, out); return;
    case 2: three_blocks_tile(in_blocks, block_stride, x, w, 2, bias, residual, activation, out); return;
    default: three_blocks_tile(in_blocks, block_stride, x, w, 1, bias, residual, activation, out); return;
    }
}

// One output pixel with every tap bounds-checked: the row's borders.
PK_AVX2_INLINE __m256 depthwise_pixel(const pk_conv2d_shape *s, const float *in, const float *w, int iy0, int ox,
                                      int kh_begin, int kh_end) {
    __m256 sum = _mm256_setzero_ps();
    int ix0 = ox * s->stride_width - s->padding_width;
    for (int kh = kh_begin; kh < kh_end; kh++) {
        const float *row = in + (size_t)(iy0 + kh * s->dilation_height) * s->in_width * PK_CHANNEL_BLOCK;
        for (int kw = 0; kw < s->kernel_width; kw++) {
            int ix = ix0 + kw * s->dilation_width;
            if (ix < 0 || ix >= s->in_width) continue;
            sum = _mm256_fmadd_ps(_mm256_loadu_ps(row + (size_t)ix * PK_CHANNEL_BLOCK),
                                  _mm256_loadu_ps(w + (size_t)(kh * s->kernel_width + kw) * PK_CHANNEL_BLOCK), sum);
        }
    }
    return sum;
}

// Four output pixels with a constant kernel width and stride: each kernel row loads the
// 3 * stride + width input pixels the four windows share once, instead of four per tap (the loads,
// not the multiplies, bound a depthwise convolution: 9 loads per 12 FMAs for 3x3 stride 1, against 15).
// `guarded` groups reach past a row's ends (its borders, and a last group of fewer than four): each
// input column is checked and read as zeros outside the row, as the AVX-512 row's masked loads do.
// Those pixels took every tap one by one with a bounds check before (depthwise_pixel), and at 7x7
// with a 5x5 kernel that was every pixel of the row: 48 ns a block against 9 ns at 56x56 (Zen 3).
PK_AVX2_INLINE void depthwise_four(const pk_conv2d_shape *s, const float *in, const float *w, int iy0, int ox,
                                   int kh_begin, int kh_end, const int width, const int stride, const int guarded,
                                   __m256 sums[4]) {
    int ix0 = ox * stride - s->padding_width;
    for (int kh = kh_begin; kh < kh_end; kh++) {
        const float *row = in + (size_t)(iy0 + kh * s->dilation_height) * s->in_width * PK_CHANNEL_BLOCK;
        const float *taps = w + (size_t)kh * width * PK_CHANNEL_BLOCK;
        __m256 x[3 * 2 + 7];  // room for the widest window any specialization reads
        for (int c = 0; c < 3 * stride + width; c++) {
            int ix = ix0 + c;
            x[c] = !guarded || (ix >= 0 && ix < s->in_width) ? _mm256_loadu_ps(row + (ptrdiff_t)ix * PK_CHANNEL_BLOCK)
                                                             : _mm256_setzero_ps();
        }
        for (int kw = 0; kw < width; kw++) {
            __m256 tap = _mm256_loadu_ps(taps + (size_t)kw * PK_CHANNEL_BLOCK);
            for (int j = 0; j < 4; j++) sums[j] = _mm256_fmadd_ps(x[j * stride + kw], tap, sums[j]);
        }
    }
}

// One specialization per shared-load kernel (see pk_depthwise_blocked_row_avx2), guarded or not.
PK_AVX2_INLINE void depthwise_four_any(const pk_conv2d_shape *s, const float *in, const float *w, int iy0, int ox,
                                       int kh_begin, int kh_end, const int guarded, __m256 sums[4]) {
    int sw = s->stride_width;
    if (s->kernel_width == 3 && sw == 1) depthwise_four(s, in, w, iy0, ox, kh_begin, kh_end, 3, 1, guarded, sums);
    else if (s->kernel_width == 3) depthwise_four(s, in, w, iy0, ox, kh_begin, kh_end, 3, 2, guarded, sums);
    else if (s->kernel_width == 7) depthwise_four(s, in, w, iy0, ox, kh_begin, kh_end, 7, 1, guarded, sums);
    else if (sw == 1) depthwise_four(s, in, w, iy0, ox, kh_begin, kh_end, 5, 1, guarded, sums);
    else depthwise_four(s, in, w, iy0, ox, kh_begin, kh_end, 5, 2, guarded, sums);
}

static PK_AVX2 void depthwise_row(const pk_conv2d_shape *s, const float *in, const float *w, const float *bias, int oy,
                                   const float *residual, pk_activation activation, float *out) {
    int kh_begin, kh_end, interior_begin, interior_end;
    int iy0 = pk_depthwise_row_taps(s, oy, &kh_begin, &kh_end);
    pk_depthwise_interior_columns(s, &interior_begin, &interior_end);
    int sw = s->stride_width;
    __m256 bias_v = _mm256_loadu_ps(bias);
    size_t step = (size_t)sw * PK_CHANNEL_BLOCK;
    int ox = 0;
    // (Planes up to 32 columns come here only without the padded copy: DepthwisePaddedAvx2.c.)
    // MobileNet's and EfficientNet's kernels (3x3 and 5x5, stride 1 or 2) and ConvNeXt's (7x7,
    // stride 1), undilated, share loads. Kernels wider than 3, and rows under 8 pixels, run the
    // whole row in groups of four, borders included: their borders are several pixels, or most of
    // the row. A 3x3 row of 8 or more keeps its single border pixels one by one, which measured
    // faster (480 channels at 14x14: 67 us against 80 us as whole groups, one thread, Zen 3).
    int shared = s->dilation_width == 1 && (((sw == 1 || sw == 2) && (s->kernel_width == 3 || s->kernel_width == 5)) ||
                                            (sw == 1 && s->kernel_width == 7));
    if (shared && (s->kernel_width > 3 || s->out_width < 8)) {
        for (; ox < s->out_width; ox += 4) {
            int count = s->out_width - ox < 4 ? s->out_width - ox : 4;
            __m256 sums[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
            if (ox >= interior_begin && ox + 4 <= interior_end) depthwise_four_any(s, in, w, iy0, ox, kh_begin, kh_end, 0, sums);
            else depthwise_four_any(s, in, w, iy0, ox, kh_begin, kh_end, 1, sums);
            for (int j = 0; j < count; j++) {
                size_t at = (size_t)(ox + j) * PK_CHANNEL_BLOCK;
                finish(sums[j], bias_v, residual ? residual + at : NULL, activation, out + at);
            }
        }
        return;
    }
    for (; ox < interior_begin; ox++)
        finish(depthwise_pixel(s, in, w, iy0, ox, kh_begin, kh_end), bias_v,
               residual ? residual + (size_t)ox * PK_CHANNEL_BLOCK : NULL, activation, out + (size_t)ox * PK_CHANNEL_BLOCK);
    for (; shared && ox + 4 <= interior_end; ox += 4) {
        __m256 sums[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        depthwise_four_any(s, in, w, iy0, ox, kh_begin, kh_end, 0, sums);
        for (int j = 0; j < 4; j++) {
            size_t at = (size_t)(ox + j) * PK_CHANNEL_BLOCK;
            finish(sums[j], bias_v, residual ? residual + at : NULL, activation, out + at);
        }
    }
    for (; ox + 4 <= interior_end; ox += 4) {
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
        for (int kh = kh_begin; kh < kh_end; kh++) {
            const float *row = in + ((size_t)(iy0 + kh * s->dilation_height) * s->in_width +
                                     (size_t)(ox * sw - s->padding_width)) * PK_CHANNEL_BLOCK;
            const float *taps = w + (size_t)kh * s->kernel_width * PK_CHANNEL_BLOCK;
            for (int kw = 0; kw < s->kernel_width; kw++) {
                const float *p = row + (size_t)kw * s->dilation_width * PK_CHANNEL_BLOCK;
                __m256 tap = _mm256_loadu_ps(taps + (size_t)kw * PK_CHANNEL_BLOCK);
                s0 = _mm256_fmadd_ps(_mm256_loadu_ps(p), tap, s0);
                s1 = _mm256_fmadd_ps(_mm256_loadu_ps(p + step), tap, s1);
                s2 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 2 * step), tap, s2);
                s3 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 3 * step), tap, s3);
            }
        }
        __m256 sums[4] = {s0, s1, s2, s3};
        for (int j = 0; j < 4; j++) {
            size_t at = (size_t)(ox + j) * PK_CHANNEL_BLOCK;
            finish(sums[j], bias_v, residual ? residual + at : NULL, activation, out + at);
        }
    }
    for (; ox < s->out_width; ox++)
        finish(depthwise_pixel(s, in, w, iy0, ox, kh_begin, kh_end), bias_v,
               residual ? residual + (size_t)ox * PK_CHANNEL_BLOCK : NULL, activation, out + (size_t)ox * PK_CHANNEL_BLOCK);
}

// The expensive activations run over the stored row afterwards: in the row's epilogue they shared the
// registers with its accumulators and ran a third slower.
PK_AVX2 void pk_depthwise_blocked_row_avx2(const pk_conv2d_shape *s, const float *in, const float *w,
                                           const float *bias, int oy, const float *residual,
                                           pk_activation activation, float *out) {
    if (pk_activation_is_cheap_avx2(activation)) {
        depthwise_row(s, in, w, bias, oy, residual, activation, out);
        return;
    }
    depthwise_row(s, in, w, bias, oy, residual, PK_ACTIVATION_NONE, out);
    pk_activate_stored_avx2(activation, out, (size_t)s->out_width * PK_CHANNEL_BLOCK);
}

// One block of eight channel planes to [plane][8]: eight pixels at a time as an 8 x 8 transpose.
PK_AVX2 void pk_to_channel_blocks_avx2(const float *source, float *destination, size_t channels, size_t plane) {
    size_t p = 0;
    for (; p + 8 <= plane; p += 8) {
        __m256 v[8];
        for (int l = 0; l < 8; l++) v[l] = _mm256_loadu_ps(source + (size_t)l * plane + p);
        pk_transpose8x8_avx2(v);
        for (int j = 0; j < 8; j++) _mm256_storeu_ps(destination + (p + (size_t)j) * 8, v[j]);
    }
    for (; p < plane; p++)
        for (size_t l = 0; l < channels; l++) destination[p * 8 + l] = source[l * plane + p];
}

PK_AVX2 void pk_from_channel_blocks_avx2(const float *source, float *destination, size_t channels, size_t plane) {
    size_t p = 0;
    for (; p + 8 <= plane; p += 8) {
        __m256 v[8];
        for (int j = 0; j < 8; j++) v[j] = _mm256_loadu_ps(source + (p + (size_t)j) * 8);
        pk_transpose8x8_avx2(v);
        for (int l = 0; l < 8; l++) _mm256_storeu_ps(destination + (size_t)l * plane + p, v[l]);
    }
    for (; p < plane; p++)
        for (size_t l = 0; l < channels; l++) destination[l * plane + p] = source[p * 8 + l];
}

// pk_channel_block_sum_avx512 on AVX2: each pixel's eight channels as two vectors of four float64,
// two pixels in flight.
PK_AVX2 void pk_channel_block_sum_avx2(const float *from, size_t pixels, double *sums) {
    __m256d low[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()}, high[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};
    size_t p = 0;
    for (; p + 2 <= pixels; p += 2)
        for (int r = 0; r < 2; r++) {
            const float *pixel = from + (p + (size_t)r) * PK_CHANNEL_BLOCK;
            low[r] = _mm256_add_pd(low[r], _mm256_cvtps_pd(_mm_loadu_ps(pixel)));
            high[r] = _mm256_add_pd(high[r], _mm256_cvtps_pd(_mm_loadu_ps(pixel + 4)));
        }
    for (; p < pixels; p++) {
        low[0] = _mm256_add_pd(low[0], _mm256_cvtps_pd(_mm_loadu_ps(from + p * PK_CHANNEL_BLOCK)));
        high[0] = _mm256_add_pd(high[0], _mm256_cvtps_pd(_mm_loadu_ps(from + p * PK_CHANNEL_BLOCK + 4)));
    }
    _mm256_storeu_pd(sums, _mm256_add_pd(low[0], low[1]));
    _mm256_storeu_pd(sums + 4, _mm256_add_pd(high[0], high[1]));
}
#endif
