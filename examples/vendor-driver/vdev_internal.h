/*
 * vdev_internal.h - internals shared by the device model (vdev_device.c)
 * and its migration support (vdev_migration.c).  Not part of the device's
 * API (vdev.h).
 */
#ifndef VDEV_INTERNAL_H
#define VDEV_INTERNAL_H

#include "vdev.h"

#include <pthread.h>

/* ---- register file (BAR0), little-endian, VDEV_REGS_SIZE bytes ---- */
#define REG_ID 0x00          /* u32 RO: VDEV_REG_ID_VALUE */
#define REG_REV 0x04         /* u32 RO: register layout revision */
#define REG_CTRL 0x08        /* u32: CTRL_* */
#define REG_STATUS 0x0c      /* u32: STATUS_* */
#define REG_RING_BASE 0x10   /* u64: ring offset in device memory */
#define REG_RING_SIZE 0x18   /* u32: ring entries, power of two */
#define REG_RING_HEAD 0x1c   /* u32: next entry the device executes */
#define REG_RING_TAIL 0x20   /* u32: next entry the guest fills */
#define REG_IRQ_VECTOR 0x24  /* u32: < 32 */
#define REG_DMA_BASE 0x28    /* u64: DMA window offset in device memory */
#define REG_DMA_LEN 0x30     /* u64: DMA window length */
#define REG_CMD_DONE 0x38    /* u64: commands executed */
#define REG_LAST_ERR 0x40    /* u32: last command error code, < 16 */
#define REG_SCRATCH 0x44     /* u32: free for the guest */
#define REG_RESERVED 0x48    /* .. VDEV_REGS_SIZE: reserved, zero */

#define VDEV_REG_ID_VALUE 0x444d5356u /* "VSMD" little-endian */
#define VDEV_REG_REV_VALUE 0x00010002u

#define CTRL_ENABLE 0x1u
#define CTRL_RING_EN 0x2u
#define CTRL_IRQ_EN 0x4u
#define CTRL_MASK 0x7u
#define STATUS_READY 0x1u
#define STATUS_RING_ACTIVE 0x2u
#define STATUS_ERR 0x4u
#define STATUS_MASK 0x7u

#define RING_ENTRY_BYTES 64u
#define RING_MIN_ENTRIES 8u
#define RING_MAX_ENTRIES 65536u
#define IRQ_VECTORS 32u
#define CMD_MAX_LEN 65536u

/* ---- ring entry (64 bytes in device memory) ---- */
#define ENT_OPCODE 0   /* u32: OP_* */
#define ENT_FLAGS 4    /* u32: ENT_DONE once executed */
#define ENT_DST 8      /* u64: offset in the DMA window */
#define ENT_SRC 16     /* u64: offset in the DMA window (COPY) */
#define ENT_LEN 24     /* u32: 1 .. CMD_MAX_LEN */
#define ENT_STATUS 28  /* u32: completion code */
#define ENT_SEED 32    /* u64: data seed */
#define ENT_ID 40      /* u64: guest's command id */
#define ENT_RESERVED 48
#define ENT_DONE 0x1u
#define OP_FILL 1u
#define OP_XOR 2u
#define OP_COPY 3u

/* ---- config space offsets (PCI type 0 header) ---- */
#define CFG_VENDOR 0x00
#define CFG_DEVICE 0x02
#define CFG_COMMAND 0x04
#define CFG_STATUS 0x06
#define CFG_REVISION 0x08
#define CFG_CLASS 0x09 /* 3 bytes: prog-if, subclass, class */
#define CFG_HEADER_TYPE 0x0e
#define CFG_BAR0 0x10
#define CFG_BAR2 0x18 /* 64-bit: 0x18 low, 0x1c high */
#define CFG_SUBSYS_VENDOR 0x2c
#define CFG_SUBSYS_ID 0x2e
#define CFG_INT_LINE 0x3c
#define CFG_INT_PIN 0x3d
#define CFG_COMMAND_MASK 0x0507u /* IO, MEM, MASTER, SERR, INTX_DISABLE */
#define BAR0_SIZE 4096u
#define BAR0_ADDR 0xfebf0000u
#define BAR2_ADDR 0x8000000000ull /* 512 GiB, aligned for any memory size */

typedef struct vdev_regs {
    uint32_t id, rev, ctrl, status;
    uint64_t ring_base;
    uint32_t ring_size, ring_head, ring_tail, irq_vector;
    uint64_t dma_base, dma_len, cmd_done;
    uint32_t last_err, scratch;
} vdev_regs;

typedef struct vdev_saver vdev_saver;
typedef struct vdev_resumer vdev_resumer;

struct vdev {
    /* Immutable after creation. */
    uint64_t mem_size;
    size_t npages, dirty_words;
    uint64_t seed;
    unsigned workload_rate;
    bool compress, fault_bad_ring_size;
    uint8_t mac_key[64];
    size_t mac_key_len; /* 0 = no MAC */
    uint8_t sign_key[VMS_ED25519_KEY_BYTES];
    bool have_sign;
    uint8_t verify_key[VMS_ED25519_KEY_BYTES];
    bool have_verify;
    vms_descriptor *desc;
    uint8_t *desc_bin;
    size_t desc_bin_len;

    /* lock protects everything below, and the device contents. */
    pthread_mutex_t lock;
    pthread_cond_t wl_cond; /* wakes the workload */
    uint8_t config[VDEV_CONFIG_SIZE];
    vdev_regs regs;
    uint8_t *mem;
    uint64_t *dirty; /* one bit per page */
    vdev_state state;
    bool guest_running, shutdown;
    vdev_stats stats; /* save and resume counters of the last migration */
    uint64_t rng, next_cmd_id;
    char err[512];

    pthread_t workload;
    bool workload_started;

    /* Migration contexts (vdev_migration.c); changed only by the control
     * thread, their shared fields are under lock. */
    vdev_saver *saver;
    vdev_resumer *resumer;
};

/* vdev_device.c */
void vdev_put16(uint8_t *p, uint16_t v);
void vdev_put32(uint8_t *p, uint32_t v);
void vdev_put64(uint8_t *p, uint64_t v);
uint16_t vdev_get16(const uint8_t *p);
uint32_t vdev_get32(const uint8_t *p);
uint64_t vdev_get64(const uint8_t *p);
void vdev_regs_store(const vdev_regs *r, uint8_t blob[VDEV_REGS_SIZE]);
void vdev_regs_load(const uint8_t blob[VDEV_REGS_SIZE], vdev_regs *r);
/* Device-level invariants of a complete state (config, register blob,
 * memory of dev->mem_size bytes) about to be loaded into dev.  0 when
 * valid; -1 with a sentence in why otherwise. */
int vdev_check_state(const vdev *dev, const uint8_t *config, const uint8_t *regs_blob,
                     const uint8_t *mem, char *why, size_t cap);
/* Sets dev->err (takes the lock). */
void vdev_set_error(vdev *dev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Fills the device fields of st (takes the lock). */
void vdev_device_stats(vdev *dev, vdev_stats *st);
/* Anonymous zero-filled mapping of size bytes, or NULL. */
uint8_t *vdev_mem_alloc(uint64_t size);
void vdev_mem_free(uint8_t *p, uint64_t size);

/* vdev_migration.c: stops and frees any saver/resumer (on_abort discards
 * staged state).  Control thread only. */
void vdev_migration_cancel(vdev *dev);

#endif /* VDEV_INTERNAL_H */
