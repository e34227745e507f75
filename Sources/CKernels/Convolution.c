// Convolution entry points: a 1x1 convolution over 1x1 images (squeeze-and-excitation's) is a linear
// layer over the batch's rows, and runs as one (LinearGemm.c: a matrix-vector product at batch 1,
// where the GEMM's tiles would compute 32 pixels for the one there is); depthwise convolutions keep
// their weights as they are and run per plane;
// 3x3 stride-1 convolutions with enough channels and pixels run as Winograd F(4x4, 3x3) on
// transformed weights; every other convolution runs as an implicit GEMM on weights packed into
// micro-panels.
#include "PthKitKernels.h"
#include "Gemm.h"
#include "Winograd.h"

#include <string.h>

// [N, C, 1, 1] is N rows of C features, and a 1x1 kernel's [O, C, 1, 1] weight is a linear layer's.
static int is_linear(const pk_conv2d_shape *s) {
    return s->groups == 1 && s->kernel_height == 1 && s->kernel_width == 1 && s->in_height == 1 && s->in_width == 1 &&
        s->padding_height == 0 && s->padding_width == 0 && s->out_height == 1 && s->out_width == 1;
}

size_t pk_conv2d_packed_weights_count(const pk_conv2d_shape *s) {
    if (is_linear(s)) return pk_linear_packed_weights_count(s->in_channels, s->out_channels);
    if (pk_conv2d_is_depthwise(s)) return (size_t)s->out_channels * (size_t)s->kernel_height * (size_t)s->kernel_width;
    if (pk_conv2d_uses_winograd(s)) return pk_winograd_packed_weights_count(s);
    return pk_gemm_packed_weights_count(s);
}

void pk_conv2d_pack_weights(const pk_conv2d_shape *s, const float *weight, float *packed) {
    if (is_linear(s)) {
        pk_linear_pack_weights(s->in_channels, s->out_channels, weight, packed);
    } else if (pk_conv2d_is_depthwise(s)) {
        memcpy(packed, weight, pk_conv2d_packed_weights_count(s) * sizeof(float));
    } else if (pk_conv2d_uses_winograd(s)) {
        pk_winograd_pack_weights(s, weight, packed);
    } else {
        pk_gemm_pack_weights(s, weight, packed);
    }
}

void pk_conv2d_run(const pk_conv2d_shape *shape, const float *input, const float *packed_weights,
                   const float *bias, const float *residual, pk_activation activation, float *output) {
    if (is_linear(shape)) {
        pk_linear_run_adding(shape->batch, shape->in_channels, shape->out_channels, input, packed_weights, bias,
                             residual, activation, output);
    } else if (pk_conv2d_is_depthwise(shape)) {
        pk_conv2d_run_depthwise(shape, input, packed_weights, bias, residual, activation, output);
    } else if (pk_conv2d_uses_winograd(shape)) {
        pk_conv2d_run_winograd(shape, input, packed_weights, bias, residual, activation, output);
    } else {
        pk_conv2d_run_gemm(shape, input, packed_weights, bias, residual, activation, output);
    }
}
