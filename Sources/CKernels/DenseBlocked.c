// Dense (one group) convolutions with a window on the channel-blocked layout, where Winograd does not
// take them: ResNet's stride-2 3x3s and its 3x3s on 7x7 maps, AlexNet's 5x5. And
// the stems, which read the NCHW image (3 channels: no whole block) and write blocks: the same tile
// with blocks of one channel, each an NCHW plane.
//
// The pointwise tile with taps: a tile of output pixels (consecutive in the output plane, across row
// ends, so a 7x7 map is eight full tiles and one pixel) broadcasts each input pixel's channels one by
// one against the tap's packed weights for 16 output channels. Each pixel reads its window from a
// zero-padded copy of the input (pk_planes_pad), so no tap is bounds-checked. On NCHW these
// ran as an implicit GEMM whose im2col copy and K blocks cost it a quarter of the FMA peak.
#include "ChannelBlocks.h"
#include "Gemm.h"
#include "Scratch.h"
#include "ThreadPool.h"
#include "Winograd.h"

enum { BLOCK = PK_CHANNEL_BLOCK, PANEL = PK_DENSE_PANEL_BLOCKS * PK_CHANNEL_BLOCK, TASKS_PER_THREAD = 8 };

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

int pk_conv2d_blocked_reads_nchw(const pk_conv2d_shape *s) {
    return s->groups == 1 && s->in_channels % BLOCK != 0 && s->out_channels % BLOCK == 0;
}

// Channels side by side in each input pixel: a block, or one for NCHW input.
static int input_lanes(const pk_conv2d_shape *s) { return pk_conv2d_blocked_reads_nchw(s) ? 1 : BLOCK; }

int pk_conv2d_is_dense_blocked(const pk_conv2d_shape *s) {
    if (pk_conv2d_blocked_reads_nchw(s)) return 1;
    if (s->groups != 1 || s->in_channels % BLOCK != 0 || s->out_channels % BLOCK != 0) return 0;
    return !pk_conv2d_is_blocked_pointwise(s) && !pk_conv2d_uses_winograd(s);
}

// The dense tile has AVX2 and portable forms only. Where AVX-512 runs at full width (the Xeon
// measured in session 12), the NCHW implicit GEMM and max pool run their AVX-512 tiles (1.7x AVX2's
// on resnet50's layers), so there dense networks keep NCHW. Zen 4 splits every 512-bit operation into
// two 256-bit halves: there the blocked kernels won on every dense network, two threads, batch 1,
// alternating runs: resnet18 15.8-17.0 -> 12.9-14.1 ms, resnet50 40.6-41.2 -> 34.4-39.3, googlenet
// 14.8-15.5 -> 11.2, vgg16 80.5-86.3 -> 72.8-75.3, alexnet 12.8-13.5 -> 11.6-11.8.
int pk_conv2d_dense_blocked_preferred(void) {
#ifdef PK_HAVE_AVX512_PATH
    if (pk_use_avx512() && pk_avx512_full_width()) return 0;
#endif
    return 1;
}

size_t pk_dense_blocked_packed_weights_count(const pk_conv2d_shape *s) {
    return (size_t)s->out_channels * (size_t)s->in_channels * (size_t)s->kernel_height * (size_t)s->kernel_width;
}

// Panels of 16 output channels (the last may hold 8), each [input block][tap][lanes][panel width].
void pk_dense_blocked_pack_weights(const pk_conv2d_shape *s, const float *weight, float *packed) {
    int taps = s->kernel_height * s->kernel_width, lanes = input_lanes(s), in_blocks = s->in_channels / lanes;
    for (int first = 0; first < s->out_channels; first += PANEL) {
        int width = s->out_channels - first < PANEL ? s->out_channels - first : PANEL;
        float *panel = packed + (size_t)first * s->in_channels * taps;
        for (int ib = 0; ib < in_blocks; ib++)
            for (int t = 0; t < taps; t++)
                for (int i = 0; i < lanes; i++)
                    for (int j = 0; j < width; j++) {
                        int ic = ib * lanes + i, oc = first + j;
                        panel[(((size_t)ib * taps + t) * lanes + i) * width + j] =
                            weight[((size_t)oc * s->in_channels + ic) * taps + t];
                    }
    }
}

static void dense_tile_portable(const pk_dense_tile *tile, const float *const *pixels_in, const float *w, int blocks,
                                int pixels, const float *bias, const float *residual, pk_activation activation,
                                float *out) {
    const pk_conv2d_shape *s = tile->shape;
    float sums[PK_DENSE_PIXELS][PANEL] = {{0}};
    int width = blocks * BLOCK;
    for (int ib = 0; ib < tile->in_blocks; ib++)
        for (int kh = 0; kh < s->kernel_height; kh++)
            for (int kw = 0; kw < s->kernel_width; kw++) {
                size_t offset = (size_t)ib * tile->block_stride +
                    ((size_t)kh * s->dilation_height * tile->padded_width + (size_t)kw * s->dilation_width) * tile->lanes;
                for (int i = 0; i < tile->lanes; i++, w += width)
                    for (int r = 0; r < pixels; r++) {
                        float a = pixels_in[r][offset + (size_t)i];
                        for (int j = 0; j < width; j++) sums[r][j] += a * w[j];
                    }
            }
    for (int b = 0; b < blocks; b++)
        for (int r = 0; r < pixels; r++) {
            size_t at = (size_t)b * tile->out_block_stride + (size_t)r * BLOCK;
            pk_finish_block_portable(&sums[r][b * BLOCK], bias + b * BLOCK, residual ? residual + at : NULL,
                                     activation, out + at);
        }
}

typedef struct {
    pk_dense_tile tile;
    const float *padded, *packed, *bias, *residual;
    pk_activation activation;
    float *output;
    pk_dense_tile_fn run_tile;
    int panels, pixel_chunks, chunk_pixels;
    const float *zero_bias;
} dense_job;

// Task = (image, chunk of output pixels, panel), panels fastest: a thread's run of tasks keeps its
// chunk's input in cache while the panels' weights stream past it.
static void dense_task(void *context, size_t task) {
    const dense_job *job = context;
    const pk_conv2d_shape *s = job->tile.shape;
    int panel = (int)(task % (size_t)job->panels);
    task /= (size_t)job->panels;
    int chunk = (int)(task % (size_t)job->pixel_chunks);
    size_t image = task / (size_t)job->pixel_chunks;
    int plane = s->out_height * s->out_width, first = chunk * job->chunk_pixels;
    int end = first + job->chunk_pixels < plane ? first + job->chunk_pixels : plane;
    int channel = panel * PANEL, blocks = s->out_channels - channel < PANEL ? 1 : PK_DENSE_PANEL_BLOCKS;
    const float *image_in = job->padded + image * (size_t)job->tile.in_blocks * job->tile.block_stride;
    const float *w = job->packed + (size_t)channel * s->in_channels * s->kernel_height * s->kernel_width;
    const float *bias = job->bias ? job->bias + channel : job->zero_bias;
    size_t out_base = (image * (size_t)s->out_channels + (size_t)channel) * (size_t)plane;
    for (int p = first; p < end; p += PK_DENSE_PIXELS) {
        int count = end - p < PK_DENSE_PIXELS ? end - p : PK_DENSE_PIXELS;
        const float *pixels_in[PK_DENSE_PIXELS];
        for (int r = 0; r < count; r++) {
            int oy = (p + r) / s->out_width, ox = (p + r) % s->out_width;
            pixels_in[r] = image_in + ((size_t)oy * s->stride_height * job->tile.padded_width +
                                       (size_t)ox * s->stride_width) * (size_t)job->tile.lanes;
        }
        size_t at = out_base + (size_t)p * BLOCK;
        job->run_tile(&job->tile, pixels_in, w, blocks, count, bias, job->residual ? job->residual + at : NULL,
                      job->activation, job->output + at);
    }
}

void pk_dense_blocked_run(const pk_conv2d_shape *s, const float *input, const float *packed, const float *bias,
                          const float *residual, pk_activation activation, float *output) {
    static const float zeros[PANEL] = {0};
    int padded_height = s->in_height + 2 * s->padding_height, padded_width = s->in_width + 2 * s->padding_width;
    int lanes = input_lanes(s), in_blocks = s->in_channels / lanes;
    size_t block_stride = (size_t)padded_height * padded_width * (size_t)lanes;
    dense_job job = {.tile = {.shape = s, .lanes = lanes, .in_blocks = in_blocks, .padded_width = padded_width,
                              .block_stride = block_stride,
                              .out_block_stride = (size_t)s->out_height * s->out_width * BLOCK},
                     .padded = input, .packed = packed, .bias = bias, .residual = residual, .activation = activation,
                     .output = output, .run_tile = dense_tile_portable, .zero_bias = zeros};
#ifdef PK_HAVE_AVX2_PATH
    if (pk_use_avx2()) job.run_tile = pk_dense_blocked_tile_avx2;
#endif
    if (s->padding_height > 0 || s->padding_width > 0) {
        size_t planes = (size_t)s->batch * (size_t)in_blocks;
        float *padded = pk_thread_shared_scratch(planes * block_stride);
        pk_planes_pad(input, padded, planes, (size_t)lanes, (size_t)s->in_height, (size_t)s->in_width,
                      (size_t)s->padding_height, (size_t)s->padding_width);
        job.padded = padded;
    }
    job.panels = ceil_div(s->out_channels, PANEL);
    int plane = s->out_height * s->out_width, tiles = ceil_div(plane, PK_DENSE_PIXELS);
    long base = (long)s->batch * job.panels, wanted = (long)pk_thread_count() * TASKS_PER_THREAD;
    int chunks = base >= wanted ? 1 : (int)((wanted + base - 1) / base);
    if (chunks > tiles) chunks = tiles;
    job.chunk_pixels = ceil_div(tiles, chunks) * PK_DENSE_PIXELS;
    job.pixel_chunks = ceil_div(plane, job.chunk_pixels);
    pk_parallel_for((size_t)base * (size_t)job.pixel_chunks, dense_task, &job);
}
