#!/usr/bin/env bash
# examples/demo.sh - live-migrate the vmsdemo device (examples/vendor-driver)
# between two processes, each playing QEMU on its host (examples/qemu-shim),
# over TCP on 127.0.0.1, with the guest workload writing device memory all
# along.  Prints a summary and proves that the destination device's state
# equals the source's at switchover (BLAKE2b-256 digest computed by each
# side).  Exits 0 only when the digests are equal.
#
#   examples/demo.sh [--compress] [--mac] [--sign] [--mem-size SIZE]
#                    [--rate N] [--build-dir DIR]
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: examples/demo.sh [OPTIONS]

Live-migrates the vmsdemo device emulator between two processes over
loopback TCP, with the guest workload running, and checks that the
destination's device state equals the source's at switchover.

Options:
  --compress        zstd-compressed records
  --mac             MAC every record (a fresh 32-byte key)
  --sign            Ed25519-sign the stream (a fresh key pair); the
                    destination accepts only streams signed by it
  --mem-size SIZE   device memory, a power of two (default 256M)
  --rate N          guest commands per second (default 2000)
  --build-dir DIR   meson build directory (default: build at the repo root)
  -h, --help        this help

Exit status: 0 migrated and digests equal; 1 otherwise.
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${VMS_BUILD_DIR:-$ROOT/build}
MEM=256M
RATE=2000
COMPRESS=0 MAC=0 SIGN=0
while [ $# -gt 0 ]; do
    case $1 in
        --compress) COMPRESS=1 ;;
        --mac) MAC=1 ;;
        --sign) SIGN=1 ;;
        --mem-size) [ $# -ge 2 ] || { usage >&2; exit 2; }; MEM=$2; shift ;;
        --mem-size=*) MEM=${1#*=} ;;
        --rate) [ $# -ge 2 ] || { usage >&2; exit 2; }; RATE=$2; shift ;;
        --rate=*) RATE=${1#*=} ;;
        --build-dir) [ $# -ge 2 ] || { usage >&2; exit 2; }; BUILD=$2; shift ;;
        --build-dir=*) BUILD=${1#*=} ;;
        -h | --help) usage; exit 0 ;;
        *) echo "demo.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
export LC_ALL=C
if [ "$MAC" = 1 ] && [ "$SIGN" = 1 ]; then
    echo "demo.sh: choose one of --mac and --sign (a signed stream needs no MAC)" >&2
    exit 2
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/vms-demo.XXXXXX")
DEST_PID=
cleanup() {
    if [ -n "$DEST_PID" ]; then kill "$DEST_PID" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT

# ---- build (incremental; sets the build directory up when missing) -------
if [ ! -f "$BUILD/build.ninja" ]; then
    echo "== meson setup $BUILD"
    meson setup "$BUILD" "$ROOT" >"$T/setup.log" 2>&1 || { cat "$T/setup.log"; exit 1; }
fi
SHIM=$BUILD/examples/qemu-shim/qemu-shim
VD=$BUILD/examples/vendor-driver
echo "== meson compile -C $BUILD qemu-shim vendor-driver"
if ! meson compile -C "$BUILD" qemu-shim vendor-driver >"$T/build.log" 2>&1; then
    if [ -x "$SHIM" ] && [ -x "$VD" ]; then
        echo "warning: the build failed (see below); using the binaries already built" >&2
        tail -n 15 "$T/build.log" >&2
    else
        tail -n 40 "$T/build.log" >&2
        exit 1
    fi
fi

SRC_ARGS=(--mem-size "$MEM" --workload-rate "$RATE")
DST_ARGS=(--mem-size "$MEM")
MODE="checksums (BLAKE2b)"
if [ "$COMPRESS" = 1 ]; then
    SRC_ARGS+=(--compress)
    MODE="$MODE, zstd"
fi
if [ "$MAC" = 1 ]; then
    "$VD" keygen --mac "$T/mac.key"
    SRC_ARGS+=(--mac-key "$T/mac.key")
    DST_ARGS+=(--mac-key "$T/mac.key")
    MODE="$MODE, MAC (keyed BLAKE2b)"
fi
if [ "$SIGN" = 1 ]; then
    "$VD" keygen --ed25519 "$T/sign.pem" "$T/sign.pub.pem"
    SRC_ARGS+=(--sign "$T/sign.pem")
    DST_ARGS+=(--verify-key "$T/sign.pub.pem")
    MODE="$MODE, Ed25519 signature"
fi

echo "== destination: $SHIM dest ${DST_ARGS[*]}"
"$SHIM" dest --port-file "$T/port" "${DST_ARGS[@]}" >"$T/dest.log" 2>&1 &
DEST_PID=$!
for _ in $(seq 1 200); do
    [ -s "$T/port" ] && break
    if ! kill -0 "$DEST_PID" 2>/dev/null; then
        cat "$T/dest.log"
        echo "FAIL: the destination did not start" >&2
        exit 1
    fi
    sleep 0.05
done
[ -s "$T/port" ] || { echo "FAIL: the destination is not listening" >&2; exit 1; }
PORT=$(cat "$T/port")

echo "== source:      $SHIM source --connect 127.0.0.1:$PORT ${SRC_ARGS[*]}"
START=$(date +%s.%N)
SRC_RC=0
"$SHIM" source --connect "127.0.0.1:$PORT" "${SRC_ARGS[@]}" 2>&1 | tee "$T/source.log" ||
    SRC_RC=$?
DEST_RC=0
wait "$DEST_PID" || DEST_RC=$?
DEST_PID=
END=$(date +%s.%N)
echo "== destination log"
cat "$T/dest.log"

f() { sed -n "s/^$2//p" "$1" | head -n 1; }
S=$T/source.log
D=$T/dest.log
SRC_DIGEST=$(f "$S" "source: switchover digest: ")
DST_DIGEST=$(f "$D" "dest: switchover digest: ")

echo
echo "== Summary"
printf '  %-20s %s\n' "device" "vmsdemo-ringdev (pci:0x1af4:0x11f0), $MEM of memory, $RATE guest commands/s"
printf '  %-20s %s\n' "stream protection" "$MODE"
printf '  %-20s %s\n' "bytes sent" "$(sed -n 's/^source: total: \(.*\), [0-9.]* s, .*/\1/p' "$S")"
printf '  %-20s %s\n' "pre-copy" "$(sed -n 's/^source: pre-copy: \([0-9]* passes\), \([0-9.]* MiB\) of device stream in \([0-9]* ms\).*/\1, \2 in \3/p' "$S")"
printf '  %-20s %s\n' "stop-copy" "$(sed -n 's/^source: stop-copy: \([0-9.]* MiB\) of device stream in \([0-9.]* ms\).*/\1 in \2/p' "$S")"
printf '  %-20s %s\n' "downtime" "$(f "$S" "source: downtime: ")"
printf '  %-20s %s\n' "throughput" "$(sed -n 's/^source: total: .*, \([0-9.]* s\), \([0-9.]* MiB\/s\)/\2 over \1/p' "$S")"
printf '  %-20s %s\n' "destination commit" "$(f "$D" "dest: RESUMING -> STOP: ")"
printf '  %-20s %.1f s (both processes, including start-up and digests)\n' "wall time" \
    "$(awk -v a="$START" -v b="$END" 'BEGIN { print b - a }')"
printf '  %-20s %s\n' "source digest" "${SRC_DIGEST:-none}"
printf '  %-20s %s\n' "destination digest" "${DST_DIGEST:-none}"

if [ "$SRC_RC" = 0 ] && [ "$DEST_RC" = 0 ] && [ -n "$SRC_DIGEST" ] &&
    [ "$SRC_DIGEST" = "$DST_DIGEST" ]; then
    echo "PASS: the destination device's state equals the source's at switchover (BLAKE2b-256 of config space, registers and memory)"
    exit 0
fi
echo "FAIL: source exit $SRC_RC, destination exit $DEST_RC, digests ${SRC_DIGEST:-none} / ${DST_DIGEST:-none}" >&2
exit 1
