// The 2-D transpose behind channel permutes (NCHW <-> NHWC): 8 x 8 blocks through registers, so
// every load and store is a whole 32-byte row of a block.
#include "Gemm.h"

static void transpose_portable(const float *source, size_t ld, float *destination, size_t rows, size_t columns) {
    // Blocks of 16 keep both sides within a few cache lines.
    for (size_t r0 = 0; r0 < rows; r0 += 16)
        for (size_t c0 = 0; c0 < columns; c0 += 16)
            for (size_t r = r0; r < rows && r < r0 + 16; r++)
                for (size_t c = c0; c < columns && c < c0 + 16; c++) destination[r * columns + c] = source[r + c * ld];
}

#if defined(__x86_64__) || defined(__i386__)
#include "ActivationAvx2.h"

static PK_AVX2 void transpose_avx2(const float *source, size_t ld, float *destination, size_t rows, size_t columns) {
    size_t full_rows = rows / 8 * 8, full_columns = columns / 8 * 8;
    for (size_t r = 0; r < full_rows; r += 8) {
        for (size_t c = 0; c < full_columns; c += 8) {
            // Row i of the block: source column c + i, values r..r+7; after the transpose, v[i] is
            // destination row r + i.
            __m256 v[8];
            for (int i = 0; i < 8; i++) v[i] = _mm256_loadu_ps(source + (c + (size_t)i) * ld + r);
            pk_transpose8x8_avx2(v);
            for (int i = 0; i < 8; i++) _mm256_storeu_ps(destination + (r + (size_t)i) * columns + c, v[i]);
        }
        for (size_t i = r; i < r + 8; i++)
            for (size_t c = full_columns; c < columns; c++) destination[i * columns + c] = source[i + c * ld];
    }
    for (size_t i = full_rows; i < rows; i++)
        for (size_t c = 0; c < columns; c++) destination[i * columns + c] = source[i + c * ld];
}
#endif

void pk_transpose(const float *source, size_t ld, float *destination, size_t rows, size_t columns) {
#ifdef PK_HAVE_AVX2_PATH
    if (pk_use_avx2()) {
        transpose_avx2(source, ld, destination, rows, columns);
        return;
    }
#endif
    transpose_portable(source, ld, destination, rows, columns);
}
