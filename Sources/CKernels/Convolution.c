// Convolution entry points: depthwise convolutions keep their weights as they are and run per plane;
// 3x3 stride-1 convolutions with enough channels and pixels run as Winograd F(4x4, 3x3) on
// transformed weights; every other convolution runs as an implicit GEMM on weights packed into
// micro-panels.
#include "PthKitKernels.h"
#include "Gemm.h"
#include "Winograd.h"

#include <string.h>

size_t pk_conv2d_packed_weights_count(const pk_conv2d_shape *s) {
    if (pk_conv2d_is_depthwise(s)) return (size_t)s->out_channels * (size_t)s->kernel_height * (size_t)s->kernel_width;
    if (pk_conv2d_uses_winograd(s)) return pk_winograd_packed_weights_count(s);
    return pk_gemm_packed_weights_count(s);
}

void pk_conv2d_pack_weights(const pk_conv2d_shape *s, const float *weight, float *packed) {
    if (pk_conv2d_is_depthwise(s)) {
        memcpy(packed, weight, pk_conv2d_packed_weights_count(s) * sizeof(float));
    } else if (pk_conv2d_uses_winograd(s)) {
        pk_winograd_pack_weights(s, weight, packed);
    } else {
        pk_gemm_pack_weights(s, weight, packed);
    }
}

void pk_conv2d_run(const pk_conv2d_shape *shape, const float *input, const float *packed_weights,
                   const float *bias, const float *residual, pk_activation activation, float *output) {
    if (pk_conv2d_is_depthwise(shape)) {
        pk_conv2d_run_depthwise(shape, input, packed_weights, bias, residual, activation, output);
    } else if (pk_conv2d_uses_winograd(shape)) {
        pk_conv2d_run_winograd(shape, input, packed_weights, bias, residual, activation, output);
    } else {
        pk_conv2d_run_gemm(shape, input, packed_weights, bias, residual, activation, output);
    }
}
