// Depthwise convolution: one task per (image, channel) plane; the plane is copied once, padded and
// split into stride phases, into per-thread scratch, then each output row is computed in registers.
#include "Gemm.h"
#include "Depthwise.h"
#include "Activation.h"
#include "Scratch.h"
#include "ThreadPool.h"

#include <string.h>

enum { BLOCK = 32 };  // output pixels per register block, and the slack after each phase

int pk_conv2d_is_depthwise(const pk_conv2d_shape *s) {
    return s->groups > 1 && s->groups == s->in_channels && s->groups == s->out_channels;
}

typedef struct {
    const pk_conv2d_shape *shape;
    const float *input, *weights, *bias, *residual;
    pk_activation activation;
    float *output;
    pk_depthwise_row_fn row;
    int direct;  // pk_depthwise_plane_direct_avx2 computes whole planes, no padded copy
} depthwise_job;

static pk_padded_plane pad_plane(const pk_conv2d_shape *s, const float *input) {
    int stride = s->stride_width, padded_width = s->in_width + 2 * s->padding_width;
    int padded_height = s->in_height + 2 * s->padding_height;
    pk_padded_plane plane;
    plane.phase_width = (size_t)((padded_width + stride - 1) / stride + BLOCK);
    plane.row_floats = plane.phase_width * (size_t)stride;
    float *floats = pk_thread_scratch(plane.row_floats * (size_t)padded_height);
    size_t top = (size_t)s->padding_height * plane.row_floats;
    memset(floats, 0, top * sizeof(float));
    memset(floats + top + (size_t)s->in_height * plane.row_floats, 0, top * sizeof(float));
    for (int y = 0; y < s->in_height; y++) {
        float *row = floats + top + (size_t)y * plane.row_floats;
        const float *source = input + (size_t)y * s->in_width;
        if (stride == 1) {
            memset(row, 0, (size_t)s->padding_width * sizeof(float));
            memcpy(row + s->padding_width, source, (size_t)s->in_width * sizeof(float));
            memset(row + s->padding_width + s->in_width, 0, (plane.row_floats - (size_t)(s->padding_width + s->in_width)) * sizeof(float));
            continue;
        }
        // Phase q holds padded columns q, q + stride, ...: input column q + i * stride - padding,
        // inside the input for i in [first, end).
        for (int q = 0; q < stride; q++) {
            float *phase = row + (size_t)q * plane.phase_width;
            int offset = q - s->padding_width, width = (int)plane.phase_width;
            int first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
            int end = s->in_width - offset <= 0 ? 0 : (s->in_width - offset + stride - 1) / stride;
            if (first > width) first = width;
            if (end > width) end = width;
            if (end < first) end = first;
            int i = 0;
            for (; i < first; i++) phase[i] = 0.0f;
            const float *column = source + offset + (ptrdiff_t)first * stride;
#if defined(__x86_64__) || defined(__i386__)
            if (stride == 2 && pk_use_avx2()) {
                pk_gather_stride2_avx2(column, end - i, phase + i);
                i = end;
            }
#endif
            for (; i < end; i++, column += stride) phase[i] = *column;
            for (; i < width; i++) phase[i] = 0.0f;
        }
    }
    plane.floats = floats;
    return plane;
}

static void depthwise_task(void *context, size_t task) {
    const depthwise_job *job = context;
    const pk_conv2d_shape *s = job->shape;
    size_t channel = task % (size_t)s->out_channels;
    size_t in_plane = (size_t)s->in_height * s->in_width, out_plane = (size_t)s->out_height * s->out_width;
    const float *taps = job->weights + channel * (size_t)s->kernel_height * s->kernel_width;
    float bias = job->bias ? job->bias[channel] : 0.0f;
#if defined(__x86_64__) || defined(__i386__)
    if (job->direct) {
        size_t offset = task * out_plane, zero_count = (size_t)s->in_width + 16;
        float *zeros = pk_thread_scratch(zero_count);
        memset(zeros, 0, zero_count * sizeof(float));
        pk_depthwise_plane_direct_avx2(s, job->input + task * in_plane, zeros, taps, bias,
                                       job->residual ? job->residual + offset : NULL, job->activation,
                                       job->output + offset);
        return;
    }
#endif
    pk_padded_plane plane = pad_plane(s, job->input + task * in_plane);
    ptrdiff_t tap_offsets[s->kernel_height * s->kernel_width];
    for (int ky = 0; ky < s->kernel_height; ky++) {
        for (int kx = 0; kx < s->kernel_width; kx++) {
            int column = kx * s->dilation_width;
            tap_offsets[ky * s->kernel_width + kx] = (ptrdiff_t)((size_t)(ky * s->dilation_height) * plane.row_floats +
                (size_t)(column % s->stride_width) * plane.phase_width + (size_t)(column / s->stride_width));
        }
    }
    plane.tap_offsets = tap_offsets;
    for (int oy = 0; oy < s->out_height; oy++) {
        size_t offset = task * out_plane + (size_t)oy * s->out_width;
        job->row(s, &plane, taps, oy, bias, job->residual ? job->residual + offset : NULL, job->activation,
                 job->output + offset);
    }
}

void pk_conv2d_run_depthwise(const pk_conv2d_shape *s, const float *input, const float *weights,
                             const float *bias, const float *residual, pk_activation activation, float *output) {
    depthwise_job job = {s, input, weights, bias, residual, activation, output, pk_depthwise_row_portable, 0};
#if defined(__x86_64__) || defined(__i386__)
    if (pk_use_avx2()) {
        job.row = pk_depthwise_row_avx2;
        job.direct = pk_depthwise_direct_avx2_fits(s);
    }
#endif
    pk_parallel_for((size_t)s->batch * (size_t)s->out_channels, depthwise_task, &job);
}

void pk_depthwise_row_portable(const pk_conv2d_shape *s, const pk_padded_plane *plane, const float *taps,
                               int oy, float bias, const float *residual, pk_activation activation, float *out) {
    const float *rows = plane->floats + (size_t)(oy * s->stride_height) * plane->row_floats;
    int tap_count = s->kernel_height * s->kernel_width;
    for (int ox = 0; ox < s->out_width; ox += BLOCK) {
        float sums[BLOCK] = {0};
        for (int t = 0; t < tap_count; t++) {
            const float *source = rows + plane->tap_offsets[t] + ox;
            for (int j = 0; j < BLOCK; j++) sums[j] += taps[t] * source[j];
        }
        int count = s->out_width - ox < BLOCK ? s->out_width - ox : BLOCK;
        for (int j = 0; j < count; j++) {
            float value = sums[j] + bias;
            if (residual) value += residual[ox + j];
            out[ox + j] = pk_activate(activation, value);
        }
    }
}
