// ShuffleNet's units end in torch.cat((x1, x2), 1) -> channel_shuffle(groups 2) -> (next unit) chunk(2, 1):
// three copies of every value. Here one pass reads each part once and writes each piece once: output
// channel f of the shuffled whole comes from part f % parts, channel f / parts.
//
// NCHW moves whole planes. Channel blocks move a pixel's eight lanes at a time: with two parts, output
// block b (channels 8b..8b+7) interleaves channels 4b..4b+3 of each part, four consecutive lanes of one
// block of each (lanes 0-3 or 4-7, since 4b is a multiple of four), so a pixel is two 4-float loads
// and an unpack. Other part counts gather lane by lane.
#include "ChannelBlocks.h"
#include "ThreadPool.h"

#include <string.h>
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>  // SSE only: x86-64's baseline, no target attribute needed
#endif

// Under PARALLEL_FLOATS values the copy runs on the calling thread: waking the other costs more.
enum { PARALLEL_FLOATS = 1 << 15 };

typedef struct {
    const float *const *parts;
    float *output;
    size_t part_count, part_channels, piece_channels, first, batch, plane;  // first: the piece's first whole channel
    size_t units_per_image;  // tasks per image: the piece's channels (NCHW) or blocks
} interleave_job;

// Where channel `whole_channel` of the shuffled whole (channel whole_channel / parts of part
// whole_channel % parts) of `image` starts, in the parts' layout.
static const float *part_channel(const interleave_job *job, size_t image, size_t whole_channel, int blocked) {
    size_t part = whole_channel % job->part_count, channel = whole_channel / job->part_count;
    const float *base = job->parts[part];
    if (!blocked) return base + (image * job->part_channels + channel) * job->plane;
    size_t block = channel / PK_CHANNEL_BLOCK, lane = channel % PK_CHANNEL_BLOCK;
    return base + (image * job->part_channels / PK_CHANNEL_BLOCK + block) * job->plane * PK_CHANNEL_BLOCK + lane;
}

// One output plane.
static void plane_task(void *context, size_t task) {
    const interleave_job *job = context;
    size_t image = task / job->units_per_image, channel = task % job->units_per_image;
    float *to = job->output + (image * job->piece_channels + channel) * job->plane;
    memcpy(to, part_channel(job, image, job->first + channel, 0), job->plane * sizeof(float));
}

// One output block: the piece's channels 8b..8b+7, whole channels f0..f0+7.
static void block_task(void *context, size_t task) {
    const interleave_job *job = context;
    size_t image = task / job->units_per_image, block = task % job->units_per_image;
    size_t f0 = job->first + block * PK_CHANNEL_BLOCK;
    float *to = job->output + (image * job->units_per_image + block) * job->plane * PK_CHANNEL_BLOCK;
    size_t plane = job->plane;
    if (job->part_count == 2) {
        // Lanes 0, 2, 4, 6 from part 0 and 1, 3, 5, 7 from part 1, each four consecutive source lanes.
        const float *a = part_channel(job, image, f0, 1), *b = part_channel(job, image, f0 + 1, 1);
        for (size_t p = 0; p < plane; p++, a += PK_CHANNEL_BLOCK, b += PK_CHANNEL_BLOCK, to += PK_CHANNEL_BLOCK) {
#if defined(__x86_64__) || defined(_M_X64)
            __m128 low = _mm_loadu_ps(a), high = _mm_loadu_ps(b);
            _mm_storeu_ps(to, _mm_unpacklo_ps(low, high));
            _mm_storeu_ps(to + 4, _mm_unpackhi_ps(low, high));
#else
            for (int k = 0; k < 4; k++) {
                to[2 * k] = a[k];
                to[2 * k + 1] = b[k];
            }
#endif
        }
        return;
    }
    const float *lanes[PK_CHANNEL_BLOCK];
    for (size_t l = 0; l < PK_CHANNEL_BLOCK; l++) lanes[l] = part_channel(job, image, f0 + l, 1);
    for (size_t p = 0; p < plane; p++)
        for (size_t l = 0; l < PK_CHANNEL_BLOCK; l++) to[p * PK_CHANNEL_BLOCK + l] = lanes[l][p * PK_CHANNEL_BLOCK];
}

void pk_interleave_channels(const float *const *parts, size_t part_count, size_t part_channels, size_t piece,
                            size_t piece_count, float *output, size_t batch, size_t plane, int blocked) {
    size_t channels = part_count * part_channels;
    if (channels == 0 || piece_count == 0 || piece >= piece_count || batch == 0 || plane == 0) return;
    size_t piece_channels = channels / piece_count;
    interleave_job job = {.parts = parts, .output = output, .part_count = part_count, .part_channels = part_channels,
                          .piece_channels = piece_channels, .first = piece * piece_channels, .batch = batch,
                          .plane = plane};
    job.units_per_image = blocked ? piece_channels / PK_CHANNEL_BLOCK : piece_channels;
    void (*task)(void *, size_t) = blocked ? block_task : plane_task;
    size_t tasks = batch * job.units_per_image;
    if (batch * piece_channels * plane < PARALLEL_FLOATS)
        for (size_t t = 0; t < tasks; t++) task(&job, t);
    else
        pk_parallel_for(tasks, task, &job);
}
