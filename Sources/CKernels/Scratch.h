// Per-thread scratch memory for packed operands. Each OS thread owns its buffer, so two plans running
// at once from different threads (the second runs inline on its own thread) never share one.
#ifndef PTHKIT_SCRATCH_H
#define PTHKIT_SCRATCH_H

#include <stddef.h>

/// At least `count` floats, 64-byte aligned, valid until this thread's next call; aborts when
/// memory is exhausted.
float *pk_thread_scratch(size_t count);

#endif
