/*
 * shim.h - qemu-shim: plays QEMU's part of VFIO live migration on each
 * host.  The source drives its device through PRE_COPY and STOP_COPY and
 * wraps the device's data fd in a QEMU-like outer stream sent over TCP; the
 * destination unwraps it into its device's data fd in RESUMING and commits
 * with RESUMING -> STOP.
 *
 * Wire protocol on the TCP connection (all integers big-endian):
 *
 *   message   = be64 tag, be64 length, length bytes     (control, capped)
 *   1. source -> dest   HELLO    the source descriptor (text form)
 *   2. dest -> source   HELLO    the destination descriptor
 *   3. dest -> source   VERDICT  "ok: ..." or "refused: ..."
 *   4. source -> dest   VERDICT  the source's own check of the pair
 *   -- nothing below is sent unless both verdicts are "ok" --
 *   5. source -> dest   the VFIO section, as QEMU's hw/vfio/migration.c:
 *        DEV_SETUP_STATE END_OF_STATE                    (dest: RESUMING)
 *        { DEV_DATA_STATE be64 size bytes }* END_OF_STATE  per iteration
 *        ...                                   (the last one is stop-copy)
 *        DEV_CONFIG_STATE be64 size bytes END_OF_STATE    (the end)
 *   6. dest -> source   RESULT   "ok" or "failed: reason" (may come early)
 *   7. dest -> source   DIGEST   hex digest of the committed device state
 */
#ifndef SHIM_H
#define SHIM_H

#include "vdev.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* QEMU's VFIO migration markers (hw/vfio/migration.c). */
#define VFIO_MIG_FLAG_END_OF_STATE 0xffffffffef100001ull
#define VFIO_MIG_FLAG_DEV_CONFIG_STATE 0xffffffffef100002ull
#define VFIO_MIG_FLAG_DEV_SETUP_STATE 0xffffffffef100003ull
#define VFIO_MIG_FLAG_DEV_DATA_STATE 0xffffffffef100004ull

/* The shims' own control messages ("VMSHIM" + kind + version). */
#define SHIM_MSG_HELLO 0x564d5348494d4801ull
#define SHIM_MSG_VERDICT 0x564d5348494d5601ull
#define SHIM_MSG_RESULT 0x564d5348494d5201ull
#define SHIM_MSG_DIGEST 0x564d5348494d4401ull

/* Never trust a size from the socket: the largest DEV_DATA_STATE chunk
 * (QEMU reads the data fd into a 1 MiB buffer), config blob and control
 * message accepted. */
#define SHIM_MAX_CHUNK (1u << 20)
#define SHIM_MAX_CONFIG 4096u
#define SHIM_MAX_MSG (VMS_DESC_MAX_TEXT + 1024u)

/* Exit statuses. */
#define SHIM_EXIT_OK 0
#define SHIM_EXIT_FAILED 1       /* migration failed; devices safe */
#define SHIM_EXIT_USAGE 2        /* usage, I/O or setup error */
#define SHIM_EXIT_REFUSED 3      /* pre-check: incompatible pair */
#define SHIM_EXIT_MISMATCH 4     /* committed, but the digests differ */

typedef struct shim_opts {
    bool source;
    const char *addr;       /* source: --connect; dest: --listen */
    const char *port_file;  /* dest */
    vdev_options dev;
    uint8_t mac_key[64], sign_key[32], verify_key[32];
    bool seed_set;
    uint64_t threshold;     /* source: switch to stop-copy under this many dirty bytes */
    unsigned max_passes;    /* source: at most this many pre-copy passes */
    unsigned warmup_ms;     /* source: workload time before migrating */
    int64_t corrupt_at;     /* source: flip this byte of the device stream (-1 off) */
    int64_t pause_after;    /* source: hang after this many device bytes (-1 off) */
    unsigned post_run_ms;   /* dest: run the guest this long after commit */
    unsigned timeout_s;     /* network timeout */
} shim_opts;

/* net.c */
double shim_now(void);
void shim_sleep_ms(unsigned ms);
/* Writes all of buf (EINTR, short writes).  0 or -1 (errno set). */
int shim_write_all(int fd, const void *buf, size_t len);
/* Writes a then b (blen may be 0) as shim_write_all does, in one writev
 * when the socket takes it: a frame header and its data leave in one
 * segment.  0 or -1 (errno set). */
int shim_write2(int fd, const void *a, size_t alen, const void *b, size_t blen);
/* Turns Nagle's algorithm off on a TCP socket.  The control messages of
 * the switchover (the config section, END_OF_STATE, the result) are
 * small writes answered by the peer: with Nagle on, each can wait for
 * the peer's delayed ACK, about 40 ms on Linux, all of it downtime.
 * 0 or -1 (errno set). */
int shim_set_nodelay(int fd);
/* Reads exactly len bytes within timeout_ms (each wait).  0; 1 at a clean
 * EOF before the first byte; -1 on error, timeout (errno ETIMEDOUT) or EOF
 * inside the data (errno EPIPE). */
int shim_read_full(int fd, void *buf, size_t len, int timeout_ms);
void shim_put_be64(uint8_t *p, uint64_t v);
uint64_t shim_get_be64(const uint8_t *p);
int shim_send_u64(int fd, uint64_t v);
int shim_send_msg(int fd, uint64_t tag, const void *data, size_t len);
/* Receives a message with the given tag into buf (cap bytes, then NUL
 * terminated: cap must leave room for it).  -1 on error, a wrong tag or a
 * length over cap - 1 (with a message in err). */
int shim_recv_msg(int fd, uint64_t tag, char *buf, size_t cap, size_t *len,
                  int timeout_ms, char *err, size_t errcap);
/* "A.B.C.D:PORT" -> socket address; returns 0 or -1. */
int shim_parse_addr(const char *s, void *sockaddr_in_out);
/* Formats the descriptor text of d (malloc'd, NUL-terminated) or NULL. */
char *shim_descriptor_text(const vms_descriptor *d);
/* Parses peer descriptor text and checks compatibility source -> target.
 * Returns 0 compatible, 1 incompatible, -1 invalid text; reason filled. */
int shim_check_pair(const char *peer_text, size_t len, bool peer_is_source,
                    const vms_descriptor *own, char *reason, size_t cap);
void shim_digest_hex(vdev *dev, char hex[2 * VDEV_DIGEST_BYTES + 1]);
double shim_mib(uint64_t bytes);

int shim_run_source(shim_opts *o);
int shim_run_dest(shim_opts *o);

#endif /* SHIM_H */
