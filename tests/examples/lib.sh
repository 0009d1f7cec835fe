# lib.sh - helpers sourced by the examples' end-to-end tests.
# Usage in a script:  source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
# Arguments: PATH/TO/qemu-shim PATH/TO/vendor-driver [PATH/TO/vmstream]
# Sets SHIM, VD, VMS (may be empty) and T (a temporary directory removed on
# exit, with every background process started through start_dest killed).

if [ $# -lt 2 ] || [ ! -x "$1" ] || [ ! -x "$2" ]; then
    echo "usage: $0 PATH/TO/qemu-shim PATH/TO/vendor-driver [PATH/TO/vmstream]" >&2
    exit 2
fi
abspath() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
SHIM=$(abspath "$1")
VD=$(abspath "$2")
VMS=
if [ $# -ge 3 ] && [ -x "$3" ]; then VMS=$(abspath "$3"); fi
T=$(mktemp -d "${TMPDIR:-/tmp}/vms-examples.XXXXXX")
export LC_ALL=C
BG_PIDS=()

cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT

# Small and quick by default: the tests run under ASan too.
MEM=${VMS_EXAMPLES_MEM:-8M}
TIMEOUT=${VMS_EXAMPLES_TIMEOUT:-60}

dump_logs() {
    local f
    for f in "$T"/*.log; do
        [ -f "$f" ] || continue
        echo "--- $(basename "$f"):" >&2
        tail -n 40 "$f" >&2
    done
}

fail() {
    echo "not ok - $*" >&2
    dump_logs
    exit 1
}

ok() {
    echo "ok - $*"
}

# start_dest NAME ARGS...: starts a destination shim in the background with
# its log in $T/NAME.log; sets DEST_PID and DEST_PORT (the port it chose).
start_dest() {
    local name=$1
    shift
    rm -f "$T/$name.port"
    "$SHIM" dest --port-file "$T/$name.port" --timeout "$TIMEOUT" --mem-size "$MEM" "$@" \
        >"$T/$name.log" 2>&1 &
    DEST_PID=$!
    BG_PIDS+=("$DEST_PID")
    local i
    for i in $(seq 1 200); do
        if [ -s "$T/$name.port" ]; then
            DEST_PORT=$(cat "$T/$name.port")
            return 0
        fi
        if ! kill -0 "$DEST_PID" 2>/dev/null; then
            fail "destination '$name' exited before listening"
        fi
        sleep 0.05
    done
    fail "destination '$name' did not start listening"
}

# wait_dest: waits for the destination; sets DEST_RC.
wait_dest() {
    DEST_RC=0
    wait "$DEST_PID" || DEST_RC=$?
}

# run_source NAME ARGS...: runs a source shim against DEST_PORT, log in
# $T/NAME.log; sets SRC_RC.
run_source() {
    local name=$1
    shift
    SRC_RC=0
    "$SHIM" source --connect "127.0.0.1:$DEST_PORT" --timeout "$TIMEOUT" --mem-size "$MEM" \
        --warmup-ms 200 "$@" >"$T/$name.log" 2>&1 || SRC_RC=$?
}

# field LOG PREFIX: the rest of the first line of LOG starting with PREFIX.
field() {
    sed -n "s/^$2//p" "$1" | head -n 1
}

# expect_rc WHAT GOT WANT
expect_rc() {
    [ "$2" = "$3" ] || fail "$1: exit status $2, expected $3"
}

# expect_line LOG REGEX WHAT
expect_line() {
    grep -Eq -- "$2" "$1" || fail "$3: no line matching /$2/ in $(basename "$1")"
}
