// The AVX2 + FMA depthwise convolution for horizontal strides 1 and 2, reading the input plane where it
// lies: no padded copy. Lanes whose input column falls in the padding are masked off at load (a masked
// lane reads nothing, so nothing outside the row is touched), and window rows in the padding read a
// row of zeros. Output vectors (8 pixels of a row) are taken eight at a time in row order, across row ends,
// so a 7x7 plane's seven rows share one pass over the taps and eight independent accumulators hide the
// FMA latency.
// Wide rows go one row at a time instead: plain loads in blocks of four vectors inside the row,
// masked ones only at its ends. Which layers take this path: pk_depthwise_direct_avx2_fits.
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
    // Even lanes of both (0, 2 of each 128-bit half), then the 64-bit pairs back in order.
    __m256 evens = _mm256_shuffle_ps(low, high, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(evens), _MM_SHUFFLE(3, 1, 2, 0)));
}

// Where reading in place beat the padded copy (least CPU time of 21 runs, Zen 3, a busy machine, so
// only clear wins count): stride-2 3x3 layers, whose padded copy splits every row into two phases
// (mobilenet_v2's 96-channel 56x56 0.80 -> 0.54 ms, 576-channel 7x7 0.32 -> 0.16 ms), and planes one
// vector wide (960-channel 7x7 0.23 -> 0.17 ms), where copying each small plane cost more than the
// taps. Wider stride-1 planes, and 5x5 windows whose masked edges are most of a 14-pixel row, keep
// the padded copy (112x112 0.36 -> 0.65 ms, 144-channel 28x28 5x5 stride 2 0.52 -> 1.4 ms this way).
int pk_depthwise_direct_avx2_fits(const pk_conv2d_shape *s) {
    if (s->stride_width != 1 && s->stride_width != 2) return 0;
    return (s->stride_width == 2 && s->kernel_width <= 3) || s->out_width <= 8;
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

/// Lane i gets row[start + i * stride], every column inside the row.
static inline PK_AVX2 __m256 load_inside(const float *row, int start, const int stride) {
    if (stride == 1) return _mm256_loadu_ps(row + start);
    __m256 low = _mm256_loadu_ps(row + start), high = _mm256_loadu_ps(row + start + 8);
    __m256 evens = _mm256_shuffle_ps(low, high, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(evens), _MM_SHUFFLE(3, 1, 2, 0)));
}

static inline PK_AVX2 void finish(__m256 sum, float bias, const float *residual, pk_activation activation,
                                  float *out, int remaining) {
    __m256i mask = pk_lane_mask_avx2(remaining);
    __m256 value = _mm256_add_ps(sum, _mm256_set1_ps(bias));
    if (residual) value = _mm256_add_ps(value, _mm256_maskload_ps(residual, mask));
    value = pk_activate_avx2(activation, value);
    if (remaining >= 8) _mm256_storeu_ps(out, value);
    else _mm256_maskstore_ps(out, mask, value);
}

enum { WIDE_BLOCK = 4, KERNEL_ROWS_MAX = 16 };

// Rows of at least WIDE_BLOCK vectors, one row at a time: the vectors whose every window column is
// inside the row (all but one or two at each end) take plain loads in blocks of four; only the ends
// take masked ones. Kernels taller than KERNEL_ROWS_MAX take the grouped path.
static inline __attribute__((always_inline)) PK_AVX2 void plane_wide_rows(
    const pk_conv2d_shape *s, const float *input, const float *zeros, const float *taps, float bias,
    const float *residual, pk_activation activation, float *out, const int stride) {
    int vectors = (s->out_width + 7) / 8, step = 8 * stride;
    int reach = (s->kernel_width - 1) * s->dilation_width + (stride == 1 ? 8 : 16);
    // Vector j reads columns [j * step - padding, ... + reach): inside for j in [inside_begin, inside_end).
    int inside_begin = (s->padding_width + step - 1) / step;
    int inside_end = s->in_width + s->padding_width - reach < 0 ? 0 : (s->in_width + s->padding_width - reach) / step + 1;
    if (inside_end > vectors) inside_end = vectors;
    if (inside_begin > inside_end) inside_begin = inside_end;
    for (int oy = 0; oy < s->out_height; oy++) {
        const float *rows[KERNEL_ROWS_MAX];
        for (int ky = 0; ky < s->kernel_height; ky++) {
            int y = oy * s->stride_height - s->padding_height + ky * s->dilation_height;
            rows[ky] = y >= 0 && y < s->in_height ? input + (size_t)y * s->in_width : zeros;
        }
        size_t row_offset = (size_t)oy * s->out_width;
        const float *row_residual = residual ? residual + row_offset : NULL;
        float *row_out = out + row_offset;
        int j = inside_begin;
        for (; j + WIDE_BLOCK <= inside_end; j += WIDE_BLOCK) {
            __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
            int start = j * step - s->padding_width;
            for (int ky = 0; ky < s->kernel_height; ky++) {
                const float *row = rows[ky] + start;
                for (int kx = 0; kx < s->kernel_width; kx++) {
                    __m256 weight = _mm256_broadcast_ss(taps + ky * s->kernel_width + kx);
                    const float *window = row + kx * s->dilation_width;
                    s0 = _mm256_fmadd_ps(weight, load_inside(window, 0, stride), s0);
                    s1 = _mm256_fmadd_ps(weight, load_inside(window, step, stride), s1);
                    s2 = _mm256_fmadd_ps(weight, load_inside(window, 2 * step, stride), s2);
                    s3 = _mm256_fmadd_ps(weight, load_inside(window, 3 * step, stride), s3);
                }
            }
            __m256 sums[WIDE_BLOCK] = {s0, s1, s2, s3};
            for (int v = 0; v < WIDE_BLOCK; v++) {
                int column = (j + v) * 8;
                finish(sums[v], bias, row_residual ? row_residual + column : NULL, activation, row_out + column,
                       s->out_width - column);
            }
        }
        // The ends, and inside vectors left over from the blocks, one at a time with masked loads.
        for (int v = 0; v < vectors; v++) {
            if (v >= inside_begin && v < j) {
                v = j - 1;
                continue;
            }
            __m256 sum = _mm256_setzero_ps();
            int start = v * step - s->padding_width;
            for (int ky = 0; ky < s->kernel_height; ky++) {
                for (int kx = 0; kx < s->kernel_width; kx++) {
                    __m256 weight = _mm256_broadcast_ss(taps + ky * s->kernel_width + kx);
                    sum = _mm256_fmadd_ps(weight, load_window(rows[ky], start + kx * s->dilation_width, s->in_width, stride), sum);
                }
            }
            int column = v * 8;
            finish(sum, bias, row_residual ? row_residual + column : NULL, activation, row_out + column,
                   s->out_width - column);
        }
    }
}

PK_AVX2 void pk_depthwise_plane_direct_avx2(const pk_conv2d_shape *s, const float *input, const float *zeros,
                                            const float *taps, float bias, const float *residual,
                                            pk_activation activation, float *out) {
    if ((s->out_width + 7) / 8 >= WIDE_BLOCK && s->kernel_height <= KERNEL_ROWS_MAX) {
        if (s->stride_width == 1) plane_wide_rows(s, input, zeros, taps, bias, residual, activation, out, 1);
        else plane_wide_rows(s, input, zeros, taps, bias, residual, activation, out, 2);
    } else if (s->stride_width == 1) {
        plane_direct(s, input, zeros, taps, bias, residual, activation, out, 1);
    } else {
        plane_direct(s, input, zeros, taps, bias, residual, activation, out, 2);
    }
}
#endif
