// The Winograd F(4x4, 3x3) input and output transforms on the channel-blocked layout
// ([channels / 8][height][width][8]), compiled like WinogradTransforms.h: once portable, once for
// AVX2 + FMA. They feed and read the same scratch layouts as the NCHW transforms, so the 36 GEMMs
// between them are shared.
//
// A pixel's eight channels are one vector here, so each block's transform runs across channels, one
// output block (lane) at a time, and 8 x 8 transposes turn the eight channels of eight lanes into the
// GEMMs' lanes-contiguous rows (and back). On NCHW the same turn was the patch-row gathers.
//
// Before including, define PK_WT_NAME, PK_WT_TARGET and PK_WT_ACTIVATE as for WinogradTransforms.h,
// and PK_WT_TRANSPOSE8(v) (v: pk_wt_vector[8], transposed in place: v[i][j] becomes v[j][i]).
#include "Gemm.h"
#include "Winograd.h"

#include <stddef.h>

/// v[(point * in_channels + ic) * PK_NR + lane] = (B^T d B)[point] of lane's 6x6 input patch in channel
/// ic, as pk_winograd_transform_input does, reading the channel-blocked `image`.
PK_WT_TARGET void PK_WT_NAME(pk_winograd_transform_input_blocked)(const pk_conv2d_shape *s, const float *image,
                                                                 const int *top, const int *left, int count,
                                                                 float *v) {
    int height = s->in_height, width = s->in_width, inputs = s->in_channels;
    size_t block_floats = (size_t)height * width * PK_CHANNEL_BLOCK;
    for (int cb = 0; cb < inputs / PK_CHANNEL_BLOCK; cb++) {
        const float *block = image + (size_t)cb * block_floats;
        pk_wt_vector t[36][PK_NR];  // [point][lane]: the lane's eight channels
        for (int lane = 0; lane < PK_NR; lane++) {
            if (lane >= count) {
                for (int point = 0; point < 36; point++) t[point][lane] = (pk_wt_vector){0};
                continue;
            }
            int y0 = top[lane], x0 = left[lane];
            int inside = y0 >= 0 && y0 + 6 <= height && x0 >= 0 && x0 + 6 <= width;
            pk_wt_vector d[36];
            for (int i = 0; i < 6; i++) {
                for (int j = 0; j < 6; j++) {
                    int y = y0 + i, x = x0 + j;
                    if (inside || (y >= 0 && y < height && x >= 0 && x < width))
                        PK_WT_LOAD(d[i * 6 + j], block + ((size_t)y * width + (size_t)x) * PK_CHANNEL_BLOCK);
                    else
                        d[i * 6 + j] = (pk_wt_vector){0};
                }
            }
            pk_wt_vector e[36];
            for (int j = 0; j < 6; j++)
                PK_WINOGRAD_BT(d[j], d[6 + j], d[12 + j], d[18 + j], d[24 + j], d[30 + j], e[j], e[6 + j], e[12 + j],
                               e[18 + j], e[24 + j], e[30 + j]);
            for (int i = 0; i < 6; i++)
                PK_WINOGRAD_BT(e[i * 6], e[i * 6 + 1], e[i * 6 + 2], e[i * 6 + 3], e[i * 6 + 4], e[i * 6 + 5],
                               t[i * 6][lane], t[i * 6 + 1][lane], t[i * 6 + 2][lane], t[i * 6 + 3][lane],
                               t[i * 6 + 4][lane], t[i * 6 + 5][lane]);
        }
        // [lane][channel] to [channel][lane], eight lanes at a time.
        for (int point = 0; point < 36; point++) {
            for (int half = 0; half < PK_NR; half += 8) {
                PK_WT_TRANSPOSE8(&t[point][half]);
                for (int c = 0; c < PK_CHANNEL_BLOCK; c++)
                    PK_WT_STORE(v + ((size_t)point * inputs + (size_t)cb * PK_CHANNEL_BLOCK + (size_t)c) * PK_NR + half,
                                t[point][half + c]);
            }
        }
    }
}

/// pk_winograd_transform_output into the channel-blocked `out` (and `residual`): `channels` a multiple
/// of PK_CHANNEL_BLOCK, `out` at the first of them (so its first block), `offset` in pixels.
PK_WT_TARGET void PK_WT_NAME(pk_winograd_transform_output_blocked)(
    const float *m, int rows, int channels, size_t plane, int out_width, const float *bias, const float *residual,
    pk_activation activation, float *out, const size_t *offset, const int *block_height, const int *block_width,
    int count) {
    for (int ob = 0; ob < channels / PK_CHANNEL_BLOCK; ob++) {
        pk_wt_vector shift = (pk_wt_vector){0};
        if (bias) PK_WT_LOAD(shift, bias + (size_t)ob * PK_CHANNEL_BLOCK);
        float *block_out = out + (size_t)ob * plane * PK_CHANNEL_BLOCK;
        const float *block_residual = residual ? residual + (size_t)ob * plane * PK_CHANNEL_BLOCK : NULL;
        for (int half = 0; half < count; half += 8) {
            pk_wt_vector o[16][PK_CHANNEL_BLOCK];  // [position in the 4x4 block][channel]: eight lanes
            for (int c = 0; c < PK_CHANNEL_BLOCK; c++) {
                int r = ob * PK_CHANNEL_BLOCK + c;
                pk_wt_vector e[24];
                for (int j = 0; j < 6; j++) {
                    pk_wt_vector p[6];
                    for (int i = 0; i < 6; i++) PK_WT_LOAD(p[i], m + ((size_t)(i * 6 + j) * rows + r) * PK_NR + half);
                    PK_WINOGRAD_AT(p[0], p[1], p[2], p[3], p[4], p[5], e[j], e[6 + j], e[12 + j], e[18 + j]);
                }
                for (int a = 0; a < 4; a++)
                    PK_WINOGRAD_AT(e[a * 6], e[a * 6 + 1], e[a * 6 + 2], e[a * 6 + 3], e[a * 6 + 4], e[a * 6 + 5],
                                   o[a * 4][c], o[a * 4 + 1][c], o[a * 4 + 2][c], o[a * 4 + 3][c]);
            }
            // [channel][lane] to [lane][channel]: each lane's pixel is then one vector of its eight channels.
            for (int position = 0; position < 16; position++) PK_WT_TRANSPOSE8(o[position]);
            int lanes = count - half < 8 ? count - half : 8;
            for (int l = 0; l < lanes; l++) {
                int lane = half + l;
                for (int a = 0; a < block_height[lane]; a++) {
                    for (int b = 0; b < block_width[lane]; b++) {
                        size_t at = (offset[lane] + (size_t)a * (size_t)out_width + (size_t)b) * PK_CHANNEL_BLOCK;
                        pk_wt_vector value = o[a * 4 + b][l] + shift, added;
                        if (block_residual) {
                            PK_WT_LOAD(added, block_residual + at);
                            value += added;
                        }
                        PK_WT_STORE(block_out + at, value);
                        PK_WT_ACTIVATE(activation, block_out + at);
                    }
                }
            }
        }
    }
}
