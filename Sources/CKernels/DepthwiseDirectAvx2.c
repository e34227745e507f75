// The AVX2 + FMA depthwise convolution for small planes (horizontal stride 1 or 2), reading the
// input plane where it lies: no padded copy. Lanes whose input column falls in the padding are masked
// off at load (a masked lane reads nothing, so nothing outside the row is touched), and window rows in
// the padding read a row of zeros. Output vectors (8 pixels of a row) are taken eight at a time in row
// order, across row ends, so a 7x7 plane's seven rows share one pass over the taps and eight
// independent accumulators hide the FMA latency. Which layers take this path:
// pk_depthwise_direct_avx2_fits.
#include "Depthwise.h"

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx2.h"

enum { GROUP = 8 };  // output vectors accumulated together

/// Lane i gets row[start + i * stride] (stride 1 or 2), zero where that column is outside [0, width).
static inline PK_AVX2 __m256 load_window(const float *row, int start, int width, int stride) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    if (stride == 1) {
        if (start >= 0 && start + 8 <= width) return _mm256_loadu_ps(row + start);
        __m256i column = _mm256_add_epi32(_mm256_set1_epi32(start), lanes);
        __m256i inside = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), column),
                                             _mm256_cmpgt_epi32(_mm256_set1_epi32(width), column));
        // Only lanes inside the row are read; the address of the others is never dereferenced.
        return _mm256_maskload_ps(row + start, inside);
    }
    __m256 low, high;
    if (start >= 0 && start + 16 <= width) {
        low = _mm256_loadu_ps(row + start);
        high = _mm256_loadu_ps(row + start + 8);
    } else {
        __m256i column = _mm256_add_epi32(_mm256_set1_epi32(start), lanes);
        __m256i column_high = _mm256_add_epi32(column, _mm256_set1_epi32(8));
        __m256i below = _mm256_set1_epi32(-1), end = _mm256_set1_epi32(width);
        __m256i inside = _mm256_and_si256(_mm256_cmpgt_epi32(column, below), _mm256_cmpgt_epi32(end, column));
        __m256i inside_high = _mm256_and_si256(_mm256_cmpgt_epi32(column_high, below),
                                               _mm256_cmpgt_epi32(end, column_high));
        low = _mm256_maskload_ps(row + start, inside);
        high = _mm256_maskload_ps(row + start + 8, inside_high);
    }
    return pk_even_lanes_avx2(low, high);
}

// Where reading in place beat the padded copy: planes at most one vector wide (stride 1) or two
// (stride 2), where copying each small plane into a padded, phase-split buffer cost more than its
// taps. Least CPU time of 15 runs on one Zen 3 thread: 960-channel 7x7 0.23 -> 0.17 ms, 576-channel
// 14x14 -> 7x7 stride 2 0.32 -> 0.15 ms, 192-channel 28x28 -> 14x14 stride 2 0.24 -> 0.16 ms. Wider
// planes lose, their masked row ends too large a share (stride 1 112x112 0.35 -> 0.49 ms, stride 2
// 56x56 -> 28x28 0.67 -> 0.79 ms), and keep the padded copy.
int pk_depthwise_direct_avx2_fits(const pk_conv2d_shape *s) {
    if (s->stride_width == 1) return s->out_width <= 8;
    return s->stride_width == 2 && s->out_width <= 16;
}

// The plane, for one horizontal stride known at compile time (so load_window's branches on it fold).
// Window rows in the padding read `zeros` (a row of in_width + 16 zeros) instead of branching per tap.
static inline __attribute__((always_inline)) PK_AVX2 void plane_direct(
    const pk_conv2d_shape *s, const float *input, const float *zeros, const float *taps, float bias,
    const float *residual, pk_activation activation, float *out, const int stride) {
    int vectors_per_row = (s->out_width + 7) / 8, total = vectors_per_row * s->out_height;
    for (int first = 0; first < total; first += GROUP) {
        int count = total - first < GROUP ? total - first : GROUP;
        int out_row[GROUP], out_column[GROUP], start[GROUP];
#pragma GCC unroll 8
        for (int v = 0; v < GROUP; v++) {
            // Vectors past the plane's last repeat its last one; they are computed, never stored.
            int index = first + (v < count ? v : count - 1);
            out_row[v] = index / vectors_per_row;
            out_column[v] = index % vectors_per_row * 8;
            start[v] = out_column[v] * stride - s->padding_width;
        }
        __m256 sums[GROUP];
#pragma GCC unroll 8
        for (int v = 0; v < GROUP; v++) sums[v] = _mm256_setzero_ps();
        for (int ky = 0; ky < s->kernel_height; ky++) {
            const float *rows[GROUP];
#pragma GCC unroll 8
            for (int v = 0; v < GROUP; v++) {
                int y = out_row[v] * s->stride_height - s->padding_height + ky * s->dilation_height;
                rows[v] = y >= 0 && y < s->in_height ? input + (size_t)y * s->in_width : zeros;
            }
            for (int kx = 0; kx < s->kernel_width; kx++) {
                __m256 weight = _mm256_broadcast_ss(taps + ky * s->kernel_width + kx);
                int shift = kx * s->dilation_width;
#pragma GCC unroll 8
                for (int v = 0; v < GROUP; v++)
                    sums[v] = _mm256_fmadd_ps(weight, load_window(rows[v], start[v] + shift, s->in_width, stride), sums[v]);
            }
        }
        for (int v = 0; v < count; v++) {
            size_t offset = (size_t)out_row[v] * s->out_width + (size_t)out_column[v];
            int remaining = s->out_width - out_column[v];
            __m256i mask = pk_lane_mask_avx2(remaining);
            __m256 value = _mm256_add_ps(sums[v], _mm256_set1_ps(bias));
            if (residual) value = _mm256_add_ps(value, _mm256_maskload_ps(residual + offset, mask));
            value = pk_activate_avx2(activation, value);
            if (remaining >= 8) _mm256_storeu_ps(out + offset, value);
            else _mm256_maskstore_ps(out + offset, mask, value);
        }
    }
}

PK_AVX2 void pk_depthwise_plane_direct_avx2(const pk_conv2d_shape *s, const float *input, const float *zeros,
                                            const float *taps, float bias, const float *residual,
                                            pk_activation activation, float *out) {
    if (s->stride_width == 1) {
        plane_direct(s, input, zeros, taps, bias, residual, activation, out, 1);
    } else {
        plane_direct(s, input, zeros, taps, bias, residual, activation, out, 2);
    }
}
#endif
