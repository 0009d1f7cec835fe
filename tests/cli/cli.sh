#!/bin/bash
# cli.sh - the command-line surface: help, usage errors, exit statuses,
# inspect (text and JSON), verify, encode options, MAC keys and policy.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

have_python=false
if command -v python3 >/dev/null 2>&1; then
    have_python=true
fi

# json_check FILE PYTHON-EXPRESSION: FILE must be valid JSON and the
# expression (over the parsed document `d`) true.
json_check() {
    local file=$1 expr=$2
    $have_python || return 0
    python3 -m json.tool "$file" >/dev/null || fail "$file is not valid JSON"
    python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
if not eval("(" + sys.argv[2] + "\n)"):
    sys.exit("JSON check failed: " + sys.argv[2])
' "$file" "$expr" || fail "JSON check failed: $expr"
}

# ---- help and version -----------------------------------------------------

for cmd in encode decode verify inspect keygen compat descriptor help; do
    expect_status 0 "$cmd --help" "$VMS" "$cmd" --help
    grep -q "^Usage: vmstream $cmd" "$T/stdout" || fail "$cmd --help: no usage line on stdout"
    [ ! -s "$T/stderr" ] || fail "$cmd --help wrote to stderr"
    expect_status 0 "help $cmd" "$VMS" help "$cmd"
    grep -q "^Usage: vmstream $cmd" "$T/stdout" || fail "help $cmd: no usage line"
done
ok "--help of every subcommand exits 0 with its usage on stdout"

for args in --help help -h; do
    expect_status 0 "vmstream $args" "$VMS" $args
    for cmd in encode decode verify inspect keygen compat descriptor; do
        grep -q "^  $cmd " "$T/stdout" || fail "vmstream $args does not list $cmd"
    done
done
ok "vmstream --help / help list the commands"

expect_status 0 "--version" "$VMS" --version
grep -Eq '^vmstream [0-9]+\.[0-9]+\.[0-9]+' "$T/stdout" || fail "--version: $(cat "$T/stdout")"
ok "vmstream --version prints the library version"

for cmd in encode decode keygen; do
    grep -q 'BLAKE2b-256("libvmstream key id v1" || key)' <("$VMS" $cmd --help) ||
        fail "$cmd --help does not document the key id"
done
grep -q "config (1), registers (2), memory (3)" <("$VMS" encode --help) ||
    fail "encode --help does not document the section names"
ok "encode --help documents section names and the MAC key id"

# ---- usage errors ------------------------------------------------------------

head -c 3000 /dev/urandom >"$T/state"
"$VMS" encode --chunk-size 1K -o "$T/s.vms" "$T/state" || fail "encode"

expect_status 2 "no arguments" "$VMS"
expect_status 2 "unknown command" "$VMS" frobnicate
grep -q "unknown command 'frobnicate'" "$T/stderr" || fail "unknown command not named"
expect_status 2 "unknown top-level option" "$VMS" --bogus
expect_status 2 "help for an unknown command" "$VMS" help frobnicate
for cmd in encode decode verify inspect keygen compat descriptor; do
    expect_status 2 "$cmd --bogus" "$VMS" "$cmd" --bogus "$T/s.vms"
    grep -q -- "--bogus" "$T/stderr" || fail "$cmd: the bad option is not named"
    grep -q "Try 'vmstream $cmd --help'" "$T/stderr" || fail "$cmd: no --help hint"
    [ ! -s "$T/stdout" ] || fail "$cmd --bogus wrote to stdout"
    expect_status 2 "$cmd -Z" "$VMS" "$cmd" -Z "$T/s.vms"
done
expect_status 2 "encode without -o" "$VMS" encode "$T/state"
expect_status 2 "encode without IN" "$VMS" encode -o "$T/x"
expect_status 2 "decode without -o" "$VMS" decode "$T/s.vms"
expect_status 2 "decode with -o missing its argument" "$VMS" decode "$T/s.vms" -o
grep -q "needs an argument" "$T/stderr" || fail "missing option argument not explained"
expect_status 2 "verify with two inputs" "$VMS" verify "$T/s.vms" "$T/s.vms"
expect_status 2 "verify without IN" "$VMS" verify
expect_status 2 "--quiet takes no value" "$VMS" verify --quiet=yes "$T/s.vms"
ok "bad options and arguments exit 2 with a message on stderr"

expect_status 2 "encode: --vendor reserved" "$VMS" encode --vendor 0x12345 -o "$T/x" "$T/state"
expect_status 2 "encode: --vendor with bits 16..30" "$VMS" encode --vendor 0x80010000 -o "$T/x" "$T/state"
expect_status 2 "encode: --vendor and --pci-vendor" \
    "$VMS" encode --vendor 0 --pci-vendor 10de -o "$T/x" "$T/state"
expect_status 2 "encode: --pci-vendor too large" "$VMS" encode --pci-vendor 12345 -o "$T/x" "$T/state"
expect_status 2 "encode: --chunk-size 0" "$VMS" encode --chunk-size 0 -o "$T/x" "$T/state"
expect_status 2 "encode: --chunk-size too large" "$VMS" encode --chunk-size 65M -o "$T/x" "$T/state"
expect_status 2 "encode: --chunk-size junk" "$VMS" encode --chunk-size 12Q -o "$T/x" "$T/state"
expect_status 2 "encode: unknown codec" "$VMS" encode --compress=lz4 -o "$T/x" "$T/state"
expect_status 2 "encode: bad level" "$VMS" encode --compress=zlib --level 99 -o "$T/x" "$T/state"
expect_status 2 "encode: --phase junk" "$VMS" encode --phase soon -o "$T/x" "$T/state"
expect_status 2 "encode: --section junk" "$VMS" encode --section cpu -o "$T/x" "$T/state"
expect_status 2 "encode: --stream-id short" "$VMS" encode --stream-id abcd -o "$T/x" "$T/state"
expect_status 2 "encode: --version-blob missing" \
    "$VMS" encode --version-blob "$T/nope" -o "$T/x" "$T/state"
head -c 65537 /dev/zero >"$T/bigblob"
expect_status 2 "encode: --version-blob too large" \
    "$VMS" encode --version-blob "$T/bigblob" -o "$T/x" "$T/state"
[ ! -e "$T/x" ] || fail "a failed encode left its output"
[ -z "$(find "$T" -name '.x.vmstream-*')" ] || fail "a failed encode left a temp file"
ok "invalid encode options exit 2 and write nothing"

# ---- missing or unreadable input ---------------------------------------------

for cmd in verify inspect; do
    expect_status 2 "$cmd of a missing file" "$VMS" "$cmd" "$T/missing.vms"
    grep -q "missing.vms" "$T/stderr" || fail "$cmd: the missing file is not named"
done
expect_status 2 "decode of a missing file" "$VMS" decode -o "$T/x" "$T/missing.vms"
expect_status 2 "encode of a missing file" "$VMS" encode -o "$T/x" "$T/missing.in"
expect_status 2 "decode of a directory" "$VMS" decode -o "$T/x" "$T"
expect_status 2 "decode into a missing directory" "$VMS" decode -o "$T/no/such/dir/x" "$T/s.vms"
[ ! -e "$T/x" ] || fail "output created from a missing input"
ok "missing input files and unwritable outputs exit 2"

# ---- verify ---------------------------------------------------------------------

expect_status 0 "verify of a valid stream" "$VMS" verify "$T/s.vms"
[ ! -s "$T/stdout" ] || fail "verify printed something on success"
[ ! -s "$T/stderr" ] || fail "verify wrote to stderr on success (progress must be silent)"
expect_status 0 "verify from stdin" "$VMS" verify - <"$T/s.vms"
cp "$T/s.vms" "$T/bad.vms"
perl -e 'open(my $f, "+<:raw", $ARGV[0]) or die; seek($f, 500, 0); read($f, my $b, 1) == 1 or die; seek($f, 500, 0); print $f chr(ord($b) ^ 0xff); close $f' \
    "$T/bad.vms"
expect_status 1 "verify of a corrupt stream" "$VMS" verify "$T/bad.vms"
grep -Eq '^vmstream: verify: rejected at byte [0-9]+ \(record [0-9]+\): VMS_E_RECORD_CHECKSUM: ' \
    "$T/stderr" || fail "verify: bad rejection message: $(cat "$T/stderr")"
[ "$(wc -l <"$T/stderr")" = 1 ] || fail "verify: the rejection is not one line"
head -c 1000 "$T/s.vms" >"$T/short.vms"
expect_status 1 "verify of a truncated stream" "$VMS" verify "$T/short.vms"
grep -q VMS_E_TRUNCATED "$T/stderr" || fail "truncation not named"
printf 'hello world, not a stream\n' >"$T/text"
expect_status 1 "verify of a text file" "$VMS" verify "$T/text"
grep -q VMS_E_BAD_MAGIC "$T/stderr" || fail "bad magic not named"
ok "verify: 0 valid, 1 corrupt/truncated/not a stream, one-line message"

expect_status 0 "verify --json valid" "$VMS" verify --json "$T/s.vms"
json_check "$T/stdout" 'd["result"] == "ok" and d["error"] is None and d["end"]["records"] == 3'
json_check "$T/stdout" \
    '(w := d["work"])["bodies"] == 3 and 1 <= w["batches"] <= w["hash_calls"] <= 3 and w["bodies_in_place"] + (w["assembled_bytes"] > 0) + (w["parked_bytes"] > 0) >= 1 and w["held_bytes"] == 0'
expect_status 1 "verify --json corrupt" "$VMS" verify --json "$T/bad.vms"
json_check "$T/stdout" \
    'd["result"] == "rejected" and d["error"]["code"] == "VMS_E_RECORD_CHECKSUM" and d["end"] is None and d["error"]["category"] == "integrity"'
ok "verify --json result objects"

# ---- encode options and inspect ------------------------------------------------

printf 'dev-version-1.2.3' >"$T/blob"
sid=00112233445566778899aabbccddeeff
expect_status 0 "encode with options" "$VMS" encode --pci-vendor 10de --version-blob "$T/blob" \
    --section registers --phase 2 --chunk-size 1K --stream-id $sid --compress=zlib \
    --level 6 -o "$T/o.vms" "$T/state"
[ ! -s "$T/stderr" ] || fail "encode wrote to stderr (progress must be silent off a terminal)"
expect_status 0 "inspect" "$VMS" inspect "$T/o.vms"
cp "$T/stdout" "$T/inspect.txt"
for pat in \
    '^  format version:  1\.0$' \
    '^  vendor id:       pci:0x10de$' \
    "^  stream id:       $sid\$" \
    '^  codec:           zlib \(1\)$' \
    '^  auth mode:       none \(0\)$' \
    '^  max record:      1024 bytes$' \
    '^  version blob:    17 bytes: 6465762d76657273696f6e2d312e322e33$' \
    '^  record 0 at [0-9]+: section 2 \(registers\), offset 0, phase 2, wire 1024, raw 1024, stored$' \
    '^  record 1 at [0-9]+: section 2 \(registers\), offset 1024, phase 2, ' \
    '^  record 2 at [0-9]+: section 2 \(registers\), offset 2048, phase 2, wire [0-9]+, raw 952, ' \
    '^  records:         3$' \
    '^  raw bytes:       3000$' \
    '^result: ok$'; do
    grep -Eq "$pat" "$T/inspect.txt" || { cat "$T/inspect.txt" >&2; fail "inspect: no line matching $pat"; }
done
ok "inspect shows the header fields, one line per record and the END summary"

# Fixed stream id: deterministic output.
"$VMS" encode --pci-vendor 10de --version-blob "$T/blob" --section registers --phase 2 \
    --chunk-size 1K --stream-id $sid --compress=zlib --level 6 -o "$T/o2.vms" "$T/state"
cmp -s "$T/o.vms" "$T/o2.vms" || fail "--stream-id does not make the output deterministic"
ok "--stream-id makes encode deterministic"

# Compressible state: compressed records are flagged.
perl -e 'print "0123456789abcdef" x 256' >"$T/text.state"
"$VMS" encode --compress=zlib --chunk-size 1K -o "$T/c.vms" "$T/text.state"
"$VMS" inspect "$T/c.vms" >"$T/inspect.txt"
grep -Eq '^  record 0 at [0-9]+: section 0, offset 0, phase 0, wire [0-9]+, raw 1024, compressed$' \
    "$T/inspect.txt" || fail "inspect does not flag a compressed record"
"$VMS" encode --phase stop-copy --vendor pci:0x8086 -o "$T/p.vms" "$T/state"
"$VMS" inspect "$T/p.vms" >"$T/inspect.txt"
grep -q 'phase stop-copy' "$T/inspect.txt" || fail "inspect does not show stop-copy"
grep -q 'pci:0x8086' "$T/inspect.txt" || fail "--vendor pci:0x8086 not honoured"
ok "inspect flags compressed records and stop-copy"

expect_status 0 "inspect --json" "$VMS" inspect --json "$T/o.vms"
cp "$T/stdout" "$T/inspect.json"
if $have_python; then
    json_check "$T/inspect.json" '
d["result"] == "ok" and d["error"] is None
and d["header"]["verified"] and d["header"]["vendor"] == "pci:0x10de"
and d["header"]["vendor_id"] == 0x800010de
and d["header"]["stream_id"] == "'$sid'"
and d["header"]["codec"] == "zlib" and d["header"]["auth_mode"] == "none"
and d["header"]["version_blob"] == "6465762d76657273696f6e2d312e322e33"
and len(d["records"]) == 3
and [r["offset"] for r in d["records"]] == [0, 1024, 2048]
and all(r["section"] == 2 and r["section_name"] == "registers" and r["phase"] == 2 for r in d["records"])
and d["records"][2]["raw_length"] == 952
and d["end"]["records"] == 3 and d["end"]["raw_bytes"] == 3000'
    ok "inspect --json is valid JSON with the expected fields"
else
    echo "# python3 not found: skipping the JSON validity checks"
fi

expect_status 1 "inspect of a corrupt stream" "$VMS" inspect --json "$T/bad.vms"
json_check "$T/stdout" \
    'd["result"] == "rejected" and d["error"]["code"] == "VMS_E_RECORD_CHECKSUM" and d["end"] is None'
expect_status 1 "inspect of a truncated stream" "$VMS" inspect "$T/short.vms"
grep -q '^result: rejected$' "$T/stdout" || fail "inspect: truncated stream not reported"
ok "inspect reports rejections (exit 1)"

# JSON escaping of strange file names.
weird=$T/$'we"ird\\na\tme\001.vms'
cp "$T/s.vms" "$weird"
expect_status 0 "inspect --json of a strange file name" "$VMS" inspect --json "$weird"
if $have_python; then
    python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["input"] == sys.argv[2], (d["input"], sys.argv[2])
' "$T/stdout" "$weird" || fail "inspect --json does not escape the file name"
    ok "inspect --json escapes strings"
fi

# --threads: the output does not depend on the number of threads.  20 MiB
# mixing random, zero and text pages, so that stored, compressed and
# page-mapped records all occur.
{
    for i in 1 2 3 4 5; do
        head -c $((2 * 1024 * 1024)) /dev/urandom
        head -c $((1024 * 1024 + 4096 * i)) /dev/zero
        perl -e 'my $s = "migration state page $ARGV[0]\n" x 60000; print substr($s, 0, $ARGV[1])' \
            "$i" $((1024 * 1024 - 4096 * i))
    done
} >"$T/20m.state"
[ "$(file_size "$T/20m.state")" = $((20 * 1024 * 1024)) ] || fail "could not make 20 MiB of input"
for codec in none zlib; do
    copt=()
    [ "$codec" = none ] || copt=("--compress=$codec")
    "$VMS" encode "${copt[@]}" --stream-id $sid --threads 1 -o "$T/t1.vms" "$T/20m.state" ||
        fail "encode --threads 1"
    for n in 2 4; do
        "$VMS" encode "${copt[@]}" --stream-id $sid --threads $n -o "$T/t$n.vms" "$T/20m.state" ||
            fail "encode --threads $n"
        cmp -s "$T/t1.vms" "$T/t$n.vms" ||
            fail "codec $codec: --threads $n output differs from --threads 1"
    done
    "$VMS" decode -o "$T/t.out" "$T/t2.vms" || fail "decode the --threads 2 stream"
    cmp -s "$T/20m.state" "$T/t.out" || fail "codec $codec: --threads 2 round trip differs"
done
rm -f "$T"/t?.vms "$T/t.out"
expect_status 2 "--threads 0" "$VMS" encode --threads 0 -o "$T/x" "$T/state"
expect_status 2 "--threads 65" "$VMS" encode --threads 65 -o "$T/x" "$T/state"
expect_status 2 "--threads junk" "$VMS" encode --threads many -o "$T/x" "$T/state"
ok "--threads 2 and 4 give output byte-identical to --threads 1 (20 MiB, stored and zlib)"

# -o naming a FIFO (or a device such as /dev/null): written into, never
# replaced by a renamed temporary file, and only once the command succeeded.
mkfifo "$T/out.fifo"
for cmd in encode decode; do
    src="$T/20m.state"
    [ $cmd = encode ] || src="$T/fifo-in.vms"
    [ $cmd = encode ] || "$VMS" encode --threads 2 -o "$src" "$T/20m.state" || fail "encode"
    timeout 60 cat "$T/out.fifo" >"$T/from.fifo" &
    reader=$!
    timeout 60 "$VMS" $cmd -o "$T/out.fifo" "$src" || fail "$cmd -o FIFO failed"
    wait $reader || fail "$cmd -o FIFO: the reader failed"
    [ -p "$T/out.fifo" ] || fail "$cmd -o FIFO replaced the FIFO with a file"
    if [ $cmd = encode ]; then
        "$VMS" verify "$T/from.fifo" >/dev/null || fail "encode -o FIFO: the stream read does not verify"
    else
        cmp -s "$T/20m.state" "$T/from.fifo" || fail "decode -o FIFO: wrong state"
    fi
done
ls -A "$T" | grep -q '^\..*vmstream-' && fail "a temporary file was left behind"
rm -f "$T/out.fifo" "$T/from.fifo" "$T/fifo-in.vms"
ok "-o FIFO is written into, not replaced (encode, decode)"

# --no-page-elision: zero pages are sent as they are, so the stream grows.
head -c $((4 * 1024 * 1024)) /dev/zero >"$T/zero.state"
"$VMS" encode -o "$T/elided.vms" "$T/zero.state" || fail "encode zeros"
expect_status 0 "encode --no-page-elision" "$VMS" encode --no-page-elision -o "$T/full.vms" \
    "$T/zero.state"
[ "$(file_size "$T/full.vms")" -gt $((4 * 1024 * 1024)) ] ||
    fail "--no-page-elision: stream of $(file_size "$T/full.vms") bytes for 4 MiB of zeros"
[ "$(file_size "$T/full.vms")" -gt $(($(file_size "$T/elided.vms") * 100)) ] ||
    fail "--no-page-elision: not bigger than the elided stream"
"$VMS" inspect "$T/full.vms" | grep -q 'page map' && fail "--no-page-elision: page maps present"
"$VMS" inspect "$T/elided.vms" | grep -q 'page map' || fail "default: no page maps for zeros"
for f in elided full; do
    "$VMS" decode -o "$T/zero.out" "$T/$f.vms" || fail "decode $f"
    cmp -s "$T/zero.state" "$T/zero.out" || fail "$f zero stream decodes wrong"
done
ok "--no-page-elision sends uniform pages as they are (a bigger stream)"

# --offset: decoded state lands at the offset.
"$VMS" encode --offset 8K -o "$T/off.vms" "$T/state"
"$VMS" decode -o "$T/off.out" "$T/off.vms"
[ "$(file_size "$T/off.out")" = $((8192 + 3000)) ] || fail "--offset: wrong output size"
cmp -s <(head -c 8192 /dev/zero) <(head -c 8192 "$T/off.out") || fail "--offset: hole not zero"
cmp -s "$T/state" <(tail -c 3000 "$T/off.out") || fail "--offset: data misplaced"
ok "--offset places the state at the offset"

# --section on decode: a section absent from the stream gives an empty file.
expect_status 0 "decode --section of an absent section" \
    "$VMS" decode --section memory -o "$T/empty.out" "$T/o.vms"
if [ ! -e "$T/empty.out" ] || [ -s "$T/empty.out" ]; then
    fail "--section absent: expected an empty file"
fi
grep -q "no record of section 3" "$T/stderr" || fail "--section absent: no warning"
expect_status 0 "decode --section registers" "$VMS" decode --section 2 -o "$T/reg.out" "$T/o.vms"
cmp -s "$T/state" "$T/reg.out" || fail "decode --section 2 differs"
ok "decode --section selects a section"

# ---- MAC keys and policy -------------------------------------------------------

head -c 32 /dev/urandom >"$T/key1"
head -c 32 /dev/urandom >"$T/key2"
head -c 15 /dev/urandom >"$T/short.key"
head -c 65 /dev/urandom >"$T/long.key"
: >"$T/empty.key"
expect_status 0 "encode --mac-key" "$VMS" encode --mac-key "$T/key1" --chunk-size 1K \
    -o "$T/mac.vms" "$T/state"
expect_status 0 "decode --mac-key" "$VMS" decode --mac-key "$T/key1" -o "$T/mac.out" "$T/mac.vms"
cmp -s "$T/state" "$T/mac.out" || fail "MAC round trip differs"
expect_status 0 "decode --mac-key --require-auth" \
    "$VMS" decode --mac-key "$T/key1" --require-auth -o "$T/mac.out" "$T/mac.vms"
expect_status 0 "verify --mac-key" "$VMS" verify --mac-key "$T/key1" "$T/mac.vms"
ok "--mac-key round trip"

# The key id is vms_key_id(key): the first 8 bytes of
# BLAKE2b-256("libvmstream key id v1" || key).
if $have_python; then
    want=$(python3 -c '
import hashlib, sys
key = open(sys.argv[1], "rb").read()
print(hashlib.blake2b(b"libvmstream key id v1" + key, digest_size=32).hexdigest()[:16])
' "$T/key1")
    "$VMS" inspect --mac-key "$T/key1" "$T/mac.vms" >"$T/inspect.txt"
    grep -q "^  key id:          $want\$" "$T/inspect.txt" ||
        fail "key id is not BLAKE2b-256(\"libvmstream key id v1\" || key)[0:8] ($want)"
    grep -q '^  auth mode:       mac (1)$' "$T/inspect.txt" || fail "inspect: auth mode not shown"
    ok "the key id is BLAKE2b-256(\"libvmstream key id v1\" || key)[0:8]"
fi

rm -f "$T/mac.out"
expect_status 1 "decode with the wrong key" "$VMS" decode --mac-key "$T/key2" -o "$T/mac.out" "$T/mac.vms"
grep -q VMS_E_UNKNOWN_KEY "$T/stderr" || fail "wrong key: error not named"
[ ! -e "$T/mac.out" ] || fail "wrong key: output written"
expect_status 1 "decode without a key" "$VMS" decode -o "$T/mac.out" "$T/mac.vms"
[ ! -e "$T/mac.out" ] || fail "no key: output written"
expect_status 1 "verify with the wrong key" "$VMS" verify --mac-key "$T/key2" "$T/mac.vms"
ok "a wrong or missing MAC key is rejected (exit 1)"

# Same key id, different key bytes is impossible to make by hand, but a
# modified record must fail its MAC.
cp "$T/mac.vms" "$T/macbad.vms"
perl -e 'open(my $f, "+<:raw", $ARGV[0]) or die; seek($f, 600, 0); read($f, my $b, 1) == 1 or die; seek($f, 600, 0); print $f chr(ord($b) ^ 0xff); close $f' \
    "$T/macbad.vms"
expect_status 1 "verify of a modified MAC stream" "$VMS" verify --mac-key "$T/key1" "$T/macbad.vms"
grep -q VMS_E_MAC_MISMATCH "$T/stderr" || fail "modified MAC stream: $(cat "$T/stderr")"
ok "a modified MAC stream is rejected with VMS_E_MAC_MISMATCH"

expect_status 1 "--require-auth on an unauthenticated stream" \
    "$VMS" decode --require-auth -o "$T/x" "$T/s.vms"
grep -q VMS_E_AUTH_REQUIRED "$T/stderr" || fail "--require-auth: VMS_E_AUTH_REQUIRED not in stderr"
[ ! -e "$T/x" ] || fail "--require-auth: output written"
expect_status 1 "verify --require-auth" "$VMS" verify --require-auth "$T/s.vms"
grep -q VMS_E_AUTH_REQUIRED "$T/stderr" || fail "verify --require-auth: not named"
ok "--require-auth rejects an unauthenticated stream (exit 1, VMS_E_AUTH_REQUIRED)"

for k in short long empty; do
    expect_status 2 "encode with a $k key" "$VMS" encode --mac-key "$T/$k.key" -o "$T/x" "$T/state"
    grep -q "must hold 16 to 64 raw bytes" "$T/stderr" || fail "$k key: unclear message"
    expect_status 2 "decode with a $k key" "$VMS" decode --mac-key "$T/$k.key" -o "$T/x" "$T/mac.vms"
done
expect_status 2 "missing key file" "$VMS" verify --mac-key "$T/nokey" "$T/mac.vms"
[ ! -e "$T/x" ] || fail "bad key: output written"
# Keys of 16 and 64 bytes work (the library's range).
for n in 16 64; do
    head -c $n /dev/urandom >"$T/k$n.key"
    "$VMS" encode --mac-key "$T/k$n.key" -o "$T/k$n.vms" "$T/state" || fail "encode, $n-byte key"
    expect_status 0 "decode, $n-byte key" "$VMS" decode --mac-key "$T/k$n.key" -o "$T/k$n.out" \
        "$T/k$n.vms"
    cmp -s "$T/state" "$T/k$n.out" || fail "$n-byte MAC key round trip differs"
    if $have_python; then
        want=$(python3 -c '
import hashlib, sys
key = open(sys.argv[1], "rb").read()
print(hashlib.blake2b(b"libvmstream key id v1" + key, digest_size=32).hexdigest()[:16])
' "$T/k$n.key")
        "$VMS" inspect --json --mac-key "$T/k$n.key" "$T/k$n.vms" >"$T/k.json"
        json_check "$T/k.json" 'd["header"]["key_id"] == "'"$want"'"'
    fi
done
ok "MAC key files of 16 to 64 bytes work; other sizes are a usage error (exit 2)"

# inspect of a MAC stream without the key: the header is still shown.
expect_status 1 "inspect of a MAC stream without a key" "$VMS" inspect "$T/mac.vms"
grep -q '^header (NOT verified' "$T/stdout" || fail "inspect without key: header not shown"
grep -q '^  auth mode:       mac (1)$' "$T/stdout" || fail "inspect without key: auth mode not shown"
grep -q 'VMS_E_UNKNOWN_KEY' "$T/stdout" || fail "inspect without key: error not shown"
expect_status 1 "inspect --json of a MAC stream without a key" "$VMS" inspect --json "$T/mac.vms"
json_check "$T/stdout" \
    'd["header"]["verified"] is False and d["header"]["auth_mode"] == "mac" and d["header"]["key_id"] and d["records"] == [] and d["error"]["code"] == "VMS_E_UNKNOWN_KEY"'
ok "inspect without the MAC key shows the unverified header and the error"

# ---- output handling ------------------------------------------------------------

expect_status 0 "decode to stdout" "$VMS" decode -o - "$T/s.vms"
cmp -s "$T/state" "$T/stdout" || fail "decode -o - differs"
expect_status 0 "decode over an existing file" "$VMS" decode -o "$T/state.copy" "$T/s.vms"
echo old >"$T/state.copy"
"$VMS" decode -o "$T/state.copy" "$T/s.vms"
cmp -s "$T/state" "$T/state.copy" || fail "decode did not replace an existing file"
(umask 027 && "$VMS" decode -o "$T/mode.out" "$T/s.vms")
[ "$(stat -c %a "$T/mode.out")" = 640 ] || fail "decode output mode ignores the umask"
ok "decode writes to stdout, replaces OUT, honours the umask"

# ---- decoder threads --------------------------------------------------------------

# Compressible, page-mappable state of 3 MiB (zero, text and random pages)
# in 64 KiB records, through a pipe (64 KiB per read) and from a file.
perl -e 'srand(7); for my $p (0..767) { my $k = $p % 4;
  print $k == 0 ? "\0" x 4096 : $k == 1 ? substr("device register file " x 200, 0, 4096)
      : join("", map { chr(int(rand(256))) } 1..4096) }' >"$T/thr.state"
for c in zlib zstd none; do
    copt=--compress=$c
    [ "$c" = none ] && copt=
    # shellcheck disable=SC2086 # copt is empty or one word
    "$VMS" encode $copt --chunk-size 64K -o "$T/thr.vms" "$T/thr.state" 2>/dev/null || continue
    for t in 1 2 4; do
        cat "$T/thr.vms" | "$VMS" decode -q --threads "$t" -o "$T/thr.out" - ||
            fail "decode --threads $t of a $c stream"
        cmp -s "$T/thr.state" "$T/thr.out" || fail "decode --threads $t ($c) differs"
        "$VMS" verify -q --threads "$t" "$T/thr.vms" || fail "verify --threads $t ($c)"
    done
    # a bad byte in the middle: the same rejection, word for word, with 1 and 3 threads
    cp "$T/thr.vms" "$T/thr.bad"
    printf '\x55' | dd of="$T/thr.bad" bs=1 seek=$(( $(file_size "$T/thr.vms") / 2 )) \
        conv=notrunc 2>/dev/null
    expect_status 1 "verify of a damaged $c stream" "$VMS" verify -q "$T/thr.bad"
    cp "$T/stderr" "$T/thr.err1"
    expect_status 1 "verify --threads 3 of a damaged $c stream" "$VMS" verify -q --threads 3 "$T/thr.bad"
    cmp -s "$T/thr.err1" "$T/stderr" || fail "--threads 3 reports a different rejection ($c)"
done
expect_status 2 "--threads 0" "$VMS" verify --threads 0 "$T/thr.vms"
expect_status 2 "--threads 65" "$VMS" decode --threads 65 -o "$T/x" "$T/thr.vms"
ok "decode and verify --threads 1..4 give the same state and the same rejection as one thread"
