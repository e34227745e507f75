// A linear layer over several rows as a GEMM on weights packed once: output[rows, out] =
// input[rows, in] x weight[out, in]^T. OpenBLAS's sgemm copies the whole weight matrix into its own
// panels on every call, which for a batch of 8 through AlexNet's 151 MB first classifier layer took
// three times as long as the multiply itself (perf, one thread: sgemm_incopy 14% of the forward pass,
// sgemm_kernel 5%). Here the weights are the GEMM's B side, packed at compile time into strips of
// PK_NR output features, and only the input rows are packed per call, into the register tile's
// 6-row A panels: once, block of rows by block of rows, shared by every task of the block.
//
// A single row (a batch-1 classifier) skips the A panel, whose other five rows would be zeros: each
// task runs a matrix-vector product over its strips (pk_gemv_*), reading every weight once.
//
// The tile's rows are input rows and its columns output features, so it writes the output
// row-major in place. Its epilogue adds a bias per tile row; the linear bias is per column, so the
// output is first filled with the bias and the tile starts from it as its "residual".
#include "Gemm.h"
#include "Activation.h"
#include "Scratch.h"
#include "ThreadPool.h"

#include <string.h>

enum {
    KC_MAX = 256,             // K block: one B strip block (256 x 16 floats, 16 KB) stays in L1
    PANELS_PER_BLOCK = 48,    // rows per block: 288, whose A panels for one K block (288 KB) stay in L2
    A_BLOCK_FLOATS_MAX = 4 << 20,  // a block's packed rows, all K (16 MB): fewer rows when K is long
    TASKS_PER_THREAD = 6,
};

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

size_t pk_linear_packed_weights_count(int in_features, int out_features) {
    return (size_t)ceil_div(out_features, PK_NR) * PK_NR * (size_t)in_features;
}

_Static_assert(PK_NR == PK_LINEAR_STRIP_FEATURES, "the public header states the strip width");

// Layout: [strip][k][16 features], features past the last zero, so B loads never need a mask. A
// full strip is the transpose of its 16 weight rows.
void pk_linear_pack_weights(int in_features, int out_features, const float *weight, float *packed) {
    int strips = ceil_div(out_features, PK_NR);
    for (int strip = 0; strip < strips; strip++) {
        float *out = packed + (size_t)strip * PK_NR * (size_t)in_features;
        const float *rows = weight + (size_t)strip * PK_NR * (size_t)in_features;
        int features = out_features - strip * PK_NR < PK_NR ? out_features - strip * PK_NR : PK_NR;
        if (features == PK_NR) {
            pk_transpose(rows, (size_t)in_features, out, (size_t)in_features, PK_NR);
            continue;
        }
        for (int k = 0; k < in_features; k++)
            for (int j = 0; j < PK_NR; j++)
                out[(size_t)k * PK_NR + j] = j < features ? rows[(size_t)j * in_features + k] : 0.0f;
    }
}

typedef struct {
    int rows, in_features, out_features;
    const float *input, *packed, *bias, *residual;
    pk_activation activation;
    float *output;
    pk_gemm_tiles tiles;
    int strips, k_blocks, kc, strips_per_task, strip_chunks;
    // The block of rows being computed: its first row, its 6-row panels, and those panels packed.
    int first_row, panels;
    float *a_panels;  // [panel][k][6], all K
} linear_job;

// Panel `task` of the block: 6 input rows transposed to [k][6], rows past the input's last zero.
static void pack_task(void *context, size_t task) {
    const linear_job *job = context;
    int row = job->first_row + (int)task * PK_MR;
    float *out = job->a_panels + task * (size_t)job->in_features * PK_MR;
    const float *source = job->input + (size_t)row * job->in_features;
    int rows = job->rows - row < PK_MR ? job->rows - row : PK_MR;
    if (rows == PK_MR) {
        pk_transpose(source, (size_t)job->in_features, out, (size_t)job->in_features, PK_MR);
        return;
    }
    for (int k = 0; k < job->in_features; k++)
        for (int r = 0; r < PK_MR; r++)
            out[(size_t)k * PK_MR + r] = r < rows ? source[(size_t)r * job->in_features + k] : 0.0f;
}

// Task = a chunk of feature strips for every row of the block.
static void gemm_task(void *context, size_t task) {
    const linear_job *job = context;
    int strip_begin = (int)task * job->strips_per_task;
    int strip_end = strip_begin + job->strips_per_task < job->strips ? strip_begin + job->strips_per_task : job->strips;
    int last_row = job->first_row + job->panels * PK_MR < job->rows ? job->first_row + job->panels * PK_MR : job->rows;
    int first_feature = strip_begin * PK_NR;
    int end_feature = strip_end * PK_NR < job->out_features ? strip_end * PK_NR : job->out_features;
    size_t ldc = (size_t)job->out_features;

    if (job->residual) {
        // In place when the residual is the output: each element reads only itself.
        for (int row = job->first_row; row < last_row; row++) {
            float *out = job->output + (size_t)row * ldc;
            const float *residual = job->residual + (size_t)row * ldc;
            for (int j = first_feature; j < end_feature; j++) out[j] = residual[j] + (job->bias ? job->bias[j] : 0.0f);
        }
    } else if (job->bias) {
        for (int row = job->first_row; row < last_row; row++)
            memcpy(job->output + (size_t)row * ldc + first_feature, job->bias + first_feature,
                   (size_t)(end_feature - first_feature) * sizeof(float));
    }
    for (int kb = 0; kb < job->k_blocks; kb++) {
        int k0 = kb * job->kc, kc = job->in_features - k0 < job->kc ? job->in_features - k0 : job->kc;
        pk_tile_epilogue epilogue = {NULL, NULL, job->activation, kb == 0, kb == job->k_blocks - 1};
        // One pair of B strips (kc x 32) stays in L1 while the block's A panels stream from L2, two
        // at a time (pk_gemm_macro_tile).
        for (int strip = strip_begin; strip < strip_end; strip += 2) {
            const float *b = job->packed + (size_t)strip * PK_NR * (size_t)job->in_features + (size_t)k0 * PK_NR;
            int j = strip * PK_NR, n = (strip_end - strip) * PK_NR;
            if (n > PK_WIDE_NR) n = PK_WIDE_NR;
            if (n > job->out_features - j) n = job->out_features - j;
            for (int panel = 0; panel < job->panels; panel += 2) {
                int row = job->first_row + panel * PK_MR, m = job->rows - row;
                if (m > (job->panels - panel) * PK_MR) m = (job->panels - panel) * PK_MR;  // this block's rows
                if (m > PK_WIDE_MR) m = PK_WIDE_MR;
                float *c = job->output + (size_t)row * ldc + (size_t)j;
                const float *a = job->a_panels + (size_t)panel * (size_t)job->in_features * PK_MR + (size_t)k0 * PK_MR;
                epilogue.residual = job->bias || job->residual ? c : NULL;
                pk_gemm_macro_tile(&job->tiles, kc, a, (size_t)job->in_features * PK_MR, b, PK_NR,
                                   (size_t)PK_NR * (size_t)job->in_features, c, ldc, m, n, &epilogue);
            }
        }
    }
}

// Task = a chunk of feature strips of the single row: each strip's weights read once, no A panel.
static void gemv_task(void *context, size_t task) {
    const linear_job *job = context;
    int strip_begin = (int)task * job->strips_per_task;
    int strip_end = strip_begin + job->strips_per_task < job->strips ? strip_begin + job->strips_per_task : job->strips;
    for (int strip = strip_begin; strip < strip_end; strip += 2) {
        int strips = strip_end - strip < 2 ? 1 : 2, first = strip * PK_NR;
        float sums[2 * PK_NR];
        job->tiles.gemv(job->in_features, job->input, job->packed + (size_t)first * (size_t)job->in_features,
                        (size_t)PK_NR * (size_t)job->in_features, strips, sums);
        int n = job->out_features - first < strips * PK_NR ? job->out_features - first : strips * PK_NR;
        for (int j = 0; j < n; j++) {
            float value = sums[j] + (job->bias ? job->bias[first + j] : 0.0f);
            if (job->residual) value += job->residual[first + j];
            job->output[first + j] = pk_activate(job->activation, value);
        }
    }
}

void pk_linear_run(int rows, int in_features, int out_features, const float *input, const float *packed,
                   const float *bias, pk_activation activation, float *output) {
    pk_linear_run_adding(rows, in_features, out_features, input, packed, bias, NULL, activation, output);
}

void pk_linear_run_adding(int rows, int in_features, int out_features, const float *input, const float *packed,
                          const float *bias, const float *residual, pk_activation activation, float *output) {
    if (rows <= 0 || out_features <= 0) return;
    if (in_features <= 0) {
        // Nothing to sum: the result is the bias (or zero) plus the residual, activated.
        for (int row = 0; row < rows; row++) {
            float *out = output + (size_t)row * out_features;
            const float *added = residual ? residual + (size_t)row * out_features : NULL;
            for (int j = 0; j < out_features; j++) out[j] = (bias ? bias[j] : 0.0f) + (added ? added[j] : 0.0f);
            pk_activation_apply(activation, out, out, (size_t)out_features);
        }
        return;
    }
    linear_job job = {.rows = rows, .in_features = in_features, .out_features = out_features, .input = input,
                      .packed = packed, .bias = bias, .residual = residual, .activation = activation,
                      .output = output, .tiles = pk_gemm_tiles_for_cpu()};
    job.strips = ceil_div(out_features, PK_NR);
    job.k_blocks = ceil_div(in_features, KC_MAX);
    job.kc = ceil_div(in_features, job.k_blocks);
    // Split the features until every thread has several tasks; each strip's weights are then read
    // once per block of rows.
    int chunks = pk_thread_count() * TASKS_PER_THREAD;
    if (chunks > job.strips) chunks = job.strips;
    job.strips_per_task = ceil_div(job.strips, chunks);
    job.strip_chunks = ceil_div(job.strips, job.strips_per_task);

    if (rows == 1) {
        pk_parallel_for((size_t)job.strip_chunks, gemv_task, &job);
        return;
    }

    // In size_t: PK_MR * in_features overflows an int for in_features above 357 million.
    size_t fitting_panels = (size_t)A_BLOCK_FLOATS_MAX / ((size_t)PK_MR * (size_t)in_features);
    int block_panels = fitting_panels < 1 ? 1 : (fitting_panels > PANELS_PER_BLOCK ? PANELS_PER_BLOCK : (int)fitting_panels);
    int total_panels = ceil_div(rows, PK_MR);
    job.a_panels = pk_thread_shared_scratch((size_t)block_panels * PK_MR * (size_t)in_features);
    for (int panel0 = 0; panel0 < total_panels; panel0 += block_panels) {
        job.first_row = panel0 * PK_MR;
        job.panels = total_panels - panel0 < block_panels ? total_panels - panel0 : block_panels;
        pk_parallel_for((size_t)job.panels, pack_task, &job);
        pk_parallel_for((size_t)job.strip_chunks, gemm_task, &job);
    }
}
