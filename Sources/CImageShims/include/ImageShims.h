#ifndef PTHK_IMAGE_SHIMS_H
#define PTHK_IMAGE_SHIMS_H

// Whole-image decoding through libpng and libjpeg. Both libraries report errors with longjmp, which
// must never unwind Swift frames, so every call into them happens here, behind a setjmp, and comes
// back as a status code and a message.
//
// The samples come back as the file stores them (palette indices, 16-bit values, CMYK as libjpeg
// delivers it); turning them into RGB the way Pillow does is left to Swift.

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PTHK_IMAGE_OK = 0,
    PTHK_IMAGE_CORRUPT = 1,      // malformed or truncated data
    PTHK_IMAGE_UNSUPPORTED = 2,  // well-formed, but a variant Pillow cannot open either
    PTHK_IMAGE_TOO_LARGE = 3,    // width * height or the decoded bytes exceed the caller's bounds
    PTHK_IMAGE_OUT_OF_MEMORY = 4,
} pthk_image_status;

typedef enum {
    PTHK_LAYOUT_GRAY = 1,        // 1 sample; PNG depths below 8 already scaled to 0...255
    PTHK_LAYOUT_GRAY_ALPHA = 2,  // 2 samples
    PTHK_LAYOUT_INDEXED = 3,     // 1 palette index (0...255) per pixel
    PTHK_LAYOUT_RGB = 4,         // 3 samples
    PTHK_LAYOUT_RGBA = 5,        // 4 samples
    PTHK_LAYOUT_CMYK = 6,        // 4 samples as libjpeg outputs them (Adobe files store them inverted)
} pthk_layout;

typedef struct {
    uint32_t width;
    uint32_t height;
    pthk_layout layout;
    // 1, or 2 for 16-bit PNG samples (big-endian, as in the file).
    int bytes_per_sample;
    // width * height * channels * bytes_per_sample bytes, row-major; release with pthk_image_free.
    unsigned char *samples;
    // PLTE entries (RGB triples) of an indexed PNG.
    unsigned char palette[256 * 3];
    int palette_count;
    // Why decoding failed, as the library worded it.
    char message[256];
} pthk_decoded_image;

/// Decodes a whole PNG held in memory. Refuses, before allocating them, images of more than
/// max_pixels pixels, images whose decoded samples (or RGB) would take more than max_decoded_bytes,
/// and images whose declared data could not come from a file of `size` bytes. On failure nothing
/// needs freeing.
pthk_image_status pthk_decode_png(const unsigned char *data, size_t size, uint64_t max_pixels,
                                  uint64_t max_decoded_bytes, pthk_decoded_image *out);

/// Decodes a whole baseline, extended or progressive JPEG held in memory with libjpeg's defaults
/// (ISLOW DCT, fancy upsampling), as Pillow does. A file that ends before its image data does is
/// an error, not a gray-filled image. The same bounds as for PNG are checked against the frame
/// header before anything is allocated (counting a progressive file's coefficient buffer), and a
/// progressive file may have at most PTHK_JPEG_MAX_SCANS scans.
pthk_image_status pthk_decode_jpeg(const unsigned char *data, size_t size, uint64_t max_pixels,
                                   uint64_t max_decoded_bytes, pthk_decoded_image *out);

/// libjpeg-turbo's own scan limit (TJFLAG_LIMITSCANS): real progressive files have about ten, and
/// each scan revisits the whole image, so thousands of tiny scans would cost time without bound.
#define PTHK_JPEG_MAX_SCANS 500

void pthk_image_free(pthk_decoded_image *image);

#endif
