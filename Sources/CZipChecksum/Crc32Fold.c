// The bulk of a zip record's CRC-32 (zlib's reflected polynomial 0xEDB88320) by carry-less
// multiplication, after Gopal et al., "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ
// Instruction" (Intel, 2009): four 128-bit lanes are folded 512 bits forward per step, then into
// one lane. The last lane and the tail are left to zlib (the caller), which also serves CPUs
// without PCLMULQDQ, so no table or Barrett reduction is needed here.
#include "ZipChecksum.h"

#include <stdatomic.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

// Moving a lane D bits forward multiplies its low qword (the higher-degree coefficients in the
// reflected order) by x^(D+32) mod P and its high qword by x^(D-32) mod P; each constant is that
// remainder bit-reflected and shifted left once, which absorbs the one-bit offset of a reflected
// carry-less product. D = 512 for four lanes, 128 for one (values checked by the unit test against
// zlib, and derivable with a few lines of polynomial arithmetic).
#define PK_CRC_FOLD_512_LOW 0x154442bd4ULL
#define PK_CRC_FOLD_512_HIGH 0x1c6e41596ULL
#define PK_CRC_FOLD_128_LOW 0x1751997d0ULL
#define PK_CRC_FOLD_128_HIGH 0x0ccaa009eULL

__attribute__((target("pclmul,sse2"))) static inline __m128i fold(__m128i lane, __m128i constants, __m128i next) {
    __m128i low = _mm_clmulepi64_si128(lane, constants, 0x00);
    __m128i high = _mm_clmulepi64_si128(lane, constants, 0x11);
    return _mm_xor_si128(_mm_xor_si128(low, high), next);
}

__attribute__((target("pclmul,sse2"))) static size_t fold_pclmul(uint32_t crc, const unsigned char *data, size_t length,
                                                                  unsigned char folded[16]) {
    if (length < 64) return 0;
    const size_t consumed = length & ~(size_t)15;
    const unsigned char *end = data + consumed;
    __m128i x0 = _mm_loadu_si128((const __m128i *)data);
    __m128i x1 = _mm_loadu_si128((const __m128i *)(data + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(data + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(data + 48));
    // zlib's running value is the register inverted; the register enters as the first 32 bits.
    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)~crc));
    data += 64;
    const __m128i by4 = _mm_set_epi64x((long long)PK_CRC_FOLD_512_HIGH, (long long)PK_CRC_FOLD_512_LOW);
    while (end - data >= 64) {
        x0 = fold(x0, by4, _mm_loadu_si128((const __m128i *)data));
        x1 = fold(x1, by4, _mm_loadu_si128((const __m128i *)(data + 16)));
        x2 = fold(x2, by4, _mm_loadu_si128((const __m128i *)(data + 32)));
        x3 = fold(x3, by4, _mm_loadu_si128((const __m128i *)(data + 48)));
        data += 64;
    }
    const __m128i by1 = _mm_set_epi64x((long long)PK_CRC_FOLD_128_HIGH, (long long)PK_CRC_FOLD_128_LOW);
    x0 = fold(x0, by1, x1);
    x0 = fold(x0, by1, x2);
    x0 = fold(x0, by1, x3);
    for (; data < end; data += 16) x0 = fold(x0, by1, _mm_loadu_si128((const __m128i *)data));
    _mm_storeu_si128((__m128i *)folded, x0);
    return consumed;
}

static int cpu_has_pclmul(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse2");
}
#endif

enum { CRC_UNDECIDED = -1, CRC_ZLIB = 0, CRC_PCLMUL = 1 };
static atomic_int crc_path = CRC_UNDECIDED;

int pk_crc32_fold_available(void) {
    int path = atomic_load_explicit(&crc_path, memory_order_relaxed);
    if (path == CRC_UNDECIDED) {
#if defined(__x86_64__) || defined(__i386__)
        path = cpu_has_pclmul() ? CRC_PCLMUL : CRC_ZLIB;
#else
        path = CRC_ZLIB;
#endif
        atomic_store_explicit(&crc_path, path, memory_order_relaxed);
    }
    return path == CRC_PCLMUL;
}

size_t pk_crc32_fold(unsigned int crc, const void *data, size_t length, unsigned char folded[16]) {
#if defined(__x86_64__) || defined(__i386__)
    if (pk_crc32_fold_available()) return fold_pclmul(crc, (const unsigned char *)data, length, folded);
#endif
    (void)crc, (void)data, (void)length, (void)folded;
    return 0;
}
