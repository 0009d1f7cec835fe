/*
 * dest.c - the destination shim: accept one source, pre-check the pair,
 * then unwrap the outer stream into the device's data fd in RESUMING and
 * commit with RESUMING -> STOP.  On any failure the device is reset and
 * keeps its previous state, which the shim proves by digest.
 */
#include "shim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct dst_ctx {
    shim_opts *o;
    vdev *dev;
    int sock, data_fd, timeout_ms;
    uint8_t *buf;
    uint64_t state_bytes;
    unsigned iterations;
    char err[1024];
} dst_ctx;

static int write_port_file(const char *path, unsigned port)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%u\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return -1;
    return 0;
}

static int listen_accept(dst_ctx *c)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    if (shim_parse_addr(c->o->addr, &sa)) {
        snprintf(c->err, sizeof c->err, "bad address '%s' (want A.B.C.D:PORT)", c->o->addr);
        return -1;
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) != 0) {
        snprintf(c->err, sizeof c->err, "cannot listen on %s: %s", c->o->addr, strerror(errno));
        if (ls >= 0)
            close(ls);
        return -1;
    }
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
    printf("dest: listening on %s:%u\n", host, ntohs(sa.sin_port));
    if (c->o->port_file && write_port_file(c->o->port_file, ntohs(sa.sin_port))) {
        snprintf(c->err, sizeof c->err, "cannot write %s: %s", c->o->port_file, strerror(errno));
        close(ls);
        return -1;
    }
    struct pollfd pf = {ls, POLLIN, 0};
    int r;
    do
        r = poll(&pf, 1, c->timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r <= 0) {
        snprintf(c->err, sizeof c->err, "no source connected within %u s", c->o->timeout_s);
        close(ls);
        return -1;
    }
    sl = sizeof sa;
    c->sock = accept(ls, (struct sockaddr *)&sa, &sl);
    close(ls);
    if (c->sock < 0) {
        snprintf(c->err, sizeof c->err, "accept: %s", strerror(errno));
        return -1;
    }
    if (shim_set_nodelay(c->sock) != 0) {
        snprintf(c->err, sizeof c->err, "setsockopt TCP_NODELAY: %s", strerror(errno));
        return -1;
    }
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
    printf("dest: connection from %s:%u\n", host, ntohs(sa.sin_port));
    return 0;
}

/* The management pre-check.  Returns 0 when both sides said ok. */
static int precheck(dst_ctx *c, int *exit_status)
{
    char peer[SHIM_MAX_MSG], verdict[SHIM_MAX_MSG], reason[VMS_COMPAT_REASON_MAX + 128];
    size_t plen;
    *exit_status = SHIM_EXIT_USAGE;
    if (shim_recv_msg(c->sock, SHIM_MSG_HELLO, peer, sizeof peer, &plen, c->timeout_ms, c->err,
                      sizeof c->err))
        return -1;
    int mine = shim_check_pair(peer, plen, true, vdev_descriptor(c->dev), reason, sizeof reason);
    char *own = shim_descriptor_text(vdev_descriptor(c->dev));
    char out[sizeof reason + 16];
    snprintf(out, sizeof out, "%s: %s", mine == 0 ? "ok" : "refused", reason);
    int rc = own ? shim_send_msg(c->sock, SHIM_MSG_HELLO, own, strlen(own)) : -1;
    free(own);
    if (rc || shim_send_msg(c->sock, SHIM_MSG_VERDICT, out, strlen(out))) {
        snprintf(c->err, sizeof c->err, "cannot send the descriptor: %s", strerror(errno));
        return -1;
    }
    if (shim_recv_msg(c->sock, SHIM_MSG_VERDICT, verdict, sizeof verdict, NULL, c->timeout_ms,
                      c->err, sizeof c->err))
        return -1;
    if (mine != 0) {
        printf("dest: pre-check: REFUSED by the destination: %s\n", reason);
        *exit_status = SHIM_EXIT_REFUSED;
        return -1;
    }
    if (strncmp(verdict, "ok", 2) != 0) {
        printf("dest: pre-check: REFUSED by the source: %s\n", verdict);
        *exit_status = SHIM_EXIT_REFUSED;
        return -1;
    }
    printf("dest: pre-check: %s\n", reason);
    return 0;
}

static int read_u64(dst_ctx *c, uint64_t *v, const char *what)
{
    uint8_t b[8];
    int r = shim_read_full(c->sock, b, sizeof b, c->timeout_ms);
    if (r != 0) {
        snprintf(c->err, sizeof c->err, "source connection %s while waiting for %s, after %"
                 PRIu64 " state bytes", r == 1 ? "closed" : errno == ETIMEDOUT ? "timed out"
                 : "lost", what, c->state_bytes);
        return -1;
    }
    *v = shim_get_be64(b);
    return 0;
}

static int expect_marker(dst_ctx *c, uint64_t want, const char *what)
{
    uint64_t m;
    if (read_u64(c, &m, what))
        return -1;
    if (m != want) {
        snprintf(c->err, sizeof c->err, "protocol error: marker 0x%016" PRIx64 " where %s was "
                 "expected", m, what);
        return -1;
    }
    return 0;
}

/* Unwraps the VFIO section into the data fd.  Returns 0 when the whole
 * outer stream arrived; -1 with c->err otherwise; *device_refused when a
 * write into the data fd failed (the device rejected the stream). */
static int unwrap(dst_ctx *c, bool *device_refused)
{
    for (;;) {
        uint64_t m, size;
        if (read_u64(c, &m, "a marker"))
            return -1;
        if (m == VFIO_MIG_FLAG_DEV_DATA_STATE) {
            if (read_u64(c, &size, "a chunk size"))
                return -1;
            if (size == 0 || size > SHIM_MAX_CHUNK) {
                snprintf(c->err, sizeof c->err, "protocol error: DEV_DATA_STATE chunk of %"
                         PRIu64 " bytes (accepted: 1..%u)", size, SHIM_MAX_CHUNK);
                return -1;
            }
            int r = shim_read_full(c->sock, c->buf, (size_t)size, c->timeout_ms);
            if (r != 0) {
                snprintf(c->err, sizeof c->err, "source connection lost inside a chunk, after %"
                         PRIu64 " state bytes", c->state_bytes);
                return -1;
            }
            c->state_bytes += size;
            if (shim_write_all(c->data_fd, c->buf, (size_t)size)) {
                *device_refused = true;
                snprintf(c->err, sizeof c->err, "the device rejected the stream (data fd "
                         "write: %s)", strerror(errno));
                return -1;
            }
        } else if (m == VFIO_MIG_FLAG_END_OF_STATE) {
            c->iterations++;
        } else if (m == VFIO_MIG_FLAG_DEV_CONFIG_STATE) {
            char cfg[SHIM_MAX_CONFIG + 1];
            if (read_u64(c, &size, "the config size"))
                return -1;
            if (size > SHIM_MAX_CONFIG) {
                snprintf(c->err, sizeof c->err, "protocol error: config section of %" PRIu64
                         " bytes (cap %u)", size, SHIM_MAX_CONFIG);
                return -1;
            }
            if (shim_read_full(c->sock, cfg, (size_t)size, c->timeout_ms) != 0) {
                snprintf(c->err, sizeof c->err, "source connection lost inside the config");
                return -1;
            }
            cfg[size] = '\0';
            for (size_t i = 0; i < size; i++)
                if ((cfg[i] < 0x20 || cfg[i] > 0x7e) && cfg[i] != '\n')
                    cfg[i] = '?';
            if (expect_marker(c, VFIO_MIG_FLAG_END_OF_STATE, "END_OF_STATE"))
                return -1;
            printf("dest: config section: %s%s", cfg, size && cfg[size - 1] == '\n' ? "" : "\n");
            return 0;
        } else {
            snprintf(c->err, sizeof c->err, "protocol error: unknown marker 0x%016" PRIx64, m);
            return -1;
        }
    }
}

/* After a failure: tell the source, then discard what it still sends. */
static void report_failure(dst_ctx *c, const char *reason)
{
    char msg[sizeof c->err + 16];
    snprintf(msg, sizeof msg, "failed: %s", reason);
    if (c->sock < 0)
        return;
    (void)shim_send_msg(c->sock, SHIM_MSG_RESULT, msg, strlen(msg));
    shutdown(c->sock, SHUT_WR);
    double end = shim_now() + 10;
    while (shim_now() < end) {
        struct pollfd pf = {c->sock, POLLIN, 0};
        if (poll(&pf, 1, 500) <= 0)
            continue;
        ssize_t n = read(c->sock, c->buf, SHIM_MAX_CHUNK);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            break;
    }
}

int shim_run_dest(shim_opts *o)
{
    dst_ctx c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.sock = c.data_fd = -1;
    c.timeout_ms = (int)o->timeout_s * 1000;
    int status = SHIM_EXIT_USAGE;
    char err[512], initial[2 * VDEV_DIGEST_BYTES + 1], after[2 * VDEV_DIGEST_BYTES + 1];
    if (!o->seed_set)
        o->dev.seed = 2;
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
    printf("dest: device %s %u.%u.%u, %.0f MiB memory, state %s, guest not started\n",
           VDEV_TYPE_NAME, v.major, v.minor, v.bugfix, shim_mib(vdev_mem_size(c.dev)),
           vdev_state_name(vdev_get_state(c.dev)));
    shim_digest_hex(c.dev, initial);
    printf("dest: initial digest: %s\n", initial);
    if (listen_accept(&c)) {
        fprintf(stderr, "qemu-shim: %s\n", c.err);
        goto out;
    }
    if (precheck(&c, &status)) {
        if (status != SHIM_EXIT_REFUSED) {
            fprintf(stderr, "qemu-shim: %s\n", c.err);
            goto out;
        }
        /* Prove that nothing follows a refusal. */
        uint64_t extra = 0;
        for (;;) {
            struct pollfd pf = {c.sock, POLLIN, 0};
            if (poll(&pf, 1, c.timeout_ms) <= 0)
                break;
            ssize_t n = read(c.sock, c.buf, SHIM_MAX_CHUNK);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            extra += (uint64_t)n;
        }
        printf("dest: state bytes received: %" PRIu64 "\n", extra);
        printf("dest: device state: %s (nothing moved)\n", vdev_state_name(vdev_get_state(c.dev)));
        if (extra)
            status = SHIM_EXIT_USAGE;
        goto out;
    }

    bool device_refused = false;
    int rc = expect_marker(&c, VFIO_MIG_FLAG_DEV_SETUP_STATE, "DEV_SETUP_STATE");
    if (!rc)
        rc = expect_marker(&c, VFIO_MIG_FLAG_END_OF_STATE, "END_OF_STATE");
    if (!rc && (vdev_set_state(c.dev, VDEV_STATE_STOP, NULL) ||
                vdev_set_state(c.dev, VDEV_STATE_RESUMING, &c.data_fd))) {
        vdev_last_error(c.dev, err, sizeof err);
        snprintf(c.err, sizeof c.err, "cannot enter RESUMING: %s", err);
        rc = -1;
    }
    if (!rc) {
        printf("dest: device RUNNING -> STOP -> RESUMING\n");
        rc = unwrap(&c, &device_refused);
    }
    printf("dest: state bytes received: %" PRIu64 " (%u iterations)\n", c.state_bytes,
           c.iterations);
    if (c.data_fd >= 0) {
        close(c.data_fd);
        c.data_fd = -1;
    }
    if (vdev_get_state(c.dev) == VDEV_STATE_RESUMING) {
        if (rc == 0 || device_refused) {
            /* RESUMING -> STOP: vms_decoder_finish, invariants, commit. */
            double t = shim_now();
            int sr = vdev_set_state(c.dev, VDEV_STATE_STOP, NULL);
            if (sr == 0 && rc == 0) {
                printf("dest: RESUMING -> STOP: committed in %.1f ms\n", (shim_now() - t) * 1000);
            } else {
                vdev_last_error(c.dev, err, sizeof err);
                snprintf(c.err, sizeof c.err, "RESUMING -> STOP failed: %s", err);
                rc = -1;
            }
        } else {
            /* The outer stream broke: QEMU would release the device; the
             * driver discards the staged state. */
            printf("dest: outer stream broken: resume abandoned\n");
        }
    }
    if (rc) {
        vdev_state s = vdev_get_state(c.dev);
        printf("dest: RESULT: FAILED: %s\n", c.err);
        vdev_reset(c.dev);
        shim_digest_hex(c.dev, after);
        printf("dest: device %s -> reset (%s); digest after reset: %s\n", vdev_state_name(s),
               vdev_state_name(vdev_get_state(c.dev)), after);
        bool intact = strcmp(after, initial) == 0;
        printf("dest: previous state intact: %s\n", intact ? "yes" : "NO");
        report_failure(&c, c.err);
        status = intact ? SHIM_EXIT_FAILED : SHIM_EXIT_MISMATCH;
        goto out;
    }
    if (shim_send_msg(c.sock, SHIM_MSG_RESULT, "ok", 2))
        fprintf(stderr, "qemu-shim: cannot send the result: %s\n", strerror(errno));
    shim_digest_hex(c.dev, after);
    printf("dest: switchover digest: %s\n", after);
    if (shim_send_msg(c.sock, SHIM_MSG_DIGEST, after, strlen(after)))
        fprintf(stderr, "qemu-shim: cannot send the digest: %s\n", strerror(errno));
    /* The VM resumes here: STOP -> RUNNING, the guest continues. */
    vdev_stats st;
    vdev_get_stats(c.dev, &st);
    uint64_t before = st.commands_done;
    if (vdev_set_state(c.dev, VDEV_STATE_RUNNING, NULL) == 0) {
        vdev_guest_set_running(c.dev, true);
        shim_sleep_ms(o->post_run_ms);
        vdev_guest_set_running(c.dev, false);
        vdev_get_stats(c.dev, &st);
        printf("dest: guest resumed on the destination: CMD_DONE %" PRIu64 " -> %" PRIu64
               " in %u ms\n", before, st.commands_done, o->post_run_ms);
    }
    printf("dest: RESULT: OK - committed\n");
    status = SHIM_EXIT_OK;
out:
    if (c.data_fd >= 0)
        close(c.data_fd);
    if (c.sock >= 0)
        close(c.sock);
    free(c.buf);
    vdev_destroy(c.dev);
    return status;
}
