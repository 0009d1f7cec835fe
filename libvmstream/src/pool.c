/* pool.c - a small fixed worker pool for parallel record work (hashing,
 * compression).  Owned by one encoder or decoder; no global state. */
#include <pthread.h>
#include <unistd.h>

#include "internal.h"

/* Before sleeping on a condition, a thread polls for this many rounds
 * (about 50-100 us): a batch's phases follow each other within
 * microseconds, and waking a sleeping thread (a halted vCPU, in a VM)
 * costs tens of them.  Only when the pool's threads (the caller's included)
 * fit the online CPUs: oversubscribed, a polling thread would take the CPU
 * from the thread it waits for. */
#define POOL_SPIN 2048

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

struct vms_pool {
    vms_mem mem;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t *threads;
    unsigned nthreads;
    int spin; /* polling rounds before sleeping: POOL_SPIN or 0 */
    bool stop;
    /* the current job: phase 1 (fn, n tasks), then mid once, then phase 2
     * (fn2, n2 tasks) */
    uint64_t gen;
    void (*fn)(void *ctx, size_t i);
    void *ctx;
    size_t n, next, finished;
    void (*mid)(void *ctx);
    void (*fn2)(void *ctx, size_t i);
    size_t n2;
    bool complete; /* every task of both phases has run */
};

/* Ends the current phase (called with mu held by the thread that finished
 * its last task): runs mid and publishes phase 2, or completes the job. */
static void phase_done(vms_pool *p)
{
    if (p->mid) {
        void (*mid)(void *) = p->mid;
        p->mid = NULL;
        mid(p->ctx); /* short, by contract: runs under the pool's lock */
    }
    if (p->fn2 && p->n2) {
        p->fn = p->fn2;
        p->n = p->n2;
        p->fn2 = NULL;
        p->n2 = 0;
        p->next = p->finished = 0;
        __atomic_fetch_add(&p->gen, 1, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&p->work);
        pthread_cond_broadcast(&p->done); /* a waiting caller joins in */
        return;
    }
    __atomic_store_n(&p->complete, true, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&p->done);
}

/* Takes and runs tasks of the current job until none is available. */
static void drain(vms_pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->next < p->n) {
        size_t i = p->next++;
        void (*fn)(void *, size_t) = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        fn(ctx, i);
        pthread_mutex_lock(&p->mu);
        if (++p->finished == p->n)
            phase_done(p);
    }
    pthread_mutex_unlock(&p->mu);
}

static void *worker(void *arg)
{
    vms_pool *p = arg;
    uint64_t seen = 0;
    for (;;) {
        for (int k = 0; k < p->spin &&
                        __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE) == seen &&
                        !__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE);
             k++)
            cpu_relax();
        pthread_mutex_lock(&p->mu);
        while (!p->stop && __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE) == seen)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE);
        pthread_mutex_unlock(&p->mu);
        drain(p);
    }
}

int vms_pool_new(vms_pool **out, const vms_mem *mem, unsigned workers)
{
    *out = NULL;
    vms_pool *p = vms_calloc(mem, sizeof *p);
    if (!p)
        return VMS_E_NOMEM;
    p->mem = *mem;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    p->spin = cpus > 0 && (long)workers + 1 <= cpus ? POOL_SPIN : 0;
    p->threads = vms_calloc(mem, sizeof *p->threads * (workers ? workers : 1));
    if (!p->threads) {
        vms_free(mem, p);
        return VMS_E_NOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    for (unsigned i = 0; i < workers; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
            vms_pool_free(p);
            return VMS_E_NOMEM;
        }
        p->nthreads++;
    }
    *out = p;
    return VMS_OK;
}

void vms_pool_free(vms_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(&p->stop, true, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    vms_mem m = p->mem;
    vms_free(&m, p->threads);
    vms_free(&m, p);
}

void vms_pool_start(vms_pool *p, void (*fn)(void *ctx, size_t i), void *ctx, size_t n,
                    void (*mid)(void *ctx), void (*fn2)(void *ctx, size_t i), size_t n2)
{
    if (!p || p->nthreads == 0) {
        /* No workers: the whole job runs now, on the calling thread. */
        for (size_t i = 0; i < n; i++)
            fn(ctx, i);
        if (mid)
            mid(ctx);
        for (size_t i = 0; i < n2; i++)
            fn2(ctx, i);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->ctx = ctx;
    p->mid = mid;
    p->fn2 = fn2;
    p->n2 = fn2 ? n2 : 0;
    p->fn = fn;
    p->n = n;
    p->next = p->finished = 0;
    __atomic_store_n(&p->complete, false, __ATOMIC_RELEASE);
    if (n == 0)
        phase_done(p);
    __atomic_fetch_add(&p->gen, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
}

void vms_pool_wait(vms_pool *p)
{
    if (!p || p->nthreads == 0)
        return;
    for (;;) {
        const uint64_t g0 = __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE);
        drain(p);
        /* until the job completes or phase 2 is published (gen moves) */
        for (int k = 0; k < p->spin && !__atomic_load_n(&p->complete, __ATOMIC_ACQUIRE) &&
                        __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE) == g0;
             k++)
            cpu_relax();
        pthread_mutex_lock(&p->mu);
        /* Another thread may publish phase 2 while this one waits: take
         * its tasks too. */
        while (!p->complete && p->next >= p->n)
            pthread_cond_wait(&p->done, &p->mu);
        bool complete = p->complete;
        pthread_mutex_unlock(&p->mu);
        if (complete)
            return;
    }
}

void vms_pool_run(vms_pool *p, void (*fn)(void *ctx, size_t i), void *ctx, size_t n)
{
    if (n == 0)
        return;
    if (!p || p->nthreads == 0 || n == 1) {
        for (size_t i = 0; i < n; i++)
            fn(ctx, i);
        return;
    }
    vms_pool_start(p, fn, ctx, n, NULL, NULL, 0);
    vms_pool_wait(p);
}
