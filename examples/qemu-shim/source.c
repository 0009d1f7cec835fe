/*
 * source.c - the source shim: pre-check with the destination, then drive
 * the device RUNNING -> PRE_COPY (passes until the dirty bytes fall under a
 * threshold or a pass limit) -> STOP_COPY -> STOP, forwarding everything
 * the device writes into its data fd as QEMU-like DEV_DATA_STATE chunks.
 */
#include "shim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct src_ctx {
    shim_opts *o;
    vdev *dev;
    int sock, data_fd, timeout_ms;
    uint8_t *buf;
    uint64_t state_bytes; /* device stream bytes sent */
    uint64_t wire_bytes;  /* bytes sent after the pre-check */
    bool iter_open;       /* data sent since the last END_OF_STATE */
    bool have_result;
    char result[SHIM_MAX_MSG];
    char err[1024];
} src_ctx;

/* A frame header and its data (n may be 0) in one write (shim_write2). */
static int net_send2(src_ctx *c, const void *h, size_t hn, const void *b, size_t n)
{
    if (shim_write2(c->sock, h, hn, b, n)) {
        snprintf(c->err, sizeof c->err, "connection to the destination lost: %s",
                 strerror(errno));
        return -1;
    }
    c->wire_bytes += hn + n;
    return 0;
}

static int net_send(src_ctx *c, const void *b, size_t n)
{
    return net_send2(c, b, n, NULL, 0);
}

static int send_marker(src_ctx *c, uint64_t m)
{
    uint8_t b[8];
    shim_put_be64(b, m);
    return net_send(c, b, sizeof b);
}

/* A RESULT from the destination before we asked: it failed early. */
static int poll_early_result(src_ctx *c)
{
    struct pollfd pf = {c->sock, POLLIN, 0};
    if (poll(&pf, 1, 0) <= 0)
        return 0;
    if (shim_recv_msg(c->sock, SHIM_MSG_RESULT, c->result, sizeof c->result, NULL,
                      c->timeout_ms, c->err, sizeof c->err))
        return -1;
    c->have_result = true;
    snprintf(c->err, sizeof c->err, "destination: %.900s", c->result);
    return -1;
}

/* One DEV_DATA_STATE chunk of n bytes from c->buf, with the test hooks. */
static int send_chunk(src_ctx *c, size_t n)
{
    shim_opts *o = c->o;
    if (o->corrupt_at >= 0 && (uint64_t)o->corrupt_at >= c->state_bytes &&
        (uint64_t)o->corrupt_at < c->state_bytes + n) {
        c->buf[(uint64_t)o->corrupt_at - c->state_bytes] ^= 0x20;
        printf("source: test hook: flipped a bit of device stream byte %" PRId64 " in transit\n",
               o->corrupt_at);
    }
    uint8_t h[16];
    shim_put_be64(h, VFIO_MIG_FLAG_DEV_DATA_STATE);
    shim_put_be64(h + 8, n);
    if (net_send2(c, h, sizeof h, c->buf, n))
        return -1;
    c->state_bytes += n;
    c->iter_open = true;
    if (o->pause_after >= 0 && c->state_bytes >= (uint64_t)o->pause_after) {
        printf("source: test hook: paused after %" PRIu64 " state bytes\n", c->state_bytes);
        fflush(stdout);
        for (unsigned i = 0; i < o->timeout_s * 10; i++)
            shim_sleep_ms(100);
        snprintf(c->err, sizeof c->err, "paused too long (test hook)");
        return -1;
    }
    return poll_early_result(c);
}

static int end_iteration(src_ctx *c)
{
    if (!c->iter_open)
        return 0;
    c->iter_open = false;
    return send_marker(c, VFIO_MIG_FLAG_END_OF_STATE);
}

static void device_error(src_ctx *c, const char *what)
{
    char e[512];
    vdev_last_error(c->dev, e, sizeof e);
    snprintf(c->err, sizeof c->err, "%s: %s", what, e[0] ? e : strerror(errno));
}

/* Waits for the data fd or the socket. */
static void wait_io(src_ctx *c, int ms)
{
    struct pollfd pf[2] = {{c->data_fd, POLLIN, 0}, {c->sock, POLLIN, 0}};
    (void)poll(pf, 2, ms);
}

/* PRE_COPY: forward what the device produces; stop when converged. */
static int precopy(src_ctx *c, vdev_precopy_info *last, const char **why)
{
    shim_opts *o = c->o;
    for (;;) {
        ssize_t n = read(c->data_fd, c->buf, SHIM_MAX_CHUNK);
        if (n > 0) {
            if (send_chunk(c, (size_t)n))
                return -1;
            continue;
        }
        if (n == 0) {
            device_error(c, "the device ended its stream during PRE_COPY");
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(c->err, sizeof c->err, "reading the data fd: %s", strerror(errno));
            return -1;
        }
        /* Nothing to read right now: an iteration ends, ask the device. */
        if (end_iteration(c) || poll_early_result(c))
            return -1;
        if (vdev_get_precopy_info(c->dev, last)) {
            device_error(c, "VFIO_MIG_GET_PRECOPY_INFO");
            return -1;
        }
        if (last->initial_bytes == 0 && last->dirty_bytes <= o->threshold) {
            *why = "converged";
            return 0;
        }
        if (last->initial_bytes == 0 &&
            (last->passes > o->max_passes ||
             (last->passes == o->max_passes && !last->pass_active))) {
            *why = "pass limit";
            return 0;
        }
        wait_io(c, 5);
    }
}

/* STOP_COPY: forward everything up to the device's EOF (after END). */
static int stopcopy(src_ctx *c)
{
    for (;;) {
        ssize_t n = read(c->data_fd, c->buf, SHIM_MAX_CHUNK);
        if (n > 0) {
            if (send_chunk(c, (size_t)n))
                return -1;
            continue;
        }
        if (n == 0)
            return end_iteration(c);
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(c->err, sizeof c->err, "reading the data fd: %s", strerror(errno));
            return -1;
        }
        if (poll_early_result(c))
            return -1;
        wait_io(c, 100);
    }
}

/* Migration failed: put the device back to RUNNING along legal arcs. */
static void recover(src_ctx *c)
{
    if (c->data_fd >= 0) {
        close(c->data_fd);
        c->data_fd = -1;
    }
    vdev_state s = vdev_get_state(c->dev);
    if (s == VDEV_STATE_STOP_COPY) {
        (void)vdev_set_state(c->dev, VDEV_STATE_STOP, NULL);
        s = vdev_get_state(c->dev);
    }
    if (s == VDEV_STATE_PRE_COPY || s == VDEV_STATE_STOP)
        (void)vdev_set_state(c->dev, VDEV_STATE_RUNNING, NULL);
    else if (s == VDEV_STATE_ERROR)
        vdev_reset(c->dev);
    printf("source: device back to %s, the guest keeps running on the source\n",
           vdev_state_name(vdev_get_state(c->dev)));
}

static int connect_to(const char *addr, int timeout_ms, char *err, size_t cap)
{
    struct sockaddr_in sa;
    if (shim_parse_addr(addr, &sa)) {
        snprintf(err, cap, "bad address '%s' (want A.B.C.D:PORT)", addr);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, cap, "socket: %s", strerror(errno));
        return -1;
    }
    double deadline = shim_now() + timeout_ms / 1000.0;
    while (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno == EINTR)
            continue;
        if (errno == ECONNREFUSED && shim_now() < deadline) {
            /* the destination may still be starting: retry */
            close(fd);
            shim_sleep_ms(50);
            fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0)
                break;
            continue;
        }
        snprintf(err, cap, "cannot connect to %s: %s", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (fd < 0) {
        snprintf(err, cap, "socket: %s", strerror(errno));
    } else if (shim_set_nodelay(fd) != 0) {
        snprintf(err, cap, "setsockopt TCP_NODELAY: %s", strerror(errno));
        close(fd);
        fd = -1;
    }
    return fd;
}

/* The management pre-check: exchange descriptors, both sides decide. */
static int precheck(src_ctx *c, int *exit_status)
{
    char peer[SHIM_MAX_MSG], verdict[SHIM_MAX_MSG], reason[VMS_COMPAT_REASON_MAX + 128];
    size_t plen;
    char *own = shim_descriptor_text(vdev_descriptor(c->dev));
    *exit_status = SHIM_EXIT_USAGE;
    if (!own) {
        snprintf(c->err, sizeof c->err, "cannot format the device descriptor");
        return -1;
    }
    int rc = shim_send_msg(c->sock, SHIM_MSG_HELLO, own, strlen(own));
    free(own);
    if (rc) {
        snprintf(c->err, sizeof c->err, "cannot send the descriptor: %s", strerror(errno));
        return -1;
    }
    if (shim_recv_msg(c->sock, SHIM_MSG_HELLO, peer, sizeof peer, &plen, c->timeout_ms, c->err,
                      sizeof c->err) ||
        shim_recv_msg(c->sock, SHIM_MSG_VERDICT, verdict, sizeof verdict, NULL, c->timeout_ms,
                      c->err, sizeof c->err))
        return -1;
    int mine = shim_check_pair(peer, plen, false, vdev_descriptor(c->dev), reason, sizeof reason);
    char out[sizeof reason + 16];
    snprintf(out, sizeof out, "%s: %s", mine == 0 ? "ok" : "refused", reason);
    if (shim_send_msg(c->sock, SHIM_MSG_VERDICT, out, strlen(out))) {
        snprintf(c->err, sizeof c->err, "cannot send the verdict: %s", strerror(errno));
        return -1;
    }
    if (mine != 0) {
        printf("source: pre-check: REFUSED by the source: %s\n", reason);
        *exit_status = SHIM_EXIT_REFUSED;
        return -1;
    }
    if (strncmp(verdict, "ok", 2) != 0) {
        printf("source: pre-check: REFUSED by the destination: %s\n", verdict);
        *exit_status = SHIM_EXIT_REFUSED;
        return -1;
    }
    printf("source: pre-check: %s\n", reason);
    return 0;
}

int shim_run_source(shim_opts *o)
{
    src_ctx c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.sock = c.data_fd = -1;
    c.timeout_ms = (int)o->timeout_s * 1000;
    int status = SHIM_EXIT_USAGE;
    char err[512];
    if (!o->seed_set)
        o->dev.seed = 1;
    if (vdev_create(&c.dev, &o->dev, err, sizeof err)) {
        fprintf(stderr, "qemu-shim: %s\n", err);
        return SHIM_EXIT_USAGE;
    }
    c.buf = malloc(SHIM_MAX_CHUNK);
    if (!c.buf) {
        fprintf(stderr, "qemu-shim: out of memory\n");
        goto out;
    }
    vms_device_version v = vms_descriptor_get_version(vdev_descriptor(c.dev));
    printf("source: device %s %u.%u.%u, %.0f MiB memory, guest running (%u commands/s)\n",
           VDEV_TYPE_NAME, v.major, v.minor, v.bugfix, shim_mib(vdev_mem_size(c.dev)),
           o->dev.workload_rate ? o->dev.workload_rate : 2000);
    vdev_guest_set_running(c.dev, true);

    c.sock = connect_to(o->addr, c.timeout_ms, c.err, sizeof c.err);
    if (c.sock < 0)
        goto fail;
    printf("source: connected to %s\n", o->addr);
    if (precheck(&c, &status)) {
        if (status == SHIM_EXIT_REFUSED) {
            printf("source: state bytes sent: 0\n");
            printf("source: device state: %s (nothing moved)\n",
                   vdev_state_name(vdev_get_state(c.dev)));
            goto out;
        }
        goto fail;
    }
    status = SHIM_EXIT_USAGE;
    shim_sleep_ms(o->warmup_ms);
    vdev_stats st;
    vdev_get_stats(c.dev, &st);
    printf("source: workload ran %u ms: %" PRIu64 " commands executed, %u in flight\n",
           o->warmup_ms, st.commands_done, st.ring_pending);

    /* QEMU's save_setup: the destination enters RESUMING. */
    if (send_marker(&c, VFIO_MIG_FLAG_DEV_SETUP_STATE) ||
        send_marker(&c, VFIO_MIG_FLAG_END_OF_STATE))
        goto fail;

    const double t0 = shim_now();
    if (vdev_set_state(c.dev, VDEV_STATE_PRE_COPY, &c.data_fd)) {
        device_error(&c, "RUNNING -> PRE_COPY");
        goto fail;
    }
    if (fcntl(c.data_fd, F_SETFL, O_NONBLOCK) != 0) {
        snprintf(c.err, sizeof c.err, "fcntl: %s", strerror(errno));
        goto fail;
    }
    vdev_precopy_info info;
    const char *why = "";
    if (precopy(&c, &info, &why))
        goto fail;
    const uint64_t pre_bytes = c.state_bytes;
    const double t_sc = shim_now();
    printf("source: pre-copy: %u passes, %.1f MiB of device stream in %.0f ms (%s: %.1f MiB "
           "dirty, threshold %.1f MiB, limit %u passes)\n",
           info.passes, shim_mib(pre_bytes), (t_sc - t0) * 1000, why,
           shim_mib(info.dirty_bytes), shim_mib(o->threshold), o->max_passes);

    /* Switchover: the device stops, its final state drains. */
    if (vdev_set_state(c.dev, VDEV_STATE_STOP_COPY, NULL)) {
        device_error(&c, "PRE_COPY -> STOP_COPY");
        goto fail;
    }
    if (stopcopy(&c))
        goto fail;
    const double t_eof = shim_now();
    close(c.data_fd);
    c.data_fd = -1;
    if (vdev_set_state(c.dev, VDEV_STATE_STOP, NULL)) {
        device_error(&c, "STOP_COPY -> STOP");
        goto fail;
    }
    vdev_get_stats(c.dev, &st);
    if (st.save_status != VMS_OK) {
        device_error(&c, "the device's stream is incomplete");
        goto fail;
    }
    const uint64_t sc_bytes = c.state_bytes - pre_bytes;
    printf("source: stop-copy: %.2f MiB of device stream in %.1f ms (%.2f MiB of state)\n",
           shim_mib(sc_bytes), (t_eof - t_sc) * 1000, shim_mib(st.save_stop_copy_raw));

    /* QEMU's save_state: the config section ends the device's part. */
    char cfg[256];
    int cl = snprintf(cfg, sizeof cfg, "qemu-shim source: passes=%u state_bytes=%" PRIu64 "\n",
                      info.passes, c.state_bytes);
    uint8_t h[16];
    shim_put_be64(h, VFIO_MIG_FLAG_DEV_CONFIG_STATE);
    shim_put_be64(h + 8, (uint64_t)cl);
    if (net_send2(&c, h, sizeof h, cfg, (size_t)cl) ||
        send_marker(&c, VFIO_MIG_FLAG_END_OF_STATE))
        goto fail;

    if (shim_recv_msg(c.sock, SHIM_MSG_RESULT, c.result, sizeof c.result, NULL, c.timeout_ms,
                      c.err, sizeof c.err))
        goto fail;
    c.have_result = true;
    const double t_res = shim_now();
    if (strcmp(c.result, "ok") != 0) {
        snprintf(c.err, sizeof c.err, "destination: %.900s", c.result);
        goto fail;
    }
    printf("source: downtime: %.1f ms (device stopped -> destination committed)\n",
           (t_res - t_sc) * 1000);
    printf("source: state bytes sent: %" PRIu64 "\n", c.state_bytes);
    printf("source: total: %.1f MiB device stream (%.1f MiB of state framed), %.1f MiB on "
           "the wire, %.2f s, %.1f MiB/s\n",
           shim_mib(c.state_bytes), shim_mib(st.save_precopy_raw + st.save_stop_copy_raw),
           shim_mib(c.wire_bytes), t_res - t0, shim_mib(c.wire_bytes) / (t_res - t0));

    char peer_hex[SHIM_MAX_MSG], own_hex[2 * VDEV_DIGEST_BYTES + 1];
    if (shim_recv_msg(c.sock, SHIM_MSG_DIGEST, peer_hex, sizeof peer_hex, NULL, c.timeout_ms,
                      c.err, sizeof c.err))
        goto fail;
    shim_digest_hex(c.dev, own_hex);
    printf("source: switchover digest: %s\n", own_hex);
    printf("source: destination digest: %s\n", peer_hex);
    if (strcmp(own_hex, peer_hex) != 0) {
        printf("source: RESULT: MISMATCH - the destination's state differs\n");
        status = SHIM_EXIT_MISMATCH;
        goto out;
    }
    printf("source: device state: %s (the guest now runs on the destination)\n",
           vdev_state_name(vdev_get_state(c.dev)));
    printf("source: RESULT: OK - destination device state equals the source's at switchover\n");
    status = SHIM_EXIT_OK;
    goto out;

fail:
    printf("source: state bytes sent: %" PRIu64 "\n", c.state_bytes);
    printf("source: RESULT: FAILED: %s\n", c.err[0] ? c.err : "unknown error");
    if (c.dev)
        recover(&c);
    status = c.have_result ? SHIM_EXIT_FAILED : (c.sock >= 0 ? SHIM_EXIT_FAILED : SHIM_EXIT_USAGE);
out:
    if (c.data_fd >= 0)
        close(c.data_fd);
    if (c.sock >= 0)
        close(c.sock);
    free(c.buf);
    vdev_destroy(c.dev);
    return status;
}
