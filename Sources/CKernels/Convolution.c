// Convolution entry points: the portable direct loops, parallel over (image, output channel).
#include "PthKitKernels.h"
#include "Activation.h"
#include "ThreadPool.h"

#include <string.h>

const char *pk_kernels_isa(void) { return "portable"; }

size_t pk_conv2d_packed_weights_count(const pk_conv2d_shape *s) {
    return (size_t)s->out_channels * (size_t)(s->in_channels / s->groups) * (size_t)s->kernel_height *
           (size_t)s->kernel_width;
}

void pk_conv2d_pack_weights(const pk_conv2d_shape *s, const float *weight, float *packed) {
    memcpy(packed, weight, pk_conv2d_packed_weights_count(s) * sizeof(float));
}

typedef struct {
    const pk_conv2d_shape *shape;
    const float *input, *weights, *bias, *residual;
    pk_activation activation;
    float *output;
} conv_job;

static void conv_plane(void *context, size_t task) {
    const conv_job *job = context;
    const pk_conv2d_shape *s = job->shape;
    size_t image = task / (size_t)s->out_channels, channel = task % (size_t)s->out_channels;
    int group_inputs = s->in_channels / s->groups, group_outputs = s->out_channels / s->groups;
    int group = (int)channel / group_outputs;
    size_t plane = (size_t)s->out_height * (size_t)s->out_width;
    size_t offset = (image * (size_t)s->out_channels + channel) * plane;
    float *out = job->output + offset;
    const float *w = job->weights + channel * (size_t)group_inputs * s->kernel_height * s->kernel_width;
    for (int oy = 0; oy < s->out_height; oy++) {
        for (int ox = 0; ox < s->out_width; ox++) {
            float sum = 0;
            for (int ic = 0; ic < group_inputs; ic++) {
                const float *in = job->input +
                    ((image * (size_t)s->in_channels) + (size_t)(group * group_inputs + ic)) *
                    (size_t)s->in_height * (size_t)s->in_width;
                const float *taps = w + (size_t)ic * s->kernel_height * s->kernel_width;
                for (int ky = 0; ky < s->kernel_height; ky++) {
                    int iy = oy * s->stride_height - s->padding_height + ky * s->dilation_height;
                    if (iy < 0 || iy >= s->in_height) continue;
                    for (int kx = 0; kx < s->kernel_width; kx++) {
                        int ix = ox * s->stride_width - s->padding_width + kx * s->dilation_width;
                        if (ix < 0 || ix >= s->in_width) continue;
                        sum += in[(size_t)iy * s->in_width + ix] * taps[ky * s->kernel_width + kx];
                    }
                }
            }
            size_t index = (size_t)oy * s->out_width + ox;
            float value = sum + (job->bias ? job->bias[channel] : 0);
            // Read before the write: the output may be the residual's buffer.
            if (job->residual) value += job->residual[offset + index];
            out[index] = pk_activate(job->activation, value);
        }
    }
}

void pk_conv2d_run(const pk_conv2d_shape *shape, const float *input, const float *packed_weights,
                   const float *bias, const float *residual, pk_activation activation, float *output) {
    conv_job job = {shape, input, packed_weights, bias, residual, activation, output};
    pk_parallel_for((size_t)shape->batch * (size_t)shape->out_channels, conv_plane, &job);
}
