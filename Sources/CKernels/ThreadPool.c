#include "ThreadPool.h"
#include "PthKitKernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

// Workers sleep on a condition variable between jobs; a wake-up costs a few microseconds, far less
// than Dispatch's per-call setup, and nothing spins while the process is idle. Between the tasks of
// one job, and for a short while after it, they poll instead: layers follow each other within
// microseconds during a forward pass.
enum { MAX_THREADS = 64, SPIN_ROUNDS = 2000 };

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int threads;                 // including the caller
    int started_workers;
    atomic_int busy;             // 1 while a caller owns the pool
    atomic_ulong generation;     // bumped for each job
    void (*body)(void *, size_t);
    void *context;
    size_t task_count;
    atomic_size_t next_task;
    atomic_int active_workers;   // workers still inside the current job
} pool_state;

static pool_state pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .threads = 0,
};

static void run_tasks(void) {
    for (;;) {
        size_t task = atomic_fetch_add_explicit(&pool.next_task, 1, memory_order_relaxed);
        if (task >= pool.task_count) return;
        pool.body(pool.context, task);
    }
}

// `first_generation` is the generation before the job that started the worker: a worker that read
// the counter itself when it first ran could see that job's bump, wait for the next one, and leave
// the caller waiting for it forever.
static void *worker_main(void *first_generation) {
    unsigned long seen = (unsigned long)(uintptr_t)first_generation;
    for (;;) {
        unsigned long current = atomic_load_explicit(&pool.generation, memory_order_acquire);
        for (int round = 0; current == seen && round < SPIN_ROUNDS; round++) {
            sched_yield();
            current = atomic_load_explicit(&pool.generation, memory_order_acquire);
        }
        if (current == seen) {
            pthread_mutex_lock(&pool.lock);
            while ((current = atomic_load(&pool.generation)) == seen) pthread_cond_wait(&pool.wake, &pool.lock);
            pthread_mutex_unlock(&pool.lock);
        }
        seen = current;
        run_tasks();
        atomic_fetch_sub_explicit(&pool.active_workers, 1, memory_order_release);
    }
    return NULL;
}

static int default_threads(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : (cores > MAX_THREADS ? MAX_THREADS : (int)cores);
}

void pk_set_thread_count(int threads) {
    pthread_mutex_lock(&pool.lock);
    pool.threads = threads < 1 ? 1 : (threads > MAX_THREADS ? MAX_THREADS : threads);
    pthread_mutex_unlock(&pool.lock);
}

int pk_thread_count(void) {
    pthread_mutex_lock(&pool.lock);
    if (pool.threads == 0) pool.threads = default_threads();
    int threads = pool.threads;
    pthread_mutex_unlock(&pool.lock);
    return threads;
}

void pk_parallel_for(size_t task_count, void (*body)(void *, size_t), void *context) {
    int threads = pk_thread_count();
    int expected = 0;
    if (task_count <= 1 || threads <= 1 || !atomic_compare_exchange_strong(&pool.busy, &expected, 1)) {
        for (size_t task = 0; task < task_count; task++) body(context, task);
        return;
    }
    // Workers are started on first use and kept; every started worker takes part in each job.
    pthread_mutex_lock(&pool.lock);
    while (pool.started_workers < threads - 1) {
        pthread_t thread;
        void *generation = (void *)(uintptr_t)atomic_load(&pool.generation);
        if (pthread_create(&thread, NULL, worker_main, generation) != 0) break;
        pthread_detach(thread);
        pool.started_workers++;
    }
    int workers = pool.started_workers;
    pool.body = body;
    pool.context = context;
    pool.task_count = task_count;
    atomic_store(&pool.next_task, 0);
    atomic_store(&pool.active_workers, workers);
    atomic_fetch_add_explicit(&pool.generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);

    run_tasks();
    while (atomic_load_explicit(&pool.active_workers, memory_order_acquire) > 0) sched_yield();
    atomic_store(&pool.busy, 0);
}
