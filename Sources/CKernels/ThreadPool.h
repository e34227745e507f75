// The persistent worker pool behind pk_set_thread_count: internal to the C kernels.
#ifndef PTHKIT_THREAD_POOL_H
#define PTHKIT_THREAD_POOL_H

#include <stddef.h>

/// Runs body(context, task) for every task in 0..<task_count on the pool's threads and the caller's,
/// returning when all are done. Tasks are handed out one at a time from a shared counter, so uneven
/// tasks balance themselves. When the pool is busy with another caller's job, or has one thread,
/// the tasks run on the calling thread.
void pk_parallel_for(size_t task_count, void (*body)(void *context, size_t task), void *context);

#endif
