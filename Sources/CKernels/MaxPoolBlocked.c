// Max pooling over channel-blocked planes ([planes / 8][height][width][8]), with MaxPool.c's
// semantics: windows clipped to the input (padding never wins), ceil-mode windows included, a NaN
// anywhere in a window wins. A pixel's eight channels are one vector, so each output pixel is the
// maximum of its window's vectors in ATen's tap order, whatever the stride or dilation.
#include "Activation.h"
#include "ChannelBlocks.h"
#include "Gemm.h"
#include "ThreadPool.h"

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx2.h"
#endif

enum { BLOCK = PK_CHANNEL_BLOCK, TASKS_PER_THREAD = 8 };

typedef void (*pool_row_fn)(const pk_pool2d_shape *s, const float *plane, int oy, float *out);

/// The window's taps inside the input along one axis: [*first, *end) of k.
static inline void clip_taps(int origin, int kernel, int dilation, int size, int *first, int *end) {
    *first = 0;
    *end = kernel;
    while (*first < *end && origin + *first * dilation < 0) ++*first;
    while (*end > *first && origin + (*end - 1) * dilation >= size) --*end;
}

static void pool_row_portable(const pk_pool2d_shape *s, const float *plane, int oy, float *out) {
    int iy0 = oy * s->stride_height - s->padding_height, ky_first, ky_end;
    clip_taps(iy0, s->kernel_height, s->dilation_height, s->in_height, &ky_first, &ky_end);
    for (int ox = 0; ox < s->out_width; ox++, out += BLOCK) {
        int ix0 = ox * s->stride_width - s->padding_width, kx_first, kx_end;
        clip_taps(ix0, s->kernel_width, s->dilation_width, s->in_width, &kx_first, &kx_end);
        float kept[BLOCK];
        for (int l = 0; l < BLOCK; l++) kept[l] = -INFINITY;
        for (int ky = ky_first; ky < ky_end; ky++) {
            const float *row = plane + (size_t)(iy0 + ky * s->dilation_height) * s->in_width * BLOCK;
            for (int kx = kx_first; kx < kx_end; kx++) {
                const float *pixel = row + (size_t)(ix0 + kx * s->dilation_width) * BLOCK;
                for (int l = 0; l < BLOCK; l++) kept[l] = pk_keep_max(kept[l], pixel[l]);
            }
        }
        for (int l = 0; l < BLOCK; l++) out[l] = kept[l];
    }
}

#ifdef PK_HAVE_AVX2_PATH
// One output pixel, its window clipped to the input: a row's border pixels.
static inline PK_AVX2 __m256 pool_pixel_avx2(const pk_pool2d_shape *s, const float *plane, int iy0, int ky_first,
                                             int ky_end, int ox) {
    int ix0 = ox * s->stride_width - s->padding_width, kx_first, kx_end;
    clip_taps(ix0, s->kernel_width, s->dilation_width, s->in_width, &kx_first, &kx_end);
    __m256 kept = _mm256_set1_ps(-INFINITY);
    for (int ky = ky_first; ky < ky_end; ky++) {
        const float *row = plane + (size_t)(iy0 + ky * s->dilation_height) * s->in_width * BLOCK;
        for (int kx = kx_first; kx < kx_end; kx++)
            kept = pk_keep_max_avx2(kept, _mm256_loadu_ps(row + (size_t)(ix0 + kx * s->dilation_width) * BLOCK));
    }
    return kept;
}

// Interior pixels, whose windows lie inside the row, four at a time: four independent maxima, where
// one pixel's chain of dependent max-and-blend pairs waited on their latency at every tap (GoogLeNet's
// thirteen pools: 1.8-2.5 ms against ONNX Runtime's 1.2-1.4, Zen 3, two threads).
static PK_AVX2 void pool_row_avx2(const pk_pool2d_shape *s, const float *plane, int oy, float *out) {
    int iy0 = oy * s->stride_height - s->padding_height, ky_first, ky_end;
    clip_taps(iy0, s->kernel_height, s->dilation_height, s->in_height, &ky_first, &ky_end);
    int sw = s->stride_width, interior_begin, interior_end;
    pk_window_interior(s->in_width, s->kernel_width, sw, s->padding_width, s->dilation_width, s->out_width,
                       &interior_begin, &interior_end);
    size_t step = (size_t)sw * BLOCK;
    int ox = 0;
    for (; ox < interior_begin; ox++) _mm256_storeu_ps(out + (size_t)ox * BLOCK, pool_pixel_avx2(s, plane, iy0, ky_first, ky_end, ox));
    for (; ox + 4 <= interior_end; ox += 4) {
        __m256 k0 = _mm256_set1_ps(-INFINITY), k1 = k0, k2 = k0, k3 = k0;
        for (int ky = ky_first; ky < ky_end; ky++) {
            const float *p = plane + ((size_t)(iy0 + ky * s->dilation_height) * s->in_width +
                                      (size_t)(ox * sw - s->padding_width)) * BLOCK;
            for (int kx = 0; kx < s->kernel_width; kx++, p += (size_t)s->dilation_width * BLOCK) {
                k0 = pk_keep_max_avx2(k0, _mm256_loadu_ps(p));
                k1 = pk_keep_max_avx2(k1, _mm256_loadu_ps(p + step));
                k2 = pk_keep_max_avx2(k2, _mm256_loadu_ps(p + 2 * step));
                k3 = pk_keep_max_avx2(k3, _mm256_loadu_ps(p + 3 * step));
            }
        }
        _mm256_storeu_ps(out + (size_t)ox * BLOCK, k0);
        _mm256_storeu_ps(out + (size_t)(ox + 1) * BLOCK, k1);
        _mm256_storeu_ps(out + (size_t)(ox + 2) * BLOCK, k2);
        _mm256_storeu_ps(out + (size_t)(ox + 3) * BLOCK, k3);
    }
    for (; ox < s->out_width; ox++) _mm256_storeu_ps(out + (size_t)ox * BLOCK, pool_pixel_avx2(s, plane, iy0, ky_first, ky_end, ox));
}
#endif

typedef struct {
    const pk_pool2d_shape *shape;
    const float *input;
    float *output;
    pool_row_fn row;
    int row_chunks, rows_per_chunk;
} blocked_pool_job;

// Task = (plane block, chunk of output rows).
static void pool_task(void *context, size_t task) {
    const blocked_pool_job *job = context;
    const pk_pool2d_shape *s = job->shape;
    int chunk = (int)(task % (size_t)job->row_chunks);
    size_t plane = task / (size_t)job->row_chunks;
    const float *in = job->input + plane * (size_t)s->in_height * s->in_width * BLOCK;
    float *out = job->output + plane * (size_t)s->out_height * s->out_width * BLOCK;
    int oy_end = (chunk + 1) * job->rows_per_chunk < s->out_height ? (chunk + 1) * job->rows_per_chunk : s->out_height;
    for (int oy = chunk * job->rows_per_chunk; oy < oy_end; oy++)
        job->row(s, in, oy, out + (size_t)oy * s->out_width * BLOCK);
}

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

void pk_max_pool2d_blocked(const pk_pool2d_shape *s, const float *input, float *output) {
    if (s->planes <= 0 || s->out_height <= 0 || s->out_width <= 0) return;
    blocked_pool_job job = {.shape = s, .input = input, .output = output, .row = pool_row_portable};
#ifdef PK_HAVE_AVX2_PATH
    if (pk_use_avx2()) job.row = pool_row_avx2;
#endif
    int planes = s->planes / BLOCK;
    long wanted = (long)pk_thread_count() * TASKS_PER_THREAD;
    int chunks = planes >= wanted ? 1 : (int)((wanted + planes - 1) / planes);
    job.rows_per_chunk = ceil_div(s->out_height, chunks > s->out_height ? s->out_height : chunks);
    job.row_chunks = ceil_div(s->out_height, job.rows_per_chunk);
    pk_parallel_for((size_t)planes * (size_t)job.row_chunks, pool_task, &job);
}
