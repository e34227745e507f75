// Grouped (not depthwise) convolutions on the channel-blocked layout: ResNeXt's and RegNet's 3x3
// convolutions with 4 to 64 channels per group.
//
// On NCHW these ran as one small GEMM per group: 4-32 output rows against 6-row panels, an im2col
// copy per group and tiles too short to hide their epilogues (10-27 GFLOP/s on resnext50_32x4d's
// layers, against ONNX Runtime's NCHWc kernels at two to three times that). On blocks, one output
// block's eight channels draw on a whole number of input blocks, so a tile broadcasts an input
// pixel's channels one by one against the tap's packed 8 x 8 weights, like the pointwise tile with
// taps. Groups narrower than a block share it: its weights are zero across groups, which wastes
// multiplies but no copies.
//
// Padding is applied once, into a padded copy of the input (a few hundred kilobytes), so every tile
// reads whole windows without a bounds check.
#include "ChannelBlocks.h"
#include "Activation.h"
#include "Gemm.h"
#include "Scratch.h"
#include "ThreadPool.h"

enum { BLOCK = PK_CHANNEL_BLOCK, TASKS_PER_THREAD = 8 };

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

static int group_inputs(const pk_conv2d_shape *s) { return s->in_channels / s->groups; }
static int group_outputs(const pk_conv2d_shape *s) { return s->out_channels / s->groups; }

int pk_conv2d_is_grouped_blocked(const pk_conv2d_shape *s) {
    if (s->groups <= 1 || s->in_channels % s->groups != 0 || s->out_channels % s->groups != 0) return 0;
    if (s->in_channels % BLOCK != 0 || s->out_channels % BLOCK != 0) return 0;
    int inputs = group_inputs(s), outputs = group_outputs(s);
    if (inputs == 1 && outputs == 1) return 0;  // depthwise: its own kernel
    // Each output block must draw on whole input blocks: groups a whole number of blocks wide, or
    // equal groups that tile a block.
    if (inputs % BLOCK == 0 && outputs % BLOCK == 0) return 1;
    return inputs == outputs && BLOCK % inputs == 0;
}

// Input blocks one output block reads: a group's width, or the one block narrow groups share.
static int input_blocks_per_output_block(const pk_conv2d_shape *s) {
    return group_inputs(s) % BLOCK == 0 ? group_inputs(s) / BLOCK : 1;
}

static int first_input_block(const pk_conv2d_shape *s, int output_block) {
    int group = output_block * BLOCK / group_outputs(s);
    return group_inputs(s) % BLOCK == 0 ? group * group_inputs(s) / BLOCK : output_block;
}

size_t pk_grouped_blocked_packed_weights_count(const pk_conv2d_shape *s) {
    return (size_t)s->out_channels * (size_t)input_blocks_per_output_block(s) * BLOCK *
        (size_t)s->kernel_height * (size_t)s->kernel_width;
}

// [output block][its input block][tap][8 inputs][8 outputs], zero where an input and an output
// channel belong to different groups.
void pk_grouped_blocked_pack_weights(const pk_conv2d_shape *s, const float *weight, float *packed) {
    int taps = s->kernel_height * s->kernel_width, in_blocks = input_blocks_per_output_block(s);
    int inputs = group_inputs(s), outputs = group_outputs(s);
    for (int ob = 0; ob < s->out_channels / BLOCK; ob++) {
        for (int local = 0; local < in_blocks; local++) {
            int ib = first_input_block(s, ob) + local;
            for (int t = 0; t < taps; t++) {
                for (int i = 0; i < BLOCK; i++) {
                    for (int l = 0; l < BLOCK; l++) {
                        int oc = ob * BLOCK + l, ic = ib * BLOCK + i, group = oc / outputs;
                        int within = ic - group * inputs;
                        size_t at = ((((size_t)ob * in_blocks + local) * taps + t) * BLOCK + i) * BLOCK + l;
                        packed[at] = within >= 0 && within < inputs
                            ? weight[((size_t)oc * inputs + within) * taps + t] : 0.0f;
                    }
                }
            }
        }
    }
}

static void grouped_row_portable(const pk_grouped_row *row, const float *in, const float *w, const float *bias,
                                 int oy, const float *residual, pk_activation activation, float *out) {
    const pk_conv2d_shape *s = row->shape;
    for (int ox = 0; ox < s->out_width; ox++) {
        float sums[BLOCK] = {0};
        const float *tap_weights = w;
        for (int ib = 0; ib < row->in_blocks; ib++) {
            for (int kh = 0; kh < s->kernel_height; kh++) {
                for (int kw = 0; kw < s->kernel_width; kw++) {
                    const float *pixel = in + (size_t)ib * row->block_stride +
                        ((size_t)(oy * s->stride_height + kh * s->dilation_height) * row->padded_width +
                         (size_t)(ox * s->stride_width + kw * s->dilation_width)) * BLOCK;
                    for (int i = 0; i < BLOCK; i++, tap_weights += BLOCK)
                        for (int l = 0; l < BLOCK; l++) sums[l] += pixel[i] * tap_weights[l];
                }
            }
        }
        pk_finish_block_portable(sums, bias, residual ? residual + (size_t)ox * BLOCK : NULL, activation,
                                 out + (size_t)ox * BLOCK);
    }
}

typedef struct {
    const pk_conv2d_shape *shape;
    const float *input, *packed, *bias, *residual;
    pk_activation activation;
    float *output;
    pk_grouped_row_fn row;
    pk_grouped_row geometry;
    const float *padded;  // the padded input, or the input itself when the convolution has no padding
    int rows_per_task, row_chunks;
    const float *zero_bias;
} grouped_job;

// Task = (image, output block, chunk of output rows).
static void grouped_task(void *context, size_t task) {
    const grouped_job *job = context;
    const pk_conv2d_shape *s = job->shape;
    int chunk = (int)(task % (size_t)job->row_chunks);
    size_t plane_task = task / (size_t)job->row_chunks;  // image * output blocks + output block
    int out_blocks = s->out_channels / BLOCK, ob = (int)(plane_task % (size_t)out_blocks);
    size_t image = plane_task / (size_t)out_blocks;
    const float *in = job->padded +
        (image * (size_t)(s->in_channels / BLOCK) + (size_t)first_input_block(s, ob)) * job->geometry.block_stride;
    size_t weights_per_block = (size_t)job->geometry.in_blocks * s->kernel_height * s->kernel_width * BLOCK * BLOCK;
    const float *w = job->packed + (size_t)ob * weights_per_block;
    const float *bias = job->bias ? job->bias + (size_t)ob * BLOCK : job->zero_bias;
    size_t out_row = (size_t)s->out_width * BLOCK;
    int oy_end = (chunk + 1) * job->rows_per_task < s->out_height ? (chunk + 1) * job->rows_per_task : s->out_height;
    for (int oy = chunk * job->rows_per_task; oy < oy_end; oy++) {
        size_t at = (plane_task * (size_t)s->out_height + (size_t)oy) * out_row;
        job->row(&job->geometry, in, w, bias, oy, job->residual ? job->residual + at : NULL, job->activation,
                 job->output + at);
    }
}

void pk_grouped_blocked_run(const pk_conv2d_shape *s, const float *input, const float *packed, const float *bias,
                            const float *residual, pk_activation activation, float *output) {
    static const float zeros[BLOCK] = {0};
    grouped_job job = {.shape = s, .input = input, .packed = packed, .bias = bias, .residual = residual,
                       .activation = activation, .output = output, .row = grouped_row_portable, .zero_bias = zeros};
#ifdef PK_HAVE_AVX2_PATH
    if (pk_use_avx2()) job.row = pk_grouped_blocked_row_avx2;
#endif
    int padded_height = s->in_height + 2 * s->padding_height;
    job.geometry = (pk_grouped_row){
        .shape = s, .in_blocks = input_blocks_per_output_block(s), .padded_width = s->in_width + 2 * s->padding_width};
    job.padded = input;
    job.geometry.block_stride = (size_t)padded_height * job.geometry.padded_width * BLOCK;
    size_t in_planes = (size_t)s->batch * (size_t)(s->in_channels / BLOCK);
    if (s->padding_height > 0 || s->padding_width > 0) {
        float *padded = pk_thread_shared_scratch(in_planes * job.geometry.block_stride);
        pk_planes_pad(input, padded, in_planes, BLOCK, (size_t)s->in_height, (size_t)s->in_width,
                      (size_t)s->padding_height, (size_t)s->padding_width);
        job.padded = padded;
    }
    long planes = (long)s->batch * (s->out_channels / BLOCK), wanted = (long)pk_thread_count() * TASKS_PER_THREAD;
    job.row_chunks = planes >= wanted ? 1 : (int)((wanted + planes - 1) / planes);
    if (job.row_chunks > s->out_height) job.row_chunks = s->out_height;
    job.rows_per_task = ceil_div(s->out_height, job.row_chunks);
    job.row_chunks = ceil_div(s->out_height, job.rows_per_task);
    pk_parallel_for((size_t)planes * (size_t)job.row_chunks, grouped_task, &job);
}
