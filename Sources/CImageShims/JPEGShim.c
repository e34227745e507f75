#include "ImageShims.h"

#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

// libjpeg's error manager extended with the jump target and the outcome; everything the error
// path needs lives here, so it survives the longjmp.
typedef struct {
    struct jpeg_error_mgr manager;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    pthk_image_status failure;
    pthk_decoded_image *out;
} jpeg_session;

static void jpeg_session_fail(j_common_ptr cinfo, pthk_image_status status) {
    jpeg_session *session = (jpeg_session *)cinfo->err;
    session->failure = status;
    longjmp(session->jump, 1);
}

static void on_jpeg_error(j_common_ptr cinfo) {
    jpeg_session *session = (jpeg_session *)cinfo->err;
    char message[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, message);
    snprintf(session->out->message, sizeof session->out->message, "%s", message);
    jpeg_session_fail(cinfo, PTHK_IMAGE_CORRUPT);
}

// Warnings (extraneous bytes, corrupt segments) are ignored as Pillow ignores them, except running
// out of data: libjpeg would pad the image with gray, where Pillow raises "image file is truncated".
static void on_jpeg_message(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        jpeg_session *session = (jpeg_session *)cinfo->err;
        snprintf(session->out->message, sizeof session->out->message, "file is truncated");
        jpeg_session_fail(cinfo, PTHK_IMAGE_CORRUPT);
    }
}

// Called by libjpeg as it works; a progressive file is stopped once it has more scans than any real
// file has (djpeg -maxscans does the same).
static void on_jpeg_progress(j_common_ptr cinfo) {
    j_decompress_ptr decompress = (j_decompress_ptr)cinfo;
    if (decompress->input_scan_number > PTHK_JPEG_MAX_SCANS) {
        jpeg_session *session = (jpeg_session *)cinfo->err;
        snprintf(session->out->message, sizeof session->out->message, "more than %d progressive scans",
                 PTHK_JPEG_MAX_SCANS);
        jpeg_session_fail(cinfo, PTHK_IMAGE_TOO_LARGE);
    }
}

pthk_image_status pthk_decode_jpeg(const unsigned char *data, size_t size, uint64_t max_pixels,
                                   uint64_t max_decoded_bytes, pthk_decoded_image *out) {
    memset(out, 0, sizeof *out);
    // Zeroed so that destroying it is safe even if jpeg_create_decompress itself fails.
    struct jpeg_decompress_struct cinfo;
    memset(&cinfo, 0, sizeof cinfo);
    jpeg_session session;
    memset(&session, 0, sizeof session);
    session.out = out;
    cinfo.err = jpeg_std_error(&session.manager);
    session.manager.error_exit = on_jpeg_error;
    session.manager.emit_message = on_jpeg_message;
    if (setjmp(session.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(out->samples);
        out->samples = NULL;
        return session.failure;
    }
    jpeg_create_decompress(&cinfo);
    session.progress.progress_monitor = on_jpeg_progress;
    cinfo.progress = &session.progress;
    // libjpeg's own pools stay within the budget too.
    cinfo.mem->max_memory_to_use = (long)(max_decoded_bytes < (uint64_t)LONG_MAX ? max_decoded_bytes : LONG_MAX);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);

    if ((uint64_t)cinfo.image_width * cinfo.image_height > max_pixels) {
        snprintf(out->message, sizeof out->message, "declared size %ux%u exceeds the limit of %llu pixels",
                 (unsigned)cinfo.image_width, (unsigned)cinfo.image_height, (unsigned long long)max_pixels);
        jpeg_session_fail((j_common_ptr)&cinfo, PTHK_IMAGE_TOO_LARGE);
    }
    // Output samples (at least 3 a pixel once converted to RGB), plus the whole-image coefficient
    // buffer (2 bytes a sample) that progressive decoding keeps.
    uint64_t pixels = (uint64_t)cinfo.image_width * cinfo.image_height;
    uint64_t components = cinfo.num_components > 3 ? (uint64_t)cinfo.num_components : 3;
    uint64_t needed = pixels * components * (cinfo.progressive_mode ? 3 : 1);
    if (needed > max_decoded_bytes) {
        snprintf(out->message, sizeof out->message,
                 "declared size %ux%u needs %llu bytes to decode, over the budget of %llu for a %zu-byte file",
                 (unsigned)cinfo.image_width, (unsigned)cinfo.image_height, (unsigned long long)needed,
                 (unsigned long long)max_decoded_bytes, size);
        jpeg_session_fail((j_common_ptr)&cinfo, PTHK_IMAGE_TOO_LARGE);
    }
    // Pillow opens 1, 3 and 4 components as L, RGB and CMYK, and leaves the colour space that the
    // file implies (YCbCr, RGB, YCCK, CMYK) to libjpeg.
    switch (cinfo.num_components) {
    case 1:
        cinfo.out_color_space = JCS_GRAYSCALE;
        out->layout = PTHK_LAYOUT_GRAY;
        break;
    case 3:
        cinfo.out_color_space = JCS_RGB;
        out->layout = PTHK_LAYOUT_RGB;
        break;
    case 4:
        cinfo.out_color_space = JCS_CMYK;
        out->layout = PTHK_LAYOUT_CMYK;
        break;
    default:
        snprintf(out->message, sizeof out->message, "cannot handle %d-component JPEG images",
                 cinfo.num_components);
        jpeg_session_fail((j_common_ptr)&cinfo, PTHK_IMAGE_UNSUPPORTED);
    }
    // libjpeg's defaults, which Pillow keeps unless draft() is called; stated so a changed
    // default cannot silently change pixels.
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&cinfo);

    size_t row_bytes = (size_t)cinfo.output_width * cinfo.output_components;
    out->samples = malloc(row_bytes * cinfo.output_height > 0 ? row_bytes * cinfo.output_height : 1);
    if (!out->samples) {
        snprintf(out->message, sizeof out->message, "cannot allocate the decoded image");
        jpeg_session_fail((j_common_ptr)&cinfo, PTHK_IMAGE_OUT_OF_MEMORY);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out->samples + (size_t)cinfo.output_scanline * row_bytes;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    out->width = cinfo.output_width;
    out->height = cinfo.output_height;
    out->bytes_per_sample = 1;
    // Not jpeg_finish_decompress: a missing EOI after complete image data is accepted, as by Pillow.
    jpeg_destroy_decompress(&cinfo);
    return PTHK_IMAGE_OK;
}
