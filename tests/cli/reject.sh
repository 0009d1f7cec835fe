#!/bin/bash
# reject.sh - every truncation and every single-bit flip of a small valid
# stream (stored and compressed) must be rejected by `vmstream decode` with
# exit status 1, no output file and no temporary file left behind; trailing
# bytes after a valid stream too.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

# Three records of 100 bytes: compressible text, so that with --compress the
# records really are compressed.
perl -e 'print substr("abcdefghij" x 30, 0, 300)' >"$T/state"
"$VMS" encode --chunk-size 100 -o "$T/plain.vms" "$T/state" || fail "encode plain"
"$VMS" encode --chunk-size 100 --compress=zlib -o "$T/zlib.vms" "$T/state" ||
    fail "encode compressed"
"$VMS" inspect "$T/zlib.vms" >"$T/inspect" || fail "inspect compressed"
[ "$(grep -c ', compressed$' "$T/inspect")" = 3 ] ||
    fail "the compressed test stream should hold 3 compressed records"

# Decodes run in parallel shards, each with its own output directory.
shards=$(nproc 2>/dev/null || echo 2)
[ "$shards" -ge 1 ] && [ "$shards" -le 8 ] || shards=8
for k in $(seq 0 $((shards - 1))); do
    mkdir "$T/out$k"
done
out=$T/out0/state

# decode_rejects FILE WHAT [SHARD]: decode must exit 1, name the rejection
# on stderr and create nothing in the shard's output directory.
decode_rejects() {
    local f=$1 what=$2 k=${3:-0} rc=0 line=
    local o=$T/out$k/state e=$T/err$k
    "$VMS" decode -q -o "$o" "$f" 2>"$e" || rc=$?
    [ "$rc" = 1 ] || { cat "$e" >&2; fail "$what: exit status $rc, expected 1"; }
    if [ -e "$o" ] || [ -L "$o" ]; then
        fail "$what: output file was created"
    fi
    read -r line <"$e" || true
    [[ $line == "vmstream: decode: rejected at byte "* ]] ||
        fail "$what: unexpected message: $line"
}

# reject_all KIND LEN FILES...: decode_rejects on every file, in shards.
reject_all() {
    local kind=$1 len=$2 k pids=() files
    shift 2
    files=("$@")
    for k in $(seq 0 $((shards - 1))); do
        (
            for ((i = k; i < ${#files[@]}; i += shards)); do
                f=${files[i]}
                decode_rejects "$f" "$kind: variant ${f##*/} of the $len-byte stream" "$k"
            done
        ) &
        pids+=($!)
    done
    for k in "${pids[@]}"; do
        wait "$k" || fail "$kind: a variant was not rejected properly (see above)"
    done
}

# no_leftovers WHAT: the output directories must be empty (no temp files).
no_leftovers() {
    local left
    left=$(find "$T"/out* -mindepth 1)
    [ -z "$left" ] || fail "$1: files left in an output directory: $left"
}

for kind in plain zlib; do
    s=$T/$kind.vms
    len=$(file_size "$s")
    "$VMS" decode -o "$out" "$s" || fail "$kind: the valid stream does not decode"
    cmp -s "$T/state" "$out" || fail "$kind: the valid stream decodes wrong"
    rm -f "$out"

    # All truncations and all bit flips, written by one perl run.
    rm -rf "${T:?}/var"
    mkdir "$T/var"
    perl -e '
        my ($src, $dir) = @ARGV;
        open(my $fh, "<:raw", $src) or die "$src: $!";
        local $/;
        my $s = <$fh>;
        my $n = length $s;
        for my $len (0 .. $n - 1) {
            open(my $o, ">:raw", sprintf("%s/trunc-%05d", $dir, $len)) or die;
            print $o substr($s, 0, $len);
            close $o;
        }
        for my $i (0 .. $n - 1) {
            for my $bit (0 .. 7) {
                my $t = $s;
                substr($t, $i, 1) = chr(ord(substr($s, $i, 1)) ^ (1 << $bit));
                open(my $o, ">:raw", sprintf("%s/flip-%05d-%d", $dir, $i, $bit)) or die;
                print $o $t;
                close $o;
            }
        }' "$s" "$T/var"

    truncs=("$T"/var/trunc-*)
    [ "${#truncs[@]}" = "$len" ] || fail "$kind: expected $len truncations, made ${#truncs[@]}"
    reject_all "$kind truncation" "$len" "${truncs[@]}"
    no_leftovers "$kind truncations"
    ok "$kind: all $len truncations rejected with exit 1, no output"

    flips=("$T"/var/flip-*)
    [ "${#flips[@]}" = $((len * 8)) ] ||
        fail "$kind: expected $((len * 8)) bit flips, made ${#flips[@]}"
    reject_all "$kind bit flip" "$len" "${flips[@]}"
    no_leftovers "$kind bit flips"
    ok "$kind: all ${#flips[@]} single-bit flips rejected with exit 1, no output"

    # Trailing garbage after a valid stream.
    for extra in '\000' 'x' 'garbage after the end'; do
        { cat "$s"; printf '%b' "$extra"; } >"$T/trailing"
        decode_rejects "$T/trailing" "$kind: trailing bytes"
        grep -q VMS_E_TRAILING_DATA "$T/err0" || fail "$kind: trailing data not named"
    done
    { cat "$s" "$s"; } >"$T/trailing"
    decode_rejects "$T/trailing" "$kind: a stream followed by a second copy"
    no_leftovers "$kind trailing data"
    ok "$kind: trailing bytes after the END record rejected"

    # The same through stdin, to stdout: nothing may reach stdout.
    rc=0
    "$VMS" decode -q -o - - <"$T/var/flip-00200-3" >"$T/stdout" 2>/dev/null || rc=$?
    [ "$rc" = 1 ] || fail "$kind: corrupt stream on stdin: exit $rc, expected 1"
    [ ! -s "$T/stdout" ] || fail "$kind: a rejected stream wrote to stdout"
    ok "$kind: a rejected stream writes nothing to stdout"
done

# A pre-existing output file is left untouched by a rejected stream.
echo "previous content" >"$out"
rc=0
"$VMS" decode -q -o "$out" "$T/var/trunc-00100" 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "truncated stream over an existing file: exit $rc"
[ "$(cat "$out")" = "previous content" ] || fail "a rejected stream changed an existing OUT"
rm -f "$out"
no_leftovers "existing output"
ok "a rejected stream leaves an existing OUT unchanged"
