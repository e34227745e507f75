// The AVX-512 depthwise row on channel blocks: two neighbouring pixels' blocks are 16 contiguous
// floats, one vector, so with stride 1 an accumulator holds an output pair and a tap's input for it
// is one unaligned load, the tap's eight weights broadcast to both halves. A step of up to eight
// pairs loads each input pair once per kernel row for every tap that reads it, as the AVX2 row's
// four pixels do, for twice the lanes. Steps over the borders mask the input pixels that lie in the
// padding and the outputs past the row's end, so a whole row runs here: left to the AVX2 row's
// bounds-checked pixels, the borders made 7x7 and 14x14 planes slower than on AVX2 alone.
#include "ChannelBlocks.h"

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx512.h"

// Eight accumulators hide the FMA latency; with a 7-wide kernel's taps and an input pair they take
// half the registers.
enum { PAIRS = 8, WIDEST = 7 };

// vbroadcastf64x4 is AVX512F; the float form (vbroadcastf32x8) would need AVX512DQ.
PK_AVX512_INLINE __m512 both_halves(const float *tap) {
    return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_loadu_pd((const double *)tap)));
}

// The lanes of a pair of pixels: the low half if bit 0 of `inside` is set, the high half if bit 1 is.
PK_AVX512_INLINE __mmask16 pair_lanes(unsigned inside) {
    static const __mmask16 halves[4] = {0, 0x00ff, 0xff00, 0xffff};
    return halves[inside & 3];
}

// Bits [begin, end) set, clamped to [0, count).
static inline unsigned bit_range(int begin, int end, int count) {
    begin = begin < 0 ? 0 : begin;
    end = end > count ? count : end;
    return end > begin ? (1u << end) - (1u << begin) : 0;
}

// Output pixels [ox, ox + 2 * pairs) of a row, for a constant kernel `width` (stride 1, undilated)
// and `pairs`; out = activation(sum + bias (+ residual)), the AVX2 row's order, for a cheap constant
// `activation`. Unless `masked`, the step's taps all lie inside the row and its pixels in the output row.
PK_AVX512_INLINE void depthwise_pairs(const pk_conv2d_shape *s, const float *in, const float *w, __m512 bias,
                                      int iy0, int ox, int kh_begin, int kh_end, const int width, const int pairs,
                                      const int masked, const float *residual, const pk_activation activation,
                                      float *out) {
    enum { LOADS = 2 * PAIRS + WIDEST - 2 };  // the most input pairs a step loads per kernel row
    // Window pixel c is input column ix0 + c. A masked load neither reads nor faults on its masked
    // lanes, so a pair in the padding may lie before or past the plane.
    int loads = 2 * pairs + width - 2, ix0 = ox - s->padding_width;
    unsigned inside = bit_range(-ix0, s->in_width - ix0, loads + 1);
    unsigned in_row = bit_range(0, s->out_width - ox, 2 * pairs);
    __mmask16 lanes[LOADS], stored[PAIRS];
    PK_UNROLL for (int c = 0; c < loads; c++) lanes[c] = masked ? pair_lanes(inside >> c) : 0xffff;
    PK_UNROLL for (int j = 0; j < pairs; j++) stored[j] = masked ? pair_lanes(in_row >> 2 * j) : 0xffff;
    // Every loop over the accumulators unrolls fully: one left rolled keeps `sums` in memory.
    __m512 sums[PAIRS];
    PK_UNROLL for (int j = 0; j < pairs; j++) sums[j] = _mm512_setzero_ps();
    for (int kh = kh_begin; kh < kh_end; kh++) {
        const float *row = in + ((ptrdiff_t)(iy0 + kh * s->dilation_height) * s->in_width + ix0) * PK_CHANNEL_BLOCK;
        const float *taps = w + (size_t)kh * width * PK_CHANNEL_BLOCK;
        __m512 tap[WIDEST];
        PK_UNROLL for (int kw = 0; kw < width; kw++) tap[kw] = both_halves(taps + kw * PK_CHANNEL_BLOCK);
        // Window pixels (c, c + 1) are tap kw's input for output pair (c - kw) / 2.
        PK_UNROLL for (int c = 0; c < loads; c++) {
            const float *at = row + (ptrdiff_t)c * PK_CHANNEL_BLOCK;
            __m512 x = masked ? _mm512_maskz_loadu_ps(lanes[c], at) : _mm512_loadu_ps(at);
            PK_UNROLL for (int kw = c % 2; kw < width; kw += 2)
                if (c - kw >= 0 && c - kw < 2 * pairs)
                    sums[(c - kw) / 2] = _mm512_fmadd_ps(x, tap[kw], sums[(c - kw) / 2]);
        }
    }
    PK_UNROLL for (int j = 0; j < pairs; j++) {
        size_t at = (size_t)(ox + 2 * j) * PK_CHANNEL_BLOCK;
        __m512 value = _mm512_add_ps(sums[j], bias);
        if (residual)
            value = _mm512_add_ps(value, masked ? _mm512_maskz_loadu_ps(stored[j], residual + at)
                                                : _mm512_loadu_ps(residual + at));
        value = pk_activate_cheap_avx512(activation, value);
        if (masked) _mm512_mask_storeu_ps(out + at, stored[j], value);
        else _mm512_storeu_ps(out + at, value);
    }
}

// One row in steps of PAIRS pairs: full ones inside [begin, end), the columns whose taps all lie
// inside the row, masked ones over the borders.
PK_AVX512_INLINE void depthwise_row(const pk_conv2d_shape *s, const float *in, const float *w, __m512 bias, int iy0,
                                    int kh_begin, int kh_end, int begin, int end, const int width,
                                    const float *residual, const pk_activation activation, float *out) {
    for (int ox = 0; ox < s->out_width;) {
        if (ox >= begin && ox + 2 * PAIRS <= end) {
            depthwise_pairs(s, in, w, bias, iy0, ox, kh_begin, kh_end, width, PAIRS, 0, residual, activation, out);
            ox += 2 * PAIRS;
            continue;
        }
        // The last 8 columns or fewer take four pairs: a 7-column row would otherwise compute twice
        // what it stores. (`pairs` must be a constant at each call, for the loops to unroll.)
        if (s->out_width - ox > 8) {
            depthwise_pairs(s, in, w, bias, iy0, ox, kh_begin, kh_end, width, PAIRS, 1, residual, activation, out);
            ox += 2 * PAIRS;
        } else {
            depthwise_pairs(s, in, w, bias, iy0, ox, kh_begin, kh_end, width, 4, 1, residual, activation, out);
            ox += 8;
        }
    }
}

// The row specialized for each kernel width it takes.
PK_AVX512_INLINE void depthwise_row_of_width(const pk_conv2d_shape *s, const float *in, const float *w, __m512 bias,
                                             int iy0, int kh_begin, int kh_end, int begin, int end,
                                             const float *residual, const pk_activation activation, float *out) {
    if (s->kernel_width == 3)
        depthwise_row(s, in, w, bias, iy0, kh_begin, kh_end, begin, end, 3, residual, activation, out);
    else if (s->kernel_width == 5)
        depthwise_row(s, in, w, bias, iy0, kh_begin, kh_end, begin, end, 5, residual, activation, out);
    else
        depthwise_row(s, in, w, bias, iy0, kh_begin, kh_end, begin, end, WIDEST, residual, activation, out);
}

PK_AVX512 void pk_depthwise_blocked_row_avx512(const pk_conv2d_shape *s, const float *in, const float *w,
                                               const float *bias, int oy, const float *residual,
                                               pk_activation activation, float *out) {
    // MobileNet's and EfficientNet's stride-1 kernels (3x3, 5x5) and ConvNeXt's (7x7); stride 2
    // would leave every other input pair unused, so those rows, like the rest, are the AVX2 row's.
    int width = s->kernel_width;
    if (s->stride_width != 1 || s->dilation_width != 1 || (width != 3 && width != 5 && width != WIDEST)) {
        pk_depthwise_blocked_row_avx2(s, in, w, bias, oy, residual, activation, out);
        return;
    }
    int kh_begin, kh_end, begin, end;
    int iy0 = pk_depthwise_row_taps(s, oy, &kh_begin, &kh_end);
    pk_depthwise_interior_columns(s, &begin, &end);
    PK_WITH_CONSTANT_ACTIVATION(activation, depthwise_row_of_width(s, in, w, both_halves(bias), iy0, kh_begin, kh_end,
                                                                   begin, end, residual, act, out))
    // The others as a second pass over the stored row: no out-of-line call while the sums are live.
    if (!pk_activation_is_cheap(activation))
        pk_activate_stored_avx512(activation, out, s->out_width * PK_CHANNEL_BLOCK);
}
#endif
