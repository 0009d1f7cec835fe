#!/usr/bin/env bash
# The source process is killed (SIGKILL) in the middle of the device
# stream: the destination sees the connection end, abandons RESUMING, is
# reset and keeps its previous state.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

start_dest kill-dst
"$SHIM" source --connect "127.0.0.1:$DEST_PORT" --timeout "$TIMEOUT" --mem-size "$MEM" \
    --warmup-ms 100 --pause-after 1000000 >"$T/kill-src.log" 2>&1 &
SRC_PID=$!
BG_PIDS+=("$SRC_PID")
for i in $(seq 1 400); do
    grep -q "test hook: paused after" "$T/kill-src.log" && break
    kill -0 "$SRC_PID" 2>/dev/null || fail "the source exited before pausing"
    sleep 0.05
done
grep -q "test hook: paused after" "$T/kill-src.log" || fail "the source never paused"
kill -9 "$SRC_PID"
wait "$SRC_PID" 2>/dev/null || true
wait_dest
d="$T/kill-dst.log"
expect_rc "destination" "$DEST_RC" 1
recv=$(field "$d" "dest: state bytes received: " | cut -d' ' -f1)
[ "${recv:-0}" -ge 1000000 ] || fail "only ${recv:-0} state bytes arrived before the kill"
expect_line "$d" "^dest: RESULT: FAILED: source connection (closed|lost)" "connection loss"
expect_line "$d" "^dest: device RESUMING -> reset \(RUNNING\)" "reset"
init=$(field "$d" "dest: initial digest: ")
after=$(sed -n 's/^dest: device .*digest after reset: //p' "$d")
[ -n "$init" ] && [ "$init" = "$after" ] || fail "state changed: $init -> $after"
expect_line "$d" "^dest: previous state intact: yes" "intact"
ok "source killed after $recv state bytes: destination reset, previous state intact"
