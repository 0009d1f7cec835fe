#!/usr/bin/env bash
# A stream whose every record verifies but whose register file breaks the
# device's invariants (a non-power-of-two ring size, written by a buggy
# source driver) is refused at commit (RESUMING -> STOP), after the whole
# stream arrived; the destination keeps its previous state.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

start_dest inv-dst
run_source inv-src --break-invariant
wait_dest
s="$T/inv-src.log"
d="$T/inv-dst.log"
expect_rc "destination" "$DEST_RC" 1
expect_rc "source" "$SRC_RC" 1
sent=$(field "$s" "source: state bytes sent: ")
recv=$(field "$d" "dest: state bytes received: " | cut -d' ' -f1)
[ -n "$sent" ] && [ "$sent" = "$recv" ] || fail "the whole stream should arrive: sent $sent, received $recv"
expect_line "$d" "^dest: config section: " "the outer stream completed"
expect_line "$d" "^dest: RESULT: FAILED: RESUMING -> STOP failed: .*device invariant violated: RING_SIZE 100 is not a power of two" "refused at commit"
expect_line "$d" "^dest: device ERROR -> reset \(RUNNING\)" "reset"
init=$(field "$d" "dest: initial digest: ")
after=$(sed -n 's/^dest: device .*digest after reset: //p' "$d")
[ -n "$init" ] && [ "$init" = "$after" ] || fail "state changed: $init -> $after"
expect_line "$d" "^dest: previous state intact: yes" "intact"
expect_line "$s" "^source: device back to RUNNING" "source resumed"
ok "verified stream with RING_SIZE=100 refused at commit after all $recv bytes, destination intact"
