#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE  // sched_getcpu, sched_setaffinity, cpu_set_t
#endif
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
// Each thread starts on its own share of the tasks: of n threads, thread t (the caller is 0) takes
// tasks [t*T/n, (t+1)*T/n) from the front, then helps the others from the back of their shares. So
// consecutive jobs whose tasks follow the data in the same order (image, then rows of pixels) keep
// each core on the part it wrote, in its own cache. With a shared counter instead, a step's tasks
// went to whichever core came first, and a step after one split another way (a depthwise
// convolution by channel, the 1x1 after it by pixel) read half its input from the other core's
// cache: mobilenet_v2's 1x1 projections took 50% longer after their depthwise step than alone.
//
// A share is one 64-bit word, the job's generation in the top 16 bits and the share's front and
// back (24 bits each) below, claimed by compare-and-swap: a worker that wakes late for a finished
// job reads a newer generation and claims nothing from it. Job descriptors alternate between two
// slots; a job's slot is rewritten only after the next job ends, which needs this one's tasks done,
// so a thread that has claimed a task reads its job's own fields.
enum { MAX_THREADS = 64, SPIN_ROUNDS = 2000, TASK_BITS = 24, GENERATION_SHIFT = 48 };
#define TASK_MASK ((UINT64_C(1) << TASK_BITS) - 1)

typedef struct {
    _Atomic(void (*)(void *, size_t)) body;
    _Atomic(void *) context;
    atomic_int shares;  // threads the tasks are split between
    atomic_size_t done;
    atomic_int caller_cpu;  // where the caller runs (Linux), or -1
} pool_job;

typedef struct {
    _Alignas(64) atomic_uint_fast64_t word;  // generation << 48 | front << 24 | back; a line of its own
} task_share;

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int threads;  // including the caller
    int started_workers;
    atomic_int busy;                   // 1 while a caller owns the pool
    atomic_uint_fast64_t generation;   // the newest job's, which workers watch (16 bits)
    pool_job jobs[2];                  // indexed by generation & 1
    task_share shares[MAX_THREADS];
} pool_state;

static pool_state pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
};

/// Claims the front (or back) task of `share` for job `generation`; 0 when the share is empty or
/// belongs to another job.
static int claim(int share, uint64_t generation, int from_back, size_t *task) {
    atomic_uint_fast64_t *word = &pool.shares[share].word;
    uint64_t current = atomic_load_explicit(word, memory_order_acquire);
    for (;;) {
        if (current >> GENERATION_SHIFT != generation) return 0;
        uint64_t front = (current >> TASK_BITS) & TASK_MASK, back = current & TASK_MASK;
        if (front >= back) return 0;
        uint64_t next = from_back ? current - 1 : current + (UINT64_C(1) << TASK_BITS);
        if (atomic_compare_exchange_weak_explicit(word, &current, next, memory_order_acq_rel, memory_order_acquire)) {
            *task = (size_t)(from_back ? back - 1 : front);
            return 1;
        }
    }
}

/// Runs tasks of job `generation` as thread `self`: its own share first, then the others' backs.
static void run_tasks(uint64_t generation, int self) {
    pool_job *job = &pool.jobs[generation & 1];
    // Read before any claim: if the job is already over this may be a newer job's count, and then
    // every claim below fails on the generation anyway.
    int shares = atomic_load_explicit(&job->shares, memory_order_relaxed);
    if (shares < 1 || shares > MAX_THREADS) return;
    for (;;) {
        size_t task;
        int found = self < shares && claim(self, generation, 0, &task);
        for (int k = 1; !found && k < shares; k++) found = claim((self + k) % shares, generation, 1, &task);
        if (!found) return;
        void (*body)(void *, size_t) = atomic_load_explicit(&job->body, memory_order_relaxed);
        body(atomic_load_explicit(&job->context, memory_order_relaxed), task);
        atomic_fetch_add_explicit(&job->done, 1, memory_order_release);
    }
}

#ifdef __linux__
// A worker on the caller's CPU cannot help: the caller runs every task itself while the worker waits
// for its turn. Linux places a woken thread beside the one that woke it (wake-affine), and on this
// two-CPU machine the balancer then took about 100 ms to separate them: a 5 MB matrix-vector
// product ran in 67 us instead of 35 for 1,600 jobs in a row, and whole forward passes ran on one
// core for as long. A worker that finds itself there moves to the other CPUs it was allowed.
static void leave_cpu(const cpu_set_t *allowed, int cpu) {
    if (cpu < 0 || CPU_COUNT(allowed) < 2 || !CPU_ISSET(cpu, allowed)) return;
    cpu_set_t elsewhere = *allowed;
    CPU_CLR(cpu, &elsewhere);
    sched_setaffinity(0, sizeof elsewhere, &elsewhere);
}
#endif

static void *worker_main(void *argument) {
    int self = (int)(intptr_t)argument;
    uint64_t seen = 0;
#ifdef __linux__
    cpu_set_t allowed;  // as inherited from the thread that started the pool
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) CPU_ZERO(&allowed);
#endif
    for (;;) {
        uint64_t current = atomic_load_explicit(&pool.generation, memory_order_acquire);
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
#ifdef __linux__
        int cpu = sched_getcpu(), caller = atomic_load_explicit(&pool.jobs[current & 1].caller_cpu, memory_order_relaxed);
        // The mask left is the allowed one less the caller's CPU of the time, so a later move
        // starts from all the allowed CPUs again.
        if (cpu >= 0 && cpu == caller) leave_cpu(&allowed, cpu);
#endif
        run_tasks(current, self);
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
    if (task_count <= 1 || task_count > TASK_MASK || threads <= 1 || serial_here ||
        !atomic_compare_exchange_strong(&pool.busy, &expected, 1)) {
        for (size_t task = 0; task < task_count; task++) body(context, task);
        return;
    }
    pthread_mutex_lock(&pool.lock);
    // Workers are started on first use and kept; worker i (from 1) owns share i of every job.
    while (pool.started_workers < threads - 1) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, worker_main, (void *)(intptr_t)(pool.started_workers + 1)) != 0) break;
        pthread_detach(thread);
        pool.started_workers++;
    }
    int shares = pool.started_workers + 1 < threads ? pool.started_workers + 1 : threads;
    // Generations count modulo 2^16, the bits a share's word has for them.
    uint64_t generation = (atomic_load(&pool.generation) + 1) & 0xffffu;
    pool_job *job = &pool.jobs[generation & 1];
    atomic_store_explicit(&job->body, body, memory_order_relaxed);
    atomic_store_explicit(&job->context, context, memory_order_relaxed);
    atomic_store_explicit(&job->shares, shares, memory_order_relaxed);
    atomic_store_explicit(&job->done, 0, memory_order_relaxed);
#ifdef __linux__
    atomic_store_explicit(&job->caller_cpu, sched_getcpu(), memory_order_relaxed);
#else
    atomic_store_explicit(&job->caller_cpu, -1, memory_order_relaxed);
#endif
    for (int t = 0; t < shares; t++) {
        uint64_t front = (uint64_t)(task_count * (size_t)t / (size_t)shares);
        uint64_t back = (uint64_t)(task_count * (size_t)(t + 1) / (size_t)shares);
        atomic_store_explicit(&pool.shares[t].word, generation << GENERATION_SHIFT | front << TASK_BITS | back,
                              memory_order_release);
    }
    atomic_store_explicit(&pool.generation, generation, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);

    run_tasks(generation, 0);
    while (atomic_load_explicit(&job->done, memory_order_acquire) < task_count) sched_yield();
    atomic_store(&pool.busy, 0);
}
