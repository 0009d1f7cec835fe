/* io.c - convenience sinks on top of the core (which does no I/O). */
#include <errno.h>
#include <unistd.h>

#include "internal.h"

int vms_sink_fd(void *ctx, const void *buf, size_t len)
{
    const int fd = *(const int *)ctx;
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int vms_sink_membuf(void *ctx, const void *buf, size_t len)
{
    vms_membuf *mb = ctx;
    vms_mem m;
    vms_mem_init(&m, mb->mem);
    if (len == 0)
        return 0;
    if (len > SIZE_MAX - mb->len)
        return -1;
    if (mb->len + len > mb->cap) {
        size_t ncap = mb->cap ? mb->cap : 4096;
        while (ncap < mb->len + len) {
            if (ncap > SIZE_MAX / 2)
                return -1;
            ncap *= 2;
        }
        uint8_t *n = vms_malloc(&m, ncap);
        if (!n)
            return -1;
        if (mb->len)
            memcpy(n, mb->data, mb->len);
        vms_free(&m, mb->data);
        mb->data = n;
        mb->cap = ncap;
    }
    memcpy(mb->data + mb->len, buf, len);
    mb->len += len;
    return 0;
}

void vms_membuf_release(vms_membuf *mb)
{
    if (!mb)
        return;
    vms_mem m;
    vms_mem_init(&m, mb->mem);
    vms_free(&m, mb->data);
    mb->data = NULL;
    mb->len = mb->cap = 0;
}
