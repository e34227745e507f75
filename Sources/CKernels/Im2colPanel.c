#include "Im2colPanel.h"
#include "Gemm.h"
#include "Depthwise.h"

#include <string.h>

// Smallest x >= 0 with x * step >= value (value may be negative).
static int first_at_least(int value, int step) { return value <= 0 ? 0 : (value + step - 1) / step; }

static int clamp_int(int x, int low, int high) { return x < low ? low : (x > high ? high : x); }

// A 1x1's rows are short runs (the block's pixels) in planes H*W apart, one stream per row: the
// hardware prefetchers did not follow them, and where the input came from memory (batch 8) the copy
// waited on each. Fetching the row four ahead, on two threads at batch 8 (Zen 3, min of 30):
// 256 -> 64 at 56x56 910-960 -> 780 us an image, 512 -> 128 at 28x28 730-760 -> 660-680; batch 1
// unchanged or faster. Two and eight rows ahead were within the noise of four.
enum { PREFETCH_ROWS_AHEAD = 4 };

void pk_im2col_panel(const pk_conv2d_shape *s, const float *image_group, int k0, int kc, int p0, int np,
                     float *dst) {
    int strips = (np + PK_NR - 1) / PK_NR;
    size_t plane = (size_t)s->in_height * (size_t)s->in_width;
    if (s->kernel_height == 1 && s->kernel_width == 1 && s->stride_height == 1 && s->stride_width == 1 &&
        s->padding_height == 0 && s->padding_width == 0) {
        // im2col of a 1x1 convolution is its input: rows are copied straight into the strips.
        for (int kk = 0; kk < kc; kk++) {
            const float *source = image_group + (size_t)(k0 + kk) * plane + (size_t)p0;
            if (kk + PREFETCH_ROWS_AHEAD < kc) {
                const char *ahead = (const char *)(source + PREFETCH_ROWS_AHEAD * plane);
                for (size_t offset = 0; offset < (size_t)np * sizeof(float); offset += 64) __builtin_prefetch(ahead + offset);
            }
            for (int strip = 0; strip < strips; strip++) {
                float *out = dst + ((size_t)strip * kc + kk) * PK_NR;
                int count = np - strip * PK_NR < PK_NR ? np - strip * PK_NR : PK_NR;
                if (count == PK_NR) {
                    // A constant size compiles to a few vector moves; a variable one is a libc call per
                    // 64 bytes, which took 8% of mobilenet_v2's forward pass.
                    memcpy(out, source + strip * PK_NR, PK_NR * sizeof(float));
                    continue;
                }
                memcpy(out, source + strip * PK_NR, (size_t)count * sizeof(float));
                for (int j = count; j < PK_NR; j++) out[j] = 0;
            }
        }
        return;
    }
    // One im2col row is gathered here with contiguous copies, then dealt out to the strips.
    float row[PK_PANEL_PIXELS_MAX + PK_NR];
    int taps = s->kernel_height * s->kernel_width;
    for (int kk = 0; kk < kc; kk++) {
        int k = k0 + kk, channel = k / taps, ky = (k % taps) / s->kernel_width, kx = k % s->kernel_width;
        const float *input = image_group + (size_t)channel * plane;
        // Output columns [ox_low, ox_high) read inside the input row for this kx; the rest is padding.
        int column_offset = kx * s->dilation_width - s->padding_width;
        int ox_low = clamp_int(first_at_least(-column_offset, s->stride_width), 0, s->out_width);
        int ox_high = clamp_int(first_at_least(s->in_width - column_offset, s->stride_width), ox_low, s->out_width);
        int oy = p0 / s->out_width, ox = p0 % s->out_width;
        for (int j = 0; j < np; oy++, ox = 0) {
            int length = s->out_width - ox < np - j ? s->out_width - ox : np - j;
            int iy = oy * s->stride_height - s->padding_height + ky * s->dilation_height;
            float *out = row + j;
            if (iy < 0 || iy >= s->in_height) {
                memset(out, 0, (size_t)length * sizeof(float));
            } else {
                const float *source = input + (size_t)iy * s->in_width;
                int end = ox + length, low = clamp_int(ox_low, ox, end), high = clamp_int(ox_high, low, end);
                int x = ox;
                for (; x < low; x++) *out++ = 0;
                if (s->stride_width == 1) {
                    memcpy(out, source + x + column_offset, (size_t)(high - x) * sizeof(float));
                    out += high - x;
                    x = high;
                } else {
#if defined(__x86_64__) || defined(__i386__)
                    // Stride-2 stems (resnet's 7x7, the mobilenets' 3x3) gather most of their im2col here.
                    if (s->stride_width == 2 && high > x && pk_use_avx2()) {
                        pk_gather_stride2_avx2(source + 2 * x + column_offset, high - x, out);
                        out += high - x;
                        x = high;
                    }
#endif
                    for (; x < high; x++) *out++ = source[x * s->stride_width + column_offset];
                }
                for (; x < end; x++) *out++ = 0;
            }
            j += length;
        }
        for (int j = np; j < strips * PK_NR; j++) row[j] = 0;
        for (int strip = 0; strip < strips; strip++)
            memcpy(dst + ((size_t)strip * kc + kk) * PK_NR, row + strip * PK_NR, PK_NR * sizeof(float));
    }
}
