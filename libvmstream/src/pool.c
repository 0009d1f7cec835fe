/* pool.c - a small fixed worker pool for parallel record work (hashing,
 * compression).  Owned by one encoder or decoder; no global state. */
#include <pthread.h>

#include "internal.h"

struct vms_pool {
    vms_mem mem;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t *threads;
    unsigned nthreads;
    bool stop;
    /* the current job */
    uint64_t gen;
    void (*fn)(void *ctx, size_t i);
    void *ctx;
    size_t n, next, finished;
};

/* Takes and runs tasks of the current job until none is left. */
static void drain(vms_pool *p)
{
    for (;;) {
        pthread_mutex_lock(&p->mu);
        if (p->next >= p->n) {
            pthread_mutex_unlock(&p->mu);
            return;
        }
        size_t i = p->next++;
        void (*fn)(void *, size_t) = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        fn(ctx, i);
        pthread_mutex_lock(&p->mu);
        if (++p->finished == p->n)
            pthread_cond_broadcast(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
}

static void *worker(void *arg)
{
    vms_pool *p = arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->gen == seen)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop)
            break;
        seen = p->gen;
        pthread_mutex_unlock(&p->mu);
        drain(p);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int vms_pool_new(vms_pool **out, const vms_mem *mem, unsigned workers)
{
    *out = NULL;
    vms_pool *p = vms_calloc(mem, sizeof *p);
    if (!p)
        return VMS_E_NOMEM;
    p->mem = *mem;
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
    p->stop = true;
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

void vms_pool_run(vms_pool *p, void (*fn)(void *ctx, size_t i), void *ctx, size_t n)
{
    if (n == 0)
        return;
    if (!p || p->nthreads == 0 || n == 1) {
        for (size_t i = 0; i < n; i++)
            fn(ctx, i);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->next = 0;
    p->finished = 0;
    p->gen++;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    drain(p);
    pthread_mutex_lock(&p->mu);
    while (p->finished < p->n)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
