/*
 * vdev_migration.c - the device's VFIO migration support: the device_state
 * machine, the saver (PRE_COPY / STOP_COPY: a vms_encoder writing into the
 * data fd) and the resumer (RESUMING: a vms_decoder fed from the data fd,
 * staging into a shadow device, committing on RESUMING -> STOP only after
 * vms_decoder_finish() and the device invariants succeeded).
 *
 * Stream layout (sections of vdev.h):
 *   pass 0 (phase 0):          config, registers, every memory page
 *   pass N (phase N):          pages dirtied since they were last sent
 *   stop-copy (phase STOP_COPY): pages still dirty (and any the initial pass
 *                              did not reach), then config and registers
 *   END
 */
#define _GNU_SOURCE /* pipe2, F_SETPIPE_SZ */
#include "vdev_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* Pages copied out per batch.  The initial pass (all of memory, contiguous)
 * and stop-copy (the device is stopped) take 8 records at a time, so that
 * each vms_encoder_write gives the encoder a whole SIMD batch; the later
 * pre-copy passes take one record at a time, so that little pre-copy data
 * is still in flight when STOP_COPY arrives (8-record batches there raised the demo's stop-copy stream from
 * about 2.5 to about 6.5 MiB and its downtime by about 10 ms). */
#define BATCH_PAGES_INITIAL (8 * VDEV_RECORD_BYTES / VDEV_PAGE_SIZE)
#define BATCH_PAGES (VDEV_RECORD_BYTES / VDEV_PAGE_SIZE)
#define IO_BUF_BYTES (1u << 20)
/* When the data fd runs dry, the resumer feeds what it holds if that is at
 * least this much, instead of waiting for the rest of the decoder's feed
 * hint.  Bytes arrive at the pace of the network: waiting for a whole
 * hint (8 MiB) left up to 8 MiB to decode inside RESUMING -> STOP, about
 * 10 ms of downtime in the demo; fed as they come, the stream's tail is
 * small.  In the demo, feeding at a dry pipe from one record's worth
 * took the median commit from 10.3 to 2.5 ms; 256 KiB, or any amount, gave
 * the same downtime and a pre-copy about 7% slower (shorter batches). */
#define IDLE_FEED_MIN ((size_t)VDEV_RECORD_BYTES)
#define PIPE_BYTES (1 << 20)
/* Saver status when cancelled (not a vms_status). */
#define SAVE_CANCELLED (-1000)

struct vdev_saver {
    vdev *dev;
    pthread_t thread;
    bool thread_started;
    int wfd;  /* device's end of the data fd (write end, non-blocking) */
    int evfd; /* cancellation: readable once cancelled */
    vms_encoder *enc;
    uint8_t *buf;  /* BATCH_PAGES_INITIAL pages copied out of device memory */
    size_t *idx;   /* their page numbers */
    pthread_cond_t cond;
    /* Under dev->lock. */
    bool precopy;        /* started from RUNNING (else one stop-copy phase) */
    bool stop_copy, cancel, done, pass_active;
    uint32_t pass;       /* current pre-copy pass */
    size_t initial_cursor; /* pages below it were sent by the initial pass */
    uint64_t stop_copy_start; /* stream bytes written when stop-copy began */
    int status;
};

struct vdev_resumer {
    vdev *dev;
    pthread_t thread;
    bool thread_started;
    int rfd;  /* device's end of the data fd (read end, non-blocking) */
    int evfd; /* readable when finish or cancel is requested */
    vms_decoder *dec;
    uint8_t *buf;      /* stream bytes read but not yet fed */
    size_t fill, cap;  /* cap grows to vms_decoder_feed_hint() */
    size_t want;       /* bytes to gather before the next feed (<= cap) */
    /* The staging area: a shadow device filled by on_record. */
    uint8_t config[VDEV_CONFIG_SIZE], regs[VDEV_REGS_SIZE];
    uint8_t config_final[VDEV_CONFIG_SIZE], regs_final[VDEV_REGS_SIZE];
    uint8_t *mem;      /* fresh zero mapping of mem_size bytes */
    uint64_t *covered; /* pages received at least once */
    char why[512];     /* why a callback refused, or the decoder's error */
    /* Under dev->lock. */
    bool finish, cancel, done;
    int result; /* VMS_END when committed */
};

static void block_sigpipe(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void kick(int evfd)
{
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(evfd, &one, sizeof one);
    while (n < 0 && errno == EINTR);
}

static uint64_t dirty_pages(const vdev *dev)
{
    uint64_t n = 0;
    for (size_t i = 0; i < dev->dirty_words; i++)
        n += (uint64_t)__builtin_popcountll(dev->dirty[i]);
    return n;
}

static int make_pipe(int fds[2], int nonblock_end)
{
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    (void)fcntl(fds[1], F_SETPIPE_SZ, PIPE_BYTES); /* best effort */
    int fl = fcntl(fds[nonblock_end], F_GETFL);
    if (fl < 0 || fcntl(fds[nonblock_end], F_SETFL, fl | O_NONBLOCK) != 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    return 0;
}

int vdev_arc_legal(vdev_state from, vdev_state to)
{
    static const struct {
        vdev_state from, to;
    } arcs[] = {
        {VDEV_STATE_RUNNING, VDEV_STATE_STOP},
        {VDEV_STATE_STOP, VDEV_STATE_RUNNING},
        {VDEV_STATE_RUNNING, VDEV_STATE_PRE_COPY},
        {VDEV_STATE_PRE_COPY, VDEV_STATE_RUNNING},
        {VDEV_STATE_PRE_COPY, VDEV_STATE_STOP_COPY},
        {VDEV_STATE_STOP, VDEV_STATE_STOP_COPY},
        {VDEV_STATE_STOP_COPY, VDEV_STATE_STOP},
        {VDEV_STATE_STOP, VDEV_STATE_RESUMING},
        {VDEV_STATE_RESUMING, VDEV_STATE_STOP},
    };
    for (size_t i = 0; i < sizeof arcs / sizeof arcs[0]; i++)
        if (arcs[i].from == from && arcs[i].to == to)
            return 1;
    return 0;
}

/* ======================================================================== */
/* Saver                                                                     */
/* ======================================================================== */

static int saver_sink(void *ctx, const void *buf, size_t len)
{
    vdev_saver *s = ctx;
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(s->wfd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            pthread_mutex_lock(&s->dev->lock);
            s->dev->stats.save_stream_bytes += (uint64_t)n;
            pthread_mutex_unlock(&s->dev->lock);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf[2] = {{s->wfd, POLLOUT, 0}, {s->evfd, POLLIN, 0}};
            if (poll(pf, 2, -1) < 0 && errno != EINTR)
                return -1;
            if (pf[1].revents)
                return -1; /* cancelled */
            continue;
        }
        return -1; /* EPIPE: the reader closed the data fd */
    }
    return 0;
}

/* Config space and register file, snapshotted under the lock. */
static int send_config_regs(vdev_saver *s, uint32_t phase)
{
    vdev *dev = s->dev;
    uint8_t cfg[VDEV_CONFIG_SIZE], rb[VDEV_REGS_SIZE];
    pthread_mutex_lock(&dev->lock);
    memcpy(cfg, dev->config, sizeof cfg);
    vdev_regs_store(&dev->regs, rb);
    pthread_mutex_unlock(&dev->lock);
    if (phase == VMS_PHASE_STOP_COPY && dev->fault_bad_ring_size)
        vdev_put32(rb + REG_RING_SIZE, 100); /* test hook: a buggy source */
    int rc = vms_encoder_write(s->enc, VDEV_SECTION_CONFIG, 0, phase, cfg, sizeof cfg);
    if (!rc)
        rc = vms_encoder_write(s->enc, VDEV_SECTION_REGS, 0, phase, rb, sizeof rb);
    if (!rc) {
        pthread_mutex_lock(&dev->lock);
        if (phase == VMS_PHASE_STOP_COPY)
            dev->stats.save_stop_copy_raw += sizeof cfg + sizeof rb;
        else
            dev->stats.save_precopy_raw += sizeof cfg + sizeof rb;
        pthread_mutex_unlock(&dev->lock);
    }
    return rc;
}

/* One pass over device memory: pages >= all_from unconditionally, pages
 * below it only when dirty.  Each batch is copied out (and its dirty bits
 * cleared) under the lock, so a page the workload writes afterwards is
 * dirty again and goes out in a later pass.  A pre-copy pass stops early
 * when STOP_COPY is requested (its remaining pages stay dirty). */
static int send_memory(vdev_saver *s, uint32_t phase, size_t all_from, bool initial)
{
    vdev *dev = s->dev;
    size_t cursor = 0;
    while (cursor < dev->npages) {
        size_t n = 0;
        pthread_mutex_lock(&dev->lock);
        if (s->cancel) {
            pthread_mutex_unlock(&dev->lock);
            return SAVE_CANCELLED;
        }
        if (s->stop_copy && phase != VMS_PHASE_STOP_COPY) {
            pthread_mutex_unlock(&dev->lock);
            return VMS_OK;
        }
        const size_t batch =
            initial || phase == VMS_PHASE_STOP_COPY ? BATCH_PAGES_INITIAL : BATCH_PAGES;
        while (cursor < dev->npages && n < batch) {
            if (cursor < all_from) {
                uint64_t w = dev->dirty[cursor / 64] >> (cursor % 64);
                if (w == 0) {
                    cursor = (cursor / 64 + 1) * 64;
                    continue;
                }
                cursor += (size_t)__builtin_ctzll(w);
                if (cursor >= all_from)
                    continue;
            }
            dev->dirty[cursor / 64] &= ~(1ull << (cursor % 64));
            memcpy(s->buf + n * VDEV_PAGE_SIZE, dev->mem + (uint64_t)cursor * VDEV_PAGE_SIZE,
                   VDEV_PAGE_SIZE);
            s->idx[n++] = cursor++;
        }
        if (initial)
            s->initial_cursor = cursor;
        pthread_mutex_unlock(&dev->lock);
        /* Contiguous runs become one write (split into records by the
         * encoder). */
        for (size_t i = 0; i < n;) {
            size_t j = i;
            while (j + 1 < n && s->idx[j + 1] == s->idx[j] + 1)
                j++;
            int rc = vms_encoder_write(s->enc, VDEV_SECTION_MEMORY,
                                       (uint64_t)s->idx[i] * VDEV_PAGE_SIZE, phase,
                                       s->buf + i * VDEV_PAGE_SIZE,
                                       (j - i + 1) * VDEV_PAGE_SIZE);
            if (rc)
                return rc;
            i = j + 1;
        }
        pthread_mutex_lock(&dev->lock);
        if (phase == VMS_PHASE_STOP_COPY)
            dev->stats.save_stop_copy_raw += (uint64_t)n * VDEV_PAGE_SIZE;
        else
            dev->stats.save_precopy_raw += (uint64_t)n * VDEV_PAGE_SIZE;
        pthread_mutex_unlock(&dev->lock);
    }
    /* The whole pass on the data fd before the next one may start
     * (wait_next_pass); stop-copy ends with vms_encoder_finish(). */
    return phase == VMS_PHASE_STOP_COPY ? VMS_OK : vms_encoder_flush(s->enc);
}

/* Waits (lock held) until the next pass may start: the previous one was
 * entirely read from the data fd and something is dirty; or until
 * STOP_COPY / cancellation.  Returns false on cancellation. */
static bool wait_next_pass(vdev_saver *s)
{
    vdev *dev = s->dev;
    for (;;) {
        if (s->cancel)
            return false;
        if (s->stop_copy)
            return true;
        int queued = 0;
        if (ioctl(s->wfd, FIONREAD, &queued) == 0 && queued == 0 && dirty_pages(dev) > 0)
            return true;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 2000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->cond, &dev->lock, &ts);
    }
}

static int saver_run(vdev_saver *s)
{
    vdev *dev = s->dev;
    int rc = VMS_OK;
    size_t all_from = 0;
    if (s->precopy) {
        rc = send_config_regs(s, 0);
        if (!rc)
            rc = send_memory(s, 0, 0, true);
        while (!rc) {
            pthread_mutex_lock(&dev->lock);
            s->pass_active = false;
            if (!wait_next_pass(s)) {
                pthread_mutex_unlock(&dev->lock);
                return SAVE_CANCELLED;
            }
            if (s->stop_copy) {
                pthread_mutex_unlock(&dev->lock);
                break;
            }
            s->pass++;
            dev->stats.passes++;
            s->pass_active = true;
            uint32_t pass = s->pass;
            pthread_mutex_unlock(&dev->lock);
            rc = send_memory(s, pass, dev->npages, false);
        }
        if (rc)
            return rc;
        pthread_mutex_lock(&dev->lock);
        all_from = s->initial_cursor;
        pthread_mutex_unlock(&dev->lock);
    }
    /* Stop-copy: the device is quiesced (STOP_COPY), its state is final. */
    pthread_mutex_lock(&dev->lock);
    s->pass_active = true;
    s->stop_copy_start = dev->stats.save_stream_bytes;
    pthread_mutex_unlock(&dev->lock);
    rc = send_memory(s, VMS_PHASE_STOP_COPY, all_from, false);
    if (!rc)
        rc = send_config_regs(s, VMS_PHASE_STOP_COPY);
    if (!rc)
        rc = vms_encoder_finish(s->enc);
    return rc;
}

static void *saver_main(void *arg)
{
    vdev_saver *s = arg;
    block_sigpipe();
    int rc = saver_run(s);
    if (rc && rc != SAVE_CANCELLED) {
        const vms_error_info *e = vms_encoder_error(s->enc);
        vdev_set_error(s->dev, "save failed: %s: %s", vms_strerror(rc),
                       e->code ? e->message : "");
    }
    pthread_mutex_lock(&s->dev->lock);
    close(s->wfd); /* the reader sees EOF: after END, or a truncated stream */
    s->wfd = -1;
    s->done = true;
    s->pass_active = false;
    s->status = rc;
    s->dev->stats.save_status = rc == SAVE_CANCELLED ? VMS_E_IO : rc;
    if (rc == VMS_OK)
        s->dev->stats.save_stop_copy_stream_bytes =
            s->dev->stats.save_stream_bytes - s->stop_copy_start;
    pthread_mutex_unlock(&s->dev->lock);
    return NULL;
}

static void saver_free(vdev_saver *s)
{
    if (!s)
        return;
    if (s->wfd >= 0)
        close(s->wfd);
    if (s->evfd >= 0)
        close(s->evfd);
    vms_encoder_free(s->enc);
    free(s->buf);
    free(s->idx);
    pthread_cond_destroy(&s->cond);
    free(s);
}

/* Stops the saver (cancelling it unless it already finished) and frees it. */
static void saver_stop(vdev *dev)
{
    vdev_saver *s = dev->saver;
    if (!s)
        return;
    pthread_mutex_lock(&dev->lock);
    if (!s->done) {
        s->cancel = true;
        pthread_cond_broadcast(&s->cond);
        kick(s->evfd);
    }
    pthread_mutex_unlock(&dev->lock);
    if (s->thread_started)
        pthread_join(s->thread, NULL);
    dev->saver = NULL;
    saver_free(s);
}

static int saver_configure(vdev *dev, vms_encoder *enc, char *note, size_t cap)
{
    /* The device's descriptor travels in the header (it also sets the
     * header's vendor id). */
    int rc = vms_encoder_set_descriptor(enc, dev->desc);
    if (!rc)
        rc = vms_encoder_set_record_size(enc, VDEV_RECORD_BYTES);
    /* Dirty pages come in short runs, each a write of its own: gathered,
     * they are hashed 8 at a time instead of one by one.  A pass ends
     * with vms_encoder_flush(). */
    if (!rc)
        rc = vms_encoder_set_gather(enc, 1);
    if (!rc && dev->compress) {
        rc = vms_encoder_set_compression(enc, VMS_CODEC_ZSTD, 0);
        if (rc == VMS_E_UNSUPPORTED) {
            snprintf(note, cap, "zstd not built in, using zlib");
            rc = vms_encoder_set_compression(enc, VMS_CODEC_ZLIB, 0);
        }
    }
    /* One authentication mode per stream: a signature supersedes a MAC. */
    if (!rc && dev->have_sign) {
        rc = vms_encoder_set_ed25519_key(enc, dev->sign_key);
    } else if (!rc && dev->mac_key_len) {
        uint8_t id[VMS_KEY_ID_BYTES];
        vms_key_id(dev->mac_key, dev->mac_key_len, id);
        rc = vms_encoder_set_mac_key(enc, dev->mac_key, dev->mac_key_len, id);
    }
    return rc;
}

static int saver_start(vdev *dev, bool precopy, int *data_fd)
{
    vdev_saver *s = calloc(1, sizeof *s);
    char note[128] = "";
    int fds[2] = {-1, -1};
    if (!s)
        return -ENOMEM;
    s->dev = dev;
    s->wfd = s->evfd = -1;
    s->precopy = precopy;
    s->stop_copy = !precopy;
    s->pass_active = true;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    s->buf = malloc(BATCH_PAGES_INITIAL * VDEV_PAGE_SIZE);
    s->idx = malloc(BATCH_PAGES_INITIAL * sizeof *s->idx);
    if (!s->buf || !s->idx) {
        saver_free(s);
        vdev_set_error(dev, "save: out of memory");
        return -ENOMEM;
    }
    int rc = vms_encoder_new(&s->enc, saver_sink, s, NULL);
    if (!rc)
        rc = saver_configure(dev, s->enc, note, sizeof note);
    if (rc) {
        vdev_set_error(dev, "save: cannot configure the stream: %s", vms_strerror(rc));
        saver_free(s);
        return -EINVAL;
    }
    s->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->evfd < 0 || make_pipe(fds, 1) != 0) {
        int e = errno;
        vdev_set_error(dev, "save: cannot create the data fd: %s", strerror(e));
        saver_free(s);
        return -e;
    }
    s->wfd = fds[1];
    pthread_mutex_lock(&dev->lock);
    memset(&dev->stats, 0, sizeof dev->stats);
    dev->stats.passes = precopy ? 1 : 0;
    if (note[0])
        snprintf(dev->err, sizeof dev->err, "note: %s", note);
    pthread_mutex_unlock(&dev->lock);
    if (pthread_create(&s->thread, NULL, saver_main, s) != 0) {
        close(fds[0]);
        saver_free(s);
        vdev_set_error(dev, "save: cannot start the saver thread");
        return -EAGAIN;
    }
    s->thread_started = true;
    dev->saver = s;
    *data_fd = fds[0];
    return 0;
}

int vdev_get_precopy_info(vdev *dev, vdev_precopy_info *info)
{
    memset(info, 0, sizeof *info);
    pthread_mutex_lock(&dev->lock);
    vdev_saver *s = dev->saver;
    if (dev->state != VDEV_STATE_PRE_COPY || !s) {
        pthread_mutex_unlock(&dev->lock);
        return -EINVAL;
    }
    int queued = 0;
    if (s->wfd >= 0 && ioctl(s->wfd, FIONREAD, &queued) != 0)
        queued = 0;
    uint64_t dirty = dirty_pages(dev) * VDEV_PAGE_SIZE;
    if (s->pass == 0 && !s->done) {
        uint64_t rest = (uint64_t)(dev->npages - s->initial_cursor) * VDEV_PAGE_SIZE;
        info->initial_bytes = rest + (uint64_t)queued;
        info->dirty_bytes = dirty;
    } else {
        info->dirty_bytes = dirty + (uint64_t)queued;
    }
    info->passes = dev->stats.passes;
    info->pass_active = s->pass_active || queued > 0;
    pthread_mutex_unlock(&dev->lock);
    return 0;
}

/* ======================================================================== */
/* Resumer                                                                   */
/* ======================================================================== */

static bool page_is_zero(const uint8_t *p)
{
    static const uint8_t zero[64];
    for (size_t i = 0; i < VDEV_PAGE_SIZE; i += sizeof zero)
        if (memcmp(p + i, zero, sizeof zero) != 0)
            return false;
    return true;
}

static int refuse(vdev_resumer *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(vdev_resumer *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
    return 1;
}

/* The library has already checked the stream's descriptor against this
 * device's (vms_decoder_set_target) when this runs; the vendor id check is
 * a belt-and-braces check of the driver's own. */
static int on_header(void *ctx, const vms_header_info *h)
{
    vdev_resumer *r = ctx;
    if (h->vendor_id != VMS_VENDOR_PCI(VDEV_PCI_VENDOR))
        return refuse(r, "stream vendor id 0x%08x is not this device's (pci:0x%04x)",
                      h->vendor_id, VDEV_PCI_VENDOR);
    return 0;
}

static int on_record(void *ctx, const vms_record *rec)
{
    vdev_resumer *r = ctx;
    vdev *dev = r->dev;
    const bool final = rec->phase == VMS_PHASE_STOP_COPY;
    if (rec->section == VDEV_SECTION_CONFIG || rec->section == VDEV_SECTION_REGS) {
        const bool cfg = rec->section == VDEV_SECTION_CONFIG;
        const size_t size = cfg ? VDEV_CONFIG_SIZE : VDEV_REGS_SIZE;
        if (rec->offset > size || rec->len > size - rec->offset)
            return refuse(r, "record %" PRIu64 ": %s bytes %" PRIu64 "+%zu beyond %zu",
                          rec->index, cfg ? "config" : "register", rec->offset, rec->len,
                          size);
        memcpy((cfg ? r->config : r->regs) + rec->offset, rec->data, rec->len);
        memset((cfg ? r->config_final : r->regs_final) + rec->offset, final, rec->len);
    } else if (rec->section == VDEV_SECTION_MEMORY) {
        if (rec->offset % VDEV_PAGE_SIZE || rec->len % VDEV_PAGE_SIZE ||
            rec->offset > dev->mem_size || rec->len > dev->mem_size - rec->offset)
            return refuse(r, "record %" PRIu64 ": memory range 0x%" PRIx64 "+0x%zx is not "
                          "page-aligned within the %" PRIu64 "-byte device memory",
                          rec->index, rec->offset, rec->len, dev->mem_size);
        for (size_t i = 0; i < rec->len; i += VDEV_PAGE_SIZE) {
            uint64_t pg = (rec->offset + i) / VDEV_PAGE_SIZE;
            uint64_t bit = 1ull << (pg % 64);
            const uint8_t *src = rec->data + i;
            /* The staging memory starts zero: a first zero page needs no
             * copy (and stays unbacked). */
            if ((r->covered[pg / 64] & bit) || !page_is_zero(src))
                memcpy(r->mem + pg * VDEV_PAGE_SIZE, src, VDEV_PAGE_SIZE);
            r->covered[pg / 64] |= bit;
        }
    } else {
        return refuse(r, "record %" PRIu64 ": unknown state section %u", rec->index,
                      rec->section);
    }
    pthread_mutex_lock(&dev->lock);
    dev->stats.resume_records++;
    pthread_mutex_unlock(&dev->lock);
    return 0;
}

/* RESUMING -> STOP, after the whole stream verified: device-level checks on
 * the staged state, then the swap. */
static int on_commit(void *ctx, const vms_stream_summary *sum)
{
    vdev_resumer *r = ctx;
    vdev *dev = r->dev;
    (void)sum;
    for (size_t w = 0; w < dev->dirty_words; w++)
        if (r->covered[w] != ~0ull) {
            size_t pg = w * 64 + (size_t)__builtin_ctzll(~r->covered[w]);
            return refuse(r, "stream incomplete: memory page %zu (offset 0x%zx) was never sent",
                          pg, pg * VDEV_PAGE_SIZE);
        }
    for (size_t i = 0; i < VDEV_CONFIG_SIZE; i++)
        if (!r->config_final[i])
            return refuse(r, "config space byte 0x%02zx missing from the stop-copy phase", i);
    for (size_t i = 0; i < VDEV_REGS_SIZE; i++)
        if (!r->regs_final[i])
            return refuse(r, "register byte 0x%02zx missing from the stop-copy phase", i);
    char why[400];
    if (vdev_check_state(dev, r->config, r->regs, r->mem, why, sizeof why))
        return refuse(r, "device invariant violated: %s", why);
    pthread_mutex_lock(&dev->lock);
    uint8_t *old = dev->mem;
    dev->mem = r->mem;
    r->mem = old; /* freed with the resumer */
    memcpy(dev->config, r->config, VDEV_CONFIG_SIZE);
    vdev_regs_load(r->regs, &dev->regs);
    memset(dev->dirty, 0, dev->dirty_words * sizeof *dev->dirty);
    pthread_mutex_unlock(&dev->lock);
    return 0;
}

static int on_abort(void *ctx, const vms_error_info *err)
{
    vdev_resumer *r = ctx;
    vdev_mem_free(r->mem, r->dev->mem_size); /* discard the staging area */
    r->mem = NULL;
    if (!r->why[0] || err->code != VMS_E_CALLBACK) {
        char tmp[sizeof r->why + 512];
        snprintf(tmp, sizeof tmp, "%s at stream byte %" PRIu64 ": %s%s%s",
                 vms_strerror(err->code), err->offset, err->message,
                 r->why[0] ? " / " : "", r->why);
        size_t n = strnlen(tmp, sizeof r->why - 1);
        memcpy(r->why, tmp, n);
        r->why[n] = '\0';
    }
    return 0;
}

/* Feeds the bytes read so far.  On a rejection the data fd is closed (the
 * writer's next write fails, as a VFIO write() returning -EINVAL). */
static void feed_input(vdev_resumer *r, bool *failed)
{
    if (r->fill == 0 || *failed)
        return;
    int rc = vms_decoder_feed(r->dec, r->buf, r->fill, NULL);
    r->fill = 0;
    if (rc < 0) {
        *failed = true;
        close(r->rfd);
        r->rfd = -1;
        return;
    }
    /* Once the header is in, the decoder says how much it wants in the
     * next feed (the rest of its SIMD batch of whole records): a pipe
     * gives 64 KiB per read, so bytes are gathered up to that before they
     * are fed, and the feed ends where the batch does; unless the pipe
     * runs dry first (IDLE_FEED_MIN). */
    size_t want = vms_decoder_feed_hint(r->dec);
    if (want > r->cap) {
        uint8_t *bigger = realloc(r->buf, want);
        if (bigger) {
            r->buf = bigger;
            r->cap = want;
        }
    }
    r->want = want < r->cap ? want : r->cap;
}

/* Reads what the data fd holds into the input buffer, feeding the decoder
 * each time the buffer is full.  Sets *eof at end of file (after feeding
 * the rest) and *failed when the decoder rejected the stream. */
static void pump(vdev_resumer *r, bool *eof, bool *failed)
{
    for (;;) {
        if (r->fill == r->want) {
            feed_input(r, failed);
            if (*failed)
                return;
        }
        ssize_t n = read(r->rfd, r->buf + r->fill, r->want - r->fill);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (r->fill >= IDLE_FEED_MIN)
                feed_input(r, failed); /* dry: feed now (IDLE_FEED_MIN) */
            return; /* the rest waits in the buffer for more bytes */
        }
        if (n <= 0) {
            *eof = true;
            feed_input(r, failed);
            return;
        }
        pthread_mutex_lock(&r->dev->lock);
        r->dev->stats.resume_stream_bytes += (uint64_t)n;
        pthread_mutex_unlock(&r->dev->lock);
        r->fill += (size_t)n;
    }
}

static void *resumer_main(void *arg)
{
    vdev_resumer *r = arg;
    bool eof = false, failed = false, finish = false, cancel = false;
    block_sigpipe();
    while (!finish && !cancel) {
        struct pollfd pf[2] = {{r->evfd, POLLIN, 0}, {r->rfd, POLLIN, 0}};
        nfds_t nf = (!eof && !failed) ? 2 : 1;
        if (poll(pf, nf, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (nf == 2 && pf[1].revents)
            pump(r, &eof, &failed);
        if (pf[0].revents) {
            uint64_t v;
            if (read(r->evfd, &v, sizeof v) < 0 && errno != EAGAIN) {
                /* nothing: the flags below decide */
            }
            pthread_mutex_lock(&r->dev->lock);
            finish = r->finish;
            cancel = r->cancel;
            pthread_mutex_unlock(&r->dev->lock);
        }
    }
    int result = VMS_E_IO;
    if (finish && !cancel) {
        /* Everything written before RESUMING -> STOP is in the pipe. */
        if (!eof && !failed)
            pump(r, &eof, &failed);
        feed_input(r, &failed); /* what the last reads gathered */
        result = vms_decoder_finish(r->dec); /* on_commit or on_abort */
    }
    pthread_mutex_lock(&r->dev->lock);
    r->done = true;
    r->result = result;
    pthread_mutex_unlock(&r->dev->lock);
    return NULL;
}

/* Memory that left service in a commit (the device's previous memory) is
 * unmapped off the switchover path: unmapping 256 MiB of touched pages
 * takes about 9 ms here, all of it downtime if RESUMING -> STOP waited
 * for it.  A detached thread unmaps it; when none can be started, it is
 * unmapped at once. */
typedef struct retired_mem {
    uint8_t *p;
    uint64_t size;
} retired_mem;

static void *unmap_main(void *arg)
{
    retired_mem *m = arg;
    vdev_mem_free(m->p, m->size);
    free(m);
    return NULL;
}

static void retire_mem(uint8_t *p, uint64_t size)
{
    if (!p)
        return;
    retired_mem *m = malloc(sizeof *m);
    pthread_attr_t a;
    if (m && pthread_attr_init(&a) == 0) {
        pthread_t t;
        *m = (retired_mem){p, size};
        int rc = pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (rc == 0)
            rc = pthread_create(&t, &a, unmap_main, m);
        pthread_attr_destroy(&a);
        if (rc == 0)
            return;
    }
    free(m);
    vdev_mem_free(p, size);
}

static void resumer_free(vdev_resumer *r)
{
    if (!r)
        return;
    vms_decoder_free(r->dec); /* fires on_abort unless committed/aborted */
    vdev_mem_free(r->mem, r->dev->mem_size);
    free(r->covered);
    free(r->buf);
    if (r->rfd >= 0)
        close(r->rfd);
    if (r->evfd >= 0)
        close(r->evfd);
    free(r);
}

/* Cancels the resumer (its staged state is discarded), waits for it and
 * frees it. */
static void resumer_cancel(vdev *dev)
{
    vdev_resumer *r = dev->resumer;
    if (!r)
        return;
    pthread_mutex_lock(&dev->lock);
    r->cancel = true;
    pthread_mutex_unlock(&dev->lock);
    kick(r->evfd);
    if (r->thread_started)
        pthread_join(r->thread, NULL);
    dev->resumer = NULL;
    resumer_free(r);
}

static int resumer_start(vdev *dev, int *data_fd)
{
    vdev_resumer *r = calloc(1, sizeof *r);
    int fds[2] = {-1, -1};
    if (!r)
        return -ENOMEM;
    r->dev = dev;
    r->rfd = r->evfd = -1;
    r->buf = malloc(IO_BUF_BYTES);
    r->cap = r->want = IO_BUF_BYTES;
    r->covered = calloc(dev->dirty_words, sizeof *r->covered);
    r->mem = vdev_mem_alloc(dev->mem_size);
    if (!r->buf || !r->covered || !r->mem) {
        resumer_free(r);
        vdev_set_error(dev, "resume: cannot allocate the staging area");
        return -ENOMEM;
    }
    vms_limits *lim = NULL;
    int rc = vms_limits_new(&lim, NULL);
    /* The device's own bounds: its records, its memory (with room for
     * many pre-copy passes), a descriptor blob. */
    if (!rc)
        rc = vms_limits_set(lim, VMS_LIMIT_RECORD_PAYLOAD, VDEV_RECORD_BYTES);
    if (!rc)
        rc = vms_limits_set(lim, VMS_LIMIT_RECORD_RAW, VDEV_RECORD_BYTES);
    if (!rc)
        rc = vms_limits_set(lim, VMS_LIMIT_TOTAL_BYTES, dev->mem_size * 64 + (64u << 20));
    if (!rc)
        rc = vms_limits_set(lim, VMS_LIMIT_BLOB, VMS_DESC_MAX_BINARY);
    vms_decoder_callbacks cb = {on_header, on_record, on_commit, on_abort, r};
    if (!rc)
        rc = vms_decoder_new(&r->dec, lim, &cb, NULL);
    vms_limits_free(lim);
    if (!rc)
        rc = vms_decoder_set_target(r->dec, dev->desc, NULL);
    if (!rc && dev->have_verify) {
        rc = vms_decoder_add_ed25519_key(r->dec, dev->verify_key);
        if (!rc)
            rc = vms_decoder_require_auth(r->dec, VMS_AUTH_ED25519);
    } else if (!rc && dev->mac_key_len) {
        uint8_t id[VMS_KEY_ID_BYTES];
        vms_key_id(dev->mac_key, dev->mac_key_len, id);
        rc = vms_decoder_set_mac_key(r->dec, dev->mac_key, dev->mac_key_len, id);
        if (!rc)
            rc = vms_decoder_require_auth(r->dec, VMS_AUTH_MAC);
    }
    if (rc) {
        vdev_set_error(dev, "resume: cannot set up the decoder: %s", vms_strerror(rc));
        resumer_free(r);
        return -EINVAL;
    }
    r->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->evfd < 0 || make_pipe(fds, 0) != 0) {
        int e = errno;
        vdev_set_error(dev, "resume: cannot create the data fd: %s", strerror(e));
        resumer_free(r);
        return -e;
    }
    r->rfd = fds[0];
    pthread_mutex_lock(&dev->lock);
    memset(&dev->stats, 0, sizeof dev->stats);
    pthread_mutex_unlock(&dev->lock);
    if (pthread_create(&r->thread, NULL, resumer_main, r) != 0) {
        close(fds[1]);
        resumer_free(r);
        vdev_set_error(dev, "resume: cannot start the resumer thread");
        return -EAGAIN;
    }
    r->thread_started = true;
    dev->resumer = r;
    *data_fd = fds[1];
    return 0;
}

/* ======================================================================== */
/* State machine                                                             */
/* ======================================================================== */

static void set_state(vdev *dev, vdev_state s)
{
    pthread_mutex_lock(&dev->lock);
    dev->state = s;
    pthread_cond_broadcast(&dev->wl_cond);
    pthread_mutex_unlock(&dev->lock);
}

/* A failed arc: the device goes to ERROR (VFIO semantics). */
static int fail_arc(vdev *dev, int err)
{
    vdev_migration_cancel(dev);
    set_state(dev, VDEV_STATE_ERROR);
    return err;
}

int vdev_set_state(vdev *dev, vdev_state next, int *data_fd)
{
    if (data_fd)
        *data_fd = -1;
    const vdev_state cur = vdev_get_state(dev);
    if (cur == next)
        return 0;
    if (!vdev_arc_legal(cur, next)) {
        vdev_set_error(dev, "illegal transition %s -> %s", vdev_state_name(cur),
                       vdev_state_name(next));
        return -EINVAL;
    }
    const bool opens_fd = (cur == VDEV_STATE_RUNNING && next == VDEV_STATE_PRE_COPY) ||
                          (cur == VDEV_STATE_STOP && next == VDEV_STATE_STOP_COPY) ||
                          (cur == VDEV_STATE_STOP && next == VDEV_STATE_RESUMING);
    if (opens_fd && !data_fd) {
        vdev_set_error(dev, "%s -> %s needs a data fd pointer", vdev_state_name(cur),
                       vdev_state_name(next));
        return -EINVAL;
    }
    int rc;
    if (cur == VDEV_STATE_RUNNING && next == VDEV_STATE_PRE_COPY) {
        rc = saver_start(dev, true, data_fd);
        if (rc)
            return fail_arc(dev, rc);
    } else if (cur == VDEV_STATE_STOP && next == VDEV_STATE_STOP_COPY) {
        rc = saver_start(dev, false, data_fd);
        if (rc)
            return fail_arc(dev, rc);
    } else if (cur == VDEV_STATE_PRE_COPY && next == VDEV_STATE_STOP_COPY) {
        /* Quiesce the device and let the saver finish with the final state;
         * the data fd continues. */
        pthread_mutex_lock(&dev->lock);
        dev->state = next;
        dev->saver->stop_copy = true;
        pthread_cond_broadcast(&dev->saver->cond);
        pthread_mutex_unlock(&dev->lock);
        return 0;
    } else if (cur == VDEV_STATE_PRE_COPY && next == VDEV_STATE_RUNNING) {
        saver_stop(dev); /* pre-copy abandoned: the stream ends without END */
    } else if (cur == VDEV_STATE_STOP_COPY && next == VDEV_STATE_STOP) {
        saver_stop(dev); /* cancels it if the reader did not read to the end */
    } else if (cur == VDEV_STATE_STOP && next == VDEV_STATE_RESUMING) {
        rc = resumer_start(dev, data_fd);
        if (rc)
            return fail_arc(dev, rc);
    } else if (cur == VDEV_STATE_RESUMING && next == VDEV_STATE_STOP) {
        vdev_resumer *r = dev->resumer;
        char why[sizeof r->why];
        pthread_mutex_lock(&dev->lock);
        r->finish = true;
        pthread_mutex_unlock(&dev->lock);
        kick(r->evfd);
        pthread_join(r->thread, NULL);
        r->thread_started = false;
        int result = r->result;
        dev->resumer = NULL;
        vms_decoder_free(r->dec); /* after finish: no callback left to fire */
        r->dec = NULL;
        memcpy(why, r->why, sizeof why);
        retire_mem(r->mem, dev->mem_size); /* the old memory, or what staging left */
        r->mem = NULL;
        resumer_free(r);
        if (result != VMS_END) {
            vdev_set_error(dev, "resume refused, device state untouched: %s",
                           why[0] ? why : vms_strerror(result));
            set_state(dev, VDEV_STATE_ERROR);
            return -EINVAL;
        }
    }
    set_state(dev, next);
    return 0;
}

void vdev_migration_cancel(vdev *dev)
{
    saver_stop(dev);
    resumer_cancel(dev);
}

void vdev_reset(vdev *dev)
{
    vdev_migration_cancel(dev);
    set_state(dev, VDEV_STATE_RUNNING);
}

void vdev_get_stats(vdev *dev, vdev_stats *st)
{
    pthread_mutex_lock(&dev->lock);
    *st = dev->stats;
    pthread_mutex_unlock(&dev->lock);
    vdev_device_stats(dev, st);
}
