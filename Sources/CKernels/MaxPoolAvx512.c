// MaxPool.c's planes on AVX-512. Every torchvision max pool (kernel 2 or 3 across, stride 1 or 2,
// padding at most 1, dilation 1) takes the row path: each output row's vertical maxima over its
// window's valid input rows are kept as whole vectors, sixteen columns each, with -inf vectors
// before and after them; each output vector then takes its taps by permuting two of those vectors
// (stride 2: their even and odd lanes). No vector is ever read at an offset from one just stored, so
// no load waits on a store it cannot forward; on GoogLeNet's 28x28 planes the line path, which read
// its lines at offsets 1 and 2, spent about 2300 cycles a plane on bookkeeping and stalls. Other
// pools take the line path (MaxPool.c's, sixteen lanes wide). Both compare in the scalar loop's
// `value > kept || isnan(value)` form, so a NaN anywhere in a window wins.
#include "MaxPool.h"

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx512.h"

/// pk_keep_max_avx2 on sixteen lanes: value where it is larger than kept or NaN, kept otherwise.
PK_AVX512_INLINE __m512 keep_max(__m512 kept, __m512 value) {
    return _mm512_mask_mov_ps(_mm512_max_ps(value, kept), _mm512_cmp_ps_mask(value, value, _CMP_UNORD_Q), value);
}

/// The row path's maximum: keep_max where the plane holds a NaN, else the plain instruction (one
/// port-5 compare fewer per maximum; without NaNs the two agree, up to the sign of a zero).
PK_AVX512_INLINE __m512 keep(__m512 kept, __m512 value, const int nans) {
    return nans ? keep_max(kept, value) : _mm512_max_ps(value, kept);
}

/// Whether `count` floats may hold a NaN: their sum is NaN when one is (or when +inf meets -inf,
/// which only costs the NaN-aware path for that plane). Sums, not compares: a compare's mask must
/// leave the vector unit to be combined, and on 28x28 planes that chain cost a tenth of the pooling.
PK_AVX512_INLINE int may_hold_nan(const float *values, size_t count) {
    __m512 sums[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
        sums[0] = _mm512_add_ps(sums[0], _mm512_loadu_ps(values + i));
        sums[1] = _mm512_add_ps(sums[1], _mm512_loadu_ps(values + i + 16));
    }
    for (; i < count; i += 16)
        sums[0] = _mm512_add_ps(sums[0], _mm512_maskz_loadu_ps(pk_lane_mask_avx512((int)(count - i)), values + i));
    __m512 total = _mm512_add_ps(sums[0], sums[1]);
    return _mm512_cmp_ps_mask(total, total, _CMP_UNORD_Q) != 0;
}

/// The row path's preconditions (pk_max_pool_plane_avx512 takes the other planes by lines).
static int takes_row_path(const pk_pool2d_shape *s) {
    return s->dilation_width == 1 && s->dilation_height == 1 && (s->kernel_width == 2 || s->kernel_width == 3) &&
        (s->stride_width == 1 || s->stride_width == 2) && s->padding_width <= 1;
}

size_t pk_max_pool_row_vectors(const pk_pool2d_shape *s) {
    if (!takes_row_path(s)) return 0;
    // One -inf vector before the columns and, past them, as many as the last output vector's taps
    // can reach: two pairs at stride 2, one vector at stride 1 (plus one spare each way).
    size_t columns = ((size_t)s->in_width + 15) / 16, outputs = ((size_t)s->out_width + 15) / 16;
    size_t reached = (size_t)s->stride_width * outputs + 2;
    return 1 + (columns > reached ? columns : reached) + 2;
}

// Output row oy's vertical maxima into vectors[1 ...]: lanes past the row -inf. A constant `kernel`
// (the window's height, or 0 when unknown) unrolls the rows of whole windows.
PK_AVX512_INLINE void vertical_maxima(const pk_pool2d_shape *s, const float *plane, int oy, int columns,
                                      __m512 *vectors, const int kernel, const int nans) {
    const __m512 lowest = _mm512_set1_ps(-INFINITY);
    int first = oy * s->stride_height - s->padding_height;
    int begin = first < 0 ? 0 : first, end = first + s->kernel_height;
    if (end > s->in_height) end = s->in_height;
    const __mmask16 tail = pk_lane_mask_avx512(s->in_width - (columns - 1) * 16);
    if (begin >= end) {  // no window row in the image: outside ATen's shapes, all -inf rather than a stray read
        for (int c = 0; c < columns; c++) vectors[1 + c] = lowest;
        return;
    }
    for (int c = 0; c < columns; c++) {
        __mmask16 lanes = c + 1 < columns ? (__mmask16)0xffff : tail;
        const float *at = plane + (size_t)begin * s->in_width + (size_t)c * 16;
        __m512 kept = _mm512_mask_loadu_ps(lowest, lanes, at);
        if (end - begin == kernel) {
            PK_UNROLL for (int r = 1; r < kernel; r++)
                kept = keep(kept, _mm512_mask_loadu_ps(lowest, lanes, at + (size_t)r * s->in_width), nans);
        } else {
            for (int iy = begin + 1; iy < end; iy++) {
                at += s->in_width;
                kept = keep(kept, _mm512_mask_loadu_ps(lowest, lanes, at), nans);
            }
        }
        vectors[1 + c] = kept;
    }
}

/// Lanes l + shift of the 32 lanes (low, high): shift 0...16.
PK_AVX512_INLINE __m512 lanes_from(__m512 low, __m512 high, int shift) {
    const __m512i index = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(shift));
    return _mm512_permutex2var_ps(low, index, high);
}

// Stride 1: output x's taps are columns x - padding + kx, i.e. lanes 16 - padding + kx... of the
// vectors before, at and after its own (vectors[j], [j + 1], [j + 2] hold columns from 16j - 16).
PK_AVX512_INLINE void row_stride_1(const pk_pool2d_shape *s, const __m512 *vectors, float *out, const int kernel,
                                   const int padding, const int nans) {
    for (int x = 0, j = 0; x < s->out_width; x += 16, j++) {
        __m512 kept = _mm512_setzero_ps();
        PK_UNROLL for (int kx = 0; kx < kernel; kx++) {
            const int shift = 16 - padding + kx;  // within (vectors[j], vectors[j + 1]) or the next pair
            __m512 tap = shift < 16    ? lanes_from(vectors[j], vectors[j + 1], shift)
                       : shift == 16 ? vectors[j + 1]
                                     : lanes_from(vectors[j + 1], vectors[j + 2], shift - 16);
            kept = kx == 0 ? tap : keep(kept, tap, nans);
        }
        _mm512_mask_storeu_ps(out + x, pk_lane_mask_avx512(s->out_width - x), kept);
    }
}

// Stride 2: output x's taps are columns 2x - padding + kx. Output vector j reads the pair of vectors
// holding columns 32j...32j+31 as its evens (kx - padding = 0) and odds (= 1); the tap before them
// (-1) is the odds moved up a lane, the previous pair's last odd entering, and the one after (2) the
// evens moved down a lane, the next vector's first column entering.
PK_AVX512_INLINE void row_stride_2(const pk_pool2d_shape *s, const __m512 *vectors, float *out, const int kernel,
                                   const int padding, const int nans) {
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    __m512 previous_odds = _mm512_set1_ps(-INFINITY);  // the columns before the row: padding
    for (int x = 0, j = 0; x < s->out_width; x += 16, j++) {
        __m512 low = vectors[1 + 2 * j], high = vectors[2 + 2 * j];
        __m512 even = _mm512_permutex2var_ps(low, evens, high), odd = _mm512_permutex2var_ps(low, odds, high);
        __m512 kept = _mm512_setzero_ps();
        PK_UNROLL for (int kx = 0; kx < kernel; kx++) {
            const int offset = kx - padding;
            __m512 tap = offset == 0 ? even
                : offset == 1        ? odd
                : offset < 0         ? lanes_from(previous_odds, odd, 15)
                                     : lanes_from(even, vectors[3 + 2 * j], 1);
            kept = kx == 0 ? tap : keep(kept, tap, nans);
        }
        previous_odds = odd;
        _mm512_mask_storeu_ps(out + x, pk_lane_mask_avx512(s->out_width - x), kept);
    }
}

// Specialized for a constant kernel width, padding, stride and NaN handling (plane_by_rows), so the
// taps unroll and every permutation's lanes are a constant.
PK_AVX512_INLINE void rows_of_plane(const pk_pool2d_shape *s, const float *plane, float *output, __m512 *vectors,
                                    int oy_begin, int oy_end, const int kernel, const int padding, const int stride,
                                    const int nans) {
    int columns = (s->in_width + 15) / 16;
    for (int oy = oy_begin; oy < oy_end; oy++) {
        if (s->kernel_height == kernel) vertical_maxima(s, plane, oy, columns, vectors, kernel, nans);
        else vertical_maxima(s, plane, oy, columns, vectors, 0, nans);
        if (stride == 1) row_stride_1(s, vectors, output + (size_t)oy * s->out_width, kernel, padding, nans);
        else row_stride_2(s, vectors, output + (size_t)oy * s->out_width, kernel, padding, nans);
    }
}

#define PK_ROWS_CASE(kernel, padding, stride)                                                                       \
    case (kernel) * 100 + (padding) * 10 + (stride):                                                                  \
        if (nans) rows_of_plane(s, plane, output, vectors, oy_begin, oy_end, kernel, padding, stride, 1);             \
        else rows_of_plane(s, plane, output, vectors, oy_begin, oy_end, kernel, padding, stride, 0);                  \
        break;

PK_AVX512 static void plane_by_rows(const pk_pool2d_shape *s, const float *plane, float *output, __m512 *vectors,
                                    int oy_begin, int oy_end) {
    size_t count = pk_max_pool_row_vectors(s);
    for (size_t i = 0; i < count; i++) vectors[i] = _mm512_set1_ps(-INFINITY);
    // The input rows these output rows read (stride_height * oy - padding_height + kernel_height).
    int row_begin = oy_begin * s->stride_height - s->padding_height, row_end = row_begin + (oy_end - oy_begin - 1) * s->stride_height + s->kernel_height;
    row_begin = row_begin < 0 ? 0 : row_begin;
    row_end = row_end > s->in_height ? s->in_height : row_end;
    int nans = row_end > row_begin &&
        may_hold_nan(plane + (size_t)row_begin * s->in_width, (size_t)(row_end - row_begin) * s->in_width);
    switch (s->kernel_width * 100 + s->padding_width * 10 + s->stride_width) {
    PK_ROWS_CASE(3, 1, 1) PK_ROWS_CASE(3, 1, 2) PK_ROWS_CASE(3, 0, 1) PK_ROWS_CASE(3, 0, 2)
    PK_ROWS_CASE(2, 1, 1) PK_ROWS_CASE(2, 1, 2) PK_ROWS_CASE(2, 0, 1) PK_ROWS_CASE(2, 0, 2)
    }
}

/// line[0], line[2], ..., line[30].
PK_AVX512_INLINE __m512 load_evens(const float *line) {
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(_mm512_loadu_ps(line), evens, _mm512_loadu_ps(line + 16));
}

// The left padding and everything past the last whole vector of columns: -inf, once per task.
PK_AVX512_INLINE void border_line(const pk_pool2d_shape *s, float *line, size_t line_floats) {
    const __m512 lowest = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < s->padding_width; i++) line[i] = -INFINITY;
    for (size_t i = (size_t)s->padding_width + ((size_t)s->in_width + 15) / 16 * 16; i < line_floats; i += 16)
        _mm512_mask_storeu_ps(line + i, pk_lane_mask_avx512((int)(line_floats - i)), lowest);
}

// The columns of output row oy's line: the first valid row stored, the others kept by maximum.
PK_AVX512_INLINE void fill_line(const pk_pool2d_shape *s, const float *plane, int oy, float *line) {
    const __m512 lowest = _mm512_set1_ps(-INFINITY);
    __mmask16 tail = pk_lane_mask_avx512(s->in_width % 16);
    float *columns = line + s->padding_width;
    int first = 1;
    for (int ky = 0; ky < s->kernel_height; ky++) {
        int iy = oy * s->stride_height - s->padding_height + ky * s->dilation_height;
        if (iy < 0 || iy >= s->in_height) continue;
        const float *row = plane + (size_t)iy * s->in_width;
        for (int x = 0; x < s->in_width; x += 16) {
            __m512 value = x + 16 <= s->in_width ? _mm512_loadu_ps(row + x) : _mm512_mask_loadu_ps(lowest, tail, row + x);
            if (!first) value = keep_max(_mm512_loadu_ps(columns + x), value);
            _mm512_storeu_ps(columns + x, value);
        }
        first = 0;
    }
    if (first)
        for (int x = 0; x < s->in_width; x += 16) _mm512_storeu_ps(columns + x, lowest);
}

// Sixteen outputs at a time, for dilation 1 and stride 1 or 2 (MaxPool.c checks).
PK_AVX512_INLINE void reduce_line(const pk_pool2d_shape *s, const float *line, float *out) {
    int stride = s->stride_width;
    for (int ox = 0; ox < s->out_width; ox += 16) {
        const float *window = line + (size_t)ox * stride;
        __m512 kept = stride == 1 ? _mm512_loadu_ps(window) : load_evens(window);
        for (int kx = 1; kx < s->kernel_width; kx++)
            kept = keep_max(kept, stride == 1 ? _mm512_loadu_ps(window + kx) : load_evens(window + kx));
        _mm512_mask_storeu_ps(out + ox, pk_lane_mask_avx512(s->out_width - ox), kept);
    }
}

PK_AVX512 void pk_max_pool_plane_avx512(const pk_pool2d_shape *s, const float *plane, float *output, float *lines,
                                        int rows, size_t line_floats, int oy_begin, int oy_end) {
    if (takes_row_path(s)) {
        plane_by_rows(s, plane, output, (__m512 *)lines, oy_begin, oy_end);
        return;
    }
    for (int r = 0; r < rows; r++) border_line(s, lines + (size_t)r * line_floats, line_floats);
    for (int oy0 = oy_begin; oy0 < oy_end; oy0 += rows) {
        int count = oy_end - oy0 < rows ? oy_end - oy0 : rows;
        for (int r = 0; r < count; r++) fill_line(s, plane, oy0 + r, lines + (size_t)r * line_floats);
        for (int r = 0; r < count; r++)
            reduce_line(s, lines + (size_t)r * line_floats, output + (size_t)(oy0 + r) * s->out_width);
    }
}
#endif
