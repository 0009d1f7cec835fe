#!/bin/bash
# roundtrip.sh - encode then decode must give back the input byte for byte:
# sizes 0, 1, chunk-1, chunk, chunk+1 and many chunks, 100 MiB of random
# data, each stored, zlib- and zstd-compressed (zstd if built in), through
# files and through stdin/stdout.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

CHUNK=4096

# Codec options to test.
codecs=("none" "zlib")
head -c 10 /dev/zero >"$T/probe.in"
if "$VMS" encode --compress=zstd -o "$T/probe.vms" "$T/probe.in" 2>/dev/null; then
    codecs+=("zstd")
else
    echo "# zstd not built into the library: skipping zstd round trips"
fi

codec_args() {
    case $1 in
        none) ;;
        *) echo "--compress=$1" ;;
    esac
}

# Test data mixing compressible and random 4 KiB blocks, so both compressed
# and stored records occur.
mixed=$T/mixed.src
: >"$mixed"
for i in $(seq 0 39); do
    if [ $((i % 2)) -eq 0 ]; then
        perl -e 'my $s = "vmstream test block $ARGV[0]\n" x 400;
                 print substr($s, 0, $ARGV[1])' "$i" $CHUNK >>"$mixed"
    else
        head -c $CHUNK /dev/urandom >>"$mixed"
    fi
done

# roundtrip NAME INPUT ENCODE-ARGS...
roundtrip() {
    local name=$1 in=$2
    shift 2
    rm -f "$T/s.vms" "$T/out"
    expect_status 0 "encode $name" "$VMS" encode "$@" -o "$T/s.vms" "$in"
    expect_status 0 "decode $name" "$VMS" decode -o "$T/out" "$T/s.vms"
    cmp -s "$in" "$T/out" || fail "$name: decoded output differs from the input"
    expect_status 0 "verify $name" "$VMS" verify "$T/s.vms"
}

sizes=(0 1 "$((CHUNK - 1))" "$CHUNK" "$((CHUNK + 1))" "$((CHUNK * 37 + 13))")
for codec in "${codecs[@]}"; do
    for size in "${sizes[@]}"; do
        head -c "$size" "$mixed" >"$T/in"
        [ "$(file_size "$T/in")" = "$size" ] || fail "could not make $size bytes of input"
        # shellcheck disable=SC2046
        roundtrip "$size bytes, codec $codec" "$T/in" --chunk-size $CHUNK $(codec_args "$codec")
        records=$(( (size + CHUNK - 1) / CHUNK ))
        "$VMS" inspect "$T/s.vms" >"$T/inspect" || fail "inspect $size bytes, codec $codec"
        got=$(grep -c '^  record ' "$T/inspect" || true)
        [ "$got" = "$records" ] ||
            fail "$size bytes, codec $codec: inspect shows $got records, expected $records"
        if [ "$codec" != none ] && [ "$size" -ge $CHUNK ]; then
            grep -q ', compressed$' "$T/inspect" ||
                fail "$size bytes, codec $codec: no record was compressed"
        fi
        ok "round trip of $size bytes, chunk $CHUNK, codec $codec"
    done
done

# --compress without a codec: the library's preferred codec.
head -c $((CHUNK * 5)) "$mixed" >"$T/in"
roundtrip "automatic codec" "$T/in" --compress --chunk-size $CHUNK
ok "round trip with --compress (automatic codec)"

# Sparse state: pages of one repeated byte (which the encoder may send as a
# page map) between random pages, and a short tail.
sparse=$T/sparse.src
{
    head -c 12288 /dev/zero
    head -c 4096 /dev/urandom
    head -c 8192 /dev/zero | tr '\0' '\377'
    head -c 4096 /dev/urandom
    head -c 100 /dev/zero
} >"$sparse"
for codec in "${codecs[@]}"; do
    # shellcheck disable=SC2046
    roundtrip "sparse state, codec $codec" "$sparse" --chunk-size 16K $(codec_args "$codec")
    ok "round trip of sparse state (uniform pages), codec $codec"
done

# stdin and stdout.
for codec in "${codecs[@]}"; do
    # shellcheck disable=SC2046
    "$VMS" encode --chunk-size $CHUNK $(codec_args "$codec") -o - - <"$mixed" >"$T/pipe.vms" ||
        fail "encode stdin to stdout, codec $codec"
    "$VMS" decode -o - - <"$T/pipe.vms" >"$T/pipe.out" || fail "decode stdin to stdout, codec $codec"
    cmp -s "$mixed" "$T/pipe.out" || fail "stdin/stdout round trip differs, codec $codec"
    # shellcheck disable=SC2046,SC2002 # cat: the input must be a pipe
    cat "$mixed" | "$VMS" encode $(codec_args "$codec") -o - - | "$VMS" decode -o - - |
        cmp -s "$mixed" - || fail "pipeline round trip differs, codec $codec"
    ok "round trip through stdin and stdout, codec $codec"
done

# 100 MiB of random state, with bounded memory: the tool must stream, so it
# runs with less address space than the stream's size.
# limited CMD...: runs CMD with its address space limited to 96 MiB, unless
# the tool cannot start that way at all (e.g. built with a sanitizer).
limit_kib=98304
if ! bash -c 'ulimit -v "$1" && "$2" --version' _ $limit_kib "$VMS" >/dev/null 2>&1; then
    echo "# the tool cannot run with ulimit -v $limit_kib (sanitizer build?): memory not limited"
    limit_kib=unlimited
fi
limited() {
    (ulimit -v $limit_kib && "$@")
}

big=$T/big.in
head -c $((100 * 1024 * 1024)) /dev/urandom >"$big"
for codec in "${codecs[@]}"; do
    rm -f "$T/big.vms" "$T/big.out"
    # shellcheck disable=SC2046
    limited "$VMS" encode $(codec_args "$codec") -o "$T/big.vms" "$big" ||
        fail "encode 100 MiB, codec $codec (address space limit $limit_kib KiB)"
    limited "$VMS" decode -o "$T/big.out" "$T/big.vms" ||
        fail "decode 100 MiB, codec $codec (address space limit $limit_kib KiB)"
    cmp -s "$big" "$T/big.out" || fail "100 MiB round trip differs, codec $codec"
    limited "$VMS" verify "$T/big.vms" || fail "verify 100 MiB, codec $codec"
    limited "$VMS" decode -o - - <"$T/big.vms" | cmp -s "$big" - ||
        fail "100 MiB round trip through stdin/stdout differs, codec $codec"
    ok "round trip of 100 MiB of random data, codec $codec"
done
rm -f "$big" "$T/big.vms" "$T/big.out"
