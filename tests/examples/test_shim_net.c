/* test_shim_net.c - the qemu-shim's socket helpers (examples/qemu-shim/net.c):
 * a frame header and its data written together, through short writes; the
 * control messages round-trip; Nagle's algorithm is off on its TCP
 * connections, so that the small messages of the switchover do not wait
 * for the peer's delayed ACK. */
#include "shim.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct reader {
    int fd;
    uint8_t *buf;
    size_t cap, got;
} reader;

/* Reads until EOF, in small pieces, so that the writer fills its buffer. */
static void *read_all(void *arg)
{
    reader *r = arg;
    for (;;) {
        size_t want = r->cap - r->got < 4096 ? r->cap - r->got : 4096;
        if (want == 0)
            want = 1; /* anything more is an error, seen as got > expected */
        uint8_t tmp[4096];
        ssize_t n = read(r->fd, tmp, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (r->got + (size_t)n > r->cap) {
            r->got = r->cap + 1;
            break;
        }
        memcpy(r->buf + r->got, tmp, (size_t)n);
        r->got += (size_t)n;
    }
    return NULL;
}

static void pattern(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

/* Writes header + data with shim_write2 into a non-blocking socket with a
 * small send buffer (so writev is short and the rest goes through the
 * EAGAIN path), and checks what the peer read. */
static void write2_through(size_t hlen, size_t dlen)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int small = 4096;
    cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    cr_assert_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    uint8_t *h = malloc(hlen ? hlen : 1), *d = malloc(dlen ? dlen : 1);
    cr_assert(h && d);
    pattern(h, hlen, 1);
    pattern(d, dlen, 2);
    reader r = {sv[1], malloc(hlen + dlen + 1), hlen + dlen, 0};
    cr_assert(r.buf);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, read_all, &r), 0);
    int rc = shim_write2(sv[0], h, hlen, d, dlen);
    close(sv[0]);
    pthread_join(t, NULL);
    close(sv[1]);
    cr_assert_eq(rc, 0);
    cr_assert_eq(r.got, hlen + dlen, "peer read %zu bytes, expected %zu", r.got, hlen + dlen);
    cr_assert_eq(memcmp(r.buf, h, hlen), 0, "header bytes differ");
    cr_assert_eq(memcmp(r.buf + hlen, d, dlen), 0, "data bytes differ");
    free(h);
    free(d);
    free(r.buf);
}

Test(write2, header_and_large_data_through_short_writes)
{
    write2_through(16, 3u << 20); /* a DEV_DATA_STATE header and 3 MiB */
}

Test(write2, header_larger_than_the_send_buffer)
{
    write2_through(200000, 1000); /* the first piece itself is cut short */
}

Test(write2, header_alone)
{
    write2_through(16, 0);
}

Test(write2, error_when_the_peer_is_gone)
{
    signal(SIGPIPE, SIG_IGN);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    uint8_t h[16] = {0}, d[64] = {0};
    errno = 0;
    cr_assert_eq(shim_write2(sv[0], h, sizeof h, d, sizeof d), -1);
    cr_assert_eq(errno, EPIPE);
    close(sv[0]);
}

Test(msg, round_trip_in_one_frame)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    const char *text = "ok: compatible";
    cr_assert_eq(shim_send_msg(sv[0], 0x1234, text, strlen(text)), 0);
    cr_assert_eq(shim_send_msg(sv[0], 0x5678, NULL, 0), 0);
    char buf[64], err[128];
    size_t len = 0;
    cr_assert_eq(shim_recv_msg(sv[1], 0x1234, buf, sizeof buf, &len, 1000, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(len, strlen(text));
    cr_assert_str_eq(buf, text);
    cr_assert_eq(shim_recv_msg(sv[1], 0x5678, buf, sizeof buf, &len, 1000, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(len, 0);
    /* the next message's tag is checked */
    cr_assert_eq(shim_send_msg(sv[0], 0x1, "x", 1), 0);
    cr_assert_eq(shim_recv_msg(sv[1], 0x2, buf, sizeof buf, &len, 1000, err, sizeof err), -1);
    cr_assert(strstr(err, "tag") != NULL, "%s", err);
    close(sv[0]);
    close(sv[1]);
}

static int tcp_nodelay(int fd)
{
    int v = -1;
    socklen_t l = sizeof v;
    cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &l), 0);
    return v;
}

Test(nodelay, turns_nagle_off_on_a_tcp_connection)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(ls, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    cr_assert_eq(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(ls, 1), 0);
    cr_assert_eq(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(c, 0);
    cr_assert_eq(connect(c, (struct sockaddr *)&sa, sizeof sa), 0);
    int a = accept(ls, NULL, NULL);
    cr_assert_geq(a, 0);
    cr_assert_eq(tcp_nodelay(c), 0, "Nagle is on by default");
    cr_assert_eq(tcp_nodelay(a), 0);
    cr_assert_eq(shim_set_nodelay(c), 0);
    cr_assert_eq(shim_set_nodelay(a), 0);
    cr_assert_neq(tcp_nodelay(c), 0);
    cr_assert_neq(tcp_nodelay(a), 0);
    close(a);
    close(c);
    close(ls);
}

Test(nodelay, fails_on_what_is_not_a_tcp_socket)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    errno = 0;
    cr_assert_eq(shim_set_nodelay(p[0]), -1);
    cr_assert_eq(errno, ENOTSOCK);
    close(p[0]);
    close(p[1]);
}
