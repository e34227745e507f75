// Winograd F(4x4, 3x3) (Lavin & Gray 2015): output = A^T [ (G g G^T) . (B^T d B) ] A per 4x4 output
// block, with the 36 element-wise products of all channel pairs done as 36 GEMMs
// [out_channels x in_channels] x [in_channels x 16 blocks] on the implicit GEMM's register tile.
// A task takes 16 output blocks (one B strip) of one image: it transforms their 6x6 input patches
// for every input channel into scratch, runs the 36 GEMMs into scratch, and transforms the sums
// back into the output with the epilogue (bias, residual, activation) applied there.
//
// The transforms (WinogradTransforms.h) run across the 16 blocks of a strip, 8-float vectors wide.
// Weights are transformed in double, once, when the plan is compiled.
#include "Winograd.h"
#include "Activation.h"
#include "Gemm.h"
#include "Scratch.h"
#include "ThreadPool.h"

#include <string.h>

static inline void activate_portable(pk_activation activation, float *x) {
    for (int lane = 0; lane < 8; lane++) x[lane] = pk_activate(activation, x[lane]);
}

static inline void gather_portable(float *d, const float *const *rows) {
    for (int j = 0; j < 6; j++)
        for (int lane = 0; lane < 8; lane++) d[j * PK_NR + lane] = rows[lane][j];
}

static inline void gather4_portable(float *d, const float *const *rows) {
    for (int b = 0; b < 4; b++)
        for (int lane = 0; lane < 8; lane++) d[b * PK_NR + lane] = rows[lane][b];
}

static inline void scatter4_portable(float *const *targets, const float *o) {
    for (int lane = 0; lane < 8; lane++)
        for (int b = 0; b < 4; b++) targets[lane][b] = o[b * PK_NR + lane];
}

#define PK_WT_NAME(name) name##_portable
#define PK_WT_TARGET
#define PK_WT_ACTIVATE(activation, x) activate_portable(activation, x)
#define PK_WT_GATHER(d, rows) gather_portable(d, rows)
#define PK_WT_GATHER4(d, rows) gather4_portable(d, rows)
#define PK_WT_SCATTER4(targets, o) scatter4_portable(targets, o)
#include "WinogradTransforms.h"

static inline void transpose8_portable(pk_wt_vector v[8]) {
    for (int i = 0; i < 8; i++)
        for (int j = i + 1; j < 8; j++) {
            float x = v[i][j];
            v[i][j] = v[j][i];
            v[j][i] = x;
        }
}

#define PK_WT_TRANSPOSE8(v) transpose8_portable(v)
#include "WinogradBlockedTransforms.h"

enum { POINTS = 36, LANES = PK_NR, KC_MAX = 256, MIN_PANELS_PER_TASK = 8 };
// The fewest panels that end on a channel block: 4 panels of 6 rows are 3 blocks of 8 channels.
enum { BLOCK_ALIGNED_PANELS = 4 };
_Static_assert(BLOCK_ALIGNED_PANELS * PK_MR % PK_CHANNEL_BLOCK == 0, "blocked Winograd shares must end on a block");

static int ceil_div(int a, int b) { return (a + b - 1) / b; }
static int min_int(int a, int b) { return a < b ? a : b; }

int pk_conv2d_uses_winograd(const pk_conv2d_shape *s) {
    return s->groups == 1 && s->kernel_height == 3 && s->kernel_width == 3 && s->stride_height == 1 &&
           s->stride_width == 1 && s->dilation_height == 1 && s->dilation_width == 1 && s->in_channels >= 16 &&
           s->out_channels >= 16 && s->out_height >= 8 && s->out_width >= 8;
}

static int panels_of(const pk_conv2d_shape *s) { return ceil_div(s->out_channels, PK_MR); }

size_t pk_winograd_packed_weights_count(const pk_conv2d_shape *s) {
    return (size_t)POINTS * (size_t)panels_of(s) * PK_MR * (size_t)s->in_channels;
}

// G, the 6x3 kernel transform of F(4x4, 3x3).
static const double G[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};

typedef struct {
    const pk_conv2d_shape *shape;
    const float *weight;
    float *packed;
} pack_job;

// One panel, each input channel's 6 rows at once: the 36 points' blocks of the panel fill front to
// back. (Channel by channel, the writes landed 24 bytes apart across all 36 point blocks; a
// 512 -> 512 layer took 47-52 ms to pack that way, 28-35 ms this way on one thread.) Panels are
// independent, so the pool packs them in parallel: packing is most of what compiling a plan costs.
static void pack_panel(void *context, size_t task) {
    const pack_job *job = context;
    const pk_conv2d_shape *s = job->shape;
    int panels = panels_of(s), inputs = s->in_channels, panel = (int)task;
    for (int ic = 0; ic < inputs; ic++) {
        double u[36][PK_MR] = {{0}};  // (G g G^T)[point] of each of the panel's rows
        for (int r = 0; r < PK_MR; r++) {
            int oc = panel * PK_MR + r;
            if (oc >= s->out_channels) break;
            const float *g = job->weight + ((size_t)oc * inputs + ic) * 9;
            double half[6][3];  // G g
            for (int i = 0; i < 6; i++)
                for (int x = 0; x < 3; x++) half[i][x] = G[i][0] * g[x] + G[i][1] * g[3 + x] + G[i][2] * g[6 + x];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++)
                    u[i * 6 + j][r] = half[i][0] * G[j][0] + half[i][1] * G[j][1] + half[i][2] * G[j][2];
        }
        for (int point = 0; point < 36; point++) {
            float *out = job->packed + (((size_t)point * panels + panel) * inputs + ic) * PK_MR;
            for (int r = 0; r < PK_MR; r++) out[r] = (float)u[point][r];
        }
    }
}

void pk_winograd_pack_weights(const pk_conv2d_shape *s, const float *weight, float *packed) {
    pack_job job = {s, weight, packed};
    pk_parallel_for((size_t)panels_of(s), pack_panel, &job);
}

typedef struct {
    const pk_conv2d_shape *shape;
    const float *input, *packed, *bias, *residual;
    pk_activation activation;
    float *output;
    pk_gemm_tiles gemm;
    pk_winograd_input_fn transform_input;
    pk_winograd_output_fn transform_output;
    int tiles_wide, tiles, strips, panels;
    int k_blocks, kc;
    int panels_per_task, oc_chunks;
} winograd_job;

static void winograd_task(void *context, size_t task) {
    const winograd_job *job = context;
    const pk_conv2d_shape *s = job->shape;
    int chunk = (int)(task % (size_t)job->oc_chunks);
    task /= (size_t)job->oc_chunks;
    int strip = (int)(task % (size_t)job->strips), image = (int)(task / (size_t)job->strips);
    int inputs = s->in_channels, first_block = strip * LANES;
    int panel_begin = chunk * job->panels_per_task, panel_end = min_int(job->panels, panel_begin + job->panels_per_task);
    int rows = (panel_end - panel_begin) * PK_MR;

    // Where each lane's block sits: its input patch starts a padding up and left of its output block.
    int count = min_int(LANES, job->tiles - first_block);
    int top[LANES], left[LANES], block_height[LANES], block_width[LANES];
    size_t offset[LANES];
    for (int lane = 0; lane < count; lane++) {
        int y = (first_block + lane) / job->tiles_wide * 4, x = (first_block + lane) % job->tiles_wide * 4;
        top[lane] = y - s->padding_height;
        left[lane] = x - s->padding_width;
        offset[lane] = (size_t)y * s->out_width + (size_t)x;
        block_height[lane] = min_int(4, s->out_height - y);
        block_width[lane] = min_int(4, s->out_width - x);
    }

    float *v = pk_thread_scratch((size_t)POINTS * LANES * ((size_t)inputs + (size_t)rows));
    float *m = v + (size_t)POINTS * inputs * LANES;
    job->transform_input(s, job->input + (size_t)image * inputs * s->in_height * s->in_width, top, left, count, v);
    for (int point = 0; point < POINTS; point++) {
        for (int kb = 0; kb < job->k_blocks; kb++) {
            int k0 = kb * job->kc, kc = min_int(job->kc, inputs - k0);
            pk_tile_epilogue epilogue = {NULL, NULL, PK_ACTIVATION_NONE, kb == 0, kb == job->k_blocks - 1};
            const float *b = v + ((size_t)point * inputs + k0) * LANES;
            for (int p = panel_begin; p < panel_end; p += 2) {
                const float *a = job->packed + (((size_t)point * job->panels + p) * inputs + k0) * PK_MR;
                float *c = m + ((size_t)point * rows + (size_t)(p - panel_begin) * PK_MR) * LANES;
                int pair_rows = min_int(2, panel_end - p) * PK_MR;
                pk_gemm_macro_tile(&job->gemm, kc, a, (size_t)inputs * PK_MR, b, LANES, 0, c, LANES, pair_rows, LANES,
                                   &epilogue);
            }
        }
    }
    int first_channel = panel_begin * PK_MR;
    size_t plane = (size_t)s->out_height * s->out_width, at = ((size_t)image * s->out_channels + first_channel) * plane;
    job->transform_output(m, rows, min_int(rows, s->out_channels - first_channel), plane, s->out_width,
                          job->bias ? job->bias + first_channel : NULL, job->residual ? job->residual + at : NULL,
                          job->activation, job->output + at, offset, block_height, block_width, count);
}

// `blocked`: input, residual and output in channel blocks (channel counts multiples of the block).
static void run_winograd(const pk_conv2d_shape *s, const float *input, const float *packed, const float *bias,
                         const float *residual, pk_activation activation, float *output, int blocked) {
    winograd_job job = {.shape = s, .input = input, .packed = packed, .bias = bias, .residual = residual,
                        .activation = activation, .output = output, .gemm = pk_gemm_tiles_for_cpu(),
                        .transform_input = blocked ? pk_winograd_transform_input_blocked_portable
                                                   : pk_winograd_transform_input_portable,
                        .transform_output = blocked ? pk_winograd_transform_output_blocked_portable
                                                    : pk_winograd_transform_output_portable};
#ifdef PK_HAVE_AVX2_PATH
    if (pk_use_avx2()) {
        job.transform_input = blocked ? pk_winograd_transform_input_blocked_avx2 : pk_winograd_transform_input_avx2;
        job.transform_output = blocked ? pk_winograd_transform_output_blocked_avx2 : pk_winograd_transform_output_avx2;
    }
#endif
    job.tiles_wide = ceil_div(s->out_width, 4);
    job.tiles = ceil_div(s->out_height, 4) * job.tiles_wide;
    job.strips = ceil_div(job.tiles, LANES);
    job.panels = panels_of(s);
    job.k_blocks = ceil_div(s->in_channels, KC_MAX);
    job.kc = ceil_div(s->in_channels, job.k_blocks);

    // Split output channels only until every thread has a task: each share of the channels repeats
    // the strip's whole input transform (all input channels), so late layers with one or two strips
    // per image get one share per thread rather than the implicit GEMM's several.
    int threads = pk_thread_count();
    long base_tasks = (long)s->batch * job.strips;
    int chunks = 1;
    if (threads > 1 && base_tasks < threads) {
        chunks = (int)((threads + base_tasks - 1) / base_tasks);
        int most = job.panels / MIN_PANELS_PER_TASK < 1 ? 1 : job.panels / MIN_PANELS_PER_TASK;
        if (chunks > most) chunks = most;
    }
    job.panels_per_task = ceil_div(job.panels, chunks);
    // Blocked shares start on a block: a whole number of panels that is a whole number of blocks.
    if (blocked) job.panels_per_task = ceil_div(job.panels_per_task, BLOCK_ALIGNED_PANELS) * BLOCK_ALIGNED_PANELS;
    job.oc_chunks = ceil_div(job.panels, job.panels_per_task);
    pk_parallel_for((size_t)base_tasks * (size_t)job.oc_chunks, winograd_task, &job);
}

void pk_conv2d_run_winograd(const pk_conv2d_shape *s, const float *input, const float *packed, const float *bias,
                            const float *residual, pk_activation activation, float *output) {
    run_winograd(s, input, packed, bias, residual, activation, output, 0);
}

int pk_conv2d_winograd_blocked_fits(const pk_conv2d_shape *s) {
    return pk_conv2d_uses_winograd(s) && s->in_channels % PK_CHANNEL_BLOCK == 0 &&
        s->out_channels % PK_CHANNEL_BLOCK == 0;
}

void pk_conv2d_run_winograd_blocked(const pk_conv2d_shape *s, const float *input, const float *packed,
                                    const float *bias, const float *residual, pk_activation activation,
                                    float *output) {
    run_winograd(s, input, packed, bias, residual, activation, output, 1);
}
