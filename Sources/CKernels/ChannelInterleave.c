// ShuffleNet's units end in torch.cat((x1, x2), 1) -> channel_shuffle(groups 2) -> (next unit) chunk(2, 1):
// three copies of every value. Here one pass reads each part once and writes each piece once: output
// channel f of the shuffled whole comes from part f % parts, channel f / parts. Parts and pieces may
// hold zero channels after their own (ChannelPadding in the plan); those of a piece are written zero.
//
// NCHW moves whole planes. Channel blocks move a pixel's eight lanes at a time: with two parts, output
// lanes 0, 2, 4, 6 are four consecutive channels of part 0 and lanes 1, 3, 5, 7 the same four of part 1,
// so a pixel is two 4-lane loads and an unpack (four lanes inside one block load at once; across two
// blocks, lane by lane). Other part counts gather lane by lane.
#include "ChannelBlocks.h"
#include "ThreadPool.h"

#include <string.h>
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>  // SSE only: x86-64's baseline, no target attribute needed
#endif

// Under PARALLEL_FLOATS values the copy runs on the calling thread: waking the other costs more.
enum { PARALLEL_FLOATS = 1 << 15 };

typedef struct {
    const pk_interleave_shape *shape;
    const float *const *parts;
    float *output;
    size_t first;            // the piece's first channel of the shuffled whole
    size_t units_per_image;  // tasks per image: the piece's held planes (NCHW) or blocks
} interleave_job;

// Where channel `channel` of part `part`, image `image`, starts: its plane (NCHW), or its lane of the
// plane's first pixel (blocks).
static const float *part_channel(const interleave_job *job, size_t image, size_t part, size_t channel) {
    const pk_interleave_shape *s = job->shape;
    if (!s->blocked) return job->parts[part] + (image * s->part_held + channel) * s->plane;
    size_t block = channel / PK_CHANNEL_BLOCK, lane = channel % PK_CHANNEL_BLOCK;
    return job->parts[part] + (image * s->part_held / PK_CHANNEL_BLOCK + block) * s->plane * PK_CHANNEL_BLOCK + lane;
}

// One held plane of the piece.
static void plane_task(void *context, size_t task) {
    const interleave_job *job = context;
    const pk_interleave_shape *s = job->shape;
    size_t image = task / job->units_per_image, channel = task % job->units_per_image;
    float *to = job->output + (image * s->piece_held + channel) * s->plane;
    if (channel >= s->piece_channels) {
        memset(to, 0, s->plane * sizeof(float));
        return;
    }
    size_t whole = job->first + channel;
    memcpy(to, part_channel(job, image, whole % s->parts, whole / s->parts), s->plane * sizeof(float));
}

#if defined(__x86_64__) || defined(_M_X64)
// Channels c..c+3 of a part at one pixel (`at`: channel c's value there), those past `channels` zero.
static __m128 load_four(const float *at, size_t c, size_t channels, size_t plane) {
    size_t lane = c % PK_CHANNEL_BLOCK;
    if (lane <= PK_CHANNEL_BLOCK - 4 && c + 4 <= channels) return _mm_loadu_ps(at);
    float four[4];
    for (size_t k = 0; k < 4; k++) {
        // Channel c + k sits in the next block once lane + k passes the block's end.
        size_t next = lane + k >= PK_CHANNEL_BLOCK;
        four[k] = c + k < channels ? at[k + next * (plane * PK_CHANNEL_BLOCK - PK_CHANNEL_BLOCK)] : 0.0f;
    }
    return _mm_loadu_ps(four);
}
#endif

// One held block of the piece: its channels 8b..8b+7.
static void block_task(void *context, size_t task) {
    const interleave_job *job = context;
    const pk_interleave_shape *s = job->shape;
    size_t image = task / job->units_per_image, block = task % job->units_per_image;
    size_t plane = s->plane, c0 = block * PK_CHANNEL_BLOCK;
    float *to = job->output + (image * job->units_per_image + block) * plane * PK_CHANNEL_BLOCK;
    size_t valid = c0 >= s->piece_channels ? 0 : s->piece_channels - c0;
    if (valid > PK_CHANNEL_BLOCK) valid = PK_CHANNEL_BLOCK;
    size_t f0 = job->first + c0;
#if defined(__x86_64__) || defined(_M_X64)
    if (s->parts == 2 && f0 % 2 == 0 && valid > 0) {
        // Lanes 2k from part 0 and 2k + 1 from part 1: channels f0 / 2 + k of each, k < 4.
        size_t c = f0 / 2, limit = s->part_channels;
        // Lanes at and past `valid` are the piece's padding: zero, whatever the parts hold there.
        __m128 keep_low = _mm_castsi128_ps(_mm_set_epi32(valid > 3 ? -1 : 0, valid > 2 ? -1 : 0, valid > 1 ? -1 : 0, -1));
        __m128 keep_high = _mm_castsi128_ps(_mm_set_epi32(valid > 7 ? -1 : 0, valid > 6 ? -1 : 0, valid > 5 ? -1 : 0,
                                                          valid > 4 ? -1 : 0));
        const float *a = part_channel(job, image, 0, c), *b = part_channel(job, image, 1, c);
        for (size_t p = 0; p < plane; p++, a += PK_CHANNEL_BLOCK, b += PK_CHANNEL_BLOCK, to += PK_CHANNEL_BLOCK) {
            __m128 x = load_four(a, c, limit, plane), y = load_four(b, c, limit, plane);
            _mm_storeu_ps(to, _mm_and_ps(_mm_unpacklo_ps(x, y), keep_low));
            _mm_storeu_ps(to + 4, _mm_and_ps(_mm_unpackhi_ps(x, y), keep_high));
        }
        return;
    }
#endif
    const float *lanes[PK_CHANNEL_BLOCK];
    for (size_t l = 0; l < valid; l++) lanes[l] = part_channel(job, image, (f0 + l) % s->parts, (f0 + l) / s->parts);
    for (size_t p = 0; p < plane; p++)
        for (size_t l = 0; l < PK_CHANNEL_BLOCK; l++)
            to[p * PK_CHANNEL_BLOCK + l] = l < valid ? lanes[l][p * PK_CHANNEL_BLOCK] : 0.0f;
}

void pk_interleave_channels(const pk_interleave_shape *shape, const float *const *parts, size_t piece, float *output) {
    const pk_interleave_shape *s = shape;
    if (s->pieces == 0 || piece >= s->pieces || s->batch == 0 || s->plane == 0 || s->piece_held == 0) return;
    interleave_job job = {.shape = s, .parts = parts, .output = output, .first = piece * s->piece_channels};
    job.units_per_image = s->blocked ? s->piece_held / PK_CHANNEL_BLOCK : s->piece_held;
    void (*task)(void *, size_t) = s->blocked ? block_task : plane_task;
    size_t tasks = s->batch * job.units_per_image;
    if (s->batch * s->piece_held * s->plane < PARALLEL_FLOATS)
        for (size_t t = 0; t < tasks; t++) task(&job, t);
    else
        pk_parallel_for(tasks, task, &job);
}
