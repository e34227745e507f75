#include "Scratch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    float *floats;
    size_t capacity;
} scratch_buffer;

static pthread_key_t scratch_key, shared_scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

// Threads that call in once (a caller's own thread) give their buffer back when they end.
static void release_scratch(void *value) {
    scratch_buffer *buffer = value;
    free(buffer->floats);
    free(buffer);
}

static void make_scratch_keys(void) {
    pthread_key_create(&scratch_key, release_scratch);
    pthread_key_create(&shared_scratch_key, release_scratch);
}

// A few hundred kilobytes per thread, and at most 16 MB of shared operands on a caller's thread
// (ConvolutionGemm.c's im2col blocks, LinearGemm.c's packed rows): the kernels' API has no error
// path, and a machine that cannot give that much cannot run the model either.
static void out_of_memory(size_t bytes) {
    fprintf(stderr, "PthKit kernels: cannot allocate %zu bytes of scratch memory\n", bytes);
    abort();
}

static float *scratch_of(pthread_key_t *key, size_t count) {
    pthread_once(&scratch_once, make_scratch_keys);
    scratch_buffer *buffer = pthread_getspecific(*key);
    if (!buffer) {
        buffer = calloc(1, sizeof *buffer);
        if (!buffer) out_of_memory(sizeof *buffer);
        pthread_setspecific(*key, buffer);
    }
    if (buffer->capacity < count) {
        void *memory = NULL;
        size_t capacity = count + count / 4 + 1024;
        if (posix_memalign(&memory, 64, capacity * sizeof(float)) != 0) out_of_memory(capacity * sizeof(float));
        free(buffer->floats);
        buffer->floats = memory;
        buffer->capacity = capacity;
    }
    return buffer->floats;
}

float *pk_thread_scratch(size_t count) { return scratch_of(&scratch_key, count); }

float *pk_thread_shared_scratch(size_t count) { return scratch_of(&shared_scratch_key, count); }
