#!/usr/bin/env bash
# The vendor driver alone: its descriptor, its state machine (exactly the
# VFIO arcs), and a save/load through a file that the vmstream CLI verifies.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

"$VD" --descriptor --mem-size 64M >"$T/desc.txt" || fail "--descriptor"
grep -qx 'vendor_id=pci:0x1af4' "$T/desc.txt" || fail "descriptor vendor id"
grep -qx 'device_api=vfio-pci' "$T/desc.txt" || fail "descriptor device_api"
grep -qx 'version=1.2.0' "$T/desc.txt" || fail "descriptor version"
grep -qx 'field.mem_mib=64' "$T/desc.txt" || fail "descriptor mem_mib"
ok "descriptor in text form"

"$VD" check-arcs >"$T/arcs.log" 2>&1 || fail "check-arcs: $(grep 'not ok' "$T/arcs.log" | head -n3)"
grep -q '^9 legal arcs, 0 failures$' "$T/arcs.log" || fail "check-arcs summary: $(tail -n1 "$T/arcs.log")"
ok "state machine: the 9 VFIO arcs succeed, the other 21 requests are refused"

"$VD" save -o "$T/s.vms" --mem-size "$MEM" --run-ms 100 >"$T/save.log" || fail "save"
sd=$(field "$T/save.log" "digest: ")
if [ -n "$VMS" ]; then
    "$VMS" verify "$T/s.vms" >"$T/verify.log" 2>&1 || fail "vmstream verify: $(cat "$T/verify.log")"
    ok "the device's stream verifies with the vmstream CLI"
fi
"$VD" load --mem-size "$MEM" "$T/s.vms" >"$T/load.log" || fail "load"
[ "$(field "$T/load.log" "digest: ")" = "$sd" ] || fail "load: digest differs from save"
ok "save then load through a file: digests equal"

size=$(stat -c %s "$T/s.vms")
head -c $((size / 2)) "$T/s.vms" >"$T/trunc.vms"
rc=0
"$VD" load --mem-size "$MEM" "$T/trunc.vms" >"$T/trunc.log" || rc=$?
expect_rc "truncated load" "$rc" 1
expect_line "$T/trunc.log" "^refused: .*VMS_E_TRUNCATED" "truncation detected"
[ "$(field "$T/trunc.log" "digest before: ")" = "$(field "$T/trunc.log" "digest after: ")" ] ||
    fail "truncated load changed the device"
ok "a truncated stream is refused at RESUMING -> STOP, device untouched"
