/* limits.c - decoder limits with safe defaults and validated setters. */
#include "internal.h"

typedef struct limit_spec {
    uint64_t def, min, max;
} limit_spec;

/* Indexed by vms_limit.  Defaults bound a decoder's memory to a few tens of
 * MiB whatever the stream says. */
static const limit_spec specs[VMS_LIMIT_COUNT] = {
    [VMS_LIMIT_RECORD_PAYLOAD] = {16u << 20, 1, VMS_MAX_RECORD_BYTES},
    [VMS_LIMIT_RECORD_RAW] = {16u << 20, 1, VMS_MAX_RECORD_BYTES},
    [VMS_LIMIT_TOTAL_BYTES] = {(uint64_t)1 << 40, 4096, UINT64_MAX},
    [VMS_LIMIT_RECORDS] = {(uint64_t)1 << 24, 1, (uint64_t)1 << 40},
    [VMS_LIMIT_BLOB] = {16u << 10, 0, VMS_MAX_BLOB_BYTES},
    [VMS_LIMIT_BUFFERED] = {80u << 20, 64u << 10, (uint64_t)1 << 40},
};

static bool known(vms_limit which)
{
    return (unsigned)which < VMS_LIMIT_COUNT;
}

void vms_limits_defaults(uint64_t v[VMS_LIMIT_COUNT])
{
    for (unsigned i = 0; i < VMS_LIMIT_COUNT; i++)
        v[i] = specs[i].def;
}

vms_status vms_limit_bounds(vms_limit which, uint64_t *min, uint64_t *max)
{
    if (!known(which) || !min || !max)
        return VMS_E_INVALID_ARG;
    *min = specs[which].min;
    *max = specs[which].max;
    return VMS_OK;
}

uint64_t vms_limit_default(vms_limit which)
{
    return known(which) ? specs[which].def : 0;
}

vms_status vms_limits_new(vms_limits **out, const vms_allocator *mem)
{
    if (!out)
        return VMS_E_INVALID_ARG;
    *out = NULL;
    vms_mem m;
    vms_mem_init(&m, mem);
    vms_limits *l = vms_calloc(&m, sizeof *l);
    if (!l)
        return VMS_E_NOMEM;
    l->mem = m;
    vms_limits_defaults(l->v);
    *out = l;
    return VMS_OK;
}

void vms_limits_free(vms_limits *lim)
{
    if (lim) {
        vms_mem m = lim->mem;
        vms_free(&m, lim);
    }
}

vms_status vms_limits_set(vms_limits *lim, vms_limit which, uint64_t value)
{
    if (!lim || !known(which))
        return VMS_E_INVALID_ARG;
    if (value < specs[which].min || value > specs[which].max)
        return VMS_E_INVALID_ARG;
    lim->v[which] = value;
    return VMS_OK;
}

uint64_t vms_limits_get(const vms_limits *lim, vms_limit which)
{
    if (!known(which))
        return 0;
    return lim ? lim->v[which] : specs[which].def;
}
