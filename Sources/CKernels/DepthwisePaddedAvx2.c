// AVX2 depthwise convolution of a run of output rows of one channel block, from zero-padded copies of
// the input rows they read. On the small planes of a network's later stages (28x28 and below) a large
// share of the output pixels are border pixels, and the in-place row kernel (ChannelBlocksAvx2.c)
// checks each of their input columns, is called once per row and ends each row in a part-filled
// group. Here a copy in L1 makes every window whole, so every group of four runs the same unguarded
// code, the row's last group computing lanes past the row that are never stored. One thread, Zen 3,
// median of 300 interleaved with the row kernel: 960 channels at 7x7 3x3 53-64 -> 37-43 us, 672 at
// 14x14 5x5 215-219 -> 167-182, 1152 at 7x7 5x5 102-104 -> 81-88, 144 at 28x28 3x3 75 -> 55 (batch
// 8: 617 -> 468). On 56x56 planes and wider the copy measured no faster (5-15% slower at stride 2),
// so those stay in place.
#include "ChannelBlocks.h"
#include <stdlib.h>
#include <string.h>

#define BLOCK PK_CHANNEL_BLOCK
enum { GROUP = 4 };

/// The copy's geometry: output rows [oy_begin, oy_end) read input rows from `first_row`, the copy
/// holding `rows` of them, each `columns` pixels wide, column c being input column c - padding_width.
typedef struct {
    int first_row, rows, columns;
} padded_rows;

static padded_rows padded_geometry(const pk_conv2d_shape *s, int oy_begin, int oy_end) {
    int groups = (s->out_width + GROUP - 1) / GROUP;
    padded_rows g = {
        .first_row = oy_begin * s->stride_height - s->padding_height,
        .rows = (oy_end - oy_begin - 1) * s->stride_height + s->kernel_height,
        .columns = (groups * GROUP - 1) * s->stride_width + s->kernel_width,
    };
    return g;
}

/// How many output rows one copy of PK_DEPTHWISE_PADDED_FLOATS holds; 0 where the shape is not one
/// this kernel takes.
static int rows_per_copy(const pk_conv2d_shape *s) {
    if (s->dilation_height != 1 || s->dilation_width != 1 || s->in_width > PK_DEPTHWISE_SMALL_PLANE_WIDTH) return 0;
    if (s->stride_width != 1 && s->stride_width != 2) return 0;
    if (s->kernel_width != 3 && s->kernel_width != 5 && s->kernel_width != 7) return 0;
    long row_floats = (long)padded_geometry(s, 0, 1).columns * BLOCK;
    long copy_rows = PK_DEPTHWISE_PADDED_FLOATS / row_floats;
    if (copy_rows < s->kernel_height) return 0;
    return (int)((copy_rows - s->kernel_height) / s->stride_height + 1);
}

int pk_depthwise_padded_rows_take(const pk_conv2d_shape *s) { return rows_per_copy(s) > 0; }

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx2.h"

#define PK_AVX2_INLINE static inline __attribute__((always_inline)) PK_AVX2

static void copy_padded(const pk_conv2d_shape *s, const float *in, padded_rows g, float *to) {
    size_t row_floats = (size_t)g.columns * BLOCK, in_row = (size_t)s->in_width * BLOCK;
    // Columns past the copy's width are never read (a stride-2 window may end before the row does);
    // the window may also reach past the right padding (the last group's unused lanes): zeros there.
    int left_pixels = s->padding_width < g.columns ? s->padding_width : g.columns;
    int inside_pixels = g.columns - left_pixels < s->in_width ? g.columns - left_pixels : s->in_width;
    size_t left = (size_t)left_pixels * BLOCK, inside = (size_t)inside_pixels * BLOCK;
    size_t right = row_floats - left - inside;
    for (int r = 0; r < g.rows; r++, to += row_floats) {
        int iy = g.first_row + r;
        if (iy < 0 || iy >= s->in_height) {
            memset(to, 0, row_floats * sizeof(float));
            continue;
        }
        memset(to, 0, left * sizeof(float));
        memcpy(to + left, in + (size_t)iy * in_row, inside * sizeof(float));
        memset(to + left + inside, 0, right * sizeof(float));
    }
}

// Four output pixels of one row, the first `count` stored: each kernel row loads the 3 * stride + width
// input pixels the four windows share once. Specialized for constant width and stride so the sums
// and inputs stay in registers. (Eight pixels a group, eight independent sums against the FMA
// latency, measured no faster: 5-20% slower at 14x14 with 5x5 kernels.)
PK_AVX2_INLINE void four_from_copy(const float *rows, size_t row_floats, const float *w, int kernel_height,
                                   const int width, const int stride, int count, __m256 bias, const float *residual,
                                   pk_activation activation, float *out) {
    __m256 sums[GROUP] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int kh = 0; kh < kernel_height; kh++, rows += row_floats, w += width * BLOCK) {
        __m256 x[3 * 2 + 7];  // room for the widest window any specialization reads
        for (int c = 0; c < 3 * stride + width; c++) x[c] = _mm256_loadu_ps(rows + (size_t)c * BLOCK);
        for (int kw = 0; kw < width; kw++) {
            __m256 tap = _mm256_loadu_ps(w + (size_t)kw * BLOCK);
            for (int j = 0; j < GROUP; j++) sums[j] = _mm256_fmadd_ps(x[j * stride + kw], tap, sums[j]);
        }
    }
    // Unrolled with a constant bound, so `sums` never goes through memory.
    for (int j = 0; j < GROUP; j++) {
        if (j >= count) break;
        __m256 value = _mm256_add_ps(sums[j], bias);
        if (residual) value = _mm256_add_ps(value, _mm256_loadu_ps(residual + (size_t)j * BLOCK));
        _mm256_storeu_ps(out + (size_t)j * BLOCK, pk_activate_avx2(activation, value));
    }
}

PK_AVX2_INLINE void rows_from_copy(const pk_conv2d_shape *s, const float *copy, size_t row_floats, const float *w,
                                   const float *bias, int rows, const float *residual, pk_activation activation,
                                   float *out, const int width, const int stride) {
    __m256 bias_v = _mm256_loadu_ps(bias);
    size_t row_step = (size_t)s->stride_height * row_floats;
    for (int r = 0; r < rows; r++, copy += row_step) {
        for (int ox = 0; ox < s->out_width; ox += GROUP) {
            size_t at = ((size_t)r * s->out_width + (size_t)ox) * BLOCK;
            four_from_copy(copy + (size_t)ox * stride * BLOCK, row_floats, w, s->kernel_height, width, stride,
                           s->out_width - ox, bias_v, residual ? residual + at : NULL, activation, out + at);
        }
    }
}

static PK_AVX2 void rows_from_one_copy(const pk_conv2d_shape *s, const float *in, const float *w, const float *bias,
                                       int oy_begin, int oy_end, const float *residual, pk_activation activation,
                                       float *out) {
    padded_rows g = padded_geometry(s, oy_begin, oy_end);
    size_t row_floats = (size_t)g.columns * BLOCK;
    float copy[PK_DEPTHWISE_PADDED_FLOATS] __attribute__((aligned(64)));
    copy_padded(s, in, g, copy);
    int rows = oy_end - oy_begin, sw = s->stride_width;
    if (s->kernel_width == 3 && sw == 1) rows_from_copy(s, copy, row_floats, w, bias, rows, residual, activation, out, 3, 1);
    else if (s->kernel_width == 3) rows_from_copy(s, copy, row_floats, w, bias, rows, residual, activation, out, 3, 2);
    else if (s->kernel_width == 5 && sw == 1) rows_from_copy(s, copy, row_floats, w, bias, rows, residual, activation, out, 5, 1);
    else if (s->kernel_width == 5) rows_from_copy(s, copy, row_floats, w, bias, rows, residual, activation, out, 5, 2);
    else if (sw == 1) rows_from_copy(s, copy, row_floats, w, bias, rows, residual, activation, out, 7, 1);
    else rows_from_copy(s, copy, row_floats, w, bias, rows, residual, activation, out, 7, 2);
}

// As many rows a copy as fit. The expensive activations run over the stored rows afterwards, as in
// the in-place row kernel.
PK_AVX2 void pk_depthwise_padded_rows_avx2(const pk_conv2d_shape *s, const float *in, const float *w,
                                           const float *bias, int oy_begin, int oy_end, const float *residual,
                                           pk_activation activation, float *out) {
    int per_copy = rows_per_copy(s);
    if (per_copy <= 0) abort();  // the caller asked pk_depthwise_padded_rows_take: a broken contract, never data
    pk_activation inline_activation = pk_activation_is_cheap_avx2(activation) ? activation : PK_ACTIVATION_NONE;
    size_t row_floats = (size_t)s->out_width * BLOCK;
    for (int oy = oy_begin; oy < oy_end; oy += per_copy) {
        int end = oy + per_copy < oy_end ? oy + per_copy : oy_end;
        size_t at = (size_t)(oy - oy_begin) * row_floats;
        rows_from_one_copy(s, in, w, bias, oy, end, residual ? residual + at : NULL, inline_activation, out + at);
    }
    if (inline_activation != activation)
        pk_activate_stored_avx2(activation, out, (size_t)(oy_end - oy_begin) * row_floats);
}

#endif
