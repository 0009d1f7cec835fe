#!/usr/bin/env bash
# End-to-end live migration between two processes: plain, compressed, MAC
# and Ed25519-signed.  The destination device must end with the source's
# state at switchover (digest), different from its own initial state.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

migrate() { # NAME [--src ARGS...] [--dst ARGS...]
    local name=$1
    shift
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
    expect_rc "$name: source" "$SRC_RC" 0
    expect_rc "$name: destination" "$DEST_RC" 0
    local sd dd init sent recv passes
    sd=$(field "$s" "source: switchover digest: ")
    dd=$(field "$d" "dest: switchover digest: ")
    init=$(field "$d" "dest: initial digest: ")
    [ ${#sd} = 64 ] || fail "$name: no source digest"
    [ "$sd" = "$dd" ] || fail "$name: digests differ: source $sd, destination $dd"
    [ "$init" != "$dd" ] || fail "$name: the destination's state did not change"
    sent=$(field "$s" "source: state bytes sent: ")
    recv=$(field "$d" "dest: state bytes received: " | cut -d' ' -f1)
    [ "$sent" = "$recv" ] || fail "$name: sent $sent bytes, received $recv"
    passes=$(sed -n 's/^source: pre-copy: \([0-9]*\) passes.*/\1/p' "$s")
    [ "${passes:-0}" -ge 1 ] || fail "$name: no pre-copy pass"
    expect_line "$d" "^dest: guest resumed on the destination" "$name: guest resumed"
    ok "$name: migrated $sent state bytes in $passes pre-copy passes, digests equal"
}

migrate plain
migrate compressed --src --compress
"$VD" keygen --mac "$T/mac.key" || fail "keygen --mac"
migrate mac --src --mac-key "$T/mac.key" --dst --mac-key "$T/mac.key"
if "$VD" keygen --ed25519 "$T/sign.pem" "$T/sign.pub" 2>"$T/keygen.err"; then
    migrate signed --src --sign "$T/sign.pem" --compress --dst --verify-key "$T/sign.pub"
    # A destination that requires a signature refuses an unsigned stream.
    start_dest unsigned-dst --verify-key "$T/sign.pub"
    run_source unsigned-src
    wait_dest
    expect_rc "unsigned: destination" "$DEST_RC" 1
    expect_rc "unsigned: source" "$SRC_RC" 1
    expect_line "$T/unsigned-dst.log" "VMS_E_AUTH_REQUIRED" "unsigned: reason"
    expect_line "$T/unsigned-dst.log" "^dest: previous state intact: yes" "unsigned: intact"
    ok "a destination requiring signatures refuses an unsigned stream, state intact"
else
    grep -q VMS_E_UNSUPPORTED "$T/keygen.err" || fail "keygen --ed25519: $(cat "$T/keygen.err")"
    ok "# SKIP signed migration: library built without OpenSSL"
fi
# Migration with the workload dirtying memory hard: several passes needed.
migrate busy --src --workload-rate 20000 --threshold 64K --max-passes 4
