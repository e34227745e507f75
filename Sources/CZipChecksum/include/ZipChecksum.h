// The bulk of a zip record's CRC-32 by carry-less multiplication, for the checkpoint reader's
// checksum pass. A C target of its own, apart from CKernels, so that reading a checkpoint needs
// libzip and nothing of the runtime's kernels.
#ifndef PTHKIT_ZIP_CHECKSUM_H
#define PTHKIT_ZIP_CHECKSUM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Whether `pk_crc32_fold` folds on this CPU (PCLMULQDQ); without it, it consumes nothing.
int pk_crc32_fold_available(void);

/// Folds the first (length & ~15) bytes of `data` (when length >= 64 and the CPU can) into the 16
/// bytes `folded`, starting from zlib's running CRC-32 `crc`, and returns how many bytes it took (0
/// when it took none). The CRC-32 of those bytes is then zlib's crc32(0xffffffff, folded, 16): the
/// caller finishes with zlib (`crc32(that, data + taken, length - taken)`).
size_t pk_crc32_fold(unsigned int crc, const void *data, size_t length, unsigned char folded[16]);

#ifdef __cplusplus
}
#endif

#endif
