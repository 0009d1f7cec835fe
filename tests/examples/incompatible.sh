#!/usr/bin/env bash
# The management pre-check: an incompatible destination is refused before a
# single byte of device state moves; both sides say why; both devices are
# left as they were.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

refused() { # NAME RULE_REGEX [--src ARGS...] [--dst ARGS...]
    local name=$1 rule=$2
    shift 2
    local src=() dst=() side=
    while [ $# -gt 0 ]; do
        case $1 in
            --src) side=src ;;
            --dst) side=dst ;;
            *) if [ "$side" = src ]; then src+=("$1"); else dst+=("$1"); fi ;;
        esac
        shift
    done
    start_dest "$name-dst" ${dst[@]+"${dst[@]}"}
    run_source "$name-src" ${src[@]+"${src[@]}"}
    wait_dest
    local s="$T/$name-src.log" d="$T/$name-dst.log"
    expect_rc "$name: source" "$SRC_RC" 3
    expect_rc "$name: destination" "$DEST_RC" 3
    expect_line "$s" "^source: pre-check: REFUSED.*$rule" "$name: source reason"
    expect_line "$d" "^dest: pre-check: REFUSED.*$rule" "$name: destination reason"
    [ "$(field "$s" "source: state bytes sent: ")" = 0 ] || fail "$name: the source sent state"
    [ "$(field "$d" "dest: state bytes received: ")" = 0 ] || fail "$name: state was received"
    expect_line "$s" "^source: device state: RUNNING \(nothing moved\)" "$name: source device"
    expect_line "$d" "^dest: device state: RUNNING \(nothing moved\)" "$name: destination device"
    ok "$name: refused before any state moved ($(sed -n 's/^dest: pre-check: REFUSED by the destination: //p' "$d" | cut -c1-90))"
}

# Device memory sizes differ (vendor field mem_mib, rule equal).
refused memsize 'mem_mib' --dst --mem-size 16M
# Interface major differs.
refused major 'rule major' --src --device-version 2.0.0
# The source runs a version on the destination's deny list.
refused denied 'rule denied' --src --device-version 1.1.3
# A newer minor cannot load into an older device.
refused minor 'rule minor' --src --device-version 1.3.0
