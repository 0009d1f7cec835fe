/*
 * net.c - qemu-shim helpers: bounded socket I/O with timeouts, the framed
 * control messages, descriptor exchange checks.
 */
#include "shim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

double shim_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void shim_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

double shim_mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

int shim_write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf = {fd, POLLOUT, 0};
            (void)poll(&pf, 1, -1);
            continue;
        }
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int shim_write2(int fd, const void *a, size_t alen, const void *b, size_t blen)
{
    struct iovec v[2] = {{(void *)(uintptr_t)a, alen}, {(void *)(uintptr_t)b, blen}};
    ssize_t n;
    do
        n = writev(fd, v, blen ? 2 : 1);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        return -1;
    /* The rest, if any, as shim_write_all does. */
    size_t done = n < 0 ? 0 : (size_t)n;
    if (done < alen) {
        if (shim_write_all(fd, (const uint8_t *)a + done, alen - done))
            return -1;
        done = alen;
    }
    done -= alen;
    return done < blen ? shim_write_all(fd, (const uint8_t *)b + done, blen - done) : 0;
}

int shim_set_nodelay(int fd)
{
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int shim_read_full(int fd, void *buf, size_t len, int timeout_ms)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < len) {
        struct pollfd pf = {fd, POLLIN, 0};
        int r = poll(&pf, 1, timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            if (got == 0)
                return 1;
            errno = EPIPE;
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

void shim_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t shim_get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

int shim_send_u64(int fd, uint64_t v)
{
    uint8_t b[8];
    shim_put_be64(b, v);
    return shim_write_all(fd, b, sizeof b);
}

int shim_send_msg(int fd, uint64_t tag, const void *data, size_t len)
{
    uint8_t h[16];
    shim_put_be64(h, tag);
    shim_put_be64(h + 8, len);
    return shim_write2(fd, h, sizeof h, data, len);
}

int shim_recv_msg(int fd, uint64_t tag, char *buf, size_t cap, size_t *len,
                  int timeout_ms, char *err, size_t errcap)
{
    uint8_t h[16];
    int r = shim_read_full(fd, h, sizeof h, timeout_ms);
    if (r != 0) {
        snprintf(err, errcap, "connection %s", r == 1 ? "closed by the peer"
                 : errno == ETIMEDOUT ? "timed out" : strerror(errno));
        return -1;
    }
    uint64_t t = shim_get_be64(h), n = shim_get_be64(h + 8);
    if (t != tag) {
        snprintf(err, errcap, "protocol error: message tag 0x%016llx, expected 0x%016llx",
                 (unsigned long long)t, (unsigned long long)tag);
        return -1;
    }
    if (cap == 0 || n > cap - 1) {
        snprintf(err, errcap, "protocol error: message of %llu bytes exceeds the %zu-byte cap",
                 (unsigned long long)n, cap ? cap - 1 : 0);
        return -1;
    }
    r = shim_read_full(fd, buf, (size_t)n, timeout_ms);
    if (r != 0) {
        snprintf(err, errcap, "connection lost inside a message");
        return -1;
    }
    buf[n] = '\0';
    if (len)
        *len = (size_t)n;
    return 0;
}

int shim_parse_addr(const char *s, void *out)
{
    struct sockaddr_in *sa = out;
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port > 65535)
        return -1;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return -1;
    return 0;
}

char *shim_descriptor_text(const vms_descriptor *d)
{
    size_t need = 0;
    (void)vms_descriptor_format_text(d, NULL, 0, &need);
    if (need == 0)
        return NULL;
    char *t = malloc(need);
    if (t && vms_descriptor_format_text(d, t, need, NULL) != VMS_OK) {
        free(t);
        t = NULL;
    }
    return t;
}

int shim_check_pair(const char *peer_text, size_t len, bool peer_is_source,
                    const vms_descriptor *own, char *reason, size_t cap)
{
    vms_descriptor *peer = NULL;
    vms_descriptor_error derr;
    if (vms_descriptor_parse_text(&peer, peer_text, len, NULL, &derr) != VMS_OK) {
        snprintf(reason, cap, "peer descriptor invalid (line %u): %s", derr.line, derr.message);
        return -1;
    }
    vms_compat_result res;
    int rc = peer_is_source ? vms_compat_check(peer, own, NULL, &res)
                            : vms_compat_check(own, peer, NULL, &res);
    vms_descriptor_free(peer);
    if (rc == VMS_OK) {
        snprintf(reason, cap, "%s", res.reason);
        return 0;
    }
    if (rc == VMS_E_INCOMPATIBLE) {
        snprintf(reason, cap, "rule %s: %s", vms_compat_rule_name(res.rule), res.reason);
        return 1;
    }
    snprintf(reason, cap, "compatibility check failed: %s", vms_strerror(rc));
    return -1;
}

void shim_digest_hex(vdev *dev, char hex[2 * VDEV_DIGEST_BYTES + 1])
{
    uint8_t d[VDEV_DIGEST_BYTES];
    vdev_state_digest(dev, d);
    vdev_hex(d, sizeof d, hex);
}
