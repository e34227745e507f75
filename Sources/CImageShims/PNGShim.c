#include "ImageShims.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Everything the error path must see lives here, not in locals, so it survives the longjmp.
typedef struct {
    const unsigned char *data;
    size_t size;
    size_t offset;
    pthk_image_status failure;
    pthk_decoded_image *out;
    png_bytep *rows;
} png_session;

static void png_session_fail(png_structp png, pthk_image_status status, const char *message) {
    png_session *session = png_get_error_ptr(png);
    session->failure = status;
    snprintf(session->out->message, sizeof session->out->message, "%s", message);
    png_longjmp(png, 1);
}

static void on_png_error(png_structp png, png_const_charp message) {
    png_session_fail(png, PTHK_IMAGE_CORRUPT, message);
}

// libpng warns about things Pillow ignores too (unknown chunks, bad ancillary CRCs).
static void on_png_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static void read_png_bytes(png_structp png, png_bytep destination, size_t count) {
    png_session *session = png_get_io_ptr(png);
    if (count > session->size - session->offset) {
        png_session_fail(png, PTHK_IMAGE_CORRUPT, "file is truncated");
    }
    memcpy(destination, session->data + session->offset, count);
    session->offset += count;
}

// Deflate turns one byte into at most 1032 (a 258-byte match per two bits): a PNG cannot hold more
// image data than that many times its own size, whatever its header claims.
static const uint64_t deflate_max_ratio = 1032;

pthk_image_status pthk_decode_png(const unsigned char *data, size_t size, uint64_t max_pixels,
                                  uint64_t max_decoded_bytes, pthk_decoded_image *out) {
    memset(out, 0, sizeof *out);
    png_session session = {data, size, 0, PTHK_IMAGE_OK, out, NULL};

    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &session, on_png_error, on_png_warning);
    if (!png) {
        snprintf(out->message, sizeof out->message, "cannot allocate the PNG reader");
        return PTHK_IMAGE_OUT_OF_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        free(session.rows);
        free(out->samples);
        out->samples = NULL;
        if (session.failure == PTHK_IMAGE_OK) {
            snprintf(out->message, sizeof out->message, "cannot allocate the PNG reader");
            return PTHK_IMAGE_OUT_OF_MEMORY;
        }
        return session.failure;
    }

    png_set_read_fn(png, &session, read_png_bytes);
    // libpng's default cap is 1,000,000 pixels a side; the caller's pixel bound is the real limit.
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, NULL, NULL, NULL);
    if ((uint64_t)width * height > max_pixels) {
        char message[160];
        snprintf(message, sizeof message, "declared size %ux%u exceeds the limit of %llu pixels",
                 (unsigned)width, (unsigned)height, (unsigned long long)max_pixels);
        png_session_fail(png, PTHK_IMAGE_TOO_LARGE, message);
    }
    // The filtered rows as stored (one filter byte a row), at the file's bit depth.
    uint64_t stored_row = ((uint64_t)width * png_get_channels(png, info) * bit_depth + 7) / 8 + 1;
    if (stored_row * height > deflate_max_ratio * (uint64_t)size + 1024) {
        char message[200];
        snprintf(message, sizeof message,
                 "declared size %ux%u needs %llu bytes of image data, more than a %zu-byte file can hold",
                 (unsigned)width, (unsigned)height, (unsigned long long)(stored_row * height), size);
        png_session_fail(png, PTHK_IMAGE_TOO_LARGE, message);
    }

    int channels;
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
        out->layout = PTHK_LAYOUT_GRAY;
        channels = 1;
        // Scales 1/2/4-bit values by 255, 85 and 17, as Pillow's "1", "L;2" and "L;4" unpackers.
        if (bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
        break;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        out->layout = PTHK_LAYOUT_GRAY_ALPHA;
        channels = 2;
        break;
    case PNG_COLOR_TYPE_PALETTE: {
        out->layout = PTHK_LAYOUT_INDEXED;
        channels = 1;
        // One index per byte; the palette is applied in Swift, where Pillow's rules for indices
        // beyond the PLTE entries are mirrored.
        if (bit_depth < 8) png_set_packing(png);
        png_colorp palette = NULL;
        int count = 0;
        if (png_get_PLTE(png, info, &palette, &count) & PNG_INFO_PLTE) {
            if (count > 256) count = 256;
            for (int i = 0; i < count; i++) {
                out->palette[3 * i + 0] = palette[i].red;
                out->palette[3 * i + 1] = palette[i].green;
                out->palette[3 * i + 2] = palette[i].blue;
            }
            out->palette_count = count;
        }
        break;
    }
    case PNG_COLOR_TYPE_RGB:
        out->layout = PTHK_LAYOUT_RGB;
        channels = 3;
        break;
    case PNG_COLOR_TYPE_RGB_ALPHA:
        out->layout = PTHK_LAYOUT_RGBA;
        channels = 4;
        break;
    default:
        png_session_fail(png, PTHK_IMAGE_UNSUPPORTED, "unknown PNG colour type");
        return PTHK_IMAGE_UNSUPPORTED;  // not reached
    }
    out->bytes_per_sample = bit_depth == 16 ? 2 : 1;
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    size_t row_bytes = (size_t)width * channels * out->bytes_per_sample;
    // Samples as decoded, or the RGB they become, whichever is larger.
    uint64_t sample_bytes = (uint64_t)width * height * (channels * out->bytes_per_sample > 3 ? channels * out->bytes_per_sample : 3);
    if (sample_bytes > max_decoded_bytes) {
        char message[200];
        snprintf(message, sizeof message,
                 "declared size %ux%u needs %llu bytes to decode, over the budget of %llu for a %zu-byte file",
                 (unsigned)width, (unsigned)height, (unsigned long long)sample_bytes,
                 (unsigned long long)max_decoded_bytes, size);
        png_session_fail(png, PTHK_IMAGE_TOO_LARGE, message);
    }
    if (png_get_rowbytes(png, info) != row_bytes) {
        png_session_fail(png, PTHK_IMAGE_UNSUPPORTED, "unexpected row layout after libpng's transforms");
    }
    out->samples = malloc(row_bytes * height > 0 ? row_bytes * height : 1);
    session.rows = malloc(sizeof(png_bytep) * (height > 0 ? height : 1));
    if (!out->samples || !session.rows) {
        png_session_fail(png, PTHK_IMAGE_OUT_OF_MEMORY, "cannot allocate the decoded image");
    }
    for (png_uint_32 y = 0; y < height; y++) session.rows[y] = out->samples + (size_t)y * row_bytes;
    png_read_image(png, session.rows);
    // Not png_read_end: Pillow stops after the image data too, so a missing IEND is accepted.

    out->width = width;
    out->height = height;
    png_destroy_read_struct(&png, &info, NULL);
    free(session.rows);
    return PTHK_IMAGE_OK;
}

void pthk_image_free(pthk_decoded_image *image) {
    free(image->samples);
    image->samples = NULL;
}
