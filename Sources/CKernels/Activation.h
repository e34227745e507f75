// The epilogue activations, with the float32 formulas and operation order of ATen (and of the Swift
// reference kernels, `Kernels.apply`): the piecewise-linear ones agree bit for bit.
#ifndef PTHKIT_ACTIVATION_H
#define PTHKIT_ACTIVATION_H

#include "PthKitKernels.h"
#include <math.h>

static inline float pk_clamp(float x, float low, float high) {
    // NaN passes through, as torch's clamp lets it.
    return x < low ? low : (x > high ? high : x);
}

/// erf as ATen's vectorized CPU kernels compute it: Abramowitz & Stegun 7.1.26, absolute error below
/// 1.5e-7 (the AVX2 path evaluates the same formula eight lanes at a time).
static inline float pk_erf(float x) {
    float magnitude = fabsf(x);
    float t = 1 / (0.3275911f * magnitude + 1);
    float r = 1.061405429f;
    r = r * t - 1.453152027f;
    r = r * t + 1.421413741f;
    r = r * t - 0.284496736f;
    r = r * t + 0.254829592f;
    float y = 1 - r * t * expf(-x * x);
    return x < 0 ? -y : y;
}

/// ATen's max rule, `value > kept || isnan(value)`: the kept value stays on ties and a NaN wins
/// (max pooling, softmax's row maximum).
static inline float pk_keep_max(float kept, float value) { return value > kept || value != value ? value : kept; }

static inline float pk_activate(pk_activation activation, float x) {
    switch (activation) {
    case PK_ACTIVATION_NONE: return x;
    case PK_ACTIVATION_RELU: return x < 0 ? 0 : x;
    case PK_ACTIVATION_RELU6: return pk_clamp(x, 0, 6);
    case PK_ACTIVATION_HARDSWISH: return x * pk_clamp(x + 3, 0, 6) / 6;
    case PK_ACTIVATION_HARDSIGMOID: return pk_clamp(x + 3, 0, 6) / 6;
    case PK_ACTIVATION_SILU: return x / (1 + expf(-x));
    case PK_ACTIVATION_SIGMOID: return 1 / (1 + expf(-x));
    case PK_ACTIVATION_GELU: return x * 0.5f * (1 + pk_erf(x * 0.70710678118654752f));
    }
    return x;
}

/// values[i] = activation(values[i] + bias (+ residual[i])) over one output row.
static inline void pk_epilogue_row(float *values, size_t count, float bias, const float *residual,
                                   pk_activation activation) {
    if (residual) {
        for (size_t i = 0; i < count; i++) values[i] = pk_activate(activation, values[i] + bias + residual[i]);
    } else {
        for (size_t i = 0; i < count; i++) values[i] = pk_activate(activation, values[i] + bias);
    }
}

#endif
