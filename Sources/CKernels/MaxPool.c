// Max pooling over NCHW planes, as `torch.nn.functional.max_pool2d` computes it: windows clipped to
// the input (padding never wins), ceil-mode windows included, a NaN anywhere in a window wins.
//
// Separable: for each output row, the maximum over the window's valid input rows is taken column by
// column into a line (contiguous, so it vectorizes), the line is bordered with -inf for the
// padding, and each output is the maximum over its window's taps along the line. Stride 1 and 2 with
// dilation 1 (every torchvision max pool) take eight outputs at a time, sixteen on AVX-512
// (MaxPoolAvx512.c).
#include "Activation.h"
#include "Gemm.h"
#include "MaxPool.h"
#include "Scratch.h"
#include "ThreadPool.h"

#include <math.h>


/// The AVX2 path reads at most 23 floats past a window's first tap and writes 7 past the last
/// column: within the slack the AVX-512 path needs (MaxPool.h).
enum { LINE_SLACK = PK_MAX_POOL_LINE_SLACK };
/// Floats of lines the AVX2 path fills before reducing them (16 KB, in L1 beside the input rows).
enum { LINES_FLOATS = 4096 };
/// Tasks a thread gets of a pool: enough for the threads to even out, few enough to cost nothing.
enum { TASKS_PER_THREAD = 8 };
/// Output planes smaller than this are never split into chunks of rows.
enum { ROW_SPLIT_PIXELS = 512 };

typedef struct {
    const pk_pool2d_shape *shape;
    const float *input;
    float *output;
    size_t line_floats;  // padding_width + in_width + right border + slack
    // Task = (image, chunk of output rows, group of planes), in that order (see PthKitKernels.h).
    int images, planes_per_image, rows_per_chunk, row_chunks, planes_per_group, plane_groups;
    // Lines the vector paths fill before reducing any: reducing a line just written reads each
    // vector at offsets 1 and 2 across two fresh stores, which the CPU cannot forward, and on
    // GoogLeNet's small planes those stalls were most of the pooling's time.
    int rows;
} max_pool_job;

/// line[padding_width + x] = max over the window's valid rows of input row iy at column x; -inf
/// elsewhere. Returns 0, leaving the line all -inf, when no row of the window is inside the input.
static void fill_line(const pk_pool2d_shape *s, const float *plane, int oy, float *line, size_t line_floats) {
    for (size_t i = 0; i < line_floats; i++) line[i] = -INFINITY;
    float *columns = line + s->padding_width;
    for (int ky = 0; ky < s->kernel_height; ky++) {
        int iy = oy * s->stride_height - s->padding_height + ky * s->dilation_height;
        if (iy < 0 || iy >= s->in_height) continue;
        const float *row = plane + (size_t)iy * s->in_width;
        for (int x = 0; x < s->in_width; x++) columns[x] = pk_keep_max(columns[x], row[x]);
    }
}

/// out[ox] = max over kx of line[ox * stride + kx * dilation], for ox in [first, out_width).
static void reduce_line_portable(const pk_pool2d_shape *s, const float *line, int first, float *out) {
    for (int ox = first; ox < s->out_width; ox++) {
        const float *window = line + (size_t)ox * s->stride_width;
        float kept = window[0];
        for (int kx = 1; kx < s->kernel_width; kx++) kept = pk_keep_max(kept, window[kx * s->dilation_width]);
        out[ox] = kept;
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx2.h"

/// line[0], line[2], ..., line[14].
static inline PK_AVX2 __m256 load_evens_avx2(const float *line) {
    return pk_even_lanes_avx2(_mm256_loadu_ps(line), _mm256_loadu_ps(line + 8));
}

/// The parts of a line no input row writes: the left padding, and everything past the last whole
/// vector of columns. -inf, once per task: the rows only ever write the columns' vectors.
static PK_AVX2 void border_line_avx2(const pk_pool2d_shape *s, float *line, size_t line_floats) {
    __m256 lowest = _mm256_set1_ps(-INFINITY);
    for (int i = 0; i < s->padding_width; i++) line[i] = -INFINITY;
    size_t i = (size_t)s->padding_width + ((size_t)s->in_width + 7) / 8 * 8;
    for (; i + 8 <= line_floats; i += 8) _mm256_storeu_ps(line + i, lowest);
    for (; i < line_floats; i++) line[i] = -INFINITY;
}

/// fill_line's columns, eight at a time; a row's last partial vector is read masked and its lanes
/// past the row set to -inf (they are the right border). The first valid row is stored, not
/// compared with -inf: on GoogLeNet's 7x7 and 14x14 planes the scalar tails and the per-row -inf
/// pass were most of the pooling's time.
static PK_AVX2 void fill_line_avx2(const pk_pool2d_shape *s, const float *plane, int oy, float *line) {
    __m256 lowest = _mm256_set1_ps(-INFINITY);
    __m256i tail = pk_lane_mask_avx2(s->in_width % 8);
    float *columns = line + s->padding_width;
    int first = 1;
    for (int ky = 0; ky < s->kernel_height; ky++) {
        int iy = oy * s->stride_height - s->padding_height + ky * s->dilation_height;
        if (iy < 0 || iy >= s->in_height) continue;
        const float *row = plane + (size_t)iy * s->in_width;
        for (int x = 0; x < s->in_width; x += 8) {
            __m256 value = x + 8 <= s->in_width
                ? _mm256_loadu_ps(row + x)
                : _mm256_blendv_ps(lowest, _mm256_maskload_ps(row + x, tail), _mm256_castsi256_ps(tail));
            if (!first) value = pk_keep_max_avx2(_mm256_loadu_ps(columns + x), value);
            _mm256_storeu_ps(columns + x, value);
        }
        first = 0;
    }
    if (first)
        for (int x = 0; x < s->in_width; x += 8) _mm256_storeu_ps(columns + x, lowest);
}

/// Eight outputs at a time for dilation 1 and stride 1 or 2, the last partial vector stored masked
/// (its window reads stay within the line's slack); the rest as the portable loop does.
static PK_AVX2 void reduce_line_avx2(const pk_pool2d_shape *s, const float *line, float *out) {
    if (s->dilation_width != 1 || (s->stride_width != 1 && s->stride_width != 2)) {
        reduce_line_portable(s, line, 0, out);
        return;
    }
    int stride = s->stride_width;
    for (int ox = 0; ox < s->out_width; ox += 8) {
        const float *window = line + (size_t)ox * stride;
        __m256 kept = stride == 1 ? _mm256_loadu_ps(window) : load_evens_avx2(window);
        for (int kx = 1; kx < s->kernel_width; kx++)
            kept = pk_keep_max_avx2(kept, stride == 1 ? _mm256_loadu_ps(window + kx) : load_evens_avx2(window + kx));
        if (ox + 8 <= s->out_width) _mm256_storeu_ps(out + ox, kept);
        else _mm256_maskstore_ps(out + ox, pk_lane_mask_avx2(s->out_width - ox), kept);
    }
}
#endif

// Output rows [oy_begin, oy_end) of one plane.
static void pool_plane(const max_pool_job *job, const float *plane, float *output, int oy_begin, int oy_end) {
    const pk_pool2d_shape *s = job->shape;
#ifdef PK_HAVE_AVX512_PATH
    if (pk_use_avx512() && s->dilation_width == 1 && (s->stride_width == 1 || s->stride_width == 2)) {
        size_t lines = (size_t)job->rows * job->line_floats, vectors = pk_max_pool_row_vectors(s) * 16;
        pk_max_pool_plane_avx512(s, plane, output, pk_thread_scratch(lines > vectors ? lines : vectors), job->rows,
                                 job->line_floats, oy_begin, oy_end);
        return;
    }
#endif
#ifdef PK_HAVE_AVX2_PATH
    if (pk_use_avx2()) {
        int rows = job->rows;
        float *lines = pk_thread_scratch((size_t)rows * job->line_floats);
        for (int r = 0; r < rows; r++) border_line_avx2(s, lines + (size_t)r * job->line_floats, job->line_floats);
        for (int oy0 = oy_begin; oy0 < oy_end; oy0 += rows) {
            int count = oy_end - oy0 < rows ? oy_end - oy0 : rows;
            for (int r = 0; r < count; r++) fill_line_avx2(s, plane, oy0 + r, lines + (size_t)r * job->line_floats);
            for (int r = 0; r < count; r++)
                reduce_line_avx2(s, lines + (size_t)r * job->line_floats, output + (size_t)(oy0 + r) * s->out_width);
        }
        return;
    }
#endif
    float *line = pk_thread_scratch(job->line_floats);
    for (int oy = oy_begin; oy < oy_end; oy++) {
        float *out = output + (size_t)oy * s->out_width;
        fill_line(s, plane, oy, line, job->line_floats);
        reduce_line_portable(s, line, 0, out);
    }
}

static void max_pool_task(void *context, size_t task) {
    const max_pool_job *job = context;
    const pk_pool2d_shape *s = job->shape;
    int group = (int)(task % (size_t)job->plane_groups);
    task /= (size_t)job->plane_groups;
    int chunk = (int)(task % (size_t)job->row_chunks), image = (int)(task / (size_t)job->row_chunks);
    int oy_begin = chunk * job->rows_per_chunk;
    int oy_end = oy_begin + job->rows_per_chunk < s->out_height ? oy_begin + job->rows_per_chunk : s->out_height;
    int first = group * job->planes_per_group;
    int end = first + job->planes_per_group < job->planes_per_image ? first + job->planes_per_group : job->planes_per_image;
    for (int p = first; p < end; p++) {
        size_t plane = (size_t)image * (size_t)job->planes_per_image + (size_t)p;
        pool_plane(job, job->input + plane * (size_t)s->in_height * s->in_width,
                   job->output + plane * (size_t)s->out_height * s->out_width, oy_begin, oy_end);
    }
}

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

void pk_max_pool2d(const pk_pool2d_shape *s, const float *input, float *output) {
    if (s->planes <= 0 || s->out_height <= 0 || s->out_width <= 0) return;
    // The last window's last tap, in line coordinates (the line starts at input column -padding).
    size_t last_tap = (size_t)(s->out_width - 1) * (size_t)s->stride_width + (size_t)(s->kernel_width - 1) * (size_t)s->dilation_width;
    size_t covered = (size_t)s->padding_width + (size_t)s->in_width;
    max_pool_job job = {s, input, output, (last_tap + 1 > covered ? last_tap + 1 : covered) + LINE_SLACK, 1};
    int rows = LINES_FLOATS / (int)job.line_floats;
    job.rows = rows < 1 ? 1 : (rows > s->out_height ? s->out_height : rows);
    job.images = s->images >= 1 && s->planes % s->images == 0 ? s->images : 1;
    job.planes_per_image = s->planes / job.images;
    // Rows split so each thread's run of tasks is whole chunks of the images it has (two chunks a
    // thread), then planes grouped up to several tasks a thread. Small maps split by planes only:
    // on GoogLeNet's 14x14 and 7x7 ones, each plane's setup per chunk of two to four rows cost more
    // than reading the other core's half saved (its batch-1 pools 0.84 -> 1.11 ms).
    int threads = pk_thread_count();
    int chunks = s->out_height * s->out_width < ROW_SPLIT_PIXELS ? 1 : ceil_div(2 * threads, job.images);
    job.row_chunks = chunks > s->out_height ? s->out_height : chunks;
    job.rows_per_chunk = ceil_div(s->out_height, job.row_chunks);
    job.row_chunks = ceil_div(s->out_height, job.rows_per_chunk);
    long per_group = (long)job.images * job.row_chunks, wanted = (long)threads * TASKS_PER_THREAD;
    int groups = per_group >= wanted ? 1 : (int)((wanted + per_group - 1) / per_group);
    if (groups > job.planes_per_image) groups = job.planes_per_image;
    job.planes_per_group = ceil_div(job.planes_per_image, groups);
    job.plane_groups = ceil_div(job.planes_per_image, job.planes_per_group);
    pk_parallel_for((size_t)per_group * (size_t)job.plane_groups, max_pool_task, &job);
}
