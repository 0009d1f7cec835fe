/* alloc.c - the caller-overridable allocator. */
#include <stdlib.h>

#include "internal.h"

static void *default_alloc(void *opaque, size_t size)
{
    (void)opaque;
    return malloc(size);
}

static void default_free(void *opaque, void *ptr)
{
    (void)opaque;
    free(ptr);
}

void vms_mem_init(vms_mem *m, const vms_allocator *a)
{
    if (a && a->alloc && a->free) {
        m->alloc = a->alloc;
        m->free = a->free;
        m->opaque = a->opaque;
    } else {
        m->alloc = default_alloc;
        m->free = default_free;
        m->opaque = NULL;
    }
}

void *vms_malloc(const vms_mem *m, size_t n)
{
    return m->alloc(m->opaque, n ? n : 1);
}

void *vms_calloc(const vms_mem *m, size_t n)
{
    void *p = vms_malloc(m, n);
    if (p)
        memset(p, 0, n);
    return p;
}

void vms_free(const vms_mem *m, void *p)
{
    if (p)
        m->free(m->opaque, p);
}
