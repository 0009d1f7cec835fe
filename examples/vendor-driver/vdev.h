/*
 * vdev.h - "vmsdemo", a userspace device emulator that plays the part of a
 * VFIO vendor driver with live-migration support (uAPI v2 semantics).
 *
 * The device:
 *  - 256 bytes of PCI config space (vendor 0x1af4, device 0x11f0);
 *  - a 128-byte register file (BAR0) with invariants: reserved bits zero,
 *    a ring size that is a power of two, ring base/head/tail and a DMA window
 *    that lie within device memory;
 *  - device memory (BAR2) of configurable size (a power of two), holding a
 *    command ring of 64-byte descriptors and a DMA window;
 *  - a "guest" workload thread that posts commands into the ring while the
 *    device executes them, writing device memory (FILL, XOR, COPY) while the
 *    device is RUNNING or PRE_COPY.  Every write marks its 4 KiB pages in a
 *    dirty bitmap.
 *
 * Migration: the VFIO device_state machine (ERROR, STOP, RUNNING, STOP_COPY,
 * RESUMING, PRE_COPY) with only the arcs the kernel allows.  The migration
 * data travels through a data fd (a pipe), produced and consumed only through
 * libvmstream: the source side runs a vms_encoder writing into the pipe, the
 * destination side feeds the pipe's bytes into a vms_decoder whose records
 * are staged in a shadow copy of the device and applied only on
 * RESUMING -> STOP, after vms_decoder_finish() and the device's invariant
 * checks all succeeded.
 *
 * Threading: the vdev_* calls below form the device's control interface (the
 * VFIO ioctls); call them from one thread at a time.  The device runs its own
 * workload and migration threads internally.
 */
#ifndef VDEV_H
#define VDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmstream.h>
#include <vmstream_compat.h>

/* Values are those of enum vfio_device_mig_state (linux/vfio.h). */
typedef enum vdev_state {
    VDEV_STATE_ERROR = 0,
    VDEV_STATE_STOP = 1,
    VDEV_STATE_RUNNING = 2,
    VDEV_STATE_STOP_COPY = 3,
    VDEV_STATE_RESUMING = 4,
    VDEV_STATE_PRE_COPY = 6
} vdev_state;

#define VDEV_PCI_VENDOR 0x1af4u
#define VDEV_PCI_DEVICE 0x11f0u
#define VDEV_TYPE_NAME "vmsdemo-ringdev"
#define VDEV_DEVICE_API "vfio-pci"
#define VDEV_VERSION_MAJOR 1u
#define VDEV_VERSION_MINOR 2u
#define VDEV_VERSION_BUGFIX 0u
/* A source version the device refuses to load (a hypothetical release whose
 * driver wrote a wrong ring layout): shows the descriptor's deny list. */
#define VDEV_DENIED_VERSION "1.1.3"

#define VDEV_PAGE_SIZE 4096u
#define VDEV_CONFIG_SIZE 256u
#define VDEV_REGS_SIZE 128u
#define VDEV_DEFAULT_MEM_SIZE (256ull << 20)
#define VDEV_MIN_MEM_SIZE (1ull << 20)
#define VDEV_MAX_MEM_SIZE (64ull << 30)
/* Stream record size written by the device, and the largest record the
 * device accepts when resuming. */
#define VDEV_RECORD_BYTES (1u << 20)

/* State sections of the device's vmstream. */
#define VDEV_SECTION_CONFIG 1u
#define VDEV_SECTION_REGS 2u
#define VDEV_SECTION_MEMORY 3u

#define VDEV_DIGEST_BYTES 32u

typedef struct vdev vdev;

typedef struct vdev_options {
    uint64_t mem_size;        /* bytes: power of two, 1 MiB .. 64 GiB; 0 = 256 MiB */
    uint64_t seed;            /* initial contents and guest workload */
    unsigned workload_rate;   /* guest commands per second; 0 = 2000 */
    /* Interface version put in the descriptor; all zero = 1.2.0. */
    uint32_t version_major, version_minor, version_bugfix;

    /* Save side (the stream this device produces). */
    bool compress;            /* zstd (zlib when the library lacks zstd) */
    const uint8_t *mac_key;   /* MAC key (copied), mac_key_len 16..64, or NULL */
    size_t mac_key_len;
    const uint8_t *sign_key;  /* Ed25519 private key (32 bytes, copied) or NULL */

    /* Resume side policy.  With verify_key the device accepts only streams
     * signed by that key; else with mac_key only streams MACed with it;
     * else any stream whose checksums verify. */
    const uint8_t *verify_key; /* Ed25519 public key (32 bytes, copied) or NULL */

    /* Fault injection for tests: the saver writes the final register file
     * with RING_SIZE = 100 (not a power of two).  Every record still
     * verifies; the destination must refuse at commit. */
    bool fault_bad_ring_size;
} vdev_options;

/* VFIO_MIG_GET_PRECOPY_INFO, plus two emulator extensions. */
typedef struct vdev_precopy_info {
    uint64_t initial_bytes;  /* initial-pass bytes not yet read from the data fd */
    uint64_t dirty_bytes;    /* further bytes the device knows it must send */
    uint32_t passes;         /* extension: pre-copy passes started (>= 1) */
    bool pass_active;        /* extension: a pass is still being produced */
} vdev_precopy_info;

typedef struct vdev_stats {
    /* save side */
    uint32_t passes;            /* pre-copy passes started */
    uint64_t save_stream_bytes; /* bytes written into the data fd */
    uint64_t save_stop_copy_stream_bytes; /* ... of them after STOP_COPY began */
    uint64_t save_precopy_raw;  /* state bytes framed in pre-copy passes */
    uint64_t save_stop_copy_raw;/* state bytes framed in the stop-copy phase */
    uint64_t save_records;
    int save_status;            /* VMS_OK, or the saver's error */
    /* resume side */
    uint64_t resume_stream_bytes; /* bytes consumed from the data fd */
    uint64_t resume_records;
    /* device */
    uint64_t commands_done;     /* CMD_DONE register */
    uint32_t ring_pending;      /* commands posted, not yet executed */
} vdev_stats;

/* Creates a device in state RUNNING with the guest paused.  Returns 0, or
 * -1 with a message in err. */
int vdev_create(vdev **out, const vdev_options *opt, char *err, size_t errcap);
/* Cancels any migration in progress and frees everything. */
void vdev_destroy(vdev *dev);

/* The device's compatibility descriptor (what it is, what it accepts), as
 * built from opt alone (no device needed).  Free with vms_descriptor_free. */
int vdev_descriptor_new(const vdev_options *opt, vms_descriptor **out, char *err,
                        size_t errcap);
/* The device's own descriptor; owned by the device. */
const vms_descriptor *vdev_descriptor(const vdev *dev);

/* Starts or pauses the guest's use of the device (the workload).  It only
 * touches the device while the device is RUNNING or PRE_COPY. */
void vdev_guest_set_running(vdev *dev, bool run);

vdev_state vdev_get_state(vdev *dev);
const char *vdev_state_name(vdev_state s);
/* Non-zero when from -> to is one arc of the VFIO migration state machine
 * (linux/vfio.h, vfio_mig_get_next_state; P2P states not supported). */
int vdev_arc_legal(vdev_state from, vdev_state to);

/* VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE: moves the device along one arc.
 *  RUNNING -> PRE_COPY, STOP -> STOP_COPY: *data_fd receives the read end of
 *      a new data fd (close it when done); the device starts writing its
 *      vmstream into it.
 *  STOP -> RESUMING: *data_fd receives the write end of a new data fd; write
 *      the stream into it.  A write fails (EPIPE) once the device has
 *      rejected the stream.
 *  RESUMING -> STOP: consumes what was written, vms_decoder_finish(),
 *      invariant checks on the staged state, commit.  On failure the device
 *      goes to ERROR with its previous state untouched.
 *  PRE_COPY -> STOP_COPY: the same data fd continues with the final state
 *      and ends (EOF) after the END record.
 * Other arcs have no data fd (*data_fd = -1; data_fd may be NULL for them).
 * Returns 0, -EINVAL for an illegal arc (state unchanged), or another
 * negative errno on failure (state ERROR).  vdev_last_error() says why. */
int vdev_set_state(vdev *dev, vdev_state next, int *data_fd);

/* VFIO_MIG_GET_PRECOPY_INFO: only in PRE_COPY (else -EINVAL).  No side
 * effect.  The device starts its next pass by itself once the previous pass
 * was entirely read and there are dirty pages. */
int vdev_get_precopy_info(vdev *dev, vdev_precopy_info *info);

/* VFIO_DEVICE_RESET: abandons any migration (staged state discarded) and
 * returns to RUNNING.  The device contents are kept. */
void vdev_reset(vdev *dev);

/* BLAKE2b-256 over config space, register file and memory.  Meant for a
 * stopped device (it takes the device lock for the whole computation). */
void vdev_state_digest(vdev *dev, uint8_t out[VDEV_DIGEST_BYTES]);

void vdev_get_stats(vdev *dev, vdev_stats *st);
uint64_t vdev_mem_size(const vdev *dev);
/* Copies the last error message (empty when none) into buf. */
void vdev_last_error(vdev *dev, char *buf, size_t cap);

/* Parses a size with an optional K, M or G suffix (binary).  0 on success. */
int vdev_parse_size(const char *s, uint64_t *out);
/* Parses "X.Y.Z".  0 on success. */
int vdev_parse_version(const char *s, uint32_t *major, uint32_t *minor,
                       uint32_t *bugfix);

/* ---- helpers for the device's front ends (vdev_keys.c) ---- */

/* Reads a MAC key file: 16..64 raw bytes (32 recommended).  0 on success;
 * -1 with a message in err. */
int vdev_load_mac_key(const char *path, uint8_t key[64], size_t *len, char *err,
                      size_t errcap);
/* Reads an Ed25519 private (PKCS#8) or public (SPKI) PEM file. */
int vdev_load_ed25519_private(const char *path, uint8_t key[VMS_ED25519_KEY_BYTES],
                              char *err, size_t errcap);
int vdev_load_ed25519_public(const char *path, uint8_t key[VMS_ED25519_KEY_BYTES],
                             char *err, size_t errcap);
/* Writes a new Ed25519 key pair as PEM files (private one mode 0600). */
int vdev_keygen_ed25519(const char *priv_path, const char *pub_path, char *err,
                        size_t errcap);
/* Writes 32 random bytes (mode 0600). */
int vdev_keygen_mac(const char *path, char *err, size_t errcap);
/* Lower-case hex of n bytes into out (2n+1 bytes). */
void vdev_hex(const uint8_t *p, size_t n, char *out);

#endif /* VDEV_H */
