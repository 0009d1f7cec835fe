/* wire.h - on-the-wire layout of format 1.x (doc/FORMAT.md is normative).
 * Every multi-byte field is little-endian.  Wire bytes are never cast to
 * structs: they are read and written field by field at these offsets. */
#ifndef VMS_WIRE_H
#define VMS_WIRE_H

#include <assert.h>

/* ---- stream header ------------------------------------------------------ */
/* 0x89 'V' 'M' 'S' CR LF 0x1A LF: high bit catches 7-bit channels, CR LF and
 * LF catch newline translation, 0x1A stops DOS "type". */
#define VMS_MAGIC "\x89VMS\r\n\x1a\n"
#define VMS_MAGIC_LEN 8

#define VMS_H_MAGIC 0          /* 8  magic */
#define VMS_H_MAJOR 8          /* 2  format major */
#define VMS_H_MINOR 10         /* 2  format minor */
#define VMS_H_LENGTH 12        /* 4  header_length, whole header incl. checksum */
#define VMS_H_FEAT_REQ 16      /* 4  required feature flags */
#define VMS_H_FEAT_OPT 20      /* 4  optional feature flags */
#define VMS_H_CSUM_ALG 24      /* 1  checksum algorithm (1 = BLAKE2b-256) */
#define VMS_H_AUTH 25          /* 1  auth mode */
#define VMS_H_CODEC 26         /* 1  compression codec */
#define VMS_H_RESERVED 27      /* 1  zero */
#define VMS_H_VENDOR 28        /* 4  vendor id */
#define VMS_H_STREAM_ID 32     /* 16 stream id */
#define VMS_H_KEY_ID 48        /* 8  key id (zero unless auth) */
#define VMS_H_MAX_RECORD 56    /* 4  max record payload the encoder uses */
#define VMS_H_BLOB_LEN 60      /* 4  device-version blob length */
#define VMS_H_FIXED 64         /* blob starts here; zero pad to 8; then: */
/* [extension area, minor > 0 only]  32-byte header checksum at the end. */
#define VMS_HEADER_MIN (VMS_H_FIXED + VMS_DIGEST_BYTES)

#define VMS_CSUM_BLAKE2B_256 1

/* required feature flags */
#define VMS_FEAT_COMPRESSION 0x00000001u /* records may be compressed by codec */
#define VMS_FEAT_PAGEMAP 0x00000002u     /* records may carry uniform-page maps */
#define VMS_FEAT_REQ_KNOWN 0x00000003u
/* optional feature flags */
#define VMS_FEAT_DESCRIPTOR 0x00000001u  /* blob is a binary descriptor */
#define VMS_FEAT_OPT_KNOWN 0x00000001u

/* ---- record header ------------------------------------------------------ */
#define VMS_R_TYPE 0           /* 2  record type */
#define VMS_R_FLAGS 2          /* 2  flags */
#define VMS_R_SECTION 4        /* 4  section id */
#define VMS_R_SEQ 8            /* 8  sequence number */
#define VMS_R_OFFSET 16        /* 8  offset within section */
#define VMS_R_PHASE 24         /* 4  phase */
#define VMS_R_WIRE_LEN 28      /* 4  payload bytes on the wire (no padding) */
#define VMS_R_RAW_LEN 32       /* 4  payload bytes after decompression */
#define VMS_R_RESERVED 36      /* 4  zero */
#define VMS_R_CHECKSUM 40      /* 32 BLAKE2b-256 (keyed in MAC mode) */
#define VMS_R_HDR 72           /* record header size; payload follows */

/* The record checksum is BLAKE2b-256 over one 128-byte "prefix block"
 * followed by the wire payload (without padding):
 *   prefix[0..16)   stream id
 *   prefix[16..48)  header digest (the stream header's checksum field)
 *   prefix[48..88)  record header bytes [0, 40) (all fields but checksum)
 *   prefix[88..128) zero */
#define VMS_PREFIX_BYTES 128

#define VMS_REC_STATE 0x0001   /* device state */
#define VMS_REC_END 0x0002     /* end record; last in the stream */
#define VMS_REC_CHECKPOINT 0x0003 /* signed checkpoint (auth mode 2 only) */

#define VMS_RF_OPTIONAL 0x0001u   /* unknown type may be skipped */
#define VMS_RF_COMPRESSED 0x0002u /* payload compressed with header codec */
#define VMS_RF_PAGEMAP 0x0004u    /* payload starts with a uniform-page map */
#define VMS_RF_KNOWN 0x0007u

/* Page-map payload (flag PAGEMAP, STATE records only).  The record's raw_len
 * bytes are cut into pages of VMS_PAGE bytes (the last may be shorter).
 *   [0, mb)        bitmap, bit i (byte i/8, bit i%8) set = page i is uniform;
 *                  mb = pad8(ceil(npages/8)); unused bits and bytes zero
 *   [mb, mb+fb)    one fill byte per uniform page, in page order;
 *                  fb = pad8(popcount); padding zero
 *   [mb+fb, wire)  the non-uniform ("literal") pages, concatenated, either
 *                  raw (exactly literal_len bytes) or, with flag COMPRESSED,
 *                  compressed to fewer than literal_len bytes.
 * At least one page is uniform. */
#define VMS_PAGE 4096u

/* END payload */
#define VMS_E_RECORDS 0        /* 8  records before END */
#define VMS_E_RAW_BYTES 8      /* 8  sum of raw_len of STATE records */
#define VMS_E_STREAM_BYTES 16  /* 8  stream offset of the END record */
#define VMS_E_CHAIN 24         /* 32 chain digest */
#define VMS_END_PAYLOAD 56
#define VMS_E_SIGNATURE 56     /* 64 Ed25519 signature (auth mode 2 only) */
#define VMS_END_PAYLOAD_SIGNED 120

/* CHECKPOINT payload (auth mode 2): covers every record before it. */
#define VMS_C_RECORDS 0        /* 8  records before the checkpoint (= its seq) */
#define VMS_C_RAW_BYTES 8      /* 8  state bytes before it */
#define VMS_C_CHAIN 16         /* 32 chain digest after the record before it */
#define VMS_C_SIGNATURE 48     /* 64 Ed25519 signature */
#define VMS_CHECKPOINT_PAYLOAD 112

/* The 128-byte message an Ed25519 signature signs (checkpoint and END). */
#define VMS_SIG_CONTEXT "libvmstream-sig1" /* 16 ASCII bytes, no NUL */
#define VMS_S_CONTEXT 0        /* 16 context string */
#define VMS_S_KIND 16          /* 1  1 = checkpoint, 2 = end */
                               /* 7  zero */
#define VMS_S_HEADER 24        /* 32 header digest */
#define VMS_S_KEY_ID 56        /* 8  key id */
#define VMS_S_SEQ 64           /* 8  sequence number of the signed record */
#define VMS_S_RECORDS 72       /* 8  records covered */
#define VMS_S_RAW_BYTES 80     /* 8  state bytes covered */
#define VMS_S_STREAM_BYTES 88  /* 8  stream offset of the signed record */
#define VMS_S_CHAIN 96         /* 32 chain digest */
#define VMS_SIG_MSG_BYTES 128
#define VMS_SIG_KIND_CHECKPOINT 1
#define VMS_SIG_KIND_END 2

/* chain_0 = header digest;
 * chain_{i+1} = BLAKE2b-256(chain_i || checksum of record i) (unkeyed). */

static_assert(VMS_R_HDR % 8 == 0, "record header is 8-aligned");
static_assert(VMS_H_FIXED % 8 == 0, "fixed header is 8-aligned");
static_assert(48 + VMS_R_CHECKSUM <= VMS_PREFIX_BYTES, "prefix fits a block");

#endif
