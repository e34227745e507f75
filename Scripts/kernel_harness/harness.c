// The CKernels harness: `check` compares every convolution path with a double-precision reference
// on awkward shapes (exits 1 on a mismatch); `bench` times the conv layers of torchvision models
// (layers.txt) against OpenBLAS im2col + sgemm and OpenBLAS's peak sgemm. Built by
// Scripts/bench_kernels.sh.
#include "PthKitKernels.h"
#include "Winograd.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// ---------------------------------------------------------------- helpers

enum { PK_PACKED_ONE = 64 };  // room for a 1 -> 1 channel 1x1 kernel's packed weights (one 6-row panel)

// --cpu-time measures the process's CPU time instead of wall time: on a machine shared with other
// work, a single-threaded run's CPU time shows the kernel's own speed, whoever else holds the cores.
static clockid_t timing_clock = CLOCK_MONOTONIC;

// --best reports each layer's fastest run instead of the median: on a machine whose other core (or
// SMT sibling) is busy with someone else's work, the fastest run is the closest to the kernel's own speed.
static int report_best = 0;

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(timing_clock, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static _Thread_local unsigned long long rng_state = 0x9E3779B97F4A7C15ull;
static float uniform(float low, float high) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return low + (high - low) * (float)((rng_state >> 40) & 0xFFFFFF) / 16777216.0f;
}

static float *random_floats(size_t count, float scale) {
    float *values = malloc((count ? count : 1) * sizeof(float));
    for (size_t i = 0; i < count; i++) values[i] = uniform(-scale, scale);
    return values;
}

static size_t input_count(const pk_conv2d_shape *s) {
    return (size_t)s->batch * s->in_channels * s->in_height * s->in_width;
}
static size_t output_count(const pk_conv2d_shape *s) {
    return (size_t)s->batch * s->out_channels * s->out_height * s->out_width;
}
static size_t weight_count(const pk_conv2d_shape *s) {
    return (size_t)s->out_channels * (s->in_channels / s->groups) * s->kernel_height * s->kernel_width;
}
static int out_size(int in, int kernel, int stride, int padding, int dilation) {
    return (in + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
}

static double activate_reference(pk_activation a, double x) {
    switch (a) {
    case PK_ACTIVATION_NONE: return x;
    case PK_ACTIVATION_RELU: return x < 0 ? 0 : x;
    case PK_ACTIVATION_RELU6: return x < 0 ? 0 : (x > 6 ? 6 : x);
    case PK_ACTIVATION_HARDSWISH: return x * (x + 3 < 0 ? 0 : (x + 3 > 6 ? 6 : x + 3)) / 6;
    case PK_ACTIVATION_HARDSIGMOID: return (x + 3 < 0 ? 0 : (x + 3 > 6 ? 6 : x + 3)) / 6;
    case PK_ACTIVATION_SILU: return x / (1 + exp(-x));
    case PK_ACTIVATION_SIGMOID: return 1 / (1 + exp(-x));
    case PK_ACTIVATION_GELU: return x * 0.5 * (1 + erf(x / sqrt(2.0)));
    }
    return x;
}

// ---------------------------------------------------------------- check

/// Compares `got` with the double reference; the tolerance scales with sum |w * x| + |bias| + |residual|,
/// the size float rounding of the sum can reach. Winograd F(4x4, 3x3) rounds its transforms too, with
/// coefficients up to 8 (Lavin & Gray measured about 7x the direct error): it gets 8x the tolerance,
/// still below PyTorch's own float32 error on the parity sweep (measured: 5-13% of that sweep's bound).
static int compare_with_reference(const pk_conv2d_shape *s, const float *input, const float *weight,
                                  const float *bias, const float *residual, pk_activation activation,
                                  const float *got, double *worst) {
    int group_inputs = s->in_channels / s->groups, group_outputs = s->out_channels / s->groups;
    int failures = 0;
    for (int n = 0; n < s->batch; n++)
    for (int oc = 0; oc < s->out_channels; oc++)
    for (int oy = 0; oy < s->out_height; oy++)
    for (int ox = 0; ox < s->out_width; ox++) {
        double sum = 0, magnitude = 0;
        int g = oc / group_outputs;
        for (int ic = 0; ic < group_inputs; ic++)
        for (int ky = 0; ky < s->kernel_height; ky++)
        for (int kx = 0; kx < s->kernel_width; kx++) {
            int iy = oy * s->stride_height - s->padding_height + ky * s->dilation_height;
            int ix = ox * s->stride_width - s->padding_width + kx * s->dilation_width;
            if (iy < 0 || iy >= s->in_height || ix < 0 || ix >= s->in_width) continue;
            double product = (double)input[(((size_t)n * s->in_channels + g * group_inputs + ic) * s->in_height + iy) * s->in_width + ix] *
                             weight[(((size_t)oc * group_inputs + ic) * s->kernel_height + ky) * s->kernel_width + kx];
            sum += product;
            magnitude += fabs(product);
        }
        size_t index = (((size_t)n * s->out_channels + oc) * s->out_height + oy) * s->out_width + ox;
        if (bias) { sum += bias[oc]; magnitude += fabs(bias[oc]); }
        if (residual) { sum += residual[index]; magnitude += fabs(residual[index]); }
        double expected = activate_reference(activation, sum);
        double tolerance = (pk_conv2d_uses_winograd(s) ? 8 : 1) * 2e-6 * magnitude + 4e-7 * fabs(expected) + 1e-12;
        double error = fabs((double)got[index] - expected);
        if (!(error <= tolerance)) {
            if (failures < 3)
                fprintf(stderr, "  mismatch at n=%d oc=%d y=%d x=%d: got %.9g expected %.9g (tolerance %.3g)\n", n, oc,
                        oy, ox, got[index], expected, tolerance);
            failures++;
        }
        double relative = error / (magnitude + fabs(expected) + 1e-30);
        if (relative > *worst) *worst = relative;
    }
    return failures;
}

typedef enum { RESIDUAL_NONE, RESIDUAL_SEPARATE, RESIDUAL_IN_OUTPUT } residual_mode;

/// The channel-blocked path of the same case: input and residual changed into blocks, the output
/// changed back, then the same comparison.
static int check_blocked(const pk_conv2d_shape *s, const float *input, const float *weight, const float *bias,
                         const float *residual, residual_mode residual_kind, pk_activation activation, double *worst) {
    size_t in_plane = (size_t)s->in_height * s->in_width, out_plane = (size_t)s->out_height * s->out_width;
    float *blocked_input = malloc(input_count(s) * sizeof(float));
    float *blocked_residual = residual ? malloc(output_count(s) * sizeof(float)) : NULL;
    float *blocked_output = malloc(output_count(s) * sizeof(float)), *output = malloc(output_count(s) * sizeof(float));
    float *packed = malloc(pk_conv2d_blocked_packed_weights_count(s) * sizeof(float) + 64);
    for (size_t i = 0; i < output_count(s); i++) blocked_output[i] = NAN;
    if (pk_conv2d_blocked_reads_nchw(s)) memcpy(blocked_input, input, input_count(s) * sizeof(float));
    else pk_to_channel_blocks(input, blocked_input, (size_t)s->batch, (size_t)s->in_channels, in_plane);
    if (residual) pk_to_channel_blocks(residual, blocked_residual, (size_t)s->batch, (size_t)s->out_channels, out_plane);
    if (residual_kind == RESIDUAL_IN_OUTPUT) memcpy(blocked_output, blocked_residual, output_count(s) * sizeof(float));
    pk_conv2d_blocked_pack_weights(s, weight, packed);
    pk_conv2d_blocked_run(s, blocked_input, packed, bias,
                          residual_kind == RESIDUAL_IN_OUTPUT ? blocked_output : blocked_residual, activation,
                          blocked_output);
    pk_from_channel_blocks(blocked_output, output, (size_t)s->batch, (size_t)s->out_channels, out_plane);
    int failures = compare_with_reference(s, input, weight, bias, residual, activation, output, worst);
    if (pk_conv2d_blocked_takes_input_scale(s)) {
        // The same convolution with squeeze-and-excitation's scale folded in: the blocked input as it
        // was, against the reference on the input scaled channel by channel.
        float *factors = random_floats((size_t)s->batch * s->in_channels, 0.75f);
        float *scaled = malloc(input_count(s) * sizeof(float));
        for (size_t i = 0; i < (size_t)s->batch * s->in_channels; i++) factors[i] += 1.0f;
        for (size_t i = 0; i < input_count(s); i++) scaled[i] = input[i] * factors[i / in_plane];
        for (size_t i = 0; i < output_count(s); i++) blocked_output[i] = NAN;
        if (residual_kind == RESIDUAL_IN_OUTPUT) memcpy(blocked_output, blocked_residual, output_count(s) * sizeof(float));
        pk_conv2d_blocked_run_scaled(s, blocked_input, factors, packed, bias,
                                     residual_kind == RESIDUAL_IN_OUTPUT ? blocked_output : blocked_residual,
                                     activation, blocked_output);
        pk_from_channel_blocks(blocked_output, output, (size_t)s->batch, (size_t)s->out_channels, out_plane);
        int scaled_failures = compare_with_reference(s, scaled, weight, bias, residual, activation, output, worst);
        if (scaled_failures) fprintf(stderr, "  (the run with an input scale)\n");
        failures += scaled_failures;
        free(factors); free(scaled);
    }
    free(blocked_input); free(blocked_residual); free(blocked_output); free(output); free(packed);
    return failures;
}

static int check_case(const char *name, pk_conv2d_shape s, int with_bias, residual_mode residual_kind,
                      pk_activation activation, double *worst) {
    s.out_height = out_size(s.in_height, s.kernel_height, s.stride_height, s.padding_height, s.dilation_height);
    s.out_width = out_size(s.in_width, s.kernel_width, s.stride_width, s.padding_width, s.dilation_width);
    // Inputs large enough that sigmoid and SiLU see their saturated tails too.
    float scale = activation == PK_ACTIVATION_SILU || activation == PK_ACTIVATION_SIGMOID || activation == PK_ACTIVATION_GELU ? 4.0f : 1.0f;
    float *input = random_floats(input_count(&s), scale);
    float *weight = random_floats(weight_count(&s), 1.0f);
    float *bias = with_bias ? random_floats((size_t)s.out_channels, 1.0f) : NULL;
    float *residual = residual_kind != RESIDUAL_NONE ? random_floats(output_count(&s), 2.0f) : NULL;
    float *output = malloc(output_count(&s) * sizeof(float));
    // Garbage in the output shows any element the kernel forgets to write.
    for (size_t i = 0; i < output_count(&s); i++) output[i] = NAN;
    if (residual_kind == RESIDUAL_IN_OUTPUT) memcpy(output, residual, output_count(&s) * sizeof(float));
    float *packed = malloc(pk_conv2d_packed_weights_count(&s) * sizeof(float) + 64);
    pk_conv2d_pack_weights(&s, weight, packed);
    pk_conv2d_run(&s, input, packed, bias, residual_kind == RESIDUAL_IN_OUTPUT ? output : residual, activation,
                  output);
    int failures = compare_with_reference(&s, input, weight, bias, residual, activation, output, worst);
    if (failures)
        fprintf(stderr, "FAIL %s [%s, %d threads, bias %d, residual %d, activation %d]: %d elements\n", name,
                pk_kernels_isa(), pk_thread_count(), with_bias, residual_kind, activation, failures);
    int blocked_failures = pk_conv2d_blocked_supported(&s)
        ? check_blocked(&s, input, weight, bias, residual, residual_kind, activation, worst) : 0;
    if (blocked_failures)
        fprintf(stderr, "FAIL %s, channel-blocked [%s, %d threads, bias %d, residual %d, activation %d]: %d elements\n",
                name, pk_kernels_isa(), pk_thread_count(), with_bias, residual_kind, activation, blocked_failures);
    free(input); free(weight); free(bias); free(residual); free(output); free(packed);
    return failures != 0 || blocked_failures != 0;
}

typedef struct {
    const char *name;
    pk_conv2d_shape shape;  // out_height/out_width are computed
} check_shape;

#define SHAPE(n, c, h, w, oc, kh, kw, sh, sw, ph, pw, dh, dw, g) \
    {n, c, h, w, oc, 0, 0, kh, kw, sh, sw, ph, pw, dh, dw, g}

static const check_shape check_shapes[] = {
    {"1x1 direct, odd channels", SHAPE(1, 13, 7, 9, 11, 1, 1, 1, 1, 0, 0, 1, 1, 1)},
    {"1x1 direct, 1x1 image", SHAPE(2, 40, 1, 1, 19, 1, 1, 1, 1, 0, 0, 1, 1, 1)},
    {"1x1 on a 1x1 image, batch 1 (squeeze-excitation)", SHAPE(1, 240, 1, 1, 10, 1, 1, 1, 1, 0, 0, 1, 1, 1)},
    {"1x1 on a 1x1 image, batch 1, 1152 outputs", SHAPE(1, 48, 1, 1, 1152, 1, 1, 1, 1, 0, 0, 1, 1, 1)},
    {"1x1 stride 2 on a 1x1 image, batch 7", SHAPE(7, 33, 1, 1, 35, 1, 1, 2, 2, 0, 0, 1, 1, 1)},
    {"1x1 direct, deep K (3 blocks)", SHAPE(1, 600, 5, 7, 14, 1, 1, 1, 1, 0, 0, 1, 1, 1)},
    {"1x1 stride 2", SHAPE(2, 24, 9, 11, 10, 1, 1, 2, 2, 0, 0, 1, 1, 1)},
    {"1x1 padded", SHAPE(1, 5, 4, 3, 7, 1, 1, 1, 1, 1, 2, 1, 1, 1)},
    {"3x3 pad 1", SHAPE(1, 17, 12, 10, 23, 3, 3, 1, 1, 1, 1, 1, 1, 1)},
    {"3x3 stride 2 batch 3", SHAPE(3, 9, 15, 13, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1)},
    {"3x3 dilation 2 pad 2", SHAPE(1, 8, 11, 12, 9, 3, 3, 1, 1, 2, 2, 2, 2, 1)},
    {"3x3 pad 3 (more than the window reach)", SHAPE(1, 4, 5, 6, 6, 3, 3, 1, 1, 3, 3, 1, 1, 1)},
    {"3x3 on a 1x1 image", SHAPE(2, 30, 1, 1, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1)},
    {"deep 3x3 (K 4608)", SHAPE(1, 512, 3, 3, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1)},
    {"7x7 stem stride 2", SHAPE(1, 3, 23, 21, 64, 7, 7, 2, 2, 3, 3, 1, 1, 1)},
    {"3x3 stem stride 2", SHAPE(2, 3, 17, 17, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1)},
    {"rectangular kernel", SHAPE(1, 6, 9, 10, 7, 1, 5, 1, 2, 0, 2, 1, 1, 1)},
    {"grouped 32 (ResNeXt)", SHAPE(1, 128, 6, 5, 128, 3, 3, 1, 1, 1, 1, 1, 1, 32)},
    {"grouped 4, stride 2", SHAPE(2, 12, 9, 9, 20, 3, 3, 2, 2, 1, 1, 1, 1, 4)},
    // Winograd F(4x4, 3x3): 3x3 stride 1, at least 16 channels each way and 8x8 outputs.
    {"winograd, edge blocks cut both ways", SHAPE(2, 16, 13, 11, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1)},
    {"winograd, unpadded, several strips", SHAPE(1, 19, 30, 26, 22, 3, 3, 1, 1, 0, 0, 1, 1, 1)},
    {"winograd, padding 2", SHAPE(1, 24, 9, 10, 30, 3, 3, 1, 1, 2, 2, 1, 1, 1)},
    {"winograd, deep (2 K blocks)", SHAPE(1, 300, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1)},
    {"winograd, wide rows", SHAPE(1, 16, 8, 70, 18, 3, 3, 1, 1, 1, 1, 1, 1, 1)},
    {"depthwise multiplier 2 (grouped GEMM)", SHAPE(1, 6, 8, 8, 12, 3, 3, 1, 1, 1, 1, 1, 1, 6)},
    {"depthwise 3x3", SHAPE(2, 19, 13, 37, 19, 3, 3, 1, 1, 1, 1, 1, 1, 19)},
    {"depthwise 3x3 stride 2", SHAPE(1, 16, 14, 15, 16, 3, 3, 2, 2, 1, 1, 1, 1, 16)},
    {"depthwise 3x3 stride 2, wide rows", SHAPE(1, 3, 5, 75, 3, 3, 3, 2, 2, 1, 1, 1, 1, 3)},
    {"depthwise 5x5", SHAPE(1, 8, 9, 70, 8, 5, 5, 1, 1, 2, 2, 1, 1, 8)},
    {"depthwise 5x5 stride 2", SHAPE(1, 8, 17, 16, 8, 5, 5, 2, 2, 2, 2, 1, 1, 8)},
    {"depthwise dilation 2, stride 3", SHAPE(1, 5, 13, 14, 5, 3, 3, 3, 3, 2, 1, 2, 2, 5)},
    {"depthwise 1x1 image", SHAPE(3, 7, 1, 1, 7, 3, 3, 1, 1, 1, 1, 1, 1, 7)},
    {"depthwise 5x5 on 7x7 planes (read in place)", SHAPE(2, 12, 7, 7, 12, 5, 5, 1, 1, 2, 2, 1, 1, 12)},
    {"depthwise 3x3 stride 2 dilation 2 (read in place)", SHAPE(1, 4, 9, 20, 4, 3, 3, 2, 2, 2, 2, 2, 2, 4)},
    {"depthwise 3x3 stride 2, no padding", SHAPE(1, 5, 12, 41, 5, 3, 3, 2, 2, 0, 0, 1, 1, 5)},
    {"depthwise 2x3 stride (1, 2), padding wider than the window", SHAPE(1, 3, 6, 11, 3, 2, 3, 1, 2, 3, 4, 1, 1, 3)},
    // Channel counts that are multiples of 8 also run on the channel-blocked layout.
    {"blocked 1x1, one 8-channel panel, 13 pixels", SHAPE(2, 16, 1, 13, 8, 1, 1, 1, 1, 0, 0, 1, 1, 1)},
    {"blocked 1x1, panels of 16 and 8, 7x7", SHAPE(1, 24, 7, 7, 40, 1, 1, 1, 1, 0, 0, 1, 1, 1)},
    {"blocked 1x1, panel pairs of 4 and 3 blocks, 5x9", SHAPE(1, 32, 5, 9, 56, 1, 1, 1, 1, 0, 0, 1, 1, 1)},
    {"blocked 1x1, two panel pairs, 27 pixels", SHAPE(2, 40, 3, 9, 64, 1, 1, 1, 1, 0, 0, 1, 1, 1)},
    {"blocked 1x1, deep K, many pixel blocks", SHAPE(1, 960, 12, 14, 24, 1, 1, 1, 1, 0, 0, 1, 1, 1)},
    {"blocked 1x1 on a 1x1 image", SHAPE(3, 32, 1, 1, 16, 1, 1, 1, 1, 0, 0, 1, 1, 1)},
    // A layer's last full panel and half panel run as one three-block tile on AVX2, four pixels at a time.
    {"blocked 1x1, 24 outputs (a panel and a half), 2x15", SHAPE(2, 48, 2, 15, 24, 1, 1, 1, 1, 0, 0, 1, 1, 1)},
    {"blocked 1x1, 40 outputs, deep K, split panels", SHAPE(1, 400, 6, 9, 40, 1, 1, 1, 1, 0, 0, 1, 1, 1)},
    {"blocked 1x1 stride 2 (ResNet's shortcut), odd size", SHAPE(2, 16, 13, 11, 24, 1, 1, 2, 2, 0, 0, 1, 1, 1)},
    {"blocked 1x1 stride 2, many panels, split pixels", SHAPE(1, 64, 28, 28, 128, 1, 1, 2, 2, 0, 0, 1, 1, 1)},
    {"blocked 1x1 strides (3, 2), dilation 2", SHAPE(1, 8, 10, 9, 16, 1, 1, 3, 2, 0, 0, 2, 2, 1)},
    {"blocked 1x1 stride 2 on a 2x2 image", SHAPE(3, 32, 2, 2, 8, 1, 1, 2, 2, 0, 0, 1, 1, 1)},
    {"blocked depthwise 3x3, 1 block", SHAPE(2, 8, 13, 37, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8)},
    {"blocked depthwise 3x3 stride 2", SHAPE(1, 24, 14, 15, 24, 3, 3, 2, 2, 1, 1, 1, 1, 24)},
    {"blocked depthwise 5x5 stride 2, odd size", SHAPE(1, 16, 17, 19, 16, 5, 5, 2, 2, 2, 2, 1, 1, 16)},
    {"blocked depthwise 3x3 dilation 2, stride 3", SHAPE(1, 8, 13, 14, 8, 3, 3, 3, 3, 2, 1, 2, 2, 8)},
    {"blocked depthwise, padding wider than the window", SHAPE(1, 16, 6, 11, 16, 2, 3, 1, 2, 3, 4, 1, 1, 16)},
    {"blocked depthwise on a 1x1 image", SHAPE(2, 16, 1, 1, 16, 3, 3, 1, 1, 1, 1, 1, 1, 16)},
    {"blocked depthwise 7x7 on 3 columns", SHAPE(1, 8, 9, 3, 8, 7, 7, 1, 1, 3, 3, 1, 1, 8)},
    {"blocked depthwise 7x7 (ConvNeXt), interior pixels", SHAPE(1, 16, 9, 21, 16, 7, 7, 1, 1, 3, 3, 1, 1, 16)},
    // Stride-1 rows of many widths: AVX-512 computes them in output pairs, 16 columns a step (8 for
    // a row's last 8 or fewer), masking the borders' taps in the padding and the columns past the end.
    {"blocked depthwise 3x3, 7 columns", SHAPE(1, 16, 7, 7, 16, 3, 3, 1, 1, 1, 1, 1, 1, 16)},
    {"blocked depthwise 3x3, 14 columns", SHAPE(1, 8, 6, 14, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8)},
    {"blocked depthwise 3x3, 57 columns", SHAPE(1, 16, 5, 57, 16, 3, 3, 1, 1, 1, 1, 1, 1, 16)},
    {"blocked depthwise 3x3 unpadded, 28 columns", SHAPE(1, 8, 6, 30, 8, 3, 3, 1, 1, 0, 0, 1, 1, 8)},
    {"blocked depthwise 3x3 stride (2, 1), dilation (2, 1)", SHAPE(1, 8, 11, 23, 8, 3, 3, 2, 1, 2, 1, 2, 1, 8)},
    {"blocked depthwise 5x5, 7 columns", SHAPE(2, 8, 7, 7, 8, 5, 5, 1, 1, 2, 2, 1, 1, 8)},
    {"blocked depthwise 5x5, 13 columns", SHAPE(1, 8, 7, 13, 8, 5, 5, 1, 1, 2, 2, 1, 1, 8)},
    {"blocked depthwise 5x5, 28 columns", SHAPE(1, 16, 6, 28, 16, 5, 5, 1, 1, 2, 2, 1, 1, 16)},
    {"blocked depthwise 5x5 padding 1, 29 columns", SHAPE(1, 8, 6, 31, 8, 5, 5, 1, 1, 1, 1, 1, 1, 8)},
    {"blocked depthwise 7x7, 13 columns", SHAPE(1, 16, 5, 13, 16, 7, 7, 1, 1, 3, 3, 1, 1, 16)},
    // Rows under 8 pixels: AVX2 runs them from padded copies in groups of four, the last group partial.
    {"blocked depthwise 3x3 stride 2, 7 output columns", SHAPE(1, 16, 9, 13, 16, 3, 3, 2, 2, 1, 1, 1, 1, 16)},
    {"blocked depthwise 5x5 stride 2, 5 output columns", SHAPE(1, 8, 9, 10, 8, 5, 5, 2, 2, 2, 2, 1, 1, 8)},
    {"blocked depthwise 3x3, 2 columns", SHAPE(1, 8, 4, 2, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8)},
    {"blocked depthwise 7x7, 28 columns", SHAPE(1, 8, 8, 28, 8, 7, 7, 1, 1, 3, 3, 1, 1, 8)},
    // Planes up to 32 columns run from zero-padded copies of their rows (DepthwisePaddedAvx2.c): a task's
    // rows in several copies, a stride-2 copy narrower than the row, a 7x7 kernel at stride 2.
    {"blocked depthwise 7x7 from padded copies, several copies a task", SHAPE(1, 16, 30, 32, 16, 7, 7, 1, 1, 3, 3, 1, 1, 16)},
    {"blocked depthwise 3x3 stride 2 unpadded, copy narrower than the row", SHAPE(1, 8, 9, 10, 8, 3, 3, 2, 2, 0, 0, 1, 1, 8)},
    {"blocked depthwise 7x7 stride 2, batch 2", SHAPE(2, 8, 15, 15, 8, 7, 7, 2, 2, 3, 3, 1, 1, 8)},
    {"blocked grouped, 8 per group, stride 2, odd size", SHAPE(2, 64, 13, 11, 64, 3, 3, 2, 2, 1, 1, 1, 1, 8)},
    {"blocked grouped, 16 per group (2 input blocks), 7x7", SHAPE(1, 64, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1, 4)},
    {"blocked grouped, 2 per group (4 groups share a block)", SHAPE(1, 16, 9, 10, 16, 3, 3, 1, 1, 1, 1, 1, 1, 8)},
    {"blocked grouped, 8 in / 16 out per group, dilation 2, unpadded", SHAPE(1, 16, 11, 12, 32, 3, 3, 1, 1, 0, 0, 2, 2, 2)},
    {"blocked grouped, padding wider than the window", SHAPE(1, 32, 6, 11, 32, 2, 3, 1, 2, 3, 4, 1, 1, 2)},
    {"blocked grouped on a 1x1 image", SHAPE(2, 32, 1, 1, 32, 3, 3, 1, 1, 1, 1, 1, 1, 4)},
    {"blocked grouped 1x1, 16 in / 24 out per group", SHAPE(1, 32, 5, 6, 48, 1, 1, 1, 1, 0, 0, 1, 1, 2)},
    {"blocked grouped, 24 per group (RegNet), 9 pixels a row", SHAPE(1, 48, 9, 9, 48, 3, 3, 1, 1, 1, 1, 1, 1, 2)},
    // Winograd on blocks: patches cut by the image's edges, several strips, output channels split
    // between tasks (104 outputs: shares of 72 and 32, each on a block).
    {"blocked winograd, edge blocks cut both ways, batch 2", SHAPE(2, 16, 13, 11, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1)},
    {"blocked winograd, unpadded, several strips", SHAPE(1, 24, 30, 26, 40, 3, 3, 1, 1, 0, 0, 1, 1, 1)},
    {"blocked winograd, padding 2", SHAPE(1, 24, 9, 10, 32, 3, 3, 1, 1, 2, 2, 1, 1, 1)},
    {"blocked winograd, deep (2 K blocks), split outputs", SHAPE(1, 264, 8, 8, 104, 3, 3, 1, 1, 1, 1, 1, 1, 1)},
    // Dense convolutions Winograd does not take: tiles of six pixels across row ends, panels of 16
    // output channels and a last one of 8, windows read from the padded copy.
    {"blocked dense 3x3 stride 2, odd size, batch 2", SHAPE(2, 16, 13, 11, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1)},
    {"blocked dense 3x3 on 7x7 (ResNet's last stage)", SHAPE(1, 32, 7, 7, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1)},
    {"blocked dense 3x3, deep (64 input blocks), 3x3 image", SHAPE(1, 512, 3, 3, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1)},
    {"blocked dense 5x5 dilation 2, unpadded", SHAPE(1, 8, 12, 13, 16, 5, 5, 1, 1, 0, 0, 2, 2, 1)},
    {"blocked dense 1x1 padded", SHAPE(1, 8, 4, 3, 8, 1, 1, 1, 1, 1, 2, 1, 1, 1)},
    {"blocked dense 7x5 strides (3, 2), padding wider than the window", SHAPE(1, 16, 5, 6, 8, 7, 5, 3, 2, 4, 3, 1, 1, 1)},
    {"blocked dense 3x3 on a 1x1 image", SHAPE(2, 24, 1, 1, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1)},
    // Stems: NCHW input of a few channels, blocked output.
    {"blocked stem 7x7 stride 2 (ResNet's), NCHW input", SHAPE(2, 3, 23, 21, 64, 7, 7, 2, 2, 3, 3, 1, 1, 1)},
    {"blocked stem 3x3 stride 2, 16 outputs, NCHW input", SHAPE(1, 3, 17, 16, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1)},
    {"blocked stem 11x11 stride 4 (AlexNet's), 1 input channel", SHAPE(1, 1, 31, 35, 24, 11, 11, 4, 4, 2, 2, 1, 1, 1)},
    {"blocked 1x1 from 12 NCHW channels", SHAPE(1, 12, 5, 7, 8, 1, 1, 1, 1, 0, 0, 1, 1, 1)},
};

/// How far an activation's float32 result may be from the double formula: 4 ulps of the result, or
/// 1e-30 absolute where results are tinier (e^x is clamped to [-87, 88]). GELU's erf is ATen's
/// approximation (absolute error below 1.5e-7), so it may also be off by 0.5 |x| 1.5e-7 and the
/// rounding of 1 - r t e^{-x^2} near 1: 1e-7 |x| in all.
static double activation_tolerance(pk_activation a, double x, double expected) {
    return 4 * fabs(expected) * 0x1p-23 + 1e-30 + (a == PK_ACTIVATION_GELU ? 1e-7 * fabs(x) : 0);
}

/// Activations through a 1 -> 1 channel 1x1 convolution with weight 1 (so the epilogue sees x
/// exactly), and through the stand-alone pass (`pk_activation_apply`, out of place and in place, on
/// a length that leaves a partial vector), on a sweep over [-100, 100] including the saturated tails.
static int check_activation_accuracy(void) {
    enum { COUNT = 20001 };
    pk_conv2d_shape s = {1, 1, 1, COUNT, 1, 1, COUNT, 1, 1, 1, 1, 0, 0, 1, 1, 1};
    float *input = malloc(COUNT * sizeof(float)), *output = malloc(COUNT * sizeof(float)), weight = 1, packed[PK_PACKED_ONE];
    for (int i = 0; i < COUNT; i++) input[i] = -100.0f + 0.01f * (float)i;
    pk_conv2d_pack_weights(&s, &weight, packed);
    int failures = 0;
    for (int a = PK_ACTIVATION_NONE; a <= PK_ACTIVATION_GELU; a++) {
        double worst = 0;
        for (int pass = 0; pass < 3; pass++) {
            if (pass == 0) pk_conv2d_run(&s, input, packed, NULL, NULL, (pk_activation)a, output);
            if (pass == 1) pk_activation_apply((pk_activation)a, input, output, COUNT);
            if (pass == 2) {
                memcpy(output, input, COUNT * sizeof(float));
                pk_activation_apply((pk_activation)a, output, output, COUNT);
            }
            for (int i = 0; i < COUNT; i++) {
                double expected = activate_reference((pk_activation)a, input[i]);
                double share = fabs(output[i] - expected) / activation_tolerance((pk_activation)a, input[i], expected);
                if (share > worst) worst = share;
            }
        }
        printf("%s %.2f", a == PK_ACTIVATION_NONE ? "check: activations' worst error / tolerance" : ",", worst);
        if (worst > 1) {
            fprintf(stderr, "FAIL activation %d [%s]: %.2fx its tolerance from the double formula\n", a, pk_kernels_isa(), worst);
            failures++;
        }
    }
    printf(" (none, relu, relu6, hardswish, hardsigmoid, silu, sigmoid, gelu)\n");
    free(input); free(output);
    return failures;
}

/// Two threads run plans at once (one owns the pool, the other runs inline on its own scratch):
/// each checks its results as if alone.
static void *check_from_thread(void *seed) {
    rng_state = (unsigned long long)(uintptr_t)seed;
    double worst = 0;
    size_t failures = 0;
    for (int round = 0; round < 4; round++)
        for (size_t c = 0; c < sizeof check_shapes / sizeof check_shapes[0]; c++)
            failures += (size_t)check_case(check_shapes[c].name, check_shapes[c].shape, 1,
                                           (residual_mode)((c + round) % 3), PK_ACTIVATION_SILU, &worst);
    return (void *)failures;
}

static int check_concurrent_callers(void) {
    pthread_t threads[2];
    size_t failures = 0;
    for (int t = 0; t < 2; t++) pthread_create(&threads[t], NULL, check_from_thread, (void *)(uintptr_t)(t + 17));
    for (int t = 0; t < 2; t++) {
        void *result;
        pthread_join(threads[t], &result);
        failures += (size_t)(uintptr_t)result;
    }
    if (failures) fprintf(stderr, "FAIL concurrent callers [%s]: %zu cases\n", pk_kernels_isa(), failures);
    return failures != 0;
}

/// pk_max_pool2d against ATen's loop (each window in row-major tap order, clipped to the input,
/// `value > kept || isnan(value)`), on torchvision's pools and awkward ones: ceil mode, padding,
/// dilation, widths that leave partial vectors, a 1-pixel image, and NaNs that must win. The same
/// pools on channel blocks (pk_max_pool2d_blocked) against the same loop.
static int check_max_pool(void) {
    static const int cases[][10] = {
        // height, width, kernel h/w, stride h/w, padding h/w, dilation h/w
        {112, 112, 3, 3, 2, 2, 1, 1, 1, 1},   // resnet's stem
        {55, 55, 3, 3, 2, 2, 0, 0, 1, 1},     // alexnet / squeezenet (ceil)
        {28, 28, 3, 3, 1, 1, 1, 1, 1, 1},     // googlenet's branch pool
        {13, 37, 2, 2, 2, 2, 0, 0, 1, 1},
        {9, 21, 3, 2, 2, 1, 1, 1, 2, 1},
        {7, 19, 5, 3, 3, 2, 2, 1, 1, 2},
        {1, 1, 1, 1, 1, 1, 0, 0, 1, 1},
        {3, 50, 3, 3, 2, 2, 1, 1, 1, 1},
        {14, 14, 3, 3, 1, 1, 1, 1, 1, 1},     // googlenet's branch pools on 14x14 and 7x7 planes
        {7, 7, 3, 3, 1, 1, 1, 1, 1, 1},
        {14, 14, 3, 3, 2, 2, 0, 0, 1, 1},     // its pool to 7x7 (ceil)
        {5, 3, 3, 3, 1, 1, 1, 1, 1, 1},       // rows narrower than one vector
        {6, 16, 2, 2, 2, 2, 0, 0, 1, 1},      // whole vectors only
        {4, 32, 2, 2, 2, 2, 0, 0, 1, 1},      // whole AVX-512 vectors only
        // Every kernel / padding / stride the AVX-512 row path specializes, over several vectors
        {10, 40, 3, 3, 1, 1, 0, 0, 1, 1},
        {9, 21, 3, 2, 2, 1, 1, 1, 1, 1},
        {11, 35, 2, 2, 2, 2, 1, 1, 1, 1},
        {6, 33, 2, 2, 1, 1, 0, 0, 1, 1},
        {7, 47, 2, 2, 1, 1, 1, 1, 1, 1},
        {8, 70, 3, 3, 2, 2, 1, 1, 1, 1},
        {5, 67, 3, 3, 2, 2, 0, 0, 1, 1},
        {12, 12, 3, 3, 3, 3, 1, 1, 1, 1},     // stride 3: the line path
    };
    int failures = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int ceil_mode = 0; ceil_mode <= 1; ceil_mode++) {
            const int *k = cases[c];
            // One image of 8 channels, or two (each thread's rows, then its planes): one channel block each.
            int images = 1 + (int)(c % 2);
            pk_pool2d_shape s = {images, 8 * images, k[0], k[1], 0, 0, k[2], k[3], k[4], k[5], k[6], k[7], k[8], k[9]};
            int sizes[2];
            for (int axis = 0; axis < 2; axis++) {
                int input = axis ? s.in_width : s.in_height, kernel = axis ? s.kernel_width : s.kernel_height;
                int stride = axis ? s.stride_width : s.stride_height, pad = axis ? s.padding_width : s.padding_height;
                int dilation = axis ? s.dilation_width : s.dilation_height;
                int span = input + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
                int size = span / stride + 1;
                if (ceil_mode && (size - 1) * stride >= input + pad) size--;
                sizes[axis] = size;
            }
            s.out_height = sizes[0], s.out_width = sizes[1];
            size_t in_count = (size_t)s.planes * s.in_height * s.in_width, out_count = (size_t)s.planes * s.out_height * s.out_width;
            float *input = random_floats(in_count, 1), *output = malloc(out_count * sizeof(float));
            if (in_count > 40) input[17] = NAN, input[in_count - 3] = NAN;
            // Infinities of both signs in the middle plane: a window's maximum, and a plane whose
            // values sum to NaN without holding one.
            size_t plane_size = (size_t)s.in_height * s.in_width;
            if (plane_size > 10) input[plane_size + 5] = INFINITY, input[plane_size + 9] = -INFINITY;
            pk_max_pool2d(&s, input, output);
            size_t out_plane = (size_t)s.out_height * s.out_width;
            float *blocked_input = malloc(in_count * sizeof(float)), *blocked_output = malloc(out_count * sizeof(float));
            float *from_blocks = malloc(out_count * sizeof(float));
            size_t channels = (size_t)(s.planes / s.images);
            pk_to_channel_blocks(input, blocked_input, (size_t)s.images, channels, plane_size);
            pk_max_pool2d_blocked(&s, blocked_input, blocked_output);
            pk_from_channel_blocks(blocked_output, from_blocks, (size_t)s.images, channels, out_plane);
            for (int p = 0; p < s.planes; p++)
            for (int oy = 0; oy < s.out_height; oy++)
            for (int ox = 0; ox < s.out_width; ox++) {
                float kept = -INFINITY;
                for (int ky = 0; ky < s.kernel_height; ky++)
                for (int kx = 0; kx < s.kernel_width; kx++) {
                    int iy = oy * s.stride_height - s.padding_height + ky * s.dilation_height;
                    int ix = ox * s.stride_width - s.padding_width + kx * s.dilation_width;
                    if (iy < 0 || iy >= s.in_height || ix < 0 || ix >= s.in_width) continue;
                    float value = input[((size_t)p * s.in_height + iy) * s.in_width + ix];
                    if (value > kept || isnan(value)) kept = value;
                }
                for (int layout = 0; layout < 2; layout++) {
                    float got = (layout ? from_blocks : output)[((size_t)p * s.out_height + oy) * s.out_width + ox];
                    if (!(got == kept || (isnan(got) && isnan(kept)))) {
                        if (failures < 3)
                            fprintf(stderr, "FAIL max_pool2d%s case %zu ceil %d [%s] at %d,%d,%d: got %g expected %g\n",
                                    layout ? " (channel blocks)" : "", c, ceil_mode, pk_kernels_isa(), p, oy, ox, got, kept);
                        failures++;
                    }
                }
            }
            free(input); free(output); free(blocked_input); free(blocked_output); free(from_blocks);
        }
    }
    printf("check: max_pool2d [%s, %d threads] %s\n", pk_kernels_isa(), pk_thread_count(), failures ? "FAILED" : "exact");
    return failures != 0;
}

/// pk_layer_norm_rows and pk_attention_softmax_row against double-precision formulas on row lengths
/// that leave partial vectors (1, 7, 49: Swin's windows, 197: ViT's tokens, 768), with and without
/// weight, bias and mask, out of place and in place; then a NaN score that must take its row.
static int check_row_normalizations(void) {
    static const size_t lengths[] = {1, 7, 49, 197, 768};
    int failures = 0;
    double worst_norm = 0, worst_softmax = 0;
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
        size_t count = lengths[l], rows = 37;
        for (int affine = 0; affine <= 1; affine++) {
            float *x = random_floats(rows * count, 3), *y = malloc(rows * count * sizeof(float));
            float *weight = affine ? random_floats(count, 2) : NULL, *bias = affine ? random_floats(count, 1) : NULL;
            for (size_t i = 0; i < rows * count; i++) x[i] += 5.0f;  // a mean far from zero
            for (int in_place = 0; in_place <= 1; in_place++) {
                if (in_place) memcpy(y, x, rows * count * sizeof(float));
                pk_layer_norm_rows(in_place ? y : x, y, rows, count, weight, bias, 1e-5);
                for (size_t r = 0; r < rows; r++) {
                    double mean = 0, var = 0;
                    for (size_t i = 0; i < count; i++) mean += x[r * count + i];
                    mean /= (double)count;
                    for (size_t i = 0; i < count; i++) var += (x[r * count + i] - mean) * (x[r * count + i] - mean);
                    double rstd = 1 / sqrt(var / (double)count + 1e-5);
                    for (size_t i = 0; i < count; i++) {
                        double expected = (x[r * count + i] - mean) * rstd * (weight ? weight[i] : 1) + (bias ? bias[i] : 0);
                        double error = fabs(y[r * count + i] - expected) / (fabs(expected) * 0x1p-23 + 1e-6);
                        if (error > worst_norm) worst_norm = error;
                    }
                }
            }
            float *mask = affine ? random_floats(count, 4) : NULL;
            memcpy(y, x, rows * count * sizeof(float));
            for (size_t r = 0; r < rows; r++) {
                pk_attention_softmax_row(y + r * count, count, bias, mask);
                double maximum = -INFINITY, sum = 0;
                double scores[768];
                for (size_t j = 0; j < count; j++) {
                    scores[j] = (double)x[r * count + j] + (bias ? bias[j] : 0) + (mask ? mask[j] : 0);
                    if (scores[j] > maximum) maximum = scores[j];
                }
                for (size_t j = 0; j < count; j++) sum += exp(scores[j] - maximum);
                for (size_t j = 0; j < count; j++) {
                    double expected = exp(scores[j] - maximum) / sum;
                    double error = fabs(y[r * count + j] - expected) / (expected * 0x1p-23 + 1e-30);
                    if (error > worst_softmax) worst_softmax = error;
                }
            }
            free(x); free(y); free(weight); free(bias); free(mask);
        }
    }
    // LayerNorm2d: [2, C, H*W] with plane sizes that leave partial vectors.
    static const size_t planes[] = {1, 5, 49, 3136};
    for (size_t p = 0; p < sizeof planes / sizeof planes[0]; p++) {
        size_t channels = 24, plane = planes[p], count = 2 * channels * plane;
        float *x = random_floats(count, 3), *y = malloc(count * sizeof(float));
        float *weight = random_floats(channels, 2), *bias = random_floats(channels, 1);
        pk_layer_norm_channels(x, y, 2, channels, plane, weight, bias, 1e-6);
        for (size_t n = 0; n < 2; n++)
            for (size_t q = 0; q < plane; q++) {
                const float *column = x + n * channels * plane + q;
                double mean = 0, var = 0;
                for (size_t c = 0; c < channels; c++) mean += column[c * plane];
                mean /= (double)channels;
                for (size_t c = 0; c < channels; c++) var += (column[c * plane] - mean) * (column[c * plane] - mean);
                double rstd = 1 / sqrt(var / (double)channels + 1e-6);
                for (size_t c = 0; c < channels; c++) {
                    double expected = (column[c * plane] - mean) * rstd * weight[c] + bias[c];
                    double error = fabs(y[n * channels * plane + q + c * plane] - expected) / (fabs(expected) * 0x1p-23 + 1e-6);
                    if (error > worst_norm) worst_norm = error;
                }
            }
        free(x); free(y); free(weight); free(bias);
    }
    float row[9] = {1, 2, NAN, 4, 5, 6, 7, 8, 9};
    pk_attention_softmax_row(row, 9, NULL, NULL);
    for (int j = 0; j < 9; j++) if (!isnan(row[j])) failures++;
    // float32 inputs and rounded intermediate sums: a few ulps (scores also carry the float adds).
    if (worst_norm > 8 || worst_softmax > 16 || failures) {
        fprintf(stderr, "FAIL row normalizations [%s]: layer norm %.1f ulps, softmax %.1f ulps, NaN rows %d\n",
                pk_kernels_isa(), worst_norm, worst_softmax, failures);
        failures++;
    }
    printf("check: layer norm worst %.2f ulps, softmax worst %.2f ulps [%s]\n", worst_norm, worst_softmax, pk_kernels_isa());
    return failures != 0;
}

/// pk_transpose on sizes around the 8 x 8 blocks, with a source row stride wider than the rows.
static int check_transpose(void) {
    static const size_t sizes[][2] = {{1, 1}, {7, 9}, {8, 8}, {16, 24}, {96, 3136}, {49, 13}, {3, 17}};
    int failures = 0;
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
        size_t rows = sizes[c][0], columns = sizes[c][1], ld = rows + 3;
        float *source = random_floats(ld * columns, 1), *destination = malloc(rows * columns * sizeof(float));
        pk_transpose(source, ld, destination, rows, columns);
        for (size_t r = 0; r < rows; r++)
            for (size_t k = 0; k < columns; k++)
                if (destination[r * columns + k] != source[r + k * ld]) failures++;
        free(source); free(destination);
    }
    printf("check: transpose [%s] %s\n", pk_kernels_isa(), failures ? "FAILED" : "exact");
    if (failures) fprintf(stderr, "FAIL transpose [%s]: %d values\n", pk_kernels_isa(), failures);
    return failures != 0;
}

/// pk_channel_shuffle and pk_copy_channels against their index formulas: planes of 1 to 3137 pixels,
/// batches of 1 and 3, copies small enough for the calling thread and large enough for the pool.
static int check_channel_copies(void) {
    static const size_t shapes[][4] = {
        // batch, channels, groups, plane
        {1, 4, 2, 1}, {3, 6, 3, 7}, {1, 232, 2, 196}, {1, 116, 2, 784}, {3, 48, 4, 3137}, {2, 10, 5, 49},
    };
    int failures = 0;
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        size_t batch = shapes[c][0], channels = shapes[c][1], groups = shapes[c][2], plane = shapes[c][3];
        size_t count = batch * channels * plane, per_group = channels / groups;
        float *source = random_floats(count, 1), *shuffled = malloc(count * sizeof(float));
        pk_channel_shuffle(source, shuffled, batch, channels, groups, plane);
        for (size_t n = 0; n < batch; n++)
            for (size_t g = 0; g < groups; g++)
                for (size_t j = 0; j < per_group; j++)
                    for (size_t p = 0; p < plane; p++)
                        if (shuffled[(n * channels + j * groups + g) * plane + p] !=
                            source[(n * channels + g * per_group + j) * plane + p]) failures++;
        // The channels of the second group onwards: a chunk's later piece.
        size_t first = per_group, kept = channels - per_group;
        float *slice = malloc(batch * kept * plane * sizeof(float) + 1);
        pk_copy_channels(source, channels, first, slice, kept, batch, plane);
        for (size_t n = 0; n < batch; n++)
            for (size_t k = 0; k < kept; k++)
                for (size_t p = 0; p < plane; p++)
                    if (slice[(n * kept + k) * plane + p] != source[(n * channels + first + k) * plane + p]) failures++;
        free(source); free(shuffled); free(slice);
    }
    printf("check: channel shuffle and slices [%d threads] %s\n", pk_thread_count(), failures ? "FAILED" : "exact");
    if (failures) fprintf(stderr, "FAIL channel copies [%d threads]: %d values\n", pk_thread_count(), failures);
    return failures != 0;
}

/// pk_channel_blocks_mean (the squeeze-and-excitation and final pools on channel blocks) against the
/// float64 sum, rounded, then divided, as its contract says, and pk_channel_blocks_scale by those
/// means: planes of 1 to 3137 pixels, batch 2, on one thread and on two.
static int check_channel_block_means(void) {
    static const size_t planes[] = {1, 3, 7, 49, 196, 3137};
    int failures = 0;
    for (size_t c = 0; c < sizeof planes / sizeof planes[0]; c++) {
        size_t plane = planes[c], batch = 2, channels = 24, count = batch * channels * plane;
        float *source = random_floats(count, 3), *means = malloc(batch * channels * sizeof(float));
        pk_channel_blocks_mean(source, means, batch, channels, plane);
        for (size_t n = 0; n < batch; n++)
            for (size_t ch = 0; ch < channels; ch++) {
                const float *block = source + (n * channels + ch / 8 * 8) * plane;
                double sum = 0;
                for (size_t p = 0; p < plane; p++) sum += block[p * 8 + ch % 8];
                float expected = (float)sum / (float)plane, got = means[n * channels + ch];
                // The float64 sum's order may differ; its rounding to float32 almost never does.
                if (!(fabsf(got - expected) <= 1e-6f * fabsf(expected) + 1e-30f)) failures++;
            }
        // pk_channel_blocks_scale by the same [batch][channels] factors: one exact product each.
        float *scaled = malloc(count * sizeof(float));
        pk_channel_blocks_scale(source, means, scaled, batch, channels, plane);
        for (size_t n = 0; n < batch; n++)
            for (size_t ch = 0; ch < channels; ch++)
                for (size_t p = 0; p < plane; p++) {
                    size_t at = ((n * channels + ch / 8 * 8) * plane + p * 8) + ch % 8;
                    if (scaled[at] != source[at] * means[n * channels + ch]) failures++;
                }
        free(scaled);
        free(source); free(means);
    }
    printf("check: channel-block means and scaling [%s, %d threads] %s\n", pk_kernels_isa(), pk_thread_count(),
           failures ? "FAILED" : "within 1e-6, exact");
    if (failures) fprintf(stderr, "FAIL channel-block means [%s]: %d values\n", pk_kernels_isa(), failures);
    return failures != 0;
}

/// pk_linear_run against the double reference: row counts around the 6-row panels and the 48-panel
/// row blocks, feature counts around the 16-wide strips, K past one 256-deep block, with and without
/// bias, through the activations a plan fuses into it.
static int check_linear(int *cases, double *worst) {
    static const int shapes[][3] = {{2, 1, 1},   {2, 5, 17},   {7, 300, 33}, {13, 600, 15}, {300, 7, 40}, {8, 1100, 20},
                                    {6, 16, 16}, {1, 1, 1},    {1, 7, 33},   {1, 301, 48},  {1, 1280, 70}};
    static const pk_activation activations[] = {PK_ACTIVATION_NONE, PK_ACTIVATION_RELU, PK_ACTIVATION_GELU};
    int failures = 0;
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        int rows = shapes[c][0], in = shapes[c][1], out = shapes[c][2];
        float *input = random_floats((size_t)rows * in, 1), *weight = random_floats((size_t)out * in, 1);
        float *bias = random_floats((size_t)out, 1), *got = malloc((size_t)rows * out * sizeof(float));
        float *packed = malloc(pk_linear_packed_weights_count(in, out) * sizeof(float));
        pk_linear_pack_weights(in, out, weight, packed);
        for (size_t a = 0; a < sizeof activations / sizeof activations[0]; a++) {
            for (int with_bias = 0; with_bias <= 1; with_bias++) {
                const float *b = with_bias ? bias : NULL;
                pk_linear_run(rows, in, out, input, packed, b, activations[a], got);
                int mismatches = 0;
                for (int r = 0; r < rows; r++) {
                    for (int j = 0; j < out; j++) {
                        double sum = b ? b[j] : 0, magnitude = b ? fabs(b[j]) : 0;
                        for (int k = 0; k < in; k++) {
                            double product = (double)input[(size_t)r * in + k] * weight[(size_t)j * in + k];
                            sum += product;
                            magnitude += fabs(product);
                        }
                        double expected = activate_reference(activations[a], sum);
                        double error = fabs((double)got[(size_t)r * out + j] - expected);
                        if (!(error <= 2e-6 * magnitude + 4e-7 * fabs(expected) + 1e-12)) mismatches++;
                        double relative = error / (magnitude + fabs(expected) + 1e-30);
                        if (relative > *worst) *worst = relative;
                    }
                }
                if (mismatches) {
                    fprintf(stderr, "FAIL linear %dx%d->%d activation %d bias %d [%s, %d threads]: %d values\n", rows, in,
                            out, (int)activations[a], with_bias, pk_kernels_isa(), pk_thread_count(), mismatches);
                    failures++;
                }
                (*cases)++;
            }
        }
        free(input); free(weight); free(bias); free(got); free(packed);
    }
    return failures;
}

static int run_checks(void) {
    const char *isas[] = {"portable", "avx2-fma", "avx512"};
    int failures = 0, cases = 0;
    for (int i = 0; i < 3; i++) {
        if (!pk_kernels_select_isa(isas[i])) {
            printf("check: %s not available here, skipped\n", isas[i]);
            continue;
        }
        failures += check_activation_accuracy();
        double worst = 0;
        for (int threads = 1; threads <= 2; threads++) {
            pk_set_thread_count(threads);
            for (size_t c = 0; c < sizeof check_shapes / sizeof check_shapes[0]; c++) {
                const check_shape *shape = &check_shapes[c];
                // Every activation with bias; the residual forms cycle so each shape meets all three.
                for (int a = PK_ACTIVATION_NONE; a <= PK_ACTIVATION_GELU; a++) {
                    failures += check_case(shape->name, shape->shape, 1, (residual_mode)((a + c) % 3), a, &worst);
                    cases++;
                }
                failures += check_case(shape->name, shape->shape, 0, RESIDUAL_IN_OUTPUT, PK_ACTIVATION_RELU, &worst);
                failures += check_case(shape->name, shape->shape, 0, RESIDUAL_NONE, PK_ACTIVATION_NONE, &worst);
                cases += 2;
            }
        }
        failures += check_concurrent_callers();
        for (int threads = 1; threads <= 2; threads++) {
            pk_set_thread_count(threads);
            failures += check_max_pool();
            failures += check_linear(&cases, &worst);
            failures += check_channel_copies();
        }
        failures += check_row_normalizations();
        failures += check_transpose();
        for (int threads = 1; threads <= 2; threads++) {
            pk_set_thread_count(threads);
            failures += check_channel_block_means();
        }
        printf("check: %s worst error / (sum|w*x| + |result|) = %.2e\n", isas[i], worst);
    }
    printf("check: %d cases, %d failed\n", cases, failures);
    return failures ? 1 : 0;
}

// ---------------------------------------------------------------- bench

typedef struct {
    char model[32];
    pk_conv2d_shape shape;  // batch 1 as listed
} layer;

static int read_layers(const char *path, layer **layers) {
    FILE *file = fopen(path, "r");
    if (!file) { fprintf(stderr, "cannot open %s\n", path); exit(2); }
    int count = 0, capacity = 256;
    *layers = malloc((size_t)capacity * sizeof(layer));
    layer l;
    pk_conv2d_shape *s = &l.shape;
    while (fscanf(file, "%31s %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d", l.model, &s->batch, &s->in_channels,
                  &s->in_height, &s->in_width, &s->out_channels, &s->out_height, &s->out_width, &s->kernel_height,
                  &s->kernel_width, &s->stride_height, &s->stride_width, &s->padding_height, &s->padding_width,
                  &s->dilation_height, &s->dilation_width, &s->groups) == 17) {
        if (count == capacity) *layers = realloc(*layers, (size_t)(capacity *= 2) * sizeof(layer));
        (*layers)[count++] = l;
    }
    fclose(file);
    return count;
}

static double layer_flops(const pk_conv2d_shape *s) {
    return 2.0 * (double)output_count(s) * (s->in_channels / s->groups) * s->kernel_height * s->kernel_width;
}

/// The runtime's path today: im2col for the whole image (skipped for 1x1 stride-1 unpadded), then one
/// sgemm per image and group.
static void openblas_conv(const pk_conv2d_shape *s, const float *input, const float *weight, float *columns,
                          float *output) {
    int group_inputs = s->in_channels / s->groups, group_outputs = s->out_channels / s->groups;
    int depth = group_inputs * s->kernel_height * s->kernel_width, pixels = s->out_height * s->out_width;
    int direct = s->kernel_height == 1 && s->kernel_width == 1 && s->stride_height == 1 && s->stride_width == 1 &&
                 s->padding_height == 0 && s->padding_width == 0;
    for (int n = 0; n < s->batch; n++)
    for (int g = 0; g < s->groups; g++) {
        const float *image = input + ((size_t)n * s->in_channels + (size_t)g * group_inputs) * s->in_height * s->in_width;
        const float *b = image;
        if (!direct) {
            for (int k = 0; k < depth; k++) {
                int ic = k / (s->kernel_height * s->kernel_width), ky = (k / s->kernel_width) % s->kernel_height,
                    kx = k % s->kernel_width;
                float *row = columns + (size_t)k * pixels;
                for (int oy = 0; oy < s->out_height; oy++) {
                    int iy = oy * s->stride_height - s->padding_height + ky * s->dilation_height;
                    for (int ox = 0; ox < s->out_width; ox++) {
                        int ix = ox * s->stride_width - s->padding_width + kx * s->dilation_width;
                        row[oy * s->out_width + ox] = iy < 0 || iy >= s->in_height || ix < 0 || ix >= s->in_width
                            ? 0 : image[((size_t)ic * s->in_height + iy) * s->in_width + ix];
                    }
                }
            }
            b = columns;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, group_outputs, pixels, depth, 1.0f,
                    weight + (size_t)g * group_outputs * depth, depth, b, pixels, 0.0f,
                    output + ((size_t)n * s->out_channels + (size_t)g * group_outputs) * pixels, pixels);
    }
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/// Median (or with --best, least) seconds of `reps` runs after one warm-up.
#define MEDIAN_TIME(reps, statement)                                  \
    ({                                                                \
        double times_[64];                                            \
        statement;                                                    \
        for (int r_ = 0; r_ < (reps); r_++) {                         \
            double start_ = now_seconds();                            \
            statement;                                                \
            times_[r_] = now_seconds() - start_;                      \
        }                                                             \
        qsort(times_, (size_t)(reps), sizeof(double), compare_doubles); \
        times_[report_best ? 0 : (reps) / 2];                         \
    })

static double peak_sgemm_gflops(void) {
    int size = 1536;
    float *a = random_floats((size_t)size * size, 1), *b = random_floats((size_t)size * size, 1),
          *c = malloc((size_t)size * size * sizeof(float));
    double seconds = MEDIAN_TIME(5, cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, size, size, size, 1.0f, a,
                                                size, b, size, 0.0f, c, size));
    free(a); free(b); free(c);
    return 2.0 * size * size * (double)size / seconds * 1e-9;
}

static pk_activation model_activation(const char *model) {
    if (strncmp(model, "mobilenet", 9) == 0) return PK_ACTIVATION_RELU6;
    if (strncmp(model, "efficientnet", 12) == 0) return PK_ACTIVATION_SILU;
    return PK_ACTIVATION_RELU;
}

static int run_bench(const char *layers_path, int threads, int reps, int verbose, const char *only_model,
                     int only_batch) {
    layer *layers;
    int count = read_layers(layers_path, &layers);
    pk_set_thread_count(threads);
    openblas_set_num_threads(threads);
    printf("bench: isa %s, %d threads, %s %s of %d runs; OpenBLAS peak sgemm (1536^3) %.1f GFLOP/s\n",
           pk_kernels_isa(), threads, report_best ? "least" : "median",
           timing_clock == CLOCK_MONOTONIC ? "wall time" : "CPU time", reps,
           peak_sgemm_gflops());
    int batches[] = {1, 8};
    for (int bi = 0; bi < 2; bi++) {
        if (only_batch && batches[bi] != only_batch) continue;
        for (int first = 0; first < count;) {
            int last = first;
            while (last < count && strcmp(layers[last].model, layers[first].model) == 0) last++;
            const char *model = layers[first].model;
            if (only_model && strcmp(model, only_model) != 0) { first = last; continue; }
            double ours_total = 0, blas_total = 0, flops_total = 0, blocked_total = 0;
            for (int i = first; i < last; i++) {
                pk_conv2d_shape s = layers[i].shape;
                s.batch = batches[bi];
                float *input = random_floats(input_count(&s), 1), *weight = random_floats(weight_count(&s), 0.1f);
                float *bias = random_floats((size_t)s.out_channels, 0.1f);
                float *output = malloc(output_count(&s) * sizeof(float));
                float *packed = malloc(pk_conv2d_packed_weights_count(&s) * sizeof(float));
                float *columns = malloc((size_t)weight_count(&s) / s.out_channels * s.groups * s.out_height * s.out_width * sizeof(float) + 64);
                pk_conv2d_pack_weights(&s, weight, packed);
                pk_activation activation = model_activation(model);
                double ours = MEDIAN_TIME(reps, pk_conv2d_run(&s, input, packed, bias, NULL, activation, output));
                double blas = MEDIAN_TIME(reps, openblas_conv(&s, input, weight, columns, output));
                // The channel-blocked path where it runs (its layout changes are the plan's, not timed).
                double blocked = ours;
                if (pk_conv2d_blocked_supported(&s)) {
                    float *blocked_packed = malloc(pk_conv2d_blocked_packed_weights_count(&s) * sizeof(float));
                    pk_conv2d_blocked_pack_weights(&s, weight, blocked_packed);
                    blocked = MEDIAN_TIME(reps, pk_conv2d_blocked_run(&s, input, blocked_packed, bias, NULL, activation, output));
                    free(blocked_packed);
                }
                double flops = layer_flops(&s);
                if (verbose)
                    printf("  %-16s b%d %4d->%4d %3dx%-3d k%dx%d s%d g%-4d  ours %8.3f ms %6.1f GF/s  blocked %8.3f ms  openblas %8.3f ms %6.1f GF/s\n",
                           model, s.batch, s.in_channels, s.out_channels, s.out_height, s.out_width, s.kernel_height,
                           s.kernel_width, s.stride_height, s.groups, ours * 1e3, flops / ours * 1e-9, blocked * 1e3,
                           blas * 1e3, flops / blas * 1e-9);
                ours_total += ours; blas_total += blas; flops_total += flops; blocked_total += blocked;
                free(input); free(weight); free(bias); free(output); free(packed); free(columns);
            }
            printf("%-16s batch %d: %3d conv layers %6.2f GFLOP  ours %8.2f ms (%6.1f GFLOP/s)  with channel blocks %8.2f ms  openblas im2col+sgemm %8.2f ms (%6.1f GFLOP/s)  ratio %.2fx\n",
                   model, batches[bi], last - first, flops_total * 1e-9, ours_total * 1e3, flops_total / ours_total * 1e-9,
                   blocked_total * 1e3, blas_total * 1e3, flops_total / blas_total * 1e-9, blas_total / ours_total);
            fflush(stdout);
            first = last;
        }
    }
    free(layers);
    return 0;
}

/// The linear layers the plans pack (pk_linear_run) against OpenBLAS's sgemm on the same product
/// (sgemv for one row), one thread, least CPU time of `reps`: MobileNetV2's, ResNet-50's and VGG's
/// batch-1 classifiers (weights warm in cache from the previous run, unlike in a forward pass),
/// AlexNet's and VGG's classifier at batch 8, ViT-B/16's projections and MLP over its 197 tokens,
/// and the MLP at batch 8.
static int run_linear_bench(int reps) {
    static const int shapes[][3] = {{1, 1280, 1000},  {1, 2048, 1000},   {1, 4096, 1000},  {8, 9216, 4096},
                                    {8, 4096, 4096},  {8, 25088, 4096},  {197, 768, 2304}, {197, 768, 3072},
                                    {197, 3072, 768}, {1576, 768, 3072}};
    pk_set_thread_count(1);
    openblas_set_num_threads(1);
    timing_clock = CLOCK_PROCESS_CPUTIME_ID;
    printf("linear: 1 thread, least CPU time of %d runs [%s]\n", reps, pk_kernels_isa());
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        int rows = shapes[c][0], in = shapes[c][1], out = shapes[c][2];
        float *input = random_floats((size_t)rows * in, 1), *weight = random_floats((size_t)out * in, 1);
        float *bias = random_floats((size_t)out, 1), *output = malloc((size_t)rows * out * sizeof(float));
        float *packed = malloc(pk_linear_packed_weights_count(in, out) * sizeof(float));
        pk_linear_pack_weights(in, out, weight, packed);
        double ours = DBL_MAX, openblas = DBL_MAX;
        for (int rep = 0; rep < reps; rep++) {
            double start = now_seconds();
            pk_linear_run(rows, in, out, input, packed, bias, PK_ACTIVATION_NONE, output);
            double middle = now_seconds();
            if (rows == 1) cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1, weight, in, input, 1, 0, output, 1);
            else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1, input, in, weight, in, 0, output, out);
            double end = now_seconds();
            if (middle - start < ours) ours = middle - start;
            if (end - middle < openblas) openblas = end - middle;
        }
        double gflop = 2.0 * rows * in * out / 1e9;
        printf("  %5d rows  %5d -> %5d   packed %8.2f ms %6.1f GF/s   openblas %s %8.2f ms %6.1f GF/s\n", rows, in,
               out, ours * 1e3, gflop / ours, rows == 1 ? "sgemv" : "sgemm", openblas * 1e3, gflop / openblas);
        free(input); free(weight); free(bias); free(output); free(packed);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "check") == 0) return run_checks();
    if (argc >= 2 && strcmp(argv[1], "linear") == 0) return run_linear_bench(argc >= 3 ? atoi(argv[2]) : 7);
    if (argc >= 3 && strcmp(argv[1], "bench") == 0) {
        int threads = 2, reps = 5, verbose = 0, batch = 0;
        const char *isa = NULL, *model = NULL;
        for (int i = 3; i < argc; i++) {
            if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
            else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
            else if (strcmp(argv[i], "--isa") == 0 && i + 1 < argc) isa = argv[++i];
            else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model = argv[++i];
            else if (strcmp(argv[i], "--layers") == 0) verbose = 1;
            else if (strcmp(argv[i], "--cpu-time") == 0) timing_clock = CLOCK_PROCESS_CPUTIME_ID;
            else if (strcmp(argv[i], "--best") == 0) report_best = 1;
            else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) batch = atoi(argv[++i]);
            else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
        }
        if (reps < 1 || reps > 63) reps = 5;
        if (isa && !pk_kernels_select_isa(isa)) { fprintf(stderr, "isa %s is not available here\n", isa); return 2; }
        return run_bench(argv[2], threads, reps, verbose, model, batch);
    }
    fprintf(stderr, "usage: harness check\n       harness linear [REPS]\n       harness bench LAYERS.txt [--threads N] [--reps N] [--isa portable|avx2-fma] [--model NAME] [--layers] [--cpu-time] [--best] [--batch 1|8]\n");
    return 2;
}
