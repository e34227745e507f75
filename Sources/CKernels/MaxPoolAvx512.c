// MaxPool.c's lines on AVX-512: sixteen columns a vector, a row's last partial vector read masked
// with -inf in its other lanes, outputs past the row's end never stored. Same order of comparisons
// as the AVX2 path, so the same results, NaN included.
#include "MaxPool.h"

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx512.h"

/// pk_keep_max_avx2 on sixteen lanes: value where it is larger than kept or NaN, kept otherwise.
PK_AVX512_INLINE __m512 keep_max(__m512 kept, __m512 value) {
    return _mm512_mask_mov_ps(_mm512_max_ps(value, kept), _mm512_cmp_ps_mask(value, value, _CMP_UNORD_Q), value);
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
                                        int rows, size_t line_floats) {
    for (int r = 0; r < rows; r++) border_line(s, lines + (size_t)r * line_floats, line_floats);
    for (int oy0 = 0; oy0 < s->out_height; oy0 += rows) {
        int count = s->out_height - oy0 < rows ? s->out_height - oy0 : rows;
        for (int r = 0; r < count; r++) fill_line(s, plane, oy0 + r, lines + (size_t)r * line_floats);
        for (int r = 0; r < count; r++)
            reduce_line(s, lines + (size_t)r * line_floats, output + (size_t)(oy0 + r) * s->out_width);
    }
}
#endif
