#!/usr/bin/env bash
# One bit flipped in transit (inside the outer stream's DEV_DATA_STATE
# payload) is detected by the destination device; it refuses the stream, is
# reset and keeps its previous state; the source resumes its guest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

corrupt() { # NAME OFFSET REASON_REGEX
    local name=$1 off=$2 why=$3
    start_dest "$name-dst"
    run_source "$name-src" --corrupt-at "$off"
    wait_dest
    local s="$T/$name-src.log" d="$T/$name-dst.log"
    expect_line "$s" "test hook: flipped a bit of device stream byte $off" "$name: injected"
    expect_rc "$name: destination" "$DEST_RC" 1
    expect_rc "$name: source" "$SRC_RC" 1
    expect_line "$d" "^dest: RESULT: FAILED: .*$why" "$name: detection"
    expect_line "$d" "^dest: device (ERROR|RESUMING) -> reset \(RUNNING\)" "$name: reset"
    local init after
    init=$(field "$d" "dest: initial digest: ")
    after=$(sed -n 's/^dest: device .*digest after reset: //p' "$d")
    [ -n "$init" ] && [ "$init" = "$after" ] || fail "$name: state changed: $init -> $after"
    expect_line "$d" "^dest: previous state intact: yes" "$name: intact"
    expect_line "$s" "^source: device back to RUNNING" "$name: source resumed"
    ok "$name: flipped bit at stream byte $off detected ($(grep -Eo "$why" "$d" | head -n1)), destination reset with its previous state"
}

corrupt header 20 'VMS_E_HEADER_CHECKSUM|VMS_E_BAD_HEADER|VMS_E_BAD_MAGIC'
corrupt record 300000 'VMS_E_RECORD_CHECKSUM|VMS_E_BAD_LENGTH|VMS_E_BAD_COMPRESSION|VMS_E_NONZERO_PADDING|VMS_E_BAD_SEQUENCE|VMS_E_BAD_OFFSET|VMS_E_BAD_RECORD_FLAGS|VMS_E_UNKNOWN_RECORD'
