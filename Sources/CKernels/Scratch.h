// Per-thread scratch memory for packed operands. Each OS thread owns its buffer, so two plans running
// at once from different threads (the second runs inline on its own thread) never share one.
#ifndef PTHKIT_SCRATCH_H
#define PTHKIT_SCRATCH_H

#include <stddef.h>

/// At least `count` floats, 64-byte aligned, valid until this thread's next call; aborts when
/// memory is exhausted.
float *pk_thread_scratch(size_t count);

/// A second buffer of the calling thread, for operands a kernel prepares once and then hands to every
/// worker of its parallel loop (which may use their own pk_thread_scratch, the caller's included,
/// meanwhile); same contract as pk_thread_scratch.
float *pk_thread_shared_scratch(size_t count);

#endif
