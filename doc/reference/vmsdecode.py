#!/usr/bin/env python3
"""vmsdecode.py - independent reference decoder for vmstream format 1.x.

Written from doc/FORMAT.md alone (Python 3 standard library only: hashlib's
BLAKE2b and SHA-512, zlib; Ed25519 verification is the RFC 8032 reference
algorithm, in pure Python).  It applies the checks of FORMAT.md section 9 in that
order and reports the vms_status name of the first one that fails.  zstd
(codec 2) is not in the standard library: such streams are rejected with
VMS_E_UNSUPPORTED, except with --zstd-structure-only (used by --check),
where zstd payloads are checked structurally (one frame, content size equal
to raw_len, no dictionary, no trailing bytes) but not decompressed.

Usage:
  vmsdecode.py [options] STREAM          decode; print the expected-content
                                         lines (tests/vectors/README.md)
      --key FILE       MAC key (raw bytes); a FILE ending in .pub is instead
                       an Ed25519 public key (32 raw bytes) to verify with
      --key-id FILE    the MAC key's 8-byte id (default: FILE's .keyid)
      -o OUT           write the delivered record data, concatenated, to OUT
                       (only when the whole stream verified)
      --zstd-structure-only
  vmsdecode.py --check DIR               check every vector of DIR
                                         (tests/vectors): good ones decode to
                                         their .expect, bad ones fail with
                                         the status in bad/EXPECTED

Exit status: 0 ok, 1 stream rejected (or --check mismatch), 2 usage error.
"""

import hashlib
import os
import sys
import zlib

# ---- constants (FORMAT.md) ------------------------------------------------

MAGIC = b"\x89VMS\r\n\x1a\n"
FIXED = 64
RHDR = 72
DIGEST = 32
PREFIX = 128
END_PAYLOAD = 56
FORMAT_MAJOR = 1
MAX_RECORD = 64 << 20
MAX_BLOB = 64 << 10
MAX_EXTENSION = 4096

FEAT_REQ_COMPRESSION = 0x1
FEAT_REQ_PAGEMAP = 0x2
FEAT_REQ_KNOWN = 0x3

AUTH_NONE, AUTH_MAC, AUTH_ED25519 = 0, 1, 2
CODEC_NONE, CODEC_ZLIB, CODEC_ZSTD = 0, 1, 2

REC_STATE, REC_END, REC_CHECKPOINT = 1, 2, 3
RF_OPTIONAL, RF_COMPRESSED, RF_PAGEMAP = 0x1, 0x2, 0x4
RF_KNOWN = 0x7
PAGE = 4096
END_PAYLOAD_SIGNED = 120
CHECKPOINT_PAYLOAD = 112
SIG_CONTEXT = b"libvmstream-sig1"
KEY_ID_CONTEXT = b"libvmstream key id v1"

PHASE_STOP_COPY = 0xFFFFFFFF
U64_MAX = (1 << 64) - 1

# vms_status values (FORMAT.md section 10)
STATUS = {
    "VMS_OK": 0,
    "VMS_END": 1,
    "VMS_E_UNSUPPORTED": -6,
    "VMS_E_BAD_MAGIC": -100,
    "VMS_E_UNSUPPORTED_VERSION": -101,
    "VMS_E_BAD_HEADER": -102,
    "VMS_E_UNKNOWN_FEATURE": -103,
    "VMS_E_UNKNOWN_ALGORITHM": -104,
    "VMS_E_BAD_VENDOR_ID": -105,
    "VMS_E_NONZERO_PADDING": -106,
    "VMS_E_UNKNOWN_RECORD": -107,
    "VMS_E_BAD_RECORD_FLAGS": -108,
    "VMS_E_BAD_LENGTH": -109,
    "VMS_E_BAD_SEQUENCE": -110,
    "VMS_E_BAD_PHASE": -111,
    "VMS_E_BAD_OFFSET": -112,
    "VMS_E_BAD_COMPRESSION": -113,
    "VMS_E_BAD_END": -114,
    "VMS_E_TRAILING_DATA": -115,
    "VMS_E_TRUNCATED": -116,
    "VMS_E_BAD_DESCRIPTOR": -117,
    "VMS_E_HEADER_CHECKSUM": -150,
    "VMS_E_RECORD_CHECKSUM": -151,
    "VMS_E_CHAIN_MISMATCH": -152,
    "VMS_E_LIMIT_RECORD": -170,
    "VMS_E_LIMIT_TOTAL": -171,
    "VMS_E_LIMIT_RECORDS": -172,
    "VMS_E_LIMIT_BLOB": -173,
    "VMS_E_LIMIT_HEADER": -174,
    "VMS_E_LIMIT_BUFFERED": -175,
    "VMS_E_INCOMPATIBLE": -190,
    "VMS_E_AUTH_REQUIRED": -191,
    "VMS_E_MAC_MISMATCH": -192,
    "VMS_E_BAD_SIGNATURE": -193,
    "VMS_E_UNKNOWN_KEY": -194,
    "VMS_E_BAD_KEY": -195,
    "VMS_E_POLICY": -196,
}


class VmsError(Exception):
    """A rejection: status name, stream offset, record index (or None)."""

    def __init__(self, status, offset, message, record=None):
        super().__init__(message)
        assert status in STATUS, status
        self.status = status
        self.offset = offset
        self.record = record
        self.message = message

    def __str__(self):
        rec = "" if self.record is None else " record %d" % self.record
        return "%s (%d) at offset %d%s: %s" % (
            self.status, STATUS[self.status], self.offset, rec, self.message)


class Limits:
    """Decoder limits, FORMAT.md 8.2 (defaults = the RECOMMENDED ones)."""

    def __init__(self):
        self.record_payload = 16 << 20
        self.record_raw = 16 << 20
        self.total_bytes = 1 << 40
        self.records = 1 << 24
        self.blob = 16 << 10
        self.buffered = 80 << 20


# ---- helpers ---------------------------------------------------------------

def u16(b, o):
    return int.from_bytes(b[o:o + 2], "little")


def u32(b, o):
    return int.from_bytes(b[o:o + 4], "little")


def u64(b, o):
    return int.from_bytes(b[o:o + 8], "little")


def pad8(n):
    return (n + 7) & ~7


def blake2b_256(data, key=b""):
    """BLAKE2b with digest length 32 (RFC 7693), keyed when key is given."""
    return hashlib.blake2b(data, digest_size=32, key=key).digest()


def key_id_of(key):
    """Key id (FORMAT.md 7.1): BLAKE2b-256("libvmstream key id v1" || key)[0:8]."""
    return blake2b_256(KEY_ID_CONTEXT + key)[:8]


# ---- Ed25519 verification (RFC 8032 section 5.1.7, reference algorithm) ----

_P = 2 ** 255 - 19
_L = 2 ** 252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _pt_add(a, b):
    A = (a[1] - a[0]) * (b[1] - b[0]) % _P
    B = (a[1] + a[0]) * (b[1] + b[0]) % _P
    C = 2 * a[3] * b[3] * _D % _P
    D = 2 * a[2] * b[2] % _P
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F % _P, G * H % _P, F * G % _P, E * H % _P)


def _pt_mul(s, pt):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _pt_add(q, pt)
        pt = _pt_add(pt, pt)
        s >>= 1
    return q


def _pt_equal(a, b):
    return ((a[0] * b[2] - b[0] * a[2]) % _P == 0 and
            (a[1] * b[2] - b[1] * a[2]) % _P == 0)


def _recover_x(y, sign):
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _pt_decompress(b):
    y = int.from_bytes(b, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_G = (_recover_x(_GY, 0), _GY, 1, _recover_x(_GY, 0) * _GY % _P)


def ed25519_verify(public, msg, sig):
    """True when sig (64 bytes) is a valid Ed25519 signature of msg."""
    if len(public) != 32 or len(sig) != 64:
        return False
    a = _pt_decompress(public)
    r = _pt_decompress(sig[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= _L:
        return False
    h = int.from_bytes(hashlib.sha512(sig[:32] + public + msg).digest(), "little") % _L
    return _pt_equal(_pt_mul(s, _G), _pt_add(r, _pt_mul(h, a)))


class Header:
    pass


class Record:
    def __init__(self, seq, section, offset, phase, data, length, stream_offset):
        self.seq = seq
        self.section = section
        self.offset = offset
        self.phase = phase
        self.data = data          # None when not decompressed (zstd structure mode)
        self.length = length
        self.stream_offset = stream_offset


class Result:
    def __init__(self, header, records, records_total, raw_bytes, stream_bytes, chain):
        self.header = header
        self.records = records    # delivered STATE records
        self.records_total = records_total
        self.raw_bytes = raw_bytes
        self.stream_bytes = stream_bytes
        self.chain = chain

    def expect_lines(self):
        """The expected-content lines (tests/vectors/README.md)."""
        h = self.header
        lines = ["header %d %d 0x%08x %d %d %s" % (
            h.major, h.minor, h.vendor_id, h.codec, h.auth_mode,
            h.blob.hex() if h.blob else "-")]
        for r in self.records:
            digest = blake2b_256(r.data).hex() if r.data is not None else None
            lines.append("record %d %d %d %d %d %s" % (
                r.seq, r.section, r.offset, r.phase, r.length, digest))
        lines.append("end %d %d %d %s" % (
            self.records_total, self.raw_bytes, self.stream_bytes, self.chain.hex()))
        return lines


# ---- decompression (FORMAT.md section 5) ----------------------------------

def zlib_exact(payload, raw_len):
    """Returns exactly raw_len bytes, or raises ValueError(reason)."""
    if len(payload) < 2:
        raise ValueError("zlib data shorter than its 2-byte header")
    if payload[1] & 0x20:
        raise ValueError("zlib data asks for a preset dictionary (FDICT)")
    d = zlib.decompressobj()
    try:
        out = d.decompress(payload, raw_len)
        if len(out) == raw_len and not d.eof:
            if d.decompress(d.unconsumed_tail, 1):
                raise ValueError("data decompresses to more than raw_len")
    except zlib.error as e:
        raise ValueError("invalid zlib data (%s)" % e)
    if not d.eof:
        raise ValueError("zlib data ends early")
    if len(out) != raw_len:
        raise ValueError("data decompresses to %d bytes, raw_len is %d" % (len(out), raw_len))
    if d.unused_data or d.unconsumed_tail:
        raise ValueError("bytes follow the end of the zlib stream")
    return out


def zstd_structure(payload, raw_len):
    """Checks a zstd payload without decompressing it (RFC 8878 framing):
    exactly one frame, Frame_Content_Size == raw_len, no dictionary, nothing
    after the frame.  Raises ValueError(reason)."""
    n = len(payload)
    if n < 4:
        raise ValueError("zstd data shorter than a frame magic")
    magic = u32(payload, 0)
    if magic & 0xFFFFFFF0 == 0x184D2A50:
        raise ValueError("skippable zstd frame")
    if magic != 0xFD2FB528:
        raise ValueError("bad zstd frame magic 0x%08x" % magic)
    if n < 5:
        raise ValueError("zstd frame header truncated")
    fhd = payload[4]
    fcs_flag, single, reserved, checksum, did_flag = (
        fhd >> 6, (fhd >> 5) & 1, (fhd >> 3) & 1, (fhd >> 2) & 1, fhd & 3)
    if reserved:
        raise ValueError("zstd frame header reserved bit set")
    pos = 5 + (0 if single else 1)
    did_size = (0, 1, 2, 4)[did_flag]
    fcs_size = (1 if single else 0, 2, 4, 8)[fcs_flag]
    if pos + did_size + fcs_size > n:
        raise ValueError("zstd frame header truncated")
    dict_id = int.from_bytes(payload[pos:pos + did_size], "little")
    pos += did_size
    if dict_id:
        raise ValueError("zstd frame names dictionary %d" % dict_id)
    if fcs_size == 0:
        raise ValueError("zstd frame has no Frame_Content_Size")
    fcs = int.from_bytes(payload[pos:pos + fcs_size], "little")
    if fcs_size == 2:
        fcs += 256
    pos += fcs_size
    if fcs != raw_len:
        raise ValueError("zstd Frame_Content_Size %d differs from raw_len %d" % (fcs, raw_len))
    while True:
        if pos + 3 > n:
            raise ValueError("zstd block header truncated")
        bh = int.from_bytes(payload[pos:pos + 3], "little")
        pos += 3
        last, btype, bsize = bh & 1, (bh >> 1) & 3, bh >> 3
        if btype == 3:
            raise ValueError("reserved zstd block type")
        pos += 1 if btype == 1 else bsize
        if pos > n:
            raise ValueError("zstd block truncated")
        if last:
            break
    if checksum:
        pos += 4
        if pos > n:
            raise ValueError("zstd content checksum truncated")
    if pos != n:
        raise ValueError("bytes follow the end of the zstd frame")


# ---- uniform-page maps (FORMAT.md section 5.2, checks P1..P8) --------------

def expand_pagemap(payload, raw_len, compressed, decompress, at):
    """Expands a page-mapped payload; raises VmsError.  decompress(data, n)
    returns exactly n bytes or raises ValueError; it returns None when the
    literals were checked but not decompressed (zstd structure mode)."""
    wire = len(payload)
    pages = (raw_len + PAGE - 1) // PAGE
    mb = pad8((pages + 7) // 8)
    if wire < mb:                                                       # P1
        raise VmsError("VMS_E_BAD_LENGTH", at, "%d payload bytes cannot hold a %d-byte "
                       "page bitmap" % (wire, mb))
    uniform = []
    for i in range(mb * 8):
        if payload[i // 8] >> (i % 8) & 1:
            if i >= pages:                                              # P2
                raise VmsError("VMS_E_NONZERO_PADDING", at + i // 8,
                               "page bitmap bit %d set beyond its %d pages" % (i, pages))
            uniform.append(i)
    count = len(uniform)
    fb = pad8(count)
    if count == 0:                                                      # P3
        raise VmsError("VMS_E_BAD_LENGTH", at, "page map marks no uniform page")
    if wire - mb < fb:                                                  # P4
        raise VmsError("VMS_E_BAD_LENGTH", at + mb, "%d payload bytes cannot hold %d fill "
                       "bytes" % (wire, count))
    for i in range(count, fb):
        if payload[mb + i]:                                             # P5
            raise VmsError("VMS_E_NONZERO_PADDING", at + mb + i,
                           "fill padding byte is 0x%02x" % payload[mb + i])

    def page_len(i):
        return PAGE if i + 1 < pages else raw_len - i * PAGE

    lit = raw_len - sum(page_len(i) for i in uniform)
    rest = payload[mb + fb:]
    if compressed:
        if len(rest) == 0 or len(rest) >= lit:                          # P6
            raise VmsError("VMS_E_BAD_LENGTH", at + mb + fb, "%d compressed bytes for %d "
                           "literal bytes" % (len(rest), lit))
        try:                                                            # P7
            literals = decompress(rest, lit)
        except ValueError as e:
            raise VmsError("VMS_E_BAD_COMPRESSION", at + mb + fb, str(e))
        if literals is None:
            return None
    else:
        if len(rest) != lit:                                            # P8
            raise VmsError("VMS_E_BAD_LENGTH", at + mb + fb, "%d literal bytes on the wire, "
                           "the page map needs %d" % (len(rest), lit))
        literals = rest
    out = bytearray()
    fills = payload[mb:mb + count]
    f = src = 0
    uset = set(uniform)
    for i in range(pages):
        n = page_len(i)
        if i in uset:
            out += bytes([fills[f]]) * n
            f += 1
        else:
            out += literals[src:src + n]
            src += n
    return bytes(out)


# ---- the decoder (FORMAT.md section 9, in order) --------------------------

class Decoder:
    def __init__(self, key=None, key_id=None, limits=None, require_auth=AUTH_NONE,
                 min_minor=0, zstd_structure_only=False, ed25519_keys=()):
        if key is not None and not 16 <= len(key) <= 64:
            raise ValueError("a MAC key has 16 to 64 bytes")
        if key is not None and (key_id is None or len(key_id) != 8):
            raise ValueError("a MAC key needs an 8-byte key id")
        self.key = key
        self.key_id = key_id
        self.lim = limits or Limits()
        self.require_auth = require_auth
        self.min_minor = min_minor
        self.zstd_structure_only = zstd_structure_only
        self.ed25519_keys = list(ed25519_keys)

    def decode(self, data):
        """Decodes a whole stream.  Returns a Result or raises VmsError."""
        data = bytes(data)
        n = len(data)
        lim = self.lim

        def fail(status, offset, msg, record=None):
            raise VmsError(status, offset, msg, record)

        # A. magic, byte by byte
        for i in range(min(n, 8)):
            if data[i] != MAGIC[i]:
                hint = "not a vmstream"
                if i == 0 and data[0] == 0x09:
                    hint = "high bit stripped (7-bit channel?)"
                elif i == 4 and data[4] == 0x0A:
                    hint = "CR LF translated to LF (text-mode transfer?)"
                elif i == 7 and data[7] == 0x0D:
                    hint = "LF translated to CR LF (text-mode transfer?)"
                fail("VMS_E_BAD_MAGIC", i, "magic byte %d is 0x%02x, expected 0x%02x: %s"
                     % (i, data[i], MAGIC[i], hint))
        if n < FIXED:
            fail("VMS_E_TRUNCATED", n, "stream ends inside the fixed header")

        # B. fixed header
        h = Header()
        h.major = u16(data, 8)
        h.minor = u16(data, 10)
        h.header_length = u32(data, 12)
        h.features_required = u32(data, 16)
        h.features_optional = u32(data, 20)
        h.checksum_alg = data[24]
        h.auth_mode = data[25]
        h.codec = data[26]
        h.vendor_id = u32(data, 28)
        h.stream_id = data[32:48]
        h.key_id = data[48:56]
        h.max_record = u32(data, 56)
        h.blob_len = u32(data, 60)

        if h.major != FORMAT_MAJOR:                                     # B1
            fail("VMS_E_UNSUPPORTED_VERSION", 8, "format %d.%d" % (h.major, h.minor))
        if h.features_required & ~FEAT_REQ_KNOWN:                       # B2
            fail("VMS_E_UNKNOWN_FEATURE", 16,
                 "unknown required feature bits 0x%08x" % (h.features_required & ~FEAT_REQ_KNOWN))
        if h.checksum_alg != 1:                                         # B3
            fail("VMS_E_UNKNOWN_ALGORITHM", 24, "checksum algorithm %d" % h.checksum_alg)
        if h.auth_mode > AUTH_ED25519:                                  # B4
            fail("VMS_E_UNKNOWN_ALGORITHM", 25, "auth mode %d" % h.auth_mode)
        if h.codec > CODEC_ZSTD:                                        # B5
            fail("VMS_E_UNKNOWN_ALGORITHM", 26, "codec %d" % h.codec)
        if (h.codec != CODEC_NONE) != bool(h.features_required & FEAT_REQ_COMPRESSION):  # B6
            fail("VMS_E_BAD_HEADER", 26, "codec %d contradicts the COMPRESSION feature bit" % h.codec)
        if data[27] != 0:                                               # B7
            fail("VMS_E_NONZERO_PADDING", 27, "reserved header byte is 0x%02x" % data[27])
        v = h.vendor_id                                                 # B8
        if (v & 0x80000000 and v & 0x7FFF0000) or (not v & 0x80000000 and v != 0):
            fail("VMS_E_BAD_VENDOR_ID", 28, "vendor id 0x%08x is reserved" % v)
        if h.auth_mode == AUTH_NONE and any(h.key_id):                  # B9
            fail("VMS_E_NONZERO_PADDING", 48, "key id must be zero without authentication")
        if h.max_record == 0 or h.max_record > MAX_RECORD:              # B10
            fail("VMS_E_BAD_HEADER", 56, "max_record %d outside 1..%d" % (h.max_record, MAX_RECORD))
        if h.max_record > lim.record_raw:                               # B11
            fail("VMS_E_LIMIT_RECORD", 56, "max_record %d above the limit %d" % (h.max_record, lim.record_raw))
        if h.blob_len > MAX_BLOB:                                       # B12
            fail("VMS_E_BAD_HEADER", 60, "version blob length %d above %d" % (h.blob_len, MAX_BLOB))
        if h.blob_len > lim.blob:                                       # B13
            fail("VMS_E_LIMIT_BLOB", 60, "version blob length %d above the limit %d" % (h.blob_len, lim.blob))
        base = FIXED + pad8(h.blob_len) + DIGEST
        hl = h.header_length
        if hl % 8 or hl < base or (h.minor == 0 and hl != base):        # B14
            fail("VMS_E_BAD_HEADER", 12, "header_length %d, expected %d for format %d.%d"
                 % (hl, base, h.major, h.minor))
        if hl - base > MAX_EXTENSION:                                   # B15
            fail("VMS_E_LIMIT_HEADER", 12, "header extension of %d bytes" % (hl - base))

        # C. receiver capability and policy
        if h.minor < self.min_minor:                                    # C1
            fail("VMS_E_POLICY", 10, "format minor %d below the required %d" % (h.minor, self.min_minor))
        if h.auth_mode < self.require_auth:                             # C2
            fail("VMS_E_AUTH_REQUIRED", 25, "auth mode %d, required %d" % (h.auth_mode, self.require_auth))
        key = b""
        vkey = None
        if h.auth_mode == AUTH_ED25519:                                 # C3, C4
            for pub in self.ed25519_keys:
                if key_id_of(pub) == h.key_id:
                    vkey = pub
                    break
            if vkey is None:
                fail("VMS_E_UNKNOWN_KEY", 48, "stream signed by key id %s, not an accepted key"
                     % h.key_id.hex())
        if h.auth_mode == AUTH_MAC:                                     # C5
            if self.key is None:
                fail("VMS_E_UNKNOWN_KEY", 48, "MAC stream but no key given")
            if h.key_id != self.key_id:
                fail("VMS_E_UNKNOWN_KEY", 48, "stream key id %s is not the key's id %s"
                     % (h.key_id.hex(), self.key_id.hex()))
            key = self.key
        if hl > lim.total_bytes:                                        # C6
            fail("VMS_E_LIMIT_TOTAL", 12, "header above the total-bytes limit")
        if h.codec == CODEC_ZSTD and not self.zstd_structure_only:      # C7
            fail("VMS_E_UNSUPPORTED", 26,
                 "codec 2 (zstd) is not supported by this reference decoder "
                 "(Python standard library only)")
        signed = h.auth_mode == AUTH_ED25519
        fixed_max = END_PAYLOAD_SIGNED if signed else END_PAYLOAD
        pagemap = bool(h.features_required & FEAT_REQ_PAGEMAP)
        need = (hl + pad8(max(h.max_record, fixed_max)) +
                (h.max_record if h.codec or pagemap else 0))
        if need > lim.buffered:                                         # C8
            fail("VMS_E_LIMIT_RECORD", 56, "buffers of %d bytes above the limit %d" % (need, lim.buffered))

        # D. rest of the header
        if n < hl:
            fail("VMS_E_TRUNCATED", n, "stream ends inside the header")
        for i in range(FIXED + h.blob_len, FIXED + pad8(h.blob_len)):    # D1
            if data[i]:
                fail("VMS_E_NONZERO_PADDING", i, "header padding byte is 0x%02x" % data[i])
        digest = blake2b_256(data[:hl - DIGEST], key)                   # D2
        if digest != data[hl - DIGEST:hl]:
            fail("VMS_E_MAC_MISMATCH" if key else "VMS_E_HEADER_CHECKSUM", hl - DIGEST,
                 "header %s does not verify" % ("MAC" if key else "checksum"))
        h.blob = data[FIXED:FIXED + h.blob_len]
        h.extension = data[base - DIGEST:hl - DIGEST]
        h.digest = digest

        # E..H. records
        chain = digest
        index = 0
        raw_total = 0
        last_phase = 0
        delivered = []
        held = []            # signed mode: verified records awaiting a signature
        held_bytes = 0
        off = hl

        def decompress(payload, n):
            if h.codec == CODEC_ZLIB:
                return zlib_exact(payload, n)
            zstd_structure(payload, n)
            return None

        def sig_message(kind, seq, s):
            return (SIG_CONTEXT + bytes([kind]) + bytes(7) + digest + h.key_id +
                    seq.to_bytes(8, "little") + seq.to_bytes(8, "little") +
                    raw_total.to_bytes(8, "little") + s.to_bytes(8, "little") + chain)
        while True:
            s = off
            if n < s + RHDR:
                fail("VMS_E_TRUNCATED", n, "stream ends %s before the END record"
                     % ("at a record boundary" if n == s else "inside a record header"), index)
            rh = data[s:s + RHDR]
            rtype, flags, section = u16(rh, 0), u16(rh, 2), u32(rh, 4)
            seq, offset, phase = u64(rh, 8), u64(rh, 16), u32(rh, 24)
            wire_len, raw_len, reserved = u32(rh, 28), u32(rh, 32), u32(rh, 36)
            is_end = rtype == REC_END
            is_ckpt = rtype == REC_CHECKPOINT and signed
            mr = h.max_record

            if seq != index:                                            # E1
                fail("VMS_E_BAD_SEQUENCE", s + 8, "sequence number %d, expected %d" % (seq, index), index)
            if flags & ~RF_KNOWN:                                       # E2
                fail("VMS_E_BAD_RECORD_FLAGS", s + 2, "unknown flag bits 0x%04x" % (flags & ~RF_KNOWN), index)
            if reserved:                                                # E3
                fail("VMS_E_NONZERO_PADDING", s + 36, "reserved field 0x%08x" % reserved, index)
            if not is_end and not is_ckpt and wire_len > mr:            # E4
                fail("VMS_E_BAD_LENGTH", s + 28, "wire_len %d above max_record %d" % (wire_len, mr), index)
            if not is_end and not is_ckpt and wire_len > lim.record_payload:  # E5
                fail("VMS_E_LIMIT_RECORD", s + 28, "wire_len %d above the limit" % wire_len, index)
            body_len = pad8(wire_len)
            if s + RHDR + body_len > lim.total_bytes:                   # E6
                fail("VMS_E_LIMIT_TOTAL", s + 28, "record ends beyond the total-bytes limit", index)
            if is_end or is_ckpt:
                want = (END_PAYLOAD_SIGNED if signed else END_PAYLOAD) if is_end \
                    else CHECKPOINT_PAYLOAD
                if flags or section or offset or phase:                 # E7
                    fail("VMS_E_BAD_END" if is_end else "VMS_E_BAD_RECORD_FLAGS", s,
                         "%s has non-zero flags, section, offset or phase"
                         % ("END" if is_end else "CHECKPOINT"), index)
                if wire_len != want or raw_len != want:                 # E8
                    fail("VMS_E_BAD_LENGTH", s + 28, "lengths %d/%d, expected %d/%d"
                         % (wire_len, raw_len, want, want), index)
                if is_ckpt and index >= lim.records:                    # E9
                    fail("VMS_E_LIMIT_RECORDS", s, "record count limit", index)
            else:
                if index >= lim.records:                                # E9
                    fail("VMS_E_LIMIT_RECORDS", s, "record count limit", index)
                if rtype == REC_CHECKPOINT:                             # E10
                    fail("VMS_E_UNKNOWN_RECORD", s, "CHECKPOINT in a stream that is not signed",
                         index)
                if rtype != REC_STATE and not flags & RF_OPTIONAL:      # E11
                    fail("VMS_E_UNKNOWN_RECORD", s, "unknown mandatory record type 0x%04x" % rtype, index)
                if raw_len > mr:                                        # E12
                    fail("VMS_E_BAD_LENGTH", s + 32, "raw_len %d above max_record %d" % (raw_len, mr), index)
                if flags & RF_PAGEMAP and (rtype != REC_STATE or not pagemap):  # E13
                    fail("VMS_E_BAD_RECORD_FLAGS", s + 2, "PAGEMAP on %s" %
                         ("a record that is not STATE" if rtype != REC_STATE
                          else "a stream without the PAGEMAP feature"), index)
                if flags & RF_PAGEMAP:
                    if flags & RF_COMPRESSED and h.codec == CODEC_NONE:  # E14
                        fail("VMS_E_BAD_RECORD_FLAGS", s + 2, "COMPRESSED in a stream without codec", index)
                    if wire_len >= raw_len:                             # E15
                        fail("VMS_E_BAD_LENGTH", s + 28, "page-mapped wire_len %d for raw_len %d"
                             % (wire_len, raw_len), index)
                elif flags & RF_COMPRESSED:
                    if h.codec == CODEC_NONE:                           # E14
                        fail("VMS_E_BAD_RECORD_FLAGS", s + 2, "COMPRESSED in a stream without codec", index)
                    if wire_len == 0 or wire_len >= raw_len:            # E16
                        fail("VMS_E_BAD_LENGTH", s + 28, "compressed wire_len %d for raw_len %d"
                             % (wire_len, raw_len), index)
                elif wire_len != raw_len:                               # E17
                    fail("VMS_E_BAD_LENGTH", s + 32, "wire_len %d != raw_len %d" % (wire_len, raw_len), index)
                if rtype == REC_STATE:
                    if raw_len == 0:                                    # E18
                        fail("VMS_E_BAD_LENGTH", s + 32, "empty STATE record", index)
                    if offset > U64_MAX - raw_len:                      # E19
                        fail("VMS_E_BAD_OFFSET", s + 16, "offset %d + %d overflows" % (offset, raw_len), index)
                    if phase < last_phase:                              # E20
                        fail("VMS_E_BAD_PHASE", s + 24, "phase %d after phase %d" % (phase, last_phase), index)

            # F. body
            if n < s + RHDR + body_len:
                fail("VMS_E_TRUNCATED", n, "stream ends inside a record", index)
            payload = data[s + RHDR:s + RHDR + wire_len]
            for i in range(s + RHDR + wire_len, s + RHDR + body_len):  # F1
                if data[i]:
                    fail("VMS_E_NONZERO_PADDING", i, "record padding byte is 0x%02x" % data[i], index)
            prefix = h.stream_id + digest + rh[:40] + bytes(PREFIX - 88)
            if blake2b_256(prefix + payload, key) != rh[40:72]:        # F2
                fail("VMS_E_MAC_MISMATCH" if key else "VMS_E_RECORD_CHECKSUM", s + 40,
                     "record %s does not verify" % ("MAC" if key else "checksum"), index)

            if is_end:
                # G. END payload
                if u64(payload, 0) != index:                            # G1
                    fail("VMS_E_BAD_END", s + RHDR, "END counts %d records, %d received"
                         % (u64(payload, 0), index), index)
                if u64(payload, 8) != raw_total:                        # G2
                    fail("VMS_E_BAD_END", s + RHDR + 8, "END counts %d state bytes, %d received"
                         % (u64(payload, 8), raw_total), index)
                if u64(payload, 16) != s:                               # G3
                    fail("VMS_E_BAD_END", s + RHDR + 16, "END says it starts at %d, it starts at %d"
                         % (u64(payload, 16), s), index)
                if payload[24:56] != chain:                             # G4
                    fail("VMS_E_CHAIN_MISMATCH", s + RHDR + 24, "chain digest mismatch", index)
                if signed:                                              # G5
                    if not ed25519_verify(vkey, sig_message(2, index, s), payload[56:120]):
                        fail("VMS_E_BAD_SIGNATURE", s + RHDR, "END signature does not verify",
                             index)
                    delivered += held
                    held = []
                end = s + RHDR + body_len
                if n > end:                                             # H1
                    fail("VMS_E_TRAILING_DATA", end, "%d bytes follow the END record" % (n - end))
                return Result(h, delivered, index, raw_total, end, chain)

            if is_ckpt:
                # G'. CHECKPOINT payload (signed streams)
                if u64(payload, 0) != index or u64(payload, 8) != raw_total:  # K1
                    fail("VMS_E_BAD_END", s + RHDR, "CHECKPOINT counts %d records / %d bytes, "
                         "%d / %d received" % (u64(payload, 0), u64(payload, 8), index,
                                               raw_total), index)
                if payload[16:48] != chain:                             # K2
                    fail("VMS_E_CHAIN_MISMATCH", s + RHDR + 16, "CHECKPOINT chain mismatch", index)
                if not ed25519_verify(vkey, sig_message(1, index, s), payload[48:112]):  # K3
                    fail("VMS_E_BAD_SIGNATURE", s + RHDR, "CHECKPOINT signature does not verify",
                         index)
                delivered += held
                held = []
                held_bytes = 0

            chain = blake2b_256(chain + rh[40:72])
            if rtype == REC_STATE:
                out = payload
                try:
                    if flags & RF_PAGEMAP:                              # F3 (P1..P8)
                        out = expand_pagemap(payload, raw_len, flags & RF_COMPRESSED,
                                             decompress, s + RHDR)
                    elif flags & RF_COMPRESSED:                         # F4
                        out = decompress(payload, raw_len)
                except ValueError as e:
                    fail("VMS_E_BAD_COMPRESSION", s + RHDR, str(e), index)
                except VmsError as e:
                    e.record = index
                    raise
                last_phase = phase
                raw_total += raw_len
                rec = Record(seq, section, offset, phase, out, raw_len, s)
                if signed:                                              # F5
                    held.append(rec)
                    held_bytes += raw_len
                    if held_bytes > lim.buffered - need:
                        fail("VMS_E_LIMIT_BUFFERED", s, "%d bytes of state await a signature"
                             % held_bytes, index)
                else:
                    delivered.append(rec)
            index += 1
            off = s + RHDR + body_len


# ---- --check over tests/vectors ---------------------------------------------

def read(path):
    with open(path, "rb") as f:
        return f.read()


def decoder_for(keyfile):
    """A Decoder configured with KEYFILE: NAME.pub is an Ed25519 public key,
    NAME.key a MAC key whose id is in NAME.keyid."""
    if keyfile is None:
        return Decoder(zstd_structure_only=True)
    if keyfile.endswith(".pub"):
        return Decoder(ed25519_keys=[read(keyfile)], zstd_structure_only=True)
    return Decoder(key=read(keyfile), key_id=read(os.path.splitext(keyfile)[0] + ".keyid"),
                   zstd_structure_only=True)


def expect_file_lines(path):
    with open(path) as f:
        return [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]


def check(vdir):
    passed = failed = skipped = 0

    def report(ok, name, msg):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
        print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + msg) if msg else ""))

    goods = sorted(f for f in os.listdir(vdir) if f.endswith(".vms"))
    if not goods:
        report(False, vdir, "no vectors found")
    for f in goods:
        base = os.path.join(vdir, f[:-4])
        keyfile = None
        for ext in (".key", ".pub"):
            if os.path.exists(base + ext):
                keyfile = base + ext
        dec = decoder_for(keyfile)
        try:
            res = dec.decode(read(base + ".vms"))
        except VmsError as e:
            report(False, f, "rejected: %s" % e)
            continue
        got = res.expect_lines()
        want = expect_file_lines(base + ".expect")
        partial = 0
        ok = len(got) == len(want)
        for g, w in zip(got, want):
            if g.endswith(" None"):          # zstd record: not decompressed
                partial += 1
                ok = ok and w.rsplit(" ", 1)[0] == g.rsplit(" ", 1)[0]
            else:
                ok = ok and g == w
        if not ok:
            report(False, f, "decoded content differs from %s.expect:\n  got:  %s\n  want: %s"
                   % (f[:-4], "\n        ".join(got), "\n        ".join(want)))
            continue
        if os.path.exists(base + ".bin"):
            if b"".join(r.data for r in res.records) != read(base + ".bin"):
                report(False, f, "decoded data differs from %s.bin" % f[:-4])
                continue
        if partial:
            skipped += 1
            print("skip %s: %d zstd record(s) verified (checksums, framing, content size) "
                  "but not decompressed: zstd is unsupported (standard library only)"
                  % (f, partial))
        else:
            report(True, f, "")

    bad_dir = os.path.join(vdir, "bad")
    exp_path = os.path.join(bad_dir, "EXPECTED")
    if not os.path.exists(exp_path):
        report(False, exp_path, "missing")
        return passed, failed, skipped
    listed = set()
    with open(exp_path) as fh:
        for line in fh:
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split()
            name, want = parts[0], parts[1]
            listed.add(name)
            keyfile = None
            for opt in parts[2:]:
                if opt.startswith("key="):
                    keyfile = os.path.join(bad_dir, opt[4:])
            dec = decoder_for(keyfile)
            try:
                dec.decode(read(os.path.join(bad_dir, name)))
            except VmsError as e:
                report(e.status == want, "bad/" + name,
                       "" if e.status == want else "got %s, expected %s" % (e, want))
                continue
            report(False, "bad/" + name, "accepted, expected %s" % want)
    for f in sorted(os.listdir(bad_dir)):
        if f.endswith(".vms") and f not in listed:
            report(False, "bad/" + f, "not listed in bad/EXPECTED")
    return passed, failed, skipped


# ---- command line -----------------------------------------------------------

def main(argv):
    args = argv[1:]
    if len(args) == 2 and args[0] == "--check":
        p, f, s = check(args[1])
        print("%d passed, %d failed, %d skipped" % (p, f, s))
        return 1 if f else 0
    key = key_id = out = path = None
    zstd_structure_only = False
    i = 0
    try:
        while i < len(args):
            a = args[i]
            if a == "--key":
                key = read(args[i + 1])
                i += 1
            elif a == "--key-id":
                key_id = read(args[i + 1])
                i += 1
            elif a == "-o":
                out = args[i + 1]
                i += 1
            elif a == "--zstd-structure-only":
                zstd_structure_only = True
            elif a.startswith("-") and a != "-":
                raise IndexError
            elif path is None:
                path = a
            else:
                raise IndexError
            i += 1
        if path is None:
            raise IndexError
    except IndexError:
        sys.stderr.write(__doc__)
        return 2
    keyfile = args[args.index("--key") + 1] if key is not None else None
    pubs = []
    if keyfile is not None and keyfile.endswith(".pub"):
        pubs, key = [key], None
    elif key is not None and key_id is None:
        key_id = read(os.path.splitext(keyfile)[0] + ".keyid")
    data = sys.stdin.buffer.read() if path == "-" else read(path)
    try:
        res = Decoder(key=key, key_id=key_id, ed25519_keys=pubs,
                      zstd_structure_only=zstd_structure_only).decode(data)
    except VmsError as e:
        sys.stderr.write("vmsdecode: rejected: %s\n" % e)
        return 1
    except ValueError as e:
        sys.stderr.write("vmsdecode: %s\n" % e)
        return 2
    print("\n".join(res.expect_lines()))
    if out:
        with open(out, "wb") as f:
            for r in res.records:
                f.write(r.data or b"")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
