// Copies that move whole channels of [batch][channels][plane] tensors: torch's channel_shuffle, and
// slices along the channels (chunk, narrow). Each task copies one image's range of pixels in every
// channel, tasks ordered by image then pixels, so each thread copies the pixels the step before it
// wrote from its own core (ThreadPool.h) instead of whole planes half written by the other one.
// Last, the pixels a strided 1x1 convolution reads from channel-blocked planes, and the zero-padded
// planes the blocked grouped and dense convolutions read (blocked, or NCHW for a stem), a plane or a
// band of its rows a task.
#include "ChannelBlocks.h"
#include "ThreadPool.h"

#include <string.h>

/// Pixels a task copies per channel at the least: shorter runs cost more in calls than they move.
/// Copies under PARALLEL_FLOATS run on the calling thread: waking the others costs more.
enum { MIN_RUN = 64, PARALLEL_FLOATS = 1 << 16 };

typedef struct {
    const float *source;
    float *destination;
    size_t source_channels, channels, plane;
    size_t first, groups;  // a slice's first channel; a shuffle's groups (0 for a slice)
    size_t pixel_chunks, run;
} channel_copy;

static void copy_task(void *context, size_t task) {
    const channel_copy *c = context;
    size_t image = task / c->pixel_chunks, p0 = task % c->pixel_chunks * c->run;
    if (p0 >= c->plane) return;
    size_t count = c->plane - p0 < c->run ? c->plane - p0 : c->run;
    size_t per_group = c->groups ? c->channels / c->groups : 0;
    for (size_t k = 0; k < c->channels; k++) {
        // Shuffle: output channel j * groups + g is input channel g * (channels / groups) + j.
        size_t from = c->groups ? k % c->groups * per_group + k / c->groups : c->first + k;
        memcpy(c->destination + (image * c->channels + k) * c->plane + p0,
               c->source + (image * c->source_channels + from) * c->plane + p0, count * sizeof(float));
    }
}

static void run_copy(channel_copy *c, size_t batch) {
    if (batch == 0 || c->channels == 0 || c->plane == 0) return;
    // Two runs per thread when the images alone cannot give every thread its own.
    size_t threads = (size_t)pk_thread_count(), wanted = (2 * threads + batch - 1) / batch;
    size_t most = (c->plane + MIN_RUN - 1) / MIN_RUN;
    c->pixel_chunks = wanted < most ? wanted : most;
    if (batch * c->channels * c->plane < PARALLEL_FLOATS) c->pixel_chunks = 1;
    c->run = (c->plane + c->pixel_chunks - 1) / c->pixel_chunks;
    size_t tasks = batch * c->pixel_chunks;
    if (batch * c->channels * c->plane < PARALLEL_FLOATS)
        for (size_t task = 0; task < tasks; task++) copy_task(c, task);
    else
        pk_parallel_for(tasks, copy_task, c);
}

void pk_channel_shuffle(const float *input, float *output, size_t batch, size_t channels, size_t groups, size_t plane) {
    channel_copy c = {.source = input, .destination = output, .source_channels = channels, .channels = channels,
                      .plane = plane, .groups = groups};
    run_copy(&c, batch);
}

void pk_copy_channels(const float *input, size_t input_channels, size_t first, float *output, size_t channels,
                      size_t batch, size_t plane) {
    channel_copy c = {.source = input, .destination = output, .source_channels = input_channels,
                      .channels = channels, .plane = plane, .first = first};
    run_copy(&c, batch);
}

typedef struct {
    const float *source;
    float *destination;
    size_t in_height, in_width, out_height, out_width, stride_height, stride_width;
} plane_subsample;

static void subsample_task(void *context, size_t plane) {
    const plane_subsample *c = context;
    const float *from = c->source + plane * c->in_height * c->in_width * PK_CHANNEL_BLOCK;
    float *to = c->destination + plane * c->out_height * c->out_width * PK_CHANNEL_BLOCK;
    for (size_t y = 0; y < c->out_height; y++) {
        const float *row = from + y * c->stride_height * c->in_width * PK_CHANNEL_BLOCK;
        for (size_t x = 0; x < c->out_width; x++, to += PK_CHANNEL_BLOCK)
            memcpy(to, row + x * c->stride_width * PK_CHANNEL_BLOCK, PK_CHANNEL_BLOCK * sizeof(float));
    }
}

void pk_channel_blocks_subsample(const float *source, float *destination, size_t planes, size_t in_height,
                                 size_t in_width, size_t out_height, size_t out_width, size_t stride_height,
                                 size_t stride_width) {
    plane_subsample c = {.source = source, .destination = destination, .in_height = in_height, .in_width = in_width,
                         .out_height = out_height, .out_width = out_width, .stride_height = stride_height,
                         .stride_width = stride_width};
    if (planes * out_height * out_width * PK_CHANNEL_BLOCK < PARALLEL_FLOATS)
        for (size_t plane = 0; plane < planes; plane++) subsample_task(&c, plane);
    else
        pk_parallel_for(planes, subsample_task, &c);
}

typedef struct {
    const float *source;
    float *destination;
    size_t lanes, height, width, padding_height, padding_width, padded_height, padded_width;
    size_t bands;  // tasks per plane, each a band of its padded rows
} plane_padding;

// Padded rows [band's first, next band's first) of one plane, each row written once: zeros, the
// source row, zeros.
static void pad_task(void *context, size_t task) {
    const plane_padding *c = context;
    size_t plane = task / c->bands, band = task % c->bands;
    size_t row_floats = c->padded_width * c->lanes, inner = c->width * c->lanes, left = c->padding_width * c->lanes;
    size_t first = band * c->padded_height / c->bands, end = (band + 1) * c->padded_height / c->bands;
    const float *from = c->source + plane * c->height * inner;
    float *to = c->destination + plane * c->padded_height * row_floats;
    for (size_t y = first; y < end; y++) {
        float *row = to + y * row_floats;
        if (y < c->padding_height || y >= c->padding_height + c->height) {
            memset(row, 0, row_floats * sizeof(float));
            continue;
        }
        memset(row, 0, left * sizeof(float));
        memcpy(row + left, from + (y - c->padding_height) * inner, inner * sizeof(float));
        memset(row + left + inner, 0, (row_floats - left - inner) * sizeof(float));
    }
}

void pk_planes_pad(const float *source, float *destination, size_t planes, size_t lanes, size_t height, size_t width,
                   size_t padding_height, size_t padding_width) {
    plane_padding c = {.source = source, .destination = destination, .lanes = lanes, .height = height, .width = width,
                       .padding_height = padding_height, .padding_width = padding_width,
                       .padded_height = height + 2 * padding_height, .padded_width = width + 2 * padding_width,
                       .bands = 1};
    if (planes == 0 || c.padded_height == 0) return;
    if (planes * c.padded_height * c.padded_width * lanes < PARALLEL_FLOATS) {
        for (size_t plane = 0; plane < planes; plane++) pad_task(&c, plane);
        return;
    }
    // Bands of rows where the planes alone cannot give each thread two tasks: a stem's three image
    // planes went to two threads as two and one.
    size_t wanted = 2 * (size_t)pk_thread_count();
    if (planes < wanted) c.bands = (wanted + planes - 1) / planes;
    if (c.bands > c.padded_height) c.bands = c.padded_height;
    pk_parallel_for(planes * c.bands, pad_task, &c);
}
