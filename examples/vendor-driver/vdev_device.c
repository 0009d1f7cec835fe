/*
 * vdev_device.c - the device model: config space, register file, device
 * memory with dirty tracking, the command ring and the guest workload that
 * drives it, the device invariants, the state digest and the compatibility
 * descriptor.  Migration lives in vdev_migration.c.
 */
#include "vdev_internal.h"

#include <blake2.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* ------------------------------------------------------------------------ */
/* Little-endian helpers                                                     */
/* ------------------------------------------------------------------------ */

void vdev_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void vdev_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void vdev_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint16_t vdev_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t vdev_get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t vdev_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void vdev_regs_store(const vdev_regs *r, uint8_t b[VDEV_REGS_SIZE])
{
    memset(b, 0, VDEV_REGS_SIZE);
    vdev_put32(b + REG_ID, r->id);
    vdev_put32(b + REG_REV, r->rev);
    vdev_put32(b + REG_CTRL, r->ctrl);
    vdev_put32(b + REG_STATUS, r->status);
    vdev_put64(b + REG_RING_BASE, r->ring_base);
    vdev_put32(b + REG_RING_SIZE, r->ring_size);
    vdev_put32(b + REG_RING_HEAD, r->ring_head);
    vdev_put32(b + REG_RING_TAIL, r->ring_tail);
    vdev_put32(b + REG_IRQ_VECTOR, r->irq_vector);
    vdev_put64(b + REG_DMA_BASE, r->dma_base);
    vdev_put64(b + REG_DMA_LEN, r->dma_len);
    vdev_put64(b + REG_CMD_DONE, r->cmd_done);
    vdev_put32(b + REG_LAST_ERR, r->last_err);
    vdev_put32(b + REG_SCRATCH, r->scratch);
}

void vdev_regs_load(const uint8_t b[VDEV_REGS_SIZE], vdev_regs *r)
{
    r->id = vdev_get32(b + REG_ID);
    r->rev = vdev_get32(b + REG_REV);
    r->ctrl = vdev_get32(b + REG_CTRL);
    r->status = vdev_get32(b + REG_STATUS);
    r->ring_base = vdev_get64(b + REG_RING_BASE);
    r->ring_size = vdev_get32(b + REG_RING_SIZE);
    r->ring_head = vdev_get32(b + REG_RING_HEAD);
    r->ring_tail = vdev_get32(b + REG_RING_TAIL);
    r->irq_vector = vdev_get32(b + REG_IRQ_VECTOR);
    r->dma_base = vdev_get64(b + REG_DMA_BASE);
    r->dma_len = vdev_get64(b + REG_DMA_LEN);
    r->cmd_done = vdev_get64(b + REG_CMD_DONE);
    r->last_err = vdev_get32(b + REG_LAST_ERR);
    r->scratch = vdev_get32(b + REG_SCRATCH);
}

/* ------------------------------------------------------------------------ */
/* Small utilities                                                           */
/* ------------------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t rng_next(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    return splitmix64(*s);
}

static bool is_pow2(uint64_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

void vdev_set_error(vdev *dev, const char *fmt, ...)
{
    char tmp[sizeof dev->err];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&dev->lock);
    memcpy(dev->err, tmp, sizeof tmp);
    pthread_mutex_unlock(&dev->lock);
}

void vdev_last_error(vdev *dev, char *buf, size_t cap)
{
    if (cap == 0)
        return;
    pthread_mutex_lock(&dev->lock);
    snprintf(buf, cap, "%s", dev->err);
    pthread_mutex_unlock(&dev->lock);
}

uint8_t *vdev_mem_alloc(uint64_t size)
{
    if (size == 0 || size > SIZE_MAX)
        return NULL;
    void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void vdev_mem_free(uint8_t *p, uint64_t size)
{
    if (p)
        munmap(p, (size_t)size);
}

int vdev_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift) {
        end++;
        if (*end == 'i' && end[1] == 'B')
            end += 2;
        else if (*end == 'B')
            end++;
    }
    if (*end != '\0')
        return -1;
    if (shift && v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

int vdev_parse_version(const char *s, uint32_t *major, uint32_t *minor, uint32_t *bugfix)
{
    unsigned long v[3];
    const char *p = s;
    for (int i = 0; i < 3; i++) {
        char *end;
        if (*p < '0' || *p > '9')
            return -1;
        errno = 0;
        v[i] = strtoul(p, &end, 10);
        if (errno || v[i] > UINT32_MAX)
            return -1;
        p = end;
        if (i < 2) {
            if (*p != '.')
                return -1;
            p++;
        }
    }
    if (*p != '\0')
        return -1;
    *major = (uint32_t)v[0];
    *minor = (uint32_t)v[1];
    *bugfix = (uint32_t)v[2];
    return 0;
}

const char *vdev_state_name(vdev_state s)
{
    switch (s) {
    case VDEV_STATE_ERROR: return "ERROR";
    case VDEV_STATE_STOP: return "STOP";
    case VDEV_STATE_RUNNING: return "RUNNING";
    case VDEV_STATE_STOP_COPY: return "STOP_COPY";
    case VDEV_STATE_RESUMING: return "RESUMING";
    case VDEV_STATE_PRE_COPY: return "PRE_COPY";
    }
    return "?";
}

/* ------------------------------------------------------------------------ */
/* Descriptor                                                                */
/* ------------------------------------------------------------------------ */

int vdev_descriptor_new(const vdev_options *opt, vms_descriptor **out, char *err,
                        size_t errcap)
{
    vms_descriptor *d = NULL;
    uint64_t mem = opt->mem_size ? opt->mem_size : VDEV_DEFAULT_MEM_SIZE;
    uint32_t ma = VDEV_VERSION_MAJOR, mi = VDEV_VERSION_MINOR, bf = VDEV_VERSION_BUGFIX;
    if (opt->version_major || opt->version_minor || opt->version_bugfix) {
        ma = opt->version_major;
        mi = opt->version_minor;
        bf = opt->version_bugfix;
    }
    uint32_t dm, dn, db;
    char mib[32];
    snprintf(mib, sizeof mib, "%" PRIu64, mem >> 20);
    int rc = vms_descriptor_new(&d, NULL);
    if (!rc)
        rc = vms_descriptor_set_vendor_id(d, VMS_VENDOR_PCI(VDEV_PCI_VENDOR));
    if (!rc)
        rc = vms_descriptor_set_device_api(d, VDEV_DEVICE_API);
    if (!rc)
        rc = vms_descriptor_set_type(d, VDEV_TYPE_NAME);
    if (!rc)
        rc = vms_descriptor_set_version(d, ma, mi, bf);
    if (!rc && vdev_parse_version(VDEV_DENIED_VERSION, &dm, &dn, &db) == 0)
        rc = vms_descriptor_add_deny_version(d, dm, dn, db);
    /* The operations the device executes: a target must offer them all. */
    if (!rc)
        rc = vms_descriptor_add_field(d, "features", "copy+fill+ring+xor",
                                      VMS_FIELD_SUPERSET);
    /* Memory is part of the state: sizes must match exactly. */
    if (!rc)
        rc = vms_descriptor_add_field(d, "mem_mib", mib, VMS_FIELD_EQUAL);
    /* Largest ring the device supports: the target's must be as large. */
    if (!rc)
        rc = vms_descriptor_add_field(d, "ring_entries_max", "65536", VMS_FIELD_GE);
    if (!rc)
        rc = vms_descriptor_validate(d);
    if (rc) {
        snprintf(err, errcap, "cannot build the device descriptor: %s", vms_strerror(rc));
        vms_descriptor_free(d);
        return -1;
    }
    *out = d;
    return 0;
}

const vms_descriptor *vdev_descriptor(const vdev *dev)
{
    return dev->desc;
}

/* ------------------------------------------------------------------------ */
/* Device memory access (lock held)                                          */
/* ------------------------------------------------------------------------ */

static void mark_dirty(vdev *dev, uint64_t off, uint64_t len)
{
    if (len == 0)
        return;
    uint64_t first = off / VDEV_PAGE_SIZE, last = (off + len - 1) / VDEV_PAGE_SIZE;
    for (uint64_t p = first; p <= last; p++)
        dev->dirty[p / 64] |= 1ull << (p % 64);
}

static void mem_write(vdev *dev, uint64_t off, const void *src, size_t len)
{
    memcpy(dev->mem + off, src, len);
    mark_dirty(dev, off, len);
}

/* ------------------------------------------------------------------------ */
/* Initial state                                                             */
/* ------------------------------------------------------------------------ */

static void config_init(vdev *dev)
{
    uint8_t *c = dev->config;
    memset(c, 0, VDEV_CONFIG_SIZE);
    vdev_put16(c + CFG_VENDOR, VDEV_PCI_VENDOR);
    vdev_put16(c + CFG_DEVICE, VDEV_PCI_DEVICE);
    vdev_put16(c + CFG_COMMAND, 0x0006); /* MEM | MASTER */
    vdev_put16(c + CFG_STATUS, 0x0000);
    c[CFG_REVISION] = 0x02;
    c[CFG_CLASS] = 0x00;     /* prog-if */
    c[CFG_CLASS + 1] = 0x80; /* subclass: other */
    c[CFG_CLASS + 2] = 0x05; /* class: memory controller */
    c[0x0c] = 0x10;          /* cache line size */
    c[CFG_HEADER_TYPE] = 0x00;
    vdev_put32(c + CFG_BAR0, BAR0_ADDR);
    vdev_put32(c + CFG_BAR2, (uint32_t)BAR2_ADDR | 0xcu); /* 64-bit, prefetchable */
    vdev_put32(c + CFG_BAR2 + 4, (uint32_t)(BAR2_ADDR >> 32));
    vdev_put16(c + CFG_SUBSYS_VENDOR, VDEV_PCI_VENDOR);
    vdev_put16(c + CFG_SUBSYS_ID, 0x1100);
    c[CFG_INT_LINE] = (uint8_t)(5 + dev->seed % 11);
    c[CFG_INT_PIN] = 1;
}

static void regs_init(vdev *dev)
{
    vdev_regs *r = &dev->regs;
    static const uint32_t ring_sizes[] = {64, 128, 256, 512};
    memset(r, 0, sizeof *r);
    r->id = VDEV_REG_ID_VALUE;
    r->rev = VDEV_REG_REV_VALUE;
    r->ctrl = CTRL_ENABLE | CTRL_RING_EN | CTRL_IRQ_EN;
    r->status = STATUS_READY;
    r->ring_base = 0x1000;
    r->ring_size = ring_sizes[dev->seed % 4];
    r->irq_vector = (uint32_t)(dev->seed % IRQ_VECTORS);
    r->dma_base = dev->mem_size / 8;
    r->dma_len = dev->mem_size / 4 < (16u << 20) ? dev->mem_size / 4 : (16u << 20);
    r->scratch = (uint32_t)splitmix64(dev->seed);
}

/* Fills the DMA window with random bytes and the upper half of memory with a
 * "boot image" (half structured words, half random: compressible ~2x), so
 * that the first pre-copy pass carries real data.  The rest stays zero (and
 * costs nothing on the wire thanks to page elision). */
static void mem_init(vdev *dev)
{
    uint64_t s = dev->seed ^ 0x5eedf00dull;
    uint8_t *w = dev->mem + dev->regs.dma_base;
    for (uint64_t i = 0; i + 8 <= dev->regs.dma_len; i += 8) {
        uint64_t v = rng_next(&s);
        memcpy(w + i, &v, 8);
    }
    uint64_t boot = dev->mem_size / 2, blen = dev->mem_size / 4;
    for (uint64_t i = 0; i + 8 <= blen; i += 8) {
        uint64_t v = (i / 8) % 2 ? rng_next(&s) : ((boot + i) / VDEV_PAGE_SIZE) << 32 | (i & 0xfff);
        memcpy(dev->mem + boot + i, &v, 8);
    }
}

/* ------------------------------------------------------------------------ */
/* Command ring and guest workload (lock held)                               */
/* ------------------------------------------------------------------------ */

static uint32_t ring_pending(const vdev_regs *r)
{
    return (r->ring_tail - r->ring_head) & (r->ring_size - 1);
}

/* The guest driver posts one command.  False when the ring is full. */
static bool guest_post(vdev *dev)
{
    vdev_regs *r = &dev->regs;
    if (ring_pending(r) == r->ring_size - 1)
        return false;
    uint8_t e[RING_ENTRY_BYTES] = {0};
    uint64_t x = rng_next(&dev->rng);
    uint32_t op = OP_FILL + (uint32_t)(x % 3);
    uint64_t len = 512 + (x >> 8) % (32u << 10);
    if (len > r->dma_len / 2)
        len = r->dma_len / 2;
    uint64_t y = rng_next(&dev->rng);
    vdev_put32(e + ENT_OPCODE, op);
    vdev_put64(e + ENT_DST, y % (r->dma_len - len + 1));
    vdev_put64(e + ENT_SRC, (y >> 17) % (r->dma_len - len + 1));
    vdev_put32(e + ENT_LEN, (uint32_t)len);
    vdev_put64(e + ENT_SEED, rng_next(&dev->rng));
    vdev_put64(e + ENT_ID, ++dev->next_cmd_id);
    mem_write(dev, r->ring_base + (uint64_t)r->ring_tail * RING_ENTRY_BYTES, e, sizeof e);
    r->ring_tail = (r->ring_tail + 1) & (r->ring_size - 1);
    r->status |= STATUS_RING_ACTIVE;
    return true;
}

/* The device executes the command at the ring head. */
static void device_execute(vdev *dev)
{
    vdev_regs *r = &dev->regs;
    uint64_t eoff = r->ring_base + (uint64_t)r->ring_head * RING_ENTRY_BYTES;
    uint8_t e[RING_ENTRY_BYTES];
    memcpy(e, dev->mem + eoff, sizeof e);
    uint32_t op = vdev_get32(e + ENT_OPCODE), len = vdev_get32(e + ENT_LEN);
    uint64_t dst = vdev_get64(e + ENT_DST), src = vdev_get64(e + ENT_SRC);
    uint64_t seed = vdev_get64(e + ENT_SEED);
    uint32_t status = 0;
    if (len == 0 || len > CMD_MAX_LEN || dst > r->dma_len - len || src > r->dma_len - len) {
        status = 1; /* invalid command: refused, nothing written */
    } else {
        uint8_t *d = dev->mem + r->dma_base + dst;
        if (op == OP_FILL) {
            uint8_t pat[16];
            vdev_put64(pat, seed);
            vdev_put64(pat + 8, splitmix64(seed));
            for (uint32_t i = 0; i < len; i += 16)
                memcpy(d + i, pat, len - i < 16 ? len - i : 16);
        } else if (op == OP_XOR) {
            for (uint32_t i = 0; i < len; i += 8) {
                uint8_t k[8];
                vdev_put64(k, splitmix64(seed + i));
                for (uint32_t j = 0; j < 8 && i + j < len; j++)
                    d[i + j] ^= k[j];
            }
        } else if (op == OP_COPY) {
            memmove(d, dev->mem + r->dma_base + src, len);
        } else {
            status = 2; /* unknown opcode */
        }
        if (status == 0)
            mark_dirty(dev, r->dma_base + dst, len);
    }
    vdev_put32(e + ENT_FLAGS, ENT_DONE);
    vdev_put32(e + ENT_STATUS, status);
    mem_write(dev, eoff, e, sizeof e);
    if (status) {
        r->last_err = status;
        r->status |= STATUS_ERR;
    }
    r->ring_head = (r->ring_head + 1) & (r->ring_size - 1);
    r->cmd_done++;
    if (ring_pending(r) == 0)
        r->status &= ~STATUS_RING_ACTIVE;
}

static bool device_active(const vdev *dev)
{
    return dev->guest_running && !dev->shutdown &&
           (dev->state == VDEV_STATE_RUNNING || dev->state == VDEV_STATE_PRE_COPY);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The guest posts commands at workload_rate per second; the device executes
 * about three quarters of what is pending at each 1 ms tick, so a few
 * commands are usually in flight (state that must migrate). */
static void *workload_main(void *arg)
{
    vdev *dev = arg;
    double credit = 0, last = now_s();
    pthread_mutex_lock(&dev->lock);
    while (!dev->shutdown) {
        if (!device_active(dev)) {
            pthread_cond_wait(&dev->wl_cond, &dev->lock);
            last = now_s();
            continue;
        }
        double t = now_s();
        credit += (t - last) * dev->workload_rate;
        last = t;
        if (credit > 64)
            credit = 64;
        if (dev->regs.ctrl & CTRL_RING_EN) {
            while (credit >= 1 && guest_post(dev))
                credit -= 1;
            uint32_t n = ring_pending(&dev->regs) * 3 / 4;
            while (n-- > 0)
                device_execute(dev);
        }
        pthread_mutex_unlock(&dev->lock);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&dev->lock);
    }
    pthread_mutex_unlock(&dev->lock);
    return NULL;
}

void vdev_guest_set_running(vdev *dev, bool run)
{
    pthread_mutex_lock(&dev->lock);
    dev->guest_running = run;
    pthread_cond_broadcast(&dev->wl_cond);
    pthread_mutex_unlock(&dev->lock);
}

/* ------------------------------------------------------------------------ */
/* Invariants                                                                */
/* ------------------------------------------------------------------------ */

#define WHY(...) (snprintf(why, cap, __VA_ARGS__), -1)

static int check_config(const vdev *dev, const uint8_t *c, char *why, size_t cap)
{
    static const struct {
        unsigned off, len;
        const char *name;
    } ident[] = {
        {CFG_VENDOR, 2, "vendor id"},       {CFG_DEVICE, 2, "device id"},
        {CFG_REVISION, 1, "revision"},      {CFG_CLASS, 3, "class code"},
        {CFG_HEADER_TYPE, 1, "header type"}, {CFG_SUBSYS_VENDOR, 4, "subsystem ids"},
        {CFG_INT_PIN, 1, "interrupt pin"},
    };
    for (size_t i = 0; i < sizeof ident / sizeof ident[0]; i++)
        if (memcmp(c + ident[i].off, dev->config + ident[i].off, ident[i].len) != 0)
            return WHY("config space: %s differs from this device's", ident[i].name);
    uint16_t cmd = vdev_get16(c + CFG_COMMAND);
    if (cmd & ~CFG_COMMAND_MASK)
        return WHY("config space: command register 0x%04x sets reserved bits", cmd);
    uint32_t bar0 = vdev_get32(c + CFG_BAR0);
    if ((bar0 & 0xfu) != 0 || bar0 % BAR0_SIZE != 0)
        return WHY("config space: BAR0 0x%08x is not a 4 KiB-aligned 32-bit memory BAR", bar0);
    uint64_t bar2 = vdev_get32(c + CFG_BAR2) | (uint64_t)vdev_get32(c + CFG_BAR2 + 4) << 32;
    if ((bar2 & 0xfu) != 0xcu)
        return WHY("config space: BAR2 type bits 0x%x, expected 64-bit prefetchable",
                   (unsigned)(bar2 & 0xfu));
    if ((bar2 & ~0xfull) % dev->mem_size != 0)
        return WHY("config space: BAR2 0x%016" PRIx64 " not aligned to its size", bar2);
    return 0;
}

int vdev_check_state(const vdev *dev, const uint8_t *config, const uint8_t *rb,
                     const uint8_t *mem, char *why, size_t cap)
{
    if (check_config(dev, config, why, cap))
        return -1;
    vdev_regs r;
    vdev_regs_load(rb, &r);
    const uint64_t m = dev->mem_size;
    if (r.id != VDEV_REG_ID_VALUE)
        return WHY("register ID 0x%08x, expected 0x%08x", r.id, VDEV_REG_ID_VALUE);
    if (r.rev != VDEV_REG_REV_VALUE)
        return WHY("register REV 0x%08x, this device is 0x%08x", r.rev, VDEV_REG_REV_VALUE);
    if (r.ctrl & ~CTRL_MASK)
        return WHY("register CTRL 0x%08x sets reserved bits", r.ctrl);
    if (r.status & ~STATUS_MASK)
        return WHY("register STATUS 0x%08x sets reserved bits", r.status);
    if ((r.status & STATUS_RING_ACTIVE) && !(r.ctrl & CTRL_RING_EN))
        return WHY("STATUS says the ring is active but CTRL has the ring disabled");
    if (!is_pow2(r.ring_size) || r.ring_size < RING_MIN_ENTRIES ||
        r.ring_size > RING_MAX_ENTRIES)
        return WHY("RING_SIZE %u is not a power of two in %u..%u", r.ring_size,
                   RING_MIN_ENTRIES, RING_MAX_ENTRIES);
    uint64_t ring_bytes = (uint64_t)r.ring_size * RING_ENTRY_BYTES;
    if (r.ring_base % RING_ENTRY_BYTES != 0 || r.ring_base > m || ring_bytes > m - r.ring_base)
        return WHY("ring at 0x%" PRIx64 " (%" PRIu64 " bytes) does not lie aligned within "
                   "the %" PRIu64 "-byte device memory", r.ring_base, ring_bytes, m);
    if (r.ring_head >= r.ring_size || r.ring_tail >= r.ring_size)
        return WHY("ring head %u / tail %u outside the %u-entry ring", r.ring_head,
                   r.ring_tail, r.ring_size);
    if (r.irq_vector >= IRQ_VECTORS)
        return WHY("IRQ_VECTOR %u out of range 0..%u", r.irq_vector, IRQ_VECTORS - 1);
    if (r.dma_len == 0 || r.dma_base % VDEV_PAGE_SIZE || r.dma_len % VDEV_PAGE_SIZE ||
        r.dma_base > m || r.dma_len > m - r.dma_base)
        return WHY("DMA window 0x%" PRIx64 "+0x%" PRIx64 " is not page-aligned within device "
                   "memory", r.dma_base, r.dma_len);
    if (r.dma_base < r.ring_base + ring_bytes && r.ring_base < r.dma_base + r.dma_len)
        return WHY("DMA window overlaps the command ring");
    if (r.last_err >= 16)
        return WHY("LAST_ERR %u out of range", r.last_err);
    for (unsigned i = REG_RESERVED; i < VDEV_REGS_SIZE; i++)
        if (rb[i])
            return WHY("reserved register byte 0x%02x is 0x%02x", i, rb[i]);
    /* Commands in flight must be executable. */
    for (uint32_t i = r.ring_head; i != r.ring_tail; i = (i + 1) & (r.ring_size - 1)) {
        const uint8_t *e = mem + r.ring_base + (uint64_t)i * RING_ENTRY_BYTES;
        uint32_t op = vdev_get32(e + ENT_OPCODE), len = vdev_get32(e + ENT_LEN);
        uint64_t dst = vdev_get64(e + ENT_DST), src = vdev_get64(e + ENT_SRC);
        if (op < OP_FILL || op > OP_COPY)
            return WHY("pending ring entry %u has unknown opcode %u", i, op);
        if (vdev_get32(e + ENT_FLAGS) != 0)
            return WHY("pending ring entry %u is already marked done", i);
        if (len == 0 || len > CMD_MAX_LEN || dst > r.dma_len - len ||
            (op == OP_COPY && src > r.dma_len - len))
            return WHY("pending ring entry %u addresses outside the DMA window", i);
        for (unsigned k = ENT_RESERVED; k < RING_ENTRY_BYTES; k++)
            if (e[k])
                return WHY("pending ring entry %u has reserved byte %u set", i, k);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                                */
/* ------------------------------------------------------------------------ */

int vdev_create(vdev **out, const vdev_options *opt, char *err, size_t errcap)
{
    *out = NULL;
    uint64_t mem = opt->mem_size ? opt->mem_size : VDEV_DEFAULT_MEM_SIZE;
    if (!is_pow2(mem) || mem < VDEV_MIN_MEM_SIZE || mem > VDEV_MAX_MEM_SIZE) {
        snprintf(err, errcap, "memory size %" PRIu64 " must be a power of two from 1 MiB "
                 "to 64 GiB", mem);
        return -1;
    }
    if (opt->mac_key && (opt->mac_key_len < 16 || opt->mac_key_len > 64)) {
        snprintf(err, errcap, "a MAC key has 16 to 64 bytes, not %zu", opt->mac_key_len);
        return -1;
    }
    vdev *dev = calloc(1, sizeof *dev);
    if (!dev) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    dev->mem_size = mem;
    dev->npages = (size_t)(mem / VDEV_PAGE_SIZE);
    dev->dirty_words = dev->npages / 64;
    dev->seed = opt->seed;
    dev->workload_rate = opt->workload_rate ? opt->workload_rate : 2000;
    dev->compress = opt->compress;
    dev->fault_bad_ring_size = opt->fault_bad_ring_size;
    if (opt->mac_key) {
        memcpy(dev->mac_key, opt->mac_key, opt->mac_key_len);
        dev->mac_key_len = opt->mac_key_len;
    }
    if (opt->sign_key) {
        memcpy(dev->sign_key, opt->sign_key, VMS_ED25519_KEY_BYTES);
        dev->have_sign = true;
    }
    if (opt->verify_key) {
        memcpy(dev->verify_key, opt->verify_key, VMS_ED25519_KEY_BYTES);
        dev->have_verify = true;
    }
    dev->rng = splitmix64(opt->seed ^ 0x6775657374ull);
    dev->state = VDEV_STATE_RUNNING;
    pthread_mutex_init(&dev->lock, NULL);
    pthread_cond_init(&dev->wl_cond, NULL);

    if (vdev_descriptor_new(opt, &dev->desc, err, errcap))
        goto fail;
    size_t need = 0;
    if (vms_descriptor_encode(dev->desc, NULL, 0, &need) != VMS_OK &&
        need == 0) {
        snprintf(err, errcap, "cannot encode the device descriptor");
        goto fail;
    }
    dev->desc_bin = malloc(need);
    if (!dev->desc_bin ||
        vms_descriptor_encode(dev->desc, dev->desc_bin, need, &dev->desc_bin_len) != VMS_OK) {
        snprintf(err, errcap, "cannot encode the device descriptor");
        goto fail;
    }
    dev->mem = vdev_mem_alloc(mem);
    dev->dirty = calloc(dev->dirty_words, sizeof *dev->dirty);
    if (!dev->mem || !dev->dirty) {
        snprintf(err, errcap, "cannot allocate %" PRIu64 " bytes of device memory", mem);
        goto fail;
    }
    config_init(dev);
    regs_init(dev);
    mem_init(dev);
    {
        uint8_t rb[VDEV_REGS_SIZE];
        char why[256];
        vdev_regs_store(&dev->regs, rb);
        if (vdev_check_state(dev, dev->config, rb, dev->mem, why, sizeof why)) {
            snprintf(err, errcap, "internal error: initial state invalid: %s", why);
            goto fail;
        }
    }
    if (pthread_create(&dev->workload, NULL, workload_main, dev) != 0) {
        snprintf(err, errcap, "cannot start the workload thread");
        goto fail;
    }
    dev->workload_started = true;
    *out = dev;
    return 0;
fail:
    vdev_destroy(dev);
    return -1;
}

void vdev_destroy(vdev *dev)
{
    if (!dev)
        return;
    vdev_migration_cancel(dev);
    pthread_mutex_lock(&dev->lock);
    dev->shutdown = true;
    pthread_cond_broadcast(&dev->wl_cond);
    pthread_mutex_unlock(&dev->lock);
    if (dev->workload_started)
        pthread_join(dev->workload, NULL);
    vdev_mem_free(dev->mem, dev->mem_size);
    free(dev->dirty);
    free(dev->desc_bin);
    vms_descriptor_free(dev->desc);
    pthread_cond_destroy(&dev->wl_cond);
    pthread_mutex_destroy(&dev->lock);
    explicit_bzero(dev->mac_key, sizeof dev->mac_key);
    explicit_bzero(dev->sign_key, sizeof dev->sign_key);
    free(dev);
}

vdev_state vdev_get_state(vdev *dev)
{
    pthread_mutex_lock(&dev->lock);
    vdev_state s = dev->state;
    pthread_mutex_unlock(&dev->lock);
    return s;
}

uint64_t vdev_mem_size(const vdev *dev)
{
    return dev->mem_size;
}

void vdev_state_digest(vdev *dev, uint8_t out[VDEV_DIGEST_BYTES])
{
    blake2b_state S;
    uint8_t rb[VDEV_REGS_SIZE];
    pthread_mutex_lock(&dev->lock);
    vdev_regs_store(&dev->regs, rb);
    blake2b_init(&S, VDEV_DIGEST_BYTES);
    blake2b_update(&S, dev->config, VDEV_CONFIG_SIZE);
    blake2b_update(&S, rb, sizeof rb);
    /* libb2 takes size_t lengths; feed memory in 1 GiB slices. */
    for (uint64_t off = 0; off < dev->mem_size; off += 1u << 30) {
        uint64_t n = dev->mem_size - off < (1u << 30) ? dev->mem_size - off : (1u << 30);
        blake2b_update(&S, dev->mem + off, (size_t)n);
    }
    pthread_mutex_unlock(&dev->lock);
    blake2b_final(&S, out, VDEV_DIGEST_BYTES);
}

void vdev_device_stats(vdev *dev, vdev_stats *st)
{
    pthread_mutex_lock(&dev->lock);
    st->commands_done = dev->regs.cmd_done;
    st->ring_pending = ring_pending(&dev->regs);
    pthread_mutex_unlock(&dev->lock);
}
