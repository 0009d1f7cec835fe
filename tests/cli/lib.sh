# shellcheck shell=bash
# lib.sh - helpers sourced by the CLI test scripts.
# Usage in a script:  source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
# Sets VMS (absolute path of the vmstream binary) and T (a temporary
# directory removed on exit).

if [ $# -lt 1 ] || [ ! -x "$1" ]; then
    echo "usage: $0 PATH/TO/vmstream" >&2
    exit 2
fi
# shellcheck disable=SC2034 # used by the scripts that source this file
VMS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
T=$(mktemp -d "${TMPDIR:-/tmp}/vmstream-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
export LC_ALL=C

fail() {
    echo "not ok - $*" >&2
    exit 1
}

ok() {
    echo "ok - $*"
}

# expect_status WANT DESCRIPTION CMD...: runs CMD, stderr to $T/stderr,
# stdout to $T/stdout, and fails unless it exits with WANT.
expect_status() {
    local want=$1 what=$2 got=0
    shift 2
    "$@" >"$T/stdout" 2>"$T/stderr" || got=$?
    if [ "$got" != "$want" ]; then
        echo "--- stderr:" >&2
        head -c 2000 "$T/stderr" >&2 || true
        fail "$what: expected exit status $want, got $got (command: $*)"
    fi
}

# file_size FILE
file_size() {
    stat -c %s "$1"
}
