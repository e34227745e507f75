// The AVX2 + FMA depthwise row: 32 output pixels in four registers across all taps, then the epilogue.
#include "Depthwise.h"

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx2.h"

enum { VECTORS = 4 };

PK_AVX2 void pk_depthwise_row_avx2(const pk_conv2d_shape *s, const pk_padded_plane *plane, const float *taps,
                                   int oy, float bias, const float *residual, pk_activation activation,
                                   float *out) {
    for (int ox = 0; ox < s->out_width; ox += VECTORS * 8) {
        __m256 sums[VECTORS];
        for (int v = 0; v < VECTORS; v++) sums[v] = _mm256_setzero_ps();
        for (int ky = 0; ky < s->kernel_height; ky++) {
            const float *row = plane->floats + (size_t)(oy * s->stride_height + ky * s->dilation_height) * plane->row_floats;
            for (int kx = 0; kx < s->kernel_width; kx++) {
                int column = kx * s->dilation_width;
                const float *source = row + (size_t)(column % s->stride_width) * plane->phase_width +
                                      (size_t)(column / s->stride_width) + (size_t)ox;
                __m256 weight = _mm256_broadcast_ss(taps + ky * s->kernel_width + kx);
                for (int v = 0; v < VECTORS; v++)
                    sums[v] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(source + 8 * v), sums[v]);
            }
        }
        for (int v = 0; v < VECTORS; v++) {
            int start = ox + 8 * v, count = s->out_width - start;
            if (count <= 0) break;
            __m256i mask = pk_lane_mask_avx2(count);
            __m256 value = _mm256_add_ps(sums[v], _mm256_set1_ps(bias));
            if (residual) value = _mm256_add_ps(value, _mm256_maskload_ps(residual + start, mask));
            value = pk_activate_avx2(activation, value);
            if (count >= 8) _mm256_storeu_ps(out + start, value);
            else _mm256_maskstore_ps(out + start, mask, value);
        }
    }
}
#endif
