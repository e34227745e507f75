// Convolutions on the channel-blocked layout (PK_CHANNEL_BLOCK channels side by side per pixel), the
// layout changes into and out of it, and the two squeeze-and-excitation steps on it.
//
// Pointwise (1x1) convolutions are a GEMM whose B is the input itself: a pixel's eight channels are
// contiguous, so a tile broadcasts them one by one against packed weight vectors, with no im2col copy
// (on NCHW the copy was a tenth of mobilenet_v2). Tiles write whole output vectors, contiguous along
// the pixels. Depthwise convolutions multiply a pixel's channel vector by a tap's weight vector: no
// padded copy of the plane, no strided gathers, the same code for every width.
#include "ChannelBlocks.h"
#include "Activation.h"
#include "Gemm.h"
#include "Scratch.h"
#include "ThreadPool.h"
#include "Winograd.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

enum { BLOCK = PK_CHANNEL_BLOCK, PANEL = PK_POINTWISE_BLOCKS * PK_CHANNEL_BLOCK, TASKS_PER_THREAD = 8 };
// Pixels a pointwise task keeps: their input (pixels x K floats) stays in the core's L2 while every
// panel of the task's output channels streams through it, each weight read once per block, and the
// blocks of an image are of equal size. With blocks of 24576 floats (96 KB, sized for Zen 3's 512 KB
// L2), ResNeXt's 2048 -> 1024 layer at 7x7 ran as five pixel blocks (12, 12, 12, 12 and 1 pixels),
// each streaming all 8 MB of its weights; with half the L2 as three (24, 24 and 1); with the whole
// L2 as one. Pairs of deep layers, two threads, median of 100 against half the L2 and unequal blocks
// (Zen 3): 2048 -> 1024 -> 2048 at 7x7 2902 -> 2764 us, 1024 -> 512 -> 1024 at 14x14 2361 -> 2279,
// 512 -> 256 -> 512 at 28x28 2301 -> 2219, 1280 -> 320 -> 1280 at 7x7 493 -> 469; shallow ones
// unchanged. POINTWISE_PIXELS_MAX keeps enough tasks for the threads when K is small.
enum { POINTWISE_PIXELS_MAX = 40 * PK_POINTWISE_PIXELS, L2_BYTES_DEFAULT = 512 * 1024 };

// Asked once; concurrent first callers store the same value.
static int l2_floats(void) {
    static atomic_int known = 0;
    int floats = atomic_load_explicit(&known, memory_order_relaxed);
    if (floats == 0) {
        long l2 = 0;
#ifdef _SC_LEVEL2_CACHE_SIZE
        l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
        if (l2 <= 0 || l2 > (64L << 20)) l2 = L2_BYTES_DEFAULT;
        floats = (int)(l2 / (long)sizeof(float));
        atomic_store_explicit(&known, floats, memory_order_relaxed);
    }
    return floats;
}

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

int pk_conv2d_is_blocked_pointwise(const pk_conv2d_shape *s) {
    return s->groups == 1 && s->kernel_height == 1 && s->kernel_width == 1 && s->padding_height == 0 &&
        s->padding_width == 0;
}

static int is_pointwise(const pk_conv2d_shape *s) {
    return pk_conv2d_is_blocked_pointwise(s) && s->stride_height == 1 && s->stride_width == 1;
}

int pk_conv2d_blocked_supported(const pk_conv2d_shape *s) {
    if (pk_conv2d_blocked_reads_nchw(s)) return 1;
    if (s->in_channels % BLOCK != 0 || s->out_channels % BLOCK != 0) return 0;
    return pk_conv2d_is_blocked_pointwise(s) || pk_conv2d_is_depthwise(s) || pk_conv2d_is_grouped_blocked(s) ||
        pk_conv2d_winograd_blocked_fits(s) || pk_conv2d_is_dense_blocked(s);
}

size_t pk_conv2d_blocked_packed_weights_count(const pk_conv2d_shape *s) {
    if (pk_conv2d_winograd_blocked_fits(s)) return pk_winograd_packed_weights_count(s);
    if (pk_conv2d_is_dense_blocked(s)) return pk_dense_blocked_packed_weights_count(s);
    if (pk_conv2d_is_grouped_blocked(s)) return pk_grouped_blocked_packed_weights_count(s);
    if (pk_conv2d_is_depthwise(s)) return (size_t)s->out_channels * (size_t)s->kernel_height * (size_t)s->kernel_width;
    return (size_t)s->out_channels * (size_t)s->in_channels;
}

// Pointwise: panels of 16 output channels (the last may hold 8), each [input channel][panel width],
// panel p at p * 16 * in_channels. Depthwise: [channel block][tap][8]. Grouped: GroupedBlocked.c.
// Winograd's: as on NCHW (Winograd.c). Dense: DenseBlocked.c.
void pk_conv2d_blocked_pack_weights(const pk_conv2d_shape *s, const float *weight, float *packed) {
    if (pk_conv2d_winograd_blocked_fits(s)) {
        pk_winograd_pack_weights(s, weight, packed);
        return;
    }
    if (pk_conv2d_is_dense_blocked(s)) {
        pk_dense_blocked_pack_weights(s, weight, packed);
        return;
    }
    if (pk_conv2d_is_grouped_blocked(s)) {
        pk_grouped_blocked_pack_weights(s, weight, packed);
        return;
    }
    if (pk_conv2d_is_depthwise(s)) {
        int taps = s->kernel_height * s->kernel_width;
        for (int c = 0; c < s->out_channels; c++)
            for (int t = 0; t < taps; t++)
                packed[((size_t)(c / BLOCK) * taps + t) * BLOCK + c % BLOCK] = weight[(size_t)c * taps + t];
        return;
    }
    size_t depth = (size_t)s->in_channels;
    for (int first = 0; first < s->out_channels; first += PANEL) {
        int width = s->out_channels - first < PANEL ? s->out_channels - first : PANEL;
        float *panel = packed + (size_t)first * depth;
        for (size_t k = 0; k < depth; k++)
            for (int j = 0; j < width; j++) panel[k * width + j] = weight[(size_t)(first + j) * depth + k];
    }
}

static void pointwise_tile_portable(int in_blocks, size_t block_stride, const float *x, const float *w, int blocks,
                                    int pixels, const float *bias, const float *residual, pk_activation activation,
                                    float *out) {
    float sums[PK_POINTWISE_PIXELS][PANEL] = {{0}};
    int width = blocks * BLOCK;
    for (int ib = 0; ib < in_blocks; ib++, x += block_stride) {
        for (int i = 0; i < BLOCK; i++, w += width) {
            for (int r = 0; r < pixels; r++) {
                float a = x[r * BLOCK + i];
                for (int j = 0; j < width; j++) sums[r][j] += a * w[j];
            }
        }
    }
    for (int b = 0; b < blocks; b++) {
        for (int r = 0; r < pixels; r++) {
            for (int l = 0; l < BLOCK; l++) {
                size_t at = (size_t)b * block_stride + (size_t)r * BLOCK + (size_t)l;
                float value = sums[r][b * BLOCK + l] + bias[b * BLOCK + l];
                if (residual) value += residual[at];
                out[at] = pk_activate(activation, value);
            }
        }
    }
}

static void depthwise_row_portable(const pk_conv2d_shape *s, const float *in, const float *w, const float *bias,
                                   int oy, const float *residual, pk_activation activation, float *out) {
    for (int ox = 0; ox < s->out_width; ox++) {
        float sums[BLOCK] = {0};
        for (int kh = 0; kh < s->kernel_height; kh++) {
            int iy = oy * s->stride_height - s->padding_height + kh * s->dilation_height;
            if (iy < 0 || iy >= s->in_height) continue;
            for (int kw = 0; kw < s->kernel_width; kw++) {
                int ix = ox * s->stride_width - s->padding_width + kw * s->dilation_width;
                if (ix < 0 || ix >= s->in_width) continue;
                const float *pixel = in + ((size_t)iy * s->in_width + ix) * BLOCK;
                const float *tap = w + (size_t)(kh * s->kernel_width + kw) * BLOCK;
                for (int l = 0; l < BLOCK; l++) sums[l] += pixel[l] * tap[l];
            }
        }
        pk_finish_block_portable(sums, bias, residual ? residual + (size_t)ox * BLOCK : NULL, activation,
                                 out + (size_t)ox * BLOCK);
    }
}

typedef struct {
    const pk_conv2d_shape *shape;
    const float *input, *packed, *bias, *residual;
    const float *input_scale;  // [batch][in_channels], or NULL
    pk_activation activation;
    float *output;
    pk_pointwise_tile_fn tile;
    int tile_pixels, tile_panels;  // the most pixels and panels `tile` takes
    pk_pointwise_three_blocks_fn three_blocks;  // for a layer's last panel and half panel, or NULL
    pk_depthwise_blocked_row_fn row;
    pk_depthwise_padded_rows_fn padded_rows;      // or NULL
    int pixels, pixel_block, pixel_blocks;        // pointwise
    int panels, panels_per_task, panel_chunks;    // pointwise
    int panel_units;  // what tasks split: the panels, the last full one and a half one after it as one
    int row_chunks;                               // depthwise
    int blocks_per_task, block_groups;            // depthwise
    const float *zero_bias;
} blocked_job;

// The packed weights of panels [panel_begin, panel_end) times the image's input scale, in this
// thread's scratch, in the packed layout (panel p at (p - panel_begin) * 16 * in_channels): one
// product per weight, where scaling the input would take one per input value and write them all.
static const float *scaled_panels(const blocked_job *job, int image, int panel_begin, int panel_end) {
    const pk_conv2d_shape *s = job->shape;
    size_t depth = (size_t)s->in_channels;
    int first = panel_begin * PANEL, end = panel_end * PANEL < s->out_channels ? panel_end * PANEL : s->out_channels;
    float *scaled = pk_thread_scratch((size_t)(end - first) * depth);
    const float *factors = job->input_scale + (size_t)image * depth;
    for (int panel_first = first; panel_first < end; panel_first += PANEL) {
        int width = end - panel_first < PANEL ? end - panel_first : PANEL;  // only the layer's last is narrower
        const float *from = job->packed + (size_t)panel_first * depth;
        float *to = scaled + (size_t)(panel_first - first) * depth;
        for (size_t k = 0; k < depth; k++)
            for (int j = 0; j < width; j++) to[k * (size_t)width + (size_t)j] = from[k * (size_t)width + (size_t)j] * factors[k];
    }
    return scaled;
}

// Task = (image, pixel block, chunk of 16-channel panels).
static void pointwise_task(void *context, size_t task) {
    const blocked_job *job = context;
    const pk_conv2d_shape *s = job->shape;
    int chunk = (int)(task % (size_t)job->panel_chunks);
    task /= (size_t)job->panel_chunks;
    int pixel_block = (int)(task % (size_t)job->pixel_blocks), image = (int)(task / (size_t)job->pixel_blocks);
    size_t block_stride = (size_t)job->pixels * BLOCK;
    int p0 = pixel_block * job->pixel_block;
    int p_end = p0 + job->pixel_block < job->pixels ? p0 + job->pixel_block : job->pixels;
    int panel_end = (chunk + 1) * job->panels_per_task < job->panel_units ? (chunk + 1) * job->panels_per_task : job->panels;
    const float *image_in = job->input + (size_t)image * s->in_channels * (size_t)job->pixels;
    size_t image_out = (size_t)image * s->out_channels * (size_t)job->pixels;
    int panel_begin = chunk * job->panels_per_task;
    const float *scaled = job->input_scale ? scaled_panels(job, image, panel_begin, panel_end) : NULL;
    for (int panel = panel_begin; panel < panel_end; panel += job->tile_panels) {
        int first = panel * PANEL, width = job->tile_panels * PANEL;
        // The layer's last full panel and its half panel run as one tile of three blocks (the task
        // split keeps the two together: panel_units).
        int three = job->three_blocks && s->out_channels - first == PANEL + BLOCK;
        int blocks = (s->out_channels - first < width ? s->out_channels - first : width) / BLOCK;
        const float *w = scaled ? scaled + (size_t)(first - panel_begin * PANEL) * s->in_channels
                                : job->packed + (size_t)first * s->in_channels;
        const float *bias = job->bias ? job->bias + first : job->zero_bias;
        int step = three ? PK_POINTWISE_THREE_BLOCK_PIXELS : job->tile_pixels;
        for (int p = p0; p < p_end; p += step) {
            int count = p_end - p < step ? p_end - p : step;
            size_t at = image_out + (size_t)first * job->pixels + (size_t)p * BLOCK;
            const float *x = image_in + (size_t)p * BLOCK, *residual = job->residual ? job->residual + at : NULL;
            if (three)
                job->three_blocks(s->in_channels / BLOCK, block_stride, x, w, count, bias, residual, job->activation,
                                  job->output + at);
            else
                job->tile(s->in_channels / BLOCK, block_stride, x, w, blocks, count, bias, residual, job->activation,
                          job->output + at);
        }
        if (three) break;
    }
}

// Task = (image, chunk of output rows, group of channel blocks), in that order: the pool hands each
// thread a run of tasks, so a thread's rows are those whose pixels the pointwise steps before and
// after give it (ThreadPool.h).
static void depthwise_task(void *context, size_t task) {
    const blocked_job *job = context;
    const pk_conv2d_shape *s = job->shape;
    int blocks = s->out_channels / BLOCK;
    int group = (int)(task % (size_t)job->block_groups);
    task /= (size_t)job->block_groups;
    int chunk = (int)(task % (size_t)job->row_chunks), image = (int)(task / (size_t)job->row_chunks);
    size_t in_plane = (size_t)s->in_height * s->in_width * BLOCK, out_row = (size_t)s->out_width * BLOCK;
    // Chunks split the rows in proportion, so the threads' halves meet where the pointwise steps'
    // pixel blocks do (at 14x14, rows 0-6 and 7-13), not one row off.
    int oy_begin = chunk * s->out_height / job->row_chunks, oy_end = (chunk + 1) * s->out_height / job->row_chunks;
    int cb_end = (group + 1) * job->blocks_per_task < blocks ? (group + 1) * job->blocks_per_task : blocks;
    for (int cb = group * job->blocks_per_task; cb < cb_end; cb++) {
        size_t plane_task = (size_t)image * (size_t)blocks + (size_t)cb;
        const float *in = job->input + plane_task * in_plane;
        const float *w = job->packed + (size_t)cb * s->kernel_height * s->kernel_width * BLOCK;
        const float *bias = job->bias ? job->bias + (size_t)cb * BLOCK : job->zero_bias;
        if (job->padded_rows) {
            size_t at = (plane_task * (size_t)s->out_height + (size_t)oy_begin) * out_row;
            job->padded_rows(s, in, w, bias, oy_begin, oy_end, job->residual ? job->residual + at : NULL,
                             job->activation, job->output + at);
            continue;
        }
        for (int oy = oy_begin; oy < oy_end; oy++) {
            size_t at = (plane_task * (size_t)s->out_height + (size_t)oy) * out_row;
            job->row(s, in, w, bias, oy, job->residual ? job->residual + at : NULL, job->activation, job->output + at);
        }
    }
}

// Weights of more than twice the threads' L2 caches in all (ResNeXt's 2048 -> 1024 at 7x7, 8 MB, and
// ResNet-50's 2048 -> 512, 4 MB). A pair of the former, two threads, median of 100 (Zen 3): pixels
// split between the threads 2663-2742 us, panels split 2507-2535 (ONNX Runtime's chain: 2444); with
// 1.6 MB (1280 -> 320 at 7x7) the pixel split stays 1-2% ahead.
static int weights_outgrow_caches(const pk_conv2d_shape *s) {
    double weights = (double)s->in_channels * s->out_channels * sizeof(float);
    return weights > 2.0 * (double)l2_floats() * sizeof(float) * pk_thread_count();
}

int pk_conv2d_blocked_takes_input_scale(const pk_conv2d_shape *s) {
    return pk_conv2d_blocked_supported(s) && is_pointwise(s) && !pk_conv2d_blocked_reads_nchw(s);
}

static void run_blocked(const pk_conv2d_shape *s, const float *input, const float *input_scale, const float *packed,
                        const float *bias, const float *residual, pk_activation activation, float *output);

void pk_conv2d_blocked_run(const pk_conv2d_shape *s, const float *input, const float *packed, const float *bias,
                           const float *residual, pk_activation activation, float *output) {
    run_blocked(s, input, NULL, packed, bias, residual, activation, output);
}

void pk_conv2d_blocked_run_scaled(const pk_conv2d_shape *s, const float *input, const float *input_scale,
                                  const float *packed, const float *bias, const float *residual,
                                  pk_activation activation, float *output) {
    // A broken contract of the plan compiler, never of data: only pointwise tasks read the scale, and
    // for another shape it would be dropped without a word.
    if (!pk_conv2d_blocked_takes_input_scale(s)) abort();
    run_blocked(s, input, input_scale, packed, bias, residual, activation, output);
}

static void run_blocked(const pk_conv2d_shape *s, const float *input, const float *input_scale, const float *packed,
                        const float *bias, const float *residual, pk_activation activation, float *output) {
    if (pk_conv2d_winograd_blocked_fits(s)) {
        pk_conv2d_run_winograd_blocked(s, input, packed, bias, residual, activation, output);
        return;
    }
    if (pk_conv2d_is_dense_blocked(s)) {
        pk_dense_blocked_run(s, input, packed, bias, residual, activation, output);
        return;
    }
    if (pk_conv2d_is_grouped_blocked(s)) {
        pk_grouped_blocked_run(s, input, packed, bias, residual, activation, output);
        return;
    }
    pk_conv2d_shape gathered;
    if (!pk_conv2d_is_depthwise(s) && (s->stride_height != 1 || s->stride_width != 1)) {
        // A strided 1x1 reads every stride-th pixel: gathered once into planes of the output's size,
        // a quarter of the input at stride 2, they are the stride-1 case's input. Only unscaled
        // convolutions come here (pk_conv2d_blocked_takes_input_scale), so the shared scratch is free.
        size_t planes = (size_t)s->batch * (size_t)(s->in_channels / BLOCK);
        float *picked = pk_thread_shared_scratch(planes * (size_t)s->out_height * (size_t)s->out_width * BLOCK);
        pk_channel_blocks_subsample(input, picked, planes, (size_t)s->in_height, (size_t)s->in_width,
                                    (size_t)s->out_height, (size_t)s->out_width, (size_t)s->stride_height,
                                    (size_t)s->stride_width);
        gathered = *s;
        gathered.in_height = s->out_height;
        gathered.in_width = s->out_width;
        gathered.stride_height = gathered.stride_width = 1;
        s = &gathered;
        input = picked;
    }
    static const float zeros[PK_POINTWISE_BLOCKS_WIDE * BLOCK] = {0};
    blocked_job job = {.shape = s, .input = input, .packed = packed, .bias = bias, .residual = residual,
                       .input_scale = input_scale, .activation = activation, .output = output, .tile = pointwise_tile_portable,
                       .tile_pixels = PK_POINTWISE_PIXELS, .tile_panels = 1, .row = depthwise_row_portable, .zero_bias = zeros};
#ifdef PK_HAVE_AVX2_PATH
    if (pk_use_avx2()) {
        job.tile = pk_pointwise_tile_avx2;
        job.three_blocks = pk_pointwise_three_blocks_avx2;
        job.row = pk_depthwise_blocked_row_avx2;
        if (pk_depthwise_padded_rows_take(s)) job.padded_rows = pk_depthwise_padded_rows_avx2;
    }
#endif
#ifdef PK_HAVE_AVX512_PATH
    if (pk_use_avx512()) {
        job.tile = pk_pointwise_tile_avx512;
        job.three_blocks = NULL;  // its own tile takes up to four blocks
        job.tile_pixels = PK_POINTWISE_PIXELS_WIDE;
        job.tile_panels = PK_POINTWISE_BLOCKS_WIDE / PK_POINTWISE_BLOCKS;
        job.row = pk_depthwise_blocked_row_avx512;
        job.padded_rows = NULL;  // its row kernel's masked loads need no guards; the copy measured no faster on Zen 4
    }
#endif
    long wanted = (long)pk_thread_count() * TASKS_PER_THREAD;
    if (pk_conv2d_is_depthwise(s)) {
        // Rows split so that each thread's run of tasks covers whole chunks of every image it has
        // (two chunks a thread), then channel blocks grouped up to the wanted number of tasks. Small
        // planes (PK_DEPTHWISE_SMALL_PLANE_WIDTH columns or fewer) are split by channel blocks alone:
        // a chunk of one or two of their rows copied three or four (AVX2's padded copies), its calls
        // cost more than its work, and 7 or 14 rows split four ways leave the threads uneven. Two
        // threads, median of 300 (Zen 3, padded rows): 960 channels at 7x7 34.4 -> 20.7 us, 576 at
        // 14x14 54.8 -> 38.3, 1152 at 7x7 5x5 53.7 -> 40.7; mobilenet_v2 end to end 5.0 -> 4.8 ms in
        // alternating runs, though half of each thread's input was written by the other core. Zen 4's
        // AVX-512 rows, --profile medians of 80: 384 channels at 14x14 25 -> 19-21 us, 576 at 14x14
        // 41 -> 31, 960 at 7x7 19 -> 16; mobilenet_v2 batch 1 3.91-4.17 -> 3.81-3.90 ms alternating.
        // Larger planes measured no faster split that way.
        int blocks = s->out_channels / BLOCK, threads = pk_thread_count();
        int chunks = s->in_width <= PK_DEPTHWISE_SMALL_PLANE_WIDTH ? 1 : ceil_div(2 * threads, s->batch);
        job.row_chunks = chunks > s->out_height ? s->out_height : chunks;
        long per_group = (long)s->batch * job.row_chunks;
        int groups = per_group >= wanted ? 1 : (int)((wanted + per_group - 1) / per_group);
        job.blocks_per_task = ceil_div(blocks, groups > blocks ? blocks : groups);
        job.block_groups = ceil_div(blocks, job.blocks_per_task);
        pk_parallel_for((size_t)per_group * (size_t)job.block_groups, depthwise_task, &job);
        return;
    }
    job.pixels = s->out_height * s->out_width;
    if (input_scale && s->out_channels > job.pixels) {
        // More weights than input values per image (late, small maps): scaling the input once, into
        // a buffer the tiles then read hot, costs fewer products than scaling every panel.
        float *scaled = pk_thread_shared_scratch((size_t)s->batch * (size_t)s->in_channels * (size_t)job.pixels);
        pk_channel_blocks_scale(input, input_scale, scaled, (size_t)s->batch, (size_t)s->in_channels, (size_t)job.pixels);
        job.input = scaled;
        job.input_scale = NULL;
    }
    // A whole number of the widest tiles, so every tile but a block's last is full on either path.
    int block = l2_floats() / s->in_channels / PK_POINTWISE_PIXELS_WIDE * PK_POINTWISE_PIXELS_WIDE;
    block = block < PK_POINTWISE_PIXELS_WIDE ? PK_POINTWISE_PIXELS_WIDE
                                             : (block > POINTWISE_PIXELS_MAX ? POINTWISE_PIXELS_MAX : block);
    if (block < job.pixels) {
        // As many blocks, of equal size in whole tiles: a last block of a few pixels streams every
        // weight for them.
        int count = ceil_div(job.pixels, block);
        block = ceil_div(ceil_div(job.pixels, count), PK_POINTWISE_PIXELS_WIDE) * PK_POINTWISE_PIXELS_WIDE;
    }
    job.panels = ceil_div(s->out_channels, PANEL);
    // The three-block tile needs the last full panel and the half panel after it in one task.
    job.panel_units = job.panels - (job.three_blocks && job.panels >= 2 && s->out_channels % PANEL == BLOCK);
    // Where the panels alone cannot give every thread several tasks, smaller pixel blocks, of equal
    // size (a last block of one pixel would stream all the weights for it), make up the count. And
    // an image shared between threads is split by pixels at least once per thread, never only by
    // channels: each thread's run of tasks (ThreadPool.h) is then its own pixels, which the step
    // before wrote from that core and the next reads there. Unless the weights outgrow the caches:
    // then each thread streaming all of them for its pixels costs more than reading the other
    // core's pixels, and the threads split the panels.
    int tiles_across = ceil_div(job.panels, job.tile_panels);
    long per_image = (wanted + s->batch - 1) / s->batch;
    int blocks_wanted = (int)((per_image + tiles_across - 1) / tiles_across);
    int per_thread = ceil_div(pk_thread_count(), s->batch);
    if (blocks_wanted < per_thread && !weights_outgrow_caches(s)) blocks_wanted = per_thread;
    if (ceil_div(job.pixels, block) < blocks_wanted) {
        // Whole rows where a block spans one or more, so blocks end where the depthwise steps' row
        // chunks do; whole tiles otherwise.
        int balanced = ceil_div(job.pixels, blocks_wanted);
        int unit = balanced >= s->out_width ? s->out_width : PK_POINTWISE_PIXELS;
        balanced = ceil_div(balanced, unit) * unit;
        block = balanced < PK_POINTWISE_PIXELS ? PK_POINTWISE_PIXELS : balanced;
    }
    job.pixel_block = block < job.pixels ? block : job.pixels;
    job.pixel_blocks = ceil_div(job.pixels, job.pixel_block);
    long base = (long)s->batch * job.pixel_blocks;
    int chunks = base >= wanted ? 1 : (int)((wanted + base - 1) / base);
    if (chunks > job.panel_units) chunks = job.panel_units;
    // Tasks split the panels between whole tiles.
    job.panels_per_task = ceil_div(ceil_div(job.panel_units, chunks), job.tile_panels) * job.tile_panels;
    job.panel_chunks = ceil_div(job.panel_units, job.panels_per_task);
    pk_parallel_for((size_t)base * (size_t)job.panel_chunks, pointwise_task, &job);
}

// The layout changes run one task per channel block: memory-bound passes, split so that both cores'
// bandwidth serves them.
typedef struct {
    const float *source;
    float *destination;
    size_t plane;
    int into_blocks;  // layout changes: NCHW to blocks, or back
} block_pass;

// Channel l of pixel p sits at p * BLOCK + l within a block, at l * plane + p in NCHW planes.
static void change_layout_task(void *context, size_t block) {
    const block_pass *pass = context;
    const float *from = pass->source + block * BLOCK * pass->plane;
    float *to = pass->destination + block * BLOCK * pass->plane;
#ifdef PK_HAVE_AVX2_PATH
    if (pk_use_avx2()) {
        (pass->into_blocks ? pk_to_channel_blocks_avx2 : pk_from_channel_blocks_avx2)(from, to, BLOCK, pass->plane);
        return;
    }
#endif
    size_t blocked_pixel = BLOCK, blocked_channel = 1, planar_pixel = 1, planar_channel = pass->plane;
    for (size_t p = 0; p < pass->plane; p++) {
        for (size_t l = 0; l < BLOCK; l++) {
            size_t blocked = p * blocked_pixel + l * blocked_channel, planar = p * planar_pixel + l * planar_channel;
            if (pass->into_blocks) to[blocked] = from[planar];
            else to[planar] = from[blocked];
        }
    }
}

void pk_to_channel_blocks(const float *source, float *destination, size_t batch, size_t channels, size_t plane) {
    block_pass pass = {.source = source, .destination = destination, .plane = plane, .into_blocks = 1};
    pk_parallel_for(batch * channels / BLOCK, change_layout_task, &pass);
}

void pk_from_channel_blocks(const float *source, float *destination, size_t batch, size_t channels, size_t plane) {
    block_pass pass = {.source = source, .destination = destination, .plane = plane, .into_blocks = 0};
    pk_parallel_for(batch * channels / BLOCK, change_layout_task, &pass);
}

// The squeeze-and-excitation passes run by pixels, not by channel: task = (image, chunk of pixels,
// group of channel blocks), in that order, so each thread reads and writes the pixels its core wrote
// in the step before (ThreadPool.h). Split by channel, each task read its channels' whole planes, half
// of them from the other core's cache, and efficientnet_b0's 17 means took longer on two threads than
// on one.
enum { SE_MIN_PIXELS = 32 };

typedef struct {
    const float *source, *scale;
    float *destination;
    double *partial;  // means: [image][pixel chunk][channel] sums
    size_t channels, plane;
    size_t pixel_chunks, run, block_groups, blocks_per_group;
} pixel_pass;

static void plan_pixel_pass(pixel_pass *pass, size_t batch) {
    size_t threads = (size_t)pk_thread_count(), blocks = pass->channels / BLOCK;
    size_t wanted = (2 * threads + batch - 1) / batch, most = (pass->plane + SE_MIN_PIXELS - 1) / SE_MIN_PIXELS;
    pass->pixel_chunks = wanted < most ? wanted : most;
    if (pass->pixel_chunks < 1) pass->pixel_chunks = 1;
    pass->run = (pass->plane + pass->pixel_chunks - 1) / pass->pixel_chunks;
    pass->pixel_chunks = (pass->plane + pass->run - 1) / pass->run;
    // Channel blocks grouped so the tasks still number a few per thread.
    size_t per_group = batch * pass->pixel_chunks, target = threads * TASKS_PER_THREAD;
    size_t groups = per_group >= target ? 1 : (target + per_group - 1) / per_group;
    if (groups > blocks) groups = blocks;
    if (groups < 1) groups = 1;
    pass->blocks_per_group = (blocks + groups - 1) / groups;
    pass->block_groups = (blocks + pass->blocks_per_group - 1) / pass->blocks_per_group;
}

// Which image, pixels and channel blocks task `task` covers.
static void pixel_task_range(const pixel_pass *pass, size_t task, size_t *image, size_t *chunk, size_t *p0,
                             size_t *count, size_t *block_begin, size_t *block_end) {
    size_t group = task % pass->block_groups;
    task /= pass->block_groups;
    *chunk = task % pass->pixel_chunks;
    *image = task / pass->pixel_chunks;
    *p0 = *chunk * pass->run;
    *count = pass->plane - *p0 < pass->run ? pass->plane - *p0 : pass->run;
    size_t blocks = pass->channels / BLOCK;
    *block_begin = group * pass->blocks_per_group;
    *block_end = *block_begin + pass->blocks_per_group < blocks ? *block_begin + pass->blocks_per_group : blocks;
}

static void block_sums(const float *from, size_t pixels, double *sums) {
#ifdef PK_HAVE_AVX512_PATH
    if (pk_use_avx512()) {
        pk_channel_block_sum_avx512(from, pixels, sums);
        return;
    }
#endif
#ifdef PK_HAVE_AVX2_PATH
    if (pk_use_avx2()) {
        pk_channel_block_sum_avx2(from, pixels, sums);
        return;
    }
#endif
    for (size_t l = 0; l < BLOCK; l++) sums[l] = 0;
    for (size_t p = 0; p < pixels; p++)
        for (size_t l = 0; l < BLOCK; l++) sums[l] += from[p * BLOCK + l];
}

static void sum_task(void *context, size_t task) {
    const pixel_pass *pass = context;
    size_t image, chunk, p0, count, begin, end;
    pixel_task_range(pass, task, &image, &chunk, &p0, &count, &begin, &end);
    for (size_t block = begin; block < end; block++) {
        const float *from = pass->source + ((image * pass->channels / BLOCK + block) * pass->plane + p0) * BLOCK;
        block_sums(from, count, pass->partial + (image * pass->pixel_chunks + chunk) * pass->channels + block * BLOCK);
    }
}

static void scale_task(void *context, size_t task) {
    const pixel_pass *pass = context;
    size_t image, chunk, p0, count, begin, end;
    pixel_task_range(pass, task, &image, &chunk, &p0, &count, &begin, &end);
    for (size_t block = begin; block < end; block++) {
        size_t at = ((image * pass->channels / BLOCK + block) * pass->plane + p0) * BLOCK;
        const float *from = pass->source + at, *factors = pass->scale + image * pass->channels + block * BLOCK;
        float *to = pass->destination + at;
        for (size_t p = 0; p < count; p++)
            for (size_t l = 0; l < BLOCK; l++) to[p * BLOCK + l] = from[p * BLOCK + l] * factors[l];
    }
}

void pk_channel_blocks_mean(const float *source, float *destination, size_t batch, size_t channels, size_t plane) {
    if (batch == 0 || channels == 0) return;
    pixel_pass pass = {.source = source, .channels = channels, .plane = plane};
    plan_pixel_pass(&pass, batch);
    size_t partials = batch * pass.pixel_chunks * channels;
    pass.partial = (double *)pk_thread_shared_scratch(2 * partials);
    pk_parallel_for(batch * pass.pixel_chunks * pass.block_groups, sum_task, &pass);
    // The chunks' sums added in chunk order, whichever thread made them: the same result every run.
    for (size_t image = 0; image < batch; image++)
        for (size_t c = 0; c < channels; c++) {
            double total = 0;
            for (size_t chunk = 0; chunk < pass.pixel_chunks; chunk++)
                total += pass.partial[(image * pass.pixel_chunks + chunk) * channels + c];
            destination[image * channels + c] = (float)total / (float)plane;
        }
}

void pk_channel_blocks_scale(const float *source, const float *scale, float *destination, size_t batch,
                             size_t channels, size_t plane) {
    if (batch == 0 || channels == 0 || plane == 0) return;
    pixel_pass pass = {.source = source, .scale = scale, .destination = destination, .channels = channels, .plane = plane};
    plan_pixel_pass(&pass, batch);
    pk_parallel_for(batch * pass.pixel_chunks * pass.block_groups, scale_task, &pass);
}
