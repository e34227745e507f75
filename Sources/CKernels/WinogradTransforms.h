// The Winograd F(4x4, 3x3) input and output transforms over one strip of 16 output blocks, written
// once on 8-float vectors (GCC/Clang vector extensions) and compiled twice: Winograd.c includes this
// for the portable path, WinogradAvx2.c with AVX2 + FMA as the functions' target. Before including,
// define PK_WT_NAME(name) (the functions' names), PK_WT_TARGET (their attributes) and
// PK_WT_ACTIVATE(activation, floats) (the activation, in place, on 8 floats) and
// PK_WT_GATHER(d, rows) (d[j * PK_NR + l] = rows[l][j] for j < 6, l < 8: eight patch rows turned into
// six 8-lane columns), PK_WT_GATHER4(d, rows) (the same for j < 4) and PK_WT_SCATTER4(targets, o)
// (targets[l][b] = o[b * PK_NR + l] for b < 4, l < 8: four 8-lane columns back into eight block rows). Their declarations and
// the function types are in Winograd.h.
#include "Gemm.h"
#include "Winograd.h"

#include <stddef.h>
#include <string.h>

#ifndef PTHKIT_WINOGRAD_TRANSFORMS_ONCE
#define PTHKIT_WINOGRAD_TRANSFORMS_ONCE
/// B^T applied to six values: the input transform along one direction.
#define PK_WINOGRAD_BT(d0, d1, d2, d3, d4, d5, r0, r1, r2, r3, r4, r5) \
    do {                                                            \
        r0 = 4.0f * d0 - 5.0f * d2 + d4;                            \
        r1 = -4.0f * (d1 + d2) + d3 + d4;                           \
        r2 = 4.0f * (d1 - d2) - d3 + d4;                            \
        r3 = 2.0f * (d3 - d1) - d2 + d4;                            \
        r4 = 2.0f * (d1 - d3) - d2 + d4;                            \
        r5 = 4.0f * d1 - 5.0f * d3 + d5;                            \
    } while (0)

/// Unaligned 8-float loads and stores, through a type that may alias floats. (memcpy here was split
/// into 16-byte halves by GCC, and a 32-byte load of two 16-byte stores cannot be store-forwarded.)
typedef float pk_wt_unaligned __attribute__((vector_size(32), aligned(4), may_alias));
#define PK_WT_LOAD(x, p) ((x) = *(const pk_wt_unaligned *)(const void *)(p))
#define PK_WT_STORE(p, x) (*(pk_wt_unaligned *)(void *)(p) = (x))

/// A^T applied to six values: the output transform along one direction.
#define PK_WINOGRAD_AT(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3) \
    do {                                                    \
        o0 = m0 + (m1 + m2) + (m3 + m4);                    \
        o1 = (m1 - m2) + 2.0f * (m3 - m4);                  \
        o2 = (m1 + m2) + 4.0f * (m3 + m4);                  \
        o3 = (m1 - m2) + 8.0f * (m3 - m4) + m5;             \
    } while (0)
#endif

/// v[(point * in_channels + ic) * PK_NR + lane] = (B^T d B)[point] of lane's 6x6 input patch in channel
/// ic, whose top left corner is (top[lane], left[lane]) (zero outside the image and for lanes >= count).
PK_WT_TARGET void PK_WT_NAME(pk_winograd_transform_input)(const pk_conv2d_shape *s, const float *image,
                                                                 const int *top, const int *left, int count,
                                                                 float *v) {
    int height = s->in_height, width = s->in_width, inputs = s->in_channels;
    // Each patch row is read as 8 floats in place wherever those lie inside the channel's plane, even
    // when some of its 6 columns fall in the padding: such columns are then masked to zero after the
    // gather. Rows in the padding read zeros; the few rows whose 8 floats would leave the plane (its
    // first and last) are copied with their zeros filled in.
    enum { IN_PLACE, PADDING, COPIED };
    static const float zeros[8] = {0};
    int kind[6][PK_NR];
    ptrdiff_t start[6][PK_NR];
    int keep[6][PK_NR] __attribute__((aligned(32)));  // all ones where column j of the lane's patch is inside the image
    int masked[2] = {0, 0};
    for (int lane = 0; lane < PK_NR; lane++) {
        for (int i = 0; i < 6; i++) {
            int y = top[lane] + i;
            start[i][lane] = (ptrdiff_t)y * width + left[lane];
            kind[i][lane] = lane >= count || y < 0 || y >= height ? PADDING
                : start[i][lane] >= 0 && start[i][lane] + 8 <= (ptrdiff_t)height * width ? IN_PLACE : COPIED;
        }
        for (int j = 0; j < 6; j++) {
            int x = left[lane] + j;
            keep[j][lane] = lane < count && x >= 0 && x < width ? -1 : 0;
            if (lane < count && !keep[j][lane]) masked[lane / 8] = 1;
        }
    }
    for (int ic = 0; ic < inputs; ic++) {
        const float *plane = image + (size_t)ic * height * width;
        float d[36][PK_NR] __attribute__((aligned(32)));
        float copies[6][PK_NR][8];
        for (int i = 0; i < 6; i++) {
            const float *rows[PK_NR];
            for (int lane = 0; lane < PK_NR; lane++) {
                if (kind[i][lane] == IN_PLACE) {
                    rows[lane] = plane + start[i][lane];
                } else if (kind[i][lane] == PADDING) {
                    rows[lane] = zeros;
                } else {
                    for (int j = 0; j < 8; j++) {
                        int x = left[lane] + j;
                        copies[i][lane][j] = j < 6 && x >= 0 && x < width ? plane[start[i][lane] + j] : 0;
                    }
                    rows[lane] = copies[i][lane];
                }
            }
            // d[i * 6 + j][lane] = rows[lane][j], j < 6; every rows[lane] has 8 readable floats.
            PK_WT_GATHER(&d[i * 6][0], rows);
            PK_WT_GATHER(&d[i * 6][8], rows + 8);
            for (int half = 0; half < 2; half++) {
                if (!masked[half]) continue;
                for (int j = 0; j < 6; j++) {
                    pk_wt_vector column;
                    PK_WT_LOAD(column, &d[i * 6 + j][half * 8]);
                    pk_wt_ivector mask = *(const pk_wt_ivector *)(const void *)&keep[j][half * 8];
                    column = (pk_wt_vector)((pk_wt_ivector)column & mask);
                    PK_WT_STORE(&d[i * 6 + j][half * 8], column);
                }
            }
        }
        for (int half = 0; half < PK_NR; half += 8) {
            pk_wt_vector e[36];
            for (int j = 0; j < 6; j++) {
                pk_wt_vector c[6];
                for (int i = 0; i < 6; i++) PK_WT_LOAD(c[i], &d[i * 6 + j][half]);
                PK_WINOGRAD_BT(c[0], c[1], c[2], c[3], c[4], c[5], e[j], e[6 + j], e[12 + j], e[18 + j], e[24 + j],
                               e[30 + j]);
            }
            for (int i = 0; i < 6; i++) {
                pk_wt_vector r[6];
                PK_WINOGRAD_BT(e[i * 6], e[i * 6 + 1], e[i * 6 + 2], e[i * 6 + 3], e[i * 6 + 4], e[i * 6 + 5], r[0], r[1],
                               r[2], r[3], r[4], r[5]);
                for (int j = 0; j < 6; j++) PK_WT_STORE(v + ((size_t)(i * 6 + j) * inputs + ic) * PK_NR + half, r[j]);
            }
        }
    }
}

/// For `channels` output channels: the sums m[(point * rows + r) * PK_NR + lane] transformed back into
/// 4x4 blocks, plus bias, plus residual, through the activation, into out (channel r's plane at
/// out + r * plane; the block of lane at offset[lane], block_height[lane] x block_width[lane] of it inside).
PK_WT_TARGET void PK_WT_NAME(pk_winograd_transform_output)(
    const float *m, int rows, int channels, size_t plane, int out_width, const float *bias, const float *residual,
    pk_activation activation, float *out, const size_t *offset, const int *block_height, const int *block_width,
    int count) {
    for (int r = 0; r < channels; r++) {
        float o[16][PK_NR] __attribute__((aligned(32)));
        pk_wt_vector shift = (pk_wt_vector){0} + (bias ? bias[r] : 0.0f);
        for (int half = 0; half < PK_NR; half += 8) {
            pk_wt_vector e[24];
            for (int j = 0; j < 6; j++) {
                pk_wt_vector p[6];
                for (int i = 0; i < 6; i++) PK_WT_LOAD(p[i], m + ((size_t)(i * 6 + j) * rows + r) * PK_NR + half);
                PK_WINOGRAD_AT(p[0], p[1], p[2], p[3], p[4], p[5], e[j], e[6 + j], e[12 + j], e[18 + j]);
            }
            for (int a = 0; a < 4; a++) {
                pk_wt_vector q[4];
                PK_WINOGRAD_AT(e[a * 6], e[a * 6 + 1], e[a * 6 + 2], e[a * 6 + 3], e[a * 6 + 4], e[a * 6 + 5], q[0], q[1],
                               q[2], q[3]);
                for (int b = 0; b < 4; b++) {
                    q[b] += shift;
                    PK_WT_STORE(&o[a * 4 + b][half], q[b]);
                }
            }
        }
        // Block rows go to the output 4 floats at a time where the whole row is inside; other lanes'
        // rows go through `spill` and only their inside part is copied.
        float *channel_out = out + (size_t)r * plane;
        const float *channel_residual = residual ? residual + (size_t)r * plane : NULL;
        float spill[PK_NR][4];
        for (int a = 0; a < 4; a++) {
            float *targets[PK_NR];
            if (channel_residual) {
                // The residual joins before the activation: gathered the same way, then added.
                const float *sources[PK_NR];
                for (int lane = 0; lane < PK_NR; lane++) {
                    if (lane < count && a < block_height[lane] && block_width[lane] == 4) {
                        sources[lane] = channel_residual + offset[lane] + (size_t)a * out_width;
                    } else {
                        for (int b = 0; b < 4; b++)
                            spill[lane][b] = lane < count && a < block_height[lane] && b < block_width[lane]
                                ? channel_residual[offset[lane] + (size_t)a * out_width + b] : 0;
                        sources[lane] = spill[lane];
                    }
                }
                float added[4][PK_NR] __attribute__((aligned(32)));
                PK_WT_GATHER4(&added[0][0], sources);
                PK_WT_GATHER4(&added[0][8], sources + 8);
                for (int b = 0; b < 4; b++)
                    for (int half = 0; half < PK_NR; half += 8) {
                        pk_wt_vector x, y;
                        PK_WT_LOAD(x, &o[a * 4 + b][half]);
                        PK_WT_LOAD(y, &added[b][half]);
                        x += y;
                        PK_WT_STORE(&o[a * 4 + b][half], x);
                    }
            }
            for (int b = 0; b < 4; b++)
                for (int half = 0; half < PK_NR; half += 8) PK_WT_ACTIVATE(activation, &o[a * 4 + b][half]);
            for (int lane = 0; lane < PK_NR; lane++)
                targets[lane] = lane < count && a < block_height[lane] && block_width[lane] == 4
                    ? channel_out + offset[lane] + (size_t)a * out_width : spill[lane];
            PK_WT_SCATTER4(targets, &o[a * 4][0]);
            PK_WT_SCATTER4(targets + 8, &o[a * 4][8]);
            for (int lane = 0; lane < count; lane++) {
                if (targets[lane] != spill[lane] || a >= block_height[lane]) continue;
                for (int b = 0; b < block_width[lane]; b++)
                    channel_out[offset[lane] + (size_t)a * out_width + b] = spill[lane][b];
            }
        }
    }
}
