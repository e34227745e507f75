// Convolution as an implicit GEMM per image and group: output[OC, OH*OW] = W[OC, K] x im2col[K, OH*OW],
// K = in_channels / groups * kernel_height * kernel_width. Weights are packed once into 6-row
// micro-panels; im2col is gathered block by block (kc rows x nc pixels, sized for L2) into per-thread
// scratch, never whole (for a 1x1 stride-1 unpadded convolution the gather is a plain copy of input
// rows). Measured on Zen 3, copying a 1x1's rows into contiguous strips beat reading B in place at a
// row stride of H*W floats by about 10% on resnet50's 1x1 layers (likely cause, not measured: at that
// stride each B row sits on its own page, so the prefetcher and TLB gain nothing).
#include "Gemm.h"
#include "Im2colPanel.h"
#include "Scratch.h"
#include "ThreadPool.h"

#include <string.h>

// Cache blocking (BLIS's): K blocks up to 256 deep make one B strip (kc x 16 floats, 16 KB) fit L1
// beside the A stream; B's whole block (kc x nc, about 128 KB) and a block of 16 A panels
// (96 x kc, 96 KB) stay in L2. Measured on Zen 3, 256 and 384 were within the machine's noise.
// Blocks at most PANEL_FIRST_DEPTH deep run panel first (see gemm_task).
enum {
    KC_MAX = 256, PANEL_BLOCK = 16, PANEL_FLOATS = 32768, NC_MIN = 32, NC_MAX = PK_PANEL_PIXELS_MAX,
    TASKS_PER_THREAD = 6, PANEL_FIRST_DEPTH = 32, SHARED_PANELS_FLOATS_MAX = 4 << 20,
};

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

typedef struct {
    int group_inputs, group_outputs, depth;  // depth = K
    int panels;                              // 6-row panels per group
} gemm_dims;

static gemm_dims dims_of(const pk_conv2d_shape *s) {
    gemm_dims d;
    d.group_inputs = s->in_channels / s->groups;
    d.group_outputs = s->out_channels / s->groups;
    d.depth = d.group_inputs * s->kernel_height * s->kernel_width;
    d.panels = ceil_div(d.group_outputs, PK_MR);
    return d;
}

size_t pk_gemm_packed_weights_count(const pk_conv2d_shape *s) {
    gemm_dims d = dims_of(s);
    return (size_t)s->groups * (size_t)d.panels * PK_MR * (size_t)d.depth;
}

// Panel layout: [group][panel][k][6 rows], rows past the group's last channel zero.
void pk_gemm_pack_weights(const pk_conv2d_shape *s, const float *weight, float *packed) {
    gemm_dims d = dims_of(s);
    for (int g = 0; g < s->groups; g++) {
        for (int panel = 0; panel < d.panels; panel++) {
            float *out = packed + ((size_t)g * d.panels + panel) * PK_MR * (size_t)d.depth;
            for (int k = 0; k < d.depth; k++) {
                for (int r = 0; r < PK_MR; r++) {
                    int channel = panel * PK_MR + r;
                    out[(size_t)k * PK_MR + r] = channel < d.group_outputs
                        ? weight[((size_t)g * d.group_outputs + channel) * d.depth + k] : 0.0f;
                }
            }
        }
    }
}

typedef struct {
    const pk_conv2d_shape *shape;
    const float *input, *packed, *bias, *residual;
    pk_activation activation;
    float *output;
    pk_gemm_tiles tiles;
    gemm_dims dims;
    int pixels;
    int k_blocks, kc;                 // K split in k_blocks blocks of at most kc
    int nc, pixel_blocks;             // pixels per task
    int panels_per_task, oc_chunks;   // 6-row panels per task
    // When the output channels are split across tasks, every im2col block is gathered once, before
    // the GEMM, into this buffer (one slot of block_floats per image, group, pixel block and K block)
    // instead of once per task; NULL otherwise.
    float *shared_panels;
    size_t block_floats;
} gemm_job;

static size_t block_slot(const gemm_job *job, int image, int g, int pixel_block, int k_block) {
    size_t slot = (((size_t)image * job->shape->groups + (size_t)g) * (size_t)job->pixel_blocks + (size_t)pixel_block) *
        (size_t)job->k_blocks + (size_t)k_block;
    return slot * job->block_floats;
}

static const float *image_group_input(const gemm_job *job, int image, int g) {
    const pk_conv2d_shape *s = job->shape;
    return job->input + ((size_t)image * s->in_channels + (size_t)g * job->dims.group_inputs) *
        (size_t)s->in_height * s->in_width;
}

// Task = (image, group, pixel block, K block) of the shared gather.
static void gather_task(void *context, size_t task) {
    const gemm_job *job = context;
    int kb = (int)(task % (size_t)job->k_blocks);
    task /= (size_t)job->k_blocks;
    int pixel_block = (int)(task % (size_t)job->pixel_blocks);
    task /= (size_t)job->pixel_blocks;
    int g = (int)(task % (size_t)job->shape->groups), image = (int)(task / (size_t)job->shape->groups);
    int p0 = pixel_block * job->nc, np = job->pixels - p0 < job->nc ? job->pixels - p0 : job->nc;
    int k0 = kb * job->kc, kc = job->dims.depth - k0 < job->kc ? job->dims.depth - k0 : job->kc;
    pk_im2col_panel(job->shape, image_group_input(job, image, g), k0, kc, p0, np,
                    job->shared_panels + block_slot(job, image, g, pixel_block, kb));
}

static void gemm_task(void *context, size_t task) {
    const gemm_job *job = context;
    const pk_conv2d_shape *s = job->shape;
    const gemm_dims *d = &job->dims;
    int chunk = (int)(task % (size_t)job->oc_chunks);
    task /= (size_t)job->oc_chunks;
    int pixel_block = (int)(task % (size_t)job->pixel_blocks);
    task /= (size_t)job->pixel_blocks;
    int g = (int)(task % (size_t)s->groups), image = (int)(task / (size_t)s->groups);

    size_t pixels = (size_t)job->pixels;
    int p0 = pixel_block * job->nc, np = job->pixels - p0 < job->nc ? job->pixels - p0 : job->nc;
    int panel_begin = chunk * job->panels_per_task;
    int panel_end = panel_begin + job->panels_per_task < d->panels ? panel_begin + job->panels_per_task : d->panels;
    const float *image_group = image_group_input(job, image, g);
    size_t first_channel = (size_t)image * s->out_channels + (size_t)g * d->group_outputs;
    float *own_panel = job->shared_panels ? NULL : pk_thread_scratch(job->block_floats);

    for (int kb = 0; kb < job->k_blocks; kb++) {
        int k0 = kb * job->kc, kc = d->depth - k0 < job->kc ? d->depth - k0 : job->kc;
        const float *panel = own_panel;
        if (own_panel) pk_im2col_panel(s, image_group, k0, kc, p0, np, own_panel);
        else panel = job->shared_panels + block_slot(job, image, g, pixel_block, kb);
        pk_tile_epilogue epilogue = {NULL, NULL, job->activation, kb == 0, kb == job->k_blocks - 1};
        // Two tile orders, by depth. Deep blocks take BLIS's: one B strip (kc x 16) stays in L1 while
        // a block of 16 A panels streams from L2, 24 bytes per k against the strip's 64. Shallow
        // blocks take panel first: one A panel stays in L1 and the B strips stream, so each tile
        // writes its 6 output rows further along the same rows; in BLIS's order a K = 16 block
        // wrote 96 output rows a row stride apart per strip, and its tiles are too short to hide that.
        // Measured on Zen 3 (least CPU time): mobilenet_v2's 16 -> 96 1x1 at 112x112 1.35 ms BLIS's
        // way, 0.80 ms panel first (OpenBLAS 1.28); its 384 -> 96 1x1 at 14x14 0.20 ms BLIS's way,
        // 0.24 ms panel first; K 24-64 layers within the noise either way.
        // Tiles go two panels by two strips (pk_gemm_macro_tile); a pair never reaches past the task's panels.
        int strip_pairs = ceil_div(ceil_div(np, PK_NR), 2), panel_first = kc <= PANEL_FIRST_DEPTH;
        for (int block = panel_begin; block < panel_end; block += PANEL_BLOCK) {
            int block_end = panel_end - block < PANEL_BLOCK ? panel_end : block + PANEL_BLOCK;
            int panel_pairs = ceil_div(block_end - block, 2);
            for (int t = 0; t < panel_pairs * strip_pairs; t++) {
                int p = block + 2 * (panel_first ? t / strip_pairs : t % panel_pairs);
                int j = (panel_first ? t % strip_pairs : t / panel_pairs) * PK_WIDE_NR;
                int n = np - j < PK_WIDE_NR ? np - j : PK_WIDE_NR;
                const float *a = job->packed + ((size_t)g * d->panels + p) * PK_MR * (size_t)d->depth + (size_t)k0 * PK_MR;
                int channel = p * PK_MR, m = d->group_outputs - channel;
                if (m > (block_end - p) * PK_MR) m = (block_end - p) * PK_MR;
                if (m > PK_WIDE_MR) m = PK_WIDE_MR;
                size_t row = (first_channel + (size_t)channel) * pixels + (size_t)p0 + (size_t)j;
                epilogue.bias = job->bias ? job->bias + (size_t)g * d->group_outputs + channel : NULL;
                epilogue.residual = job->residual ? job->residual + row : NULL;
                pk_gemm_macro_tile(&job->tiles, kc, a, PK_MR * (size_t)d->depth, panel + (size_t)j * (size_t)kc, PK_NR,
                                   (size_t)PK_NR * (size_t)kc, job->output + row, pixels, m, n, &epilogue);
            }
        }
    }
}

void pk_conv2d_run_gemm(const pk_conv2d_shape *s, const float *input, const float *packed, const float *bias,
                        const float *residual, pk_activation activation, float *output) {
    gemm_job job = {.shape = s, .input = input, .packed = packed, .bias = bias, .residual = residual,
                    .activation = activation, .output = output, .tiles = pk_gemm_tiles_for_cpu()};
    job.dims = dims_of(s);
    job.pixels = s->out_height * s->out_width;
    job.k_blocks = ceil_div(job.dims.depth, KC_MAX);
    job.kc = ceil_div(job.dims.depth, job.k_blocks);

    int nc = PANEL_FLOATS / job.kc / PK_NR * PK_NR;
    nc = nc < NC_MIN ? NC_MIN : (nc > NC_MAX ? NC_MAX : nc);
    int pixels_rounded = ceil_div(job.pixels, PK_NR) * PK_NR;
    job.nc = nc < pixels_rounded ? nc : pixels_rounded;
    job.pixel_blocks = ceil_div(job.pixels, job.nc);

    // Late layers have few pixel blocks: split output channels until both threads get several tasks,
    // without making a task's packed B serve fewer than four panels.
    int threads = pk_thread_count();
    long base_tasks = (long)s->batch * s->groups * job.pixel_blocks;
    long wanted = (long)threads * TASKS_PER_THREAD;
    int chunks = 1;
    if (threads > 1 && base_tasks < wanted) {
        chunks = (int)((wanted + base_tasks - 1) / base_tasks);
        int most = job.dims.panels / 4 < 1 ? 1 : job.dims.panels / 4;
        if (chunks > most) chunks = most;
    }
    job.panels_per_task = ceil_div(job.dims.panels, chunks);
    job.oc_chunks = ceil_div(job.dims.panels, job.panels_per_task);
    job.block_floats = (size_t)job.kc * (size_t)ceil_div(job.nc, PK_NR) * PK_NR;

    // Split output channels would each gather the same im2col blocks: resnet18's 7x7 512-channel 3x3
    // layers gathered every block twelve times, and the gather took a quarter of its forward pass.
    size_t shared_floats = (size_t)base_tasks * (size_t)job.k_blocks * job.block_floats;
    if (job.oc_chunks > 1 && shared_floats <= SHARED_PANELS_FLOATS_MAX) {
        job.shared_panels = pk_thread_shared_scratch(shared_floats);
        pk_parallel_for((size_t)base_tasks * (size_t)job.k_blocks, gather_task, &job);
    }
    pk_parallel_for((size_t)base_tasks * (size_t)job.oc_chunks, gemm_task, &job);
}
