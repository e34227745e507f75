// PthKit's own compute kernels: convolutions with their epilogue (bias, residual, activation) fused,
// on weights packed once when a plan is compiled, run on a persistent pool of threads.
//
// Every entry point trusts its arguments: the Swift plan compiler validates shapes before it calls
// in. Fast paths are chosen at run time from the CPU (AVX2 + FMA on x86-64); every path has a
// portable fallback, so the package builds and gives the same answers wherever Swift runs.
#ifndef PTHKIT_KERNELS_H
#define PTHKIT_KERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The element-wise activation a kernel applies to its output, with ATen's float32 formulas.
typedef enum {
    PK_ACTIVATION_NONE = 0,
    PK_ACTIVATION_RELU = 1,
    PK_ACTIVATION_RELU6 = 2,
    PK_ACTIVATION_HARDSWISH = 3,
    PK_ACTIVATION_HARDSIGMOID = 4,
    PK_ACTIVATION_SILU = 5,
    PK_ACTIVATION_SIGMOID = 6,
    /// The exact (erf) form, torch's default `approximate='none'`.
    PK_ACTIVATION_GELU = 7,
} pk_activation;

/// The geometry of one `torch.nn.functional.conv2d` call on NCHW float32 tensors.
typedef struct {
    int batch;
    int in_channels, in_height, in_width;
    int out_channels, out_height, out_width;
    int kernel_height, kernel_width;
    int stride_height, stride_width;
    int padding_height, padding_width;
    int dilation_height, dilation_width;
    int groups;
} pk_conv2d_shape;

/// Which implementation runs on this machine: "avx512" (AVX-512 tiles where they exist, AVX2 + FMA
/// elsewhere), "avx2-fma" or "portable".
const char *pk_kernels_isa(void);

/// Forces one implementation ("portable", or "avx2-fma" or "avx512" where the CPU has it) for every
/// later call, so tests and benchmarks can check each on one machine. Returns 0, changing nothing, when `isa`
/// is unknown or unavailable here.
int pk_kernels_select_isa(const char *isa);

/// Threads the kernels split work across (the caller's thread counts as one). Workers are created
/// once and sleep between jobs. A call from a second thread while the pool is busy runs on the
/// calling thread alone, so concurrent plans never wait on each other.
void pk_set_thread_count(int threads);
int pk_thread_count(void);

/// With `serial` nonzero, every kernel called from this thread runs on this thread alone, until it
/// is called again with 0: for threads that each run whole images of a batch, one per core.
void pk_run_serially_on_this_thread(int serial);

/// Floats of the packed form of a convolution's weights.
size_t pk_conv2d_packed_weights_count(const pk_conv2d_shape *shape);

/// Packs `weight` [out_channels, in_channels / groups, kernel_height, kernel_width] into `packed`
/// (pk_conv2d_packed_weights_count floats): done once per layer when a plan is compiled.
void pk_conv2d_pack_weights(const pk_conv2d_shape *shape, const float *weight, float *packed);

/// output = activation(conv2d(input, weight) + bias + residual), all NCHW; `bias` (out_channels
/// values) and `residual` (the output's shape) may be NULL. `output` must not alias `input`;
/// it may alias `residual`.
void pk_conv2d_run(const pk_conv2d_shape *shape, const float *input, const float *packed_weights,
                   const float *bias, const float *residual, pk_activation activation, float *output);

/// `torch.nn.functional.linear` over several rows on weights packed once (LinearGemm.c): floats of
/// the packed form of a [out_features, in_features] weight, and the packing, done when a plan is compiled.
size_t pk_linear_packed_weights_count(int in_features, int out_features);
void pk_linear_pack_weights(int in_features, int out_features, const float *weight, float *packed);
/// Output features per packed strip. Strip s's packed floats start at s * PK_LINEAR_STRIP_FEATURES *
/// in_features, where its weight rows do: a run of whole strips packs on its own (weight and packed
/// both advanced by first_feature * in_features).
enum { PK_LINEAR_STRIP_FEATURES = 16 };

/// output[rows, out_features] = activation(input[rows, in_features] x weight^T + bias), row-major;
/// `bias` (out_features values) may be NULL. `output` must not alias `input`.
void pk_linear_run(int rows, int in_features, int out_features, const float *input, const float *packed_weights,
                   const float *bias, pk_activation activation, float *output);

/// The channel-blocked layout ("NCHWc8", MLAS's and oneDNN's nChw8c): [batch][channels / 8][height]
/// [width][8], the eight channels of a block side by side for each pixel. A pixel's channels fill
/// one vector, so pointwise convolutions read their input in place and depthwise convolutions
/// vectorize across channels. Only tensors whose channel count is a multiple of 8 take it.
enum { PK_CHANNEL_BLOCK = 8 };

/// Whether pk_conv2d_blocked_* runs this convolution: a 1x1 unpadded dense convolution (any stride:
/// a strided one, as ResNet's downsampling shortcut, gathers its pixels first), a depthwise one, a
/// grouped one whose groups are a whole number of blocks wide (or equal and tiling a block), or a
/// dense one with a window (Winograd's 3x3s among them), with channel counts multiples of
/// PK_CHANNEL_BLOCK; or a dense one that reads NCHW (pk_conv2d_blocked_reads_nchw).
int pk_conv2d_blocked_supported(const pk_conv2d_shape *shape);
/// Whether pk_conv2d_blocked_run reads this convolution's input as NCHW (its residual and output
/// still blocked): a dense convolution whose input channels are no whole number of blocks but
/// whose outputs are, as a stem reading the 3-channel image.
int pk_conv2d_blocked_reads_nchw(const pk_conv2d_shape *shape);
/// Whether dense networks (no grouped convolutions) should run on channel blocks on this CPU: their
/// windowed layers then take the dense blocked tile, which has no AVX-512 form yet, while the NCHW
/// kernels it replaces do.
int pk_conv2d_dense_blocked_preferred(void);
size_t pk_conv2d_blocked_packed_weights_count(const pk_conv2d_shape *shape);
/// Packs `weight` [out_channels, in_channels / groups, kernel_height, kernel_width] for the blocked kernels.
void pk_conv2d_blocked_pack_weights(const pk_conv2d_shape *shape, const float *weight, float *packed);
/// pk_conv2d_run on channel-blocked input, residual and output. `output` must not alias `input`;
/// it may alias `residual`.
void pk_conv2d_blocked_run(const pk_conv2d_shape *shape, const float *input, const float *packed_weights,
                           const float *bias, const float *residual, pk_activation activation, float *output);
/// Whether pk_conv2d_blocked_run_scaled takes `shape`: the pointwise convolutions (1x1, stride 1,
/// unpadded, one group) of pk_conv2d_blocked_supported.
int pk_conv2d_blocked_takes_input_scale(const pk_conv2d_shape *shape);
/// pk_conv2d_blocked_run on `input` times `input_scale` channel by channel ([batch][in_channels],
/// squeeze-and-excitation's scale), without writing the scaled input: each task multiplies the
/// packed weights of its panels by the image's scale instead.
void pk_conv2d_blocked_run_scaled(const pk_conv2d_shape *shape, const float *input, const float *input_scale,
                                  const float *packed_weights, const float *bias, const float *residual,
                                  pk_activation activation, float *output);

/// NCHW [batch, channels, plane] to channel-blocked, and back (channels a multiple of PK_CHANNEL_BLOCK).
void pk_to_channel_blocks(const float *source, float *destination, size_t batch, size_t channels, size_t plane);
void pk_from_channel_blocks(const float *source, float *destination, size_t batch, size_t channels, size_t plane);

/// destination[n * channels + c] = mean over the plane of channel c of the channel-blocked `source`,
/// summed in float64, rounded, then divided (the reference path's global average pool).
void pk_channel_blocks_mean(const float *source, float *destination, size_t batch, size_t channels, size_t plane);

/// destination = source * scale[n * channels + c] per channel of a channel-blocked tensor
/// (squeeze-and-excitation); destination may be source.
void pk_channel_blocks_scale(const float *source, const float *scale, float *destination, size_t batch,
                             size_t channels, size_t plane);

/// Every `stride_height`-th row and `stride_width`-th column of each channel-blocked plane of `source`
/// ([planes][in_height][in_width][PK_CHANNEL_BLOCK], planes = batch x blocks), from the first, into
/// `destination` [planes][out_height][out_width][PK_CHANNEL_BLOCK]: what a strided 1x1 convolution
/// reads. The caller checks (out_height - 1) * stride_height < in_height, and so for the width.
void pk_channel_blocks_subsample(const float *source, float *destination, size_t planes, size_t in_height,
                                 size_t in_width, size_t out_height, size_t out_width, size_t stride_height,
                                 size_t stride_width);

/// The geometry of one `torch.nn.functional.max_pool2d` call over `planes` (N * C) planes of `images`
/// (N) images; the output size (ceil mode included) is the caller's, as ATen's `pooling_output_shape`
/// gives it, and every window must hold at least one input value (ATen's padding <= kernel / 2
/// guarantees it). Threads split the planes by image, then by rows of output, as the convolutions
/// before and after split theirs (an `images` that does not divide `planes` counts as one image).
typedef struct {
    int images;
    int planes;
    int in_height, in_width, out_height, out_width;
    int kernel_height, kernel_width;
    int stride_height, stride_width;
    int padding_height, padding_width;
    int dilation_height, dilation_width;
} pk_pool2d_shape;

/// output = max_pool2d(input), NCHW; a NaN in a window gives NaN, as in ATen. Planes are split across
/// the pool's threads.
void pk_max_pool2d(const pk_pool2d_shape *shape, const float *input, float *output);

/// pk_max_pool2d on channel-blocked input and output (`planes` a multiple of PK_CHANNEL_BLOCK).
void pk_max_pool2d_blocked(const pk_pool2d_shape *shape, const float *input, float *output);

/// softmax(row + bias + mask) in place over `count` scores (bias and mask may be NULL, each `count`
/// values added in that order): max (a NaN wins), exp(x - max), a float64 sum, one division each.
void pk_attention_softmax_row(float *row, size_t count, const float *bias, const float *mask);

/// `torch.nn.functional.layer_norm` over the last dimension of [rows, count] `x` into `y` (which may
/// be `x`): (x - mean) / sqrt(biased variance + eps) * weight + bias, moments in float64; weight and
/// bias (count values) may be NULL. Rows are split across the pool's threads.
void pk_layer_norm_rows(const float *x, float *y, size_t rows, size_t count, const float *weight, const float *bias,
                        double eps);

/// torchvision's LayerNorm2d: layer norm over the channels of each pixel of [batch, channels, plane]
/// `x` into `y` (which may be `x`), as pk_layer_norm_rows computes a row. Pixels are split across the
/// pool's threads.
void pk_layer_norm_channels(const float *x, float *y, size_t batch, size_t channels, size_t plane, const float *weight,
                            const float *bias, double eps);

/// torch's channel_shuffle of [batch][channels][plane] `input` (groups divides channels): output
/// channel j * groups + g is input channel g * (channels / groups) + j. `output` must not alias it.
void pk_channel_shuffle(const float *input, float *output, size_t batch, size_t channels, size_t groups, size_t plane);

/// ShuffleNet's concatenate -> channel_shuffle -> chunk without the concatenation: channel
/// k * parts + j of the shuffled whole is channel k of part j, and piece p of `pieces` holds the
/// whole's channels [p * C / pieces, (p + 1) * C / pieces), C = parts * part_channels =
/// pieces * piece_channels. Parts are held as [batch][part_held][plane] and pieces as
/// [batch][piece_held][plane] (held >= channels: the channels, then zeros), or channel-blocked with
/// `blocked` ([batch][held / 8][plane][8], held a multiple of PK_CHANNEL_BLOCK).
typedef struct {
    size_t parts, part_channels, part_held;
    size_t pieces, piece_channels, piece_held;
    size_t batch, plane;
    int blocked;
} pk_interleave_shape;

/// Writes piece `piece` into `output` (aliasing no part), its extra held channels zero.
void pk_interleave_channels(const pk_interleave_shape *shape, const float *const *parts, size_t piece, float *output);

/// Channels [first, first + channels) of [batch][input_channels][plane] `input`, as
/// [batch][channels][plane] `output` (not aliasing it).
void pk_copy_channels(const float *input, size_t input_channels, size_t first, float *output, size_t channels,
                      size_t batch, size_t plane);

/// destination[r * columns + c] = source[r + c * ld] for r < rows, c < columns: a 2-D transpose whose
/// source rows are `ld` floats apart (ld >= rows).
void pk_transpose(const float *source, size_t ld, float *destination, size_t rows, size_t columns);

/// destination[i] = activation(source[i]) for i < count, on the calling thread; the two may be the
/// same buffer. The element-wise pass for activations that follow something other than a convolution
/// (a linear layer's GELU, a standalone SiLU).
void pk_activation_apply(pk_activation activation, const float *source, float *destination, size_t count);

#ifdef __cplusplus
}
#endif

#endif
