// The AVX2 + FMA depthwise row: up to 32 output pixels in four registers across all taps, then the
// epilogue. Blocks shrink to the row's last pixels, so a 7- or 14-pixel row computes 8 or 16.
#include "Depthwise.h"

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx2.h"

static inline PK_AVX2 void finish_vector(__m256 sum, int start, int width, float bias, const float *residual,
                                         pk_activation activation, float *out) {
    int count = width - start;
    __m256i mask = pk_lane_mask_avx2(count);
    __m256 value = _mm256_add_ps(sum, _mm256_set1_ps(bias));
    if (residual) value = _mm256_add_ps(value, _mm256_maskload_ps(residual + start, mask));
    value = pk_activate_avx2(activation, value);
    if (count >= 8) _mm256_storeu_ps(out + start, value);
    else _mm256_maskstore_ps(out + start, mask, value);
}

PK_AVX2 void pk_gather_stride2_avx2(const float *source, int count, float *out) {
    int i = 0;
    // Eight outputs read sixteen floats, the last one past the eighth output's: stop a block early.
    for (; i + 8 < count; i += 8) {
        __m256 low = _mm256_loadu_ps(source + 2 * i), high = _mm256_loadu_ps(source + 2 * i + 8);
        _mm256_storeu_ps(out + i, pk_even_lanes_avx2(low, high));
    }
    for (; i < count; i++) out[i] = source[2 * i];
}

PK_AVX2 void pk_depthwise_row_avx2(const pk_conv2d_shape *s, const pk_padded_plane *plane, const float *taps,
                                   int oy, float bias, const float *residual, pk_activation activation,
                                   float *out) {
    const float *rows = plane->floats + (size_t)(oy * s->stride_height) * plane->row_floats;
    int tap_count = s->kernel_height * s->kernel_width, width = s->out_width;
    for (int ox = 0; ox < width; ox += 32) {
        int vectors = (width - ox + 7) / 8;
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
        if (vectors >= 4) {
            for (int t = 0; t < tap_count; t++) {
                const float *source = rows + plane->tap_offsets[t] + ox;
                __m256 weight = _mm256_broadcast_ss(taps + t);
                s0 = _mm256_fmadd_ps(weight, _mm256_loadu_ps(source), s0);
                s1 = _mm256_fmadd_ps(weight, _mm256_loadu_ps(source + 8), s1);
                s2 = _mm256_fmadd_ps(weight, _mm256_loadu_ps(source + 16), s2);
                s3 = _mm256_fmadd_ps(weight, _mm256_loadu_ps(source + 24), s3);
            }
        } else if (vectors >= 2) {
            for (int t = 0; t < tap_count; t++) {
                const float *source = rows + plane->tap_offsets[t] + ox;
                __m256 weight = _mm256_broadcast_ss(taps + t);
                s0 = _mm256_fmadd_ps(weight, _mm256_loadu_ps(source), s0);
                s1 = _mm256_fmadd_ps(weight, _mm256_loadu_ps(source + 8), s1);
                if (vectors == 3) s2 = _mm256_fmadd_ps(weight, _mm256_loadu_ps(source + 16), s2);
            }
        } else {
            for (int t = 0; t < tap_count; t++)
                s0 = _mm256_fmadd_ps(_mm256_broadcast_ss(taps + t), _mm256_loadu_ps(rows + plane->tap_offsets[t] + ox), s0);
        }
        __m256 sums[4] = {s0, s1, s2, s3};
        for (int v = 0; v < vectors && v < 4; v++)
            finish_vector(sums[v], ox + 8 * v, width, bias, residual, activation, out);
    }
}
#endif
