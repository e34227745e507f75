// The persistent worker pool behind pk_set_thread_count: internal to the C kernels.
#ifndef PTHKIT_THREAD_POOL_H
#define PTHKIT_THREAD_POOL_H

#include <stddef.h>

/// Runs body(context, task) for every task in 0..<task_count on the pool's threads and the caller's,
/// returning when all are done. Of n threads, thread t starts on tasks [t*T/n, (t+1)*T/n) in order,
/// then takes the others' last tasks, so uneven tasks still balance. Order tasks by the data they
/// write (image, then rows of pixels), the same way in consecutive steps, and each core reads back
/// what it wrote. When the pool is busy with another caller's job, has one thread, or is given
/// 2^24 tasks or more, the tasks run on the calling thread.
void pk_parallel_for(size_t task_count, void (*body)(void *context, size_t task), void *context);

#endif
