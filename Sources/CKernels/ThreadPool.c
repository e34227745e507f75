#include "ThreadPool.h"
#include "PthKitKernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

// Workers sleep on a condition variable between jobs; a wake-up costs a few microseconds, far less
// than Dispatch's per-call setup, and nothing spins while the process is idle. For a short while
// after a job they poll instead: layers follow each other within microseconds in a forward pass.
//
// A job is finished when its tasks are, not when every worker has reported in: on a machine busy
// with other processes a worker may not run for a whole scheduler slice, and a caller that waited
// for it would wait that long on every layer. The caller takes tasks itself, so a job finishes even
// if no worker ever wakes for it.
//
// Tasks are claimed from one 64-bit word, the job's generation in the high half and the next task
// in the low half, by compare-and-swap: a worker that wakes late for a finished job reads a newer
// generation and claims nothing from it. Job descriptors alternate between two slots, so the one a
// late worker may still be reading is never the one being written.
enum { MAX_THREADS = 64, SPIN_ROUNDS = 2000 };

typedef struct {
    _Atomic(void (*)(void *, size_t)) body;
    _Atomic(void *) context;
    atomic_size_t task_count;
    atomic_size_t done;
} pool_job;

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int threads;  // including the caller
    int started_workers;
    atomic_int busy;              // 1 while a caller owns the pool
    atomic_uint_fast64_t claim;   // generation << 32 | next task
    pool_job jobs[2];             // indexed by generation & 1
} pool_state;

static pool_state pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
};

static uint64_t generation_of(uint64_t claim) { return claim >> 32; }

/// Claims and runs tasks of job `generation` until none is left or a newer job has started.
static void run_tasks(uint64_t generation) {
    pool_job *job = &pool.jobs[generation & 1];
    for (;;) {
        uint64_t claim = atomic_load_explicit(&pool.claim, memory_order_acquire);
        if (generation_of(claim) != generation) return;
        size_t task = (size_t)(claim & 0xffffffffu);
        void (*body)(void *, size_t) = atomic_load_explicit(&job->body, memory_order_relaxed);
        void *context = atomic_load_explicit(&job->context, memory_order_relaxed);
        if (task >= atomic_load_explicit(&job->task_count, memory_order_relaxed)) return;
        // Success means the job was still current at the claim, so the fields read above are its own.
        if (!atomic_compare_exchange_weak_explicit(&pool.claim, &claim, claim + 1, memory_order_acq_rel,
                                                   memory_order_relaxed))
            continue;
        body(context, task);
        atomic_fetch_add_explicit(&job->done, 1, memory_order_release);
    }
}

static void *worker_main(void *unused) {
    (void)unused;
    uint64_t seen = 0;
    for (;;) {
        uint64_t current = generation_of(atomic_load_explicit(&pool.claim, memory_order_acquire));
        for (int round = 0; current == seen && round < SPIN_ROUNDS; round++) {
            sched_yield();
            current = generation_of(atomic_load_explicit(&pool.claim, memory_order_acquire));
        }
        if (current == seen) {
            pthread_mutex_lock(&pool.lock);
            while ((current = generation_of(atomic_load(&pool.claim))) == seen)
                pthread_cond_wait(&pool.wake, &pool.lock);
            pthread_mutex_unlock(&pool.lock);
        }
        seen = current;
        run_tasks(current);
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

// Set on a thread that runs whole images beside other such threads (pk_run_serially_on_this_thread).
static _Thread_local int serial_here = 0;

void pk_run_serially_on_this_thread(int serial) { serial_here = serial; }

void pk_parallel_for(size_t task_count, void (*body)(void *, size_t), void *context) {
    int threads = pk_thread_count();
    int expected = 0;
    if (task_count <= 1 || task_count > 0xffffffffu || threads <= 1 || serial_here ||
        !atomic_compare_exchange_strong(&pool.busy, &expected, 1)) {
        for (size_t task = 0; task < task_count; task++) body(context, task);
        return;
    }
    pthread_mutex_lock(&pool.lock);
    // Workers are started on first use and kept; any started worker may help with any job.
    while (pool.started_workers < threads - 1) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, worker_main, NULL) != 0) break;
        pthread_detach(thread);
        pool.started_workers++;
    }
    // Generations count modulo 2^32, the half of the claim word they have.
    uint64_t generation = (generation_of(atomic_load(&pool.claim)) + 1) & 0xffffffffu;
    pool_job *job = &pool.jobs[generation & 1];
    atomic_store_explicit(&job->body, body, memory_order_relaxed);
    atomic_store_explicit(&job->context, context, memory_order_relaxed);
    atomic_store_explicit(&job->task_count, task_count, memory_order_relaxed);
    atomic_store_explicit(&job->done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.claim, generation << 32, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);

    run_tasks(generation);
    while (atomic_load_explicit(&job->done, memory_order_acquire) < task_count) sched_yield();
    atomic_store(&pool.busy, 0);
}
