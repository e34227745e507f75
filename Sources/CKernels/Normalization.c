// Row-wise normalizations of the transformer models: the softmax of attention scores and layer norm.
// Sums are taken in double (as the Swift reference path does), so long rows stay within float
// rounding of ATen's float32 cascades; the element-wise parts run eight lanes at a time.
#include "Activation.h"
#include "Gemm.h"
#include "ThreadPool.h"

#include <math.h>


static void softmax_row_portable(float *row, size_t count, const float *bias, const float *mask) {
    float maximum = -INFINITY;
    for (size_t j = 0; j < count; j++) {
        if (bias) row[j] += bias[j];
        if (mask) row[j] += mask[j];
        maximum = pk_keep_max(maximum, row[j]);
    }
    double sum = 0;
    for (size_t j = 0; j < count; j++) {
        row[j] = expf(row[j] - maximum);
        sum += row[j];
    }
    float total = (float)sum;
    for (size_t j = 0; j < count; j++) row[j] /= total;
}

/// mean and 1 / sqrt(variance + eps) of `count` values `stride` apart (biased variance, two passes).
static void moments(const float *x, size_t count, size_t stride, double eps, double *mean, double *rstd) {
    double sum = 0;
    for (size_t i = 0; i < count; i++) sum += x[i * stride];
    double m = sum / (double)count, squares = 0;
    for (size_t i = 0; i < count; i++) {
        double d = x[i * stride] - m;
        squares += d * d;
    }
    *mean = m;
    *rstd = 1 / sqrt(squares / (double)count + eps);
}

static void layer_norm_row_portable(const float *x, float *y, size_t count, const float *weight, const float *bias,
                                    double eps) {
    double mean, rstd;
    moments(x, count, 1, eps, &mean, &rstd);
    for (size_t i = 0; i < count; i++) {
        double value = (x[i] - mean) * rstd;
        if (weight) value *= weight[i];
        if (bias) value += bias[i];
        y[i] = (float)value;
    }
}

/// Layer norm over the `channels` values of one pixel, `plane` floats apart (LayerNorm2d on NCHW).
static void layer_norm_pixel_portable(const float *x, float *y, size_t channels, size_t plane, const float *weight,
                                      const float *bias, double eps) {
    double mean, rstd;
    moments(x, channels, plane, eps, &mean, &rstd);
    for (size_t c = 0; c < channels; c++) {
        double value = (x[c * plane] - mean) * rstd;
        if (weight) value *= weight[c];
        if (bias) value += bias[c];
        y[c * plane] = (float)value;
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx2.h"

static inline PK_AVX2 float horizontal_keep_max(__m256 v) {
    float lanes[8], kept = -INFINITY;
    _mm256_storeu_ps(lanes, v);
    for (int i = 0; i < 8; i++) kept = pk_keep_max(kept, lanes[i]);
    return kept;
}

/// The eight floats of v widened and added into two double accumulators.
static inline PK_AVX2 void accumulate_doubles(__m256 v, __m256d *low, __m256d *high) {
    *low = _mm256_add_pd(*low, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    *high = _mm256_add_pd(*high, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

static inline PK_AVX2 double horizontal_sum(__m256d low, __m256d high) {
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(low, high));
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

static PK_AVX2 void softmax_row_avx2(float *row, size_t count, const float *bias, const float *mask) {
    size_t full = count / 8 * 8;
    __m256 kept = _mm256_set1_ps(-INFINITY);
    for (size_t j = 0; j < full; j += 8) {
        __m256 v = _mm256_loadu_ps(row + j);
        if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
        if (mask) v = _mm256_add_ps(v, _mm256_loadu_ps(mask + j));
        _mm256_storeu_ps(row + j, v);
        kept = pk_keep_max_avx2(kept, v);
    }
    float maximum = horizontal_keep_max(kept);
    for (size_t j = full; j < count; j++) {
        if (bias) row[j] += bias[j];
        if (mask) row[j] += mask[j];
        maximum = pk_keep_max(maximum, row[j]);
    }
    __m256 shift = _mm256_set1_ps(maximum);
    __m256d low = _mm256_setzero_pd(), high = _mm256_setzero_pd();
    for (size_t j = 0; j < full; j += 8) {
        __m256 e = pk_exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(row + j), shift));
        _mm256_storeu_ps(row + j, e);
        accumulate_doubles(e, &low, &high);
    }
    double sum = horizontal_sum(low, high);
    for (size_t j = full; j < count; j++) {
        row[j] = expf(row[j] - maximum);
        sum += row[j];
    }
    __m256 total = _mm256_set1_ps((float)sum);
    for (size_t j = 0; j < full; j += 8) _mm256_storeu_ps(row + j, _mm256_div_ps(_mm256_loadu_ps(row + j), total));
    for (size_t j = full; j < count; j++) row[j] /= (float)sum;
}

static PK_AVX2 void layer_norm_row_avx2(const float *x, float *y, size_t count, const float *weight, const float *bias,
                                        double eps) {
    size_t full = count / 8 * 8;
    __m256d low = _mm256_setzero_pd(), high = _mm256_setzero_pd();
    for (size_t i = 0; i < full; i += 8) accumulate_doubles(_mm256_loadu_ps(x + i), &low, &high);
    double sum = horizontal_sum(low, high);
    for (size_t i = full; i < count; i++) sum += x[i];
    double mean = sum / (double)count;
    __m256d mean4 = _mm256_set1_pd(mean);
    low = _mm256_setzero_pd(), high = _mm256_setzero_pd();
    for (size_t i = 0; i < full; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), mean4);
        __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), mean4);
        low = _mm256_fmadd_pd(d0, d0, low);
        high = _mm256_fmadd_pd(d1, d1, high);
    }
    double squares = horizontal_sum(low, high);
    for (size_t i = full; i < count; i++) squares += (x[i] - mean) * (x[i] - mean);
    double rstd = 1 / sqrt(squares / (double)count + eps);
    // (x - mean) * rstd * weight + bias in double, rounded once, as the reference computes it.
    __m256d rstd4 = _mm256_set1_pd(rstd);
    for (size_t i = 0; i < full; i += 4) {
        __m256d value = _mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), mean4), rstd4);
        if (weight) value = _mm256_mul_pd(value, _mm256_cvtps_pd(_mm_loadu_ps(weight + i)));
        if (bias) value = _mm256_add_pd(value, _mm256_cvtps_pd(_mm_loadu_ps(bias + i)));
        _mm_storeu_ps(y + i, _mm256_cvtpd_ps(value));
    }
    for (size_t i = full; i < count; i++) {
        double value = (x[i] - mean) * rstd;
        if (weight) value *= weight[i];
        if (bias) value += bias[i];
        y[i] = (float)value;
    }
}
/// layer_norm_pixel_portable for four consecutive pixels at once, in double lanes.
static PK_AVX2 void layer_norm_pixels4_avx2(const float *x, float *y, size_t channels, size_t plane,
                                            const float *weight, const float *bias, double eps) {
    __m256d sum = _mm256_setzero_pd();
    for (size_t c = 0; c < channels; c++) sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm_loadu_ps(x + c * plane)));
    __m256d count = _mm256_set1_pd((double)channels);
    __m256d mean = _mm256_div_pd(sum, count), squares = _mm256_setzero_pd();
    for (size_t c = 0; c < channels; c++) {
        __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + c * plane)), mean);
        squares = _mm256_fmadd_pd(d, d, squares);
    }
    __m256d rstd = _mm256_div_pd(_mm256_set1_pd(1),
                                 _mm256_sqrt_pd(_mm256_add_pd(_mm256_div_pd(squares, count), _mm256_set1_pd(eps))));
    for (size_t c = 0; c < channels; c++) {
        __m256d value = _mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + c * plane)), mean), rstd);
        if (weight) value = _mm256_mul_pd(value, _mm256_set1_pd(weight[c]));
        if (bias) value = _mm256_add_pd(value, _mm256_set1_pd(bias[c]));
        _mm_storeu_ps(y + c * plane, _mm256_cvtpd_ps(value));
    }
}
#endif

void pk_attention_softmax_row(float *row, size_t count, const float *bias, const float *mask) {
#ifdef PK_HAVE_AVX2_PATH
    if (pk_use_avx2()) {
        softmax_row_avx2(row, count, bias, mask);
        return;
    }
#endif
    softmax_row_portable(row, count, bias, mask);
}

typedef struct {
    const float *x;
    float *y;
    size_t rows, count;
    const float *weight, *bias;
    double eps;
} layer_norm_job;

enum { ROWS_PER_TASK = 16 };

static void layer_norm_task(void *context, size_t task) {
    const layer_norm_job *job = context;
    size_t first = task * ROWS_PER_TASK, end = first + ROWS_PER_TASK < job->rows ? first + ROWS_PER_TASK : job->rows;
    for (size_t row = first; row < end; row++) {
        const float *x = job->x + row * job->count;
        float *y = job->y + row * job->count;
#ifdef PK_HAVE_AVX2_PATH
        if (pk_use_avx2()) {
            layer_norm_row_avx2(x, y, job->count, job->weight, job->bias, job->eps);
            continue;
        }
#endif
        layer_norm_row_portable(x, y, job->count, job->weight, job->bias, job->eps);
    }
}

void pk_layer_norm_rows(const float *x, float *y, size_t rows, size_t count, const float *weight, const float *bias,
                        double eps) {
    layer_norm_job job = {x, y, rows, count, weight, bias, eps};
    pk_parallel_for((rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK, layer_norm_task, &job);
}

typedef struct {
    const float *x;
    float *y;
    size_t channels, plane, blocks_per_image;
    const float *weight, *bias;
    double eps;
} layer_norm_channels_job;

enum { PIXELS_PER_TASK = 64 };

static void layer_norm_channels_task(void *context, size_t task) {
    const layer_norm_channels_job *job = context;
    size_t image = task / job->blocks_per_image, first = task % job->blocks_per_image * PIXELS_PER_TASK;
    size_t end = first + PIXELS_PER_TASK < job->plane ? first + PIXELS_PER_TASK : job->plane;
    size_t offset = image * job->channels * job->plane;
    size_t pixel = first;
#ifdef PK_HAVE_AVX2_PATH
    if (pk_use_avx2()) {
        for (; pixel + 4 <= end; pixel += 4)
            layer_norm_pixels4_avx2(job->x + offset + pixel, job->y + offset + pixel, job->channels, job->plane,
                                    job->weight, job->bias, job->eps);
    }
#endif
    for (; pixel < end; pixel++)
        layer_norm_pixel_portable(job->x + offset + pixel, job->y + offset + pixel, job->channels, job->plane,
                                  job->weight, job->bias, job->eps);
}

void pk_layer_norm_channels(const float *x, float *y, size_t batch, size_t channels, size_t plane, const float *weight,
                            const float *bias, double eps) {
    size_t blocks = (plane + PIXELS_PER_TASK - 1) / PIXELS_PER_TASK;
    layer_norm_channels_job job = {x, y, channels, plane, blocks, weight, bias, eps};
    pk_parallel_for(batch * blocks, layer_norm_channels_task, &job);
}
