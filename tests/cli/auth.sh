#!/bin/bash
# auth.sh - keys and authenticated streams from the command line: keygen
# (file modes, no overwriting, key ids), MAC and Ed25519 round trips, wrong
# and missing keys, --require-auth policies, decoder limits, and the golden
# MAC and signed vectors.
# shellcheck disable=SC2016 # the bash -c scripts expand their own arguments
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
VECTORS=$(cd "$(dirname "${BASH_SOURCE[0]}")/../vectors" && pwd)

have_python=false
if command -v python3 >/dev/null 2>&1; then
    have_python=true
fi
have_ed25519=false
if "$VMS" --version | grep -q 'Ed25519'; then
    have_ed25519=true
fi

# json_check FILE PYTHON-EXPRESSION (over the parsed document `d`).
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

# key_id_of_raw FILE: vms_key_id of the raw bytes of FILE (python).
key_id_of_raw() {
    python3 -c '
import hashlib, sys
key = open(sys.argv[1], "rb").read()
print(hashlib.blake2b(b"libvmstream key id v1" + key, digest_size=32).hexdigest()[:16])
' "$1"
}

# key_id_of_pub_pem FILE: vms_key_id of the raw Ed25519 public key in a
# SubjectPublicKeyInfo PEM (its last 32 DER bytes).
key_id_of_pub_pem() {
    python3 -c '
import base64, hashlib, sys
lines = open(sys.argv[1]).read().split("\n")
der = base64.b64decode("".join(l for l in lines if l and not l.startswith("-----")))
assert len(der) == 44, len(der)
print(hashlib.blake2b(b"libvmstream key id v1" + der[-32:], digest_size=32).hexdigest()[:16])
' "$1"
}

head -c 300000 /dev/urandom >"$T/state"

# ---- keygen --mac ------------------------------------------------------------

expect_status 0 "keygen --mac" "$VMS" keygen --mac -o "$T/mac.key"
id=$(cat "$T/stdout")
[[ $id =~ ^[0-9a-f]{16}$ ]] || fail "keygen --mac printed '$id', not a 16-hex-digit key id"
[ "$(file_size "$T/mac.key")" = 32 ] || fail "the MAC key is not 32 bytes"
[ "$(stat -c %a "$T/mac.key")" = 600 ] || fail "MAC key mode $(stat -c %a "$T/mac.key"), not 600"
if $have_python; then
    [ "$id" = "$(key_id_of_raw "$T/mac.key")" ] || fail "keygen --mac: wrong key id $id"
fi
(umask 000 && "$VMS" keygen --mac -o "$T/mac0.key" >/dev/null) || fail "keygen --mac, umask 000"
[ "$(stat -c %a "$T/mac0.key")" = 600 ] || fail "MAC key mode with umask 000 is not 600"
cmp -s "$T/mac.key" "$T/mac0.key" && fail "two MAC keys are equal"
ok "keygen --mac writes 32 random bytes with mode 0600 and prints the key id"

cp "$T/mac.key" "$T/mac.saved"
expect_status 2 "keygen --mac over an existing file" "$VMS" keygen --mac -o "$T/mac.key"
grep -q "already exists" "$T/stderr" || fail "overwrite refusal not explained"
[ ! -s "$T/stdout" ] || fail "a refused keygen printed a key id"
cmp -s "$T/mac.key" "$T/mac.saved" || fail "keygen changed an existing key without --force"
ln -s "$T/elsewhere" "$T/link.key"
expect_status 2 "keygen --mac onto a symlink" "$VMS" keygen --mac -o "$T/link.key"
[ ! -e "$T/elsewhere" ] || fail "keygen followed a symlink"
chmod 644 "$T/mac.key"
expect_status 0 "keygen --mac --force" "$VMS" keygen --mac --force -o "$T/mac.key"
cmp -s "$T/mac.key" "$T/mac.saved" && fail "--force did not replace the key"
[ "$(stat -c %a "$T/mac.key")" = 600 ] || fail "a key replaced with --force is not mode 600"
[ -z "$(find "$T" -name '.*.vmstream-*')" ] || fail "keygen left a temporary file"
ok "keygen refuses to overwrite (and to follow a symlink) without --force; --force replaces with mode 0600"

expect_status 2 "keygen without a kind" "$VMS" keygen -o "$T/x"
expect_status 2 "keygen without -o" "$VMS" keygen --mac
expect_status 2 "keygen --mac --ed25519" "$VMS" keygen --mac --ed25519 -o "$T/x"
expect_status 2 "keygen -o -" "$VMS" keygen --mac -o -
[ ! -e "$T/x" ] || fail "a keygen usage error wrote a file"
ok "keygen usage errors exit 2"

# ---- MAC streams ---------------------------------------------------------------

expect_status 0 "encode --mac-key" "$VMS" encode --mac-key "$T/mac.key" --chunk-size 16K \
    -o "$T/mac.vms" "$T/state"
expect_status 0 "decode --mac-key --require-auth" \
    "$VMS" decode --mac-key "$T/mac.key" --require-auth -o "$T/mac.out" "$T/mac.vms"
cmp -s "$T/state" "$T/mac.out" || fail "MAC round trip differs"
"$VMS" inspect --mac-key "$T/mac.key" "$T/mac.vms" >"$T/inspect.txt" || fail "inspect MAC stream"
grep -q '^  auth mode:       mac (1)$' "$T/inspect.txt" || fail "inspect: MAC mode not shown"
if $have_python; then
    macid=$(key_id_of_raw "$T/mac.key")
    grep -q "^  key id:          $macid\$" "$T/inspect.txt" || fail "inspect: MAC key id not shown"
fi
ok "MAC round trip; inspect shows the mode and the key id"

rm -f "$T/mac.out"
expect_status 1 "--require-auth=signature on a MAC stream" \
    "$VMS" decode --mac-key "$T/mac.key" --require-auth=signature -o "$T/mac.out" "$T/mac.vms"
grep -q VMS_E_AUTH_REQUIRED "$T/stderr" || fail "signature policy: $(cat "$T/stderr")"
[ ! -e "$T/mac.out" ] || fail "signature policy: output written"
expect_status 1 "verify --require-auth=signature on a MAC stream" \
    "$VMS" verify --mac-key "$T/mac.key" --require-auth=signature "$T/mac.vms"
grep -q VMS_E_AUTH_REQUIRED "$T/stderr" || fail "verify signature policy not named"
expect_status 2 "--require-auth=bogus" "$VMS" verify --require-auth=bogus "$T/mac.vms"
ok "--require-auth=signature refuses a MAC stream (VMS_E_AUTH_REQUIRED)"

# The golden MAC vector: its key id is in mac.keyid.
expect_status 0 "verify the golden MAC vector" \
    "$VMS" verify --mac-key "$VECTORS/mac.key" --require-auth "$VECTORS/mac.vms"
"$VMS" inspect --json --mac-key "$VECTORS/mac.key" "$VECTORS/mac.vms" >"$T/vec.json" ||
    fail "inspect the golden MAC vector"
want=$(od -An -tx1 "$VECTORS/mac.keyid" | tr -d ' \n')
json_check "$T/vec.json" 'd["header"]["key_id"] == "'"$want"'" and d["result"] == "ok"'
ok "the golden MAC vector verifies and shows the key id of mac.keyid"

# ---- decoder limits ---------------------------------------------------------------

"$VMS" encode --chunk-size 1K -o "$T/small.vms" <(head -c 5000 "$T/state") ||
    fail "encode a 5-record stream"
expect_status 1 "--limit records=4" "$VMS" verify --limit records=4 "$T/small.vms"
grep -q VMS_E_LIMIT_RECORDS "$T/stderr" || fail "records limit not named"
expect_status 0 "--limit records=5" "$VMS" verify --limit records=5 "$T/small.vms"
expect_status 1 "--limit record=512" "$VMS" decode --limit record=512 -o "$T/x" "$T/small.vms"
grep -q VMS_E_LIMIT_RECORD "$T/stderr" || fail "record limit not named"
[ ! -e "$T/x" ] || fail "a decode over a limit wrote its output"
expect_status 1 "--limit total=4K" "$VMS" inspect --limit total=4K "$T/small.vms"
grep -q VMS_E_LIMIT_TOTAL "$T/stderr" || fail "total limit not named"
expect_status 0 "several --limit" \
    "$VMS" verify --limit total=1M --limit blob=0 --limit buffered=1M "$T/small.vms"
expect_status 2 "--limit unknown" "$VMS" verify --limit speed=1 "$T/small.vms"
expect_status 2 "--limit without =" "$VMS" verify --limit records "$T/small.vms"
expect_status 2 "--limit out of range" "$VMS" verify --limit record=0 "$T/small.vms"
expect_status 2 "--limit junk value" "$VMS" verify --limit total=lots "$T/small.vms"
ok "--limit NAME=VALUE sets decoder limits (rejections exit 1, bad limits exit 2)"

# ---- Ed25519 ---------------------------------------------------------------------------

if ! $have_ed25519; then
    expect_status 2 "keygen --ed25519 without OpenSSL" "$VMS" keygen --ed25519 -o "$T/k"
    grep -q "not built" "$T/stderr" || fail "missing Ed25519 support not explained"
    echo "# libvmstream built without OpenSSL: skipping the Ed25519 tests"
    exit 0
fi

expect_status 0 "keygen --ed25519" bash -c 'umask 022 && "$1" keygen --ed25519 -o "$2"' _ \
    "$VMS" "$T/k"
kid=$(cat "$T/stdout")
[[ $kid =~ ^[0-9a-f]{16}$ ]] || fail "keygen --ed25519 printed '$kid'"
[ "$(stat -c %a "$T/k.pem")" = 600 ] || fail "private key mode $(stat -c %a "$T/k.pem"), not 600"
[ "$(stat -c %a "$T/k.pub.pem")" = 644 ] || fail "public key mode is not 644 under umask 022"
grep -q -- '-----BEGIN PRIVATE KEY-----' "$T/k.pem" || fail "k.pem is not a PKCS#8 PEM"
grep -q -- '-----BEGIN PUBLIC KEY-----' "$T/k.pub.pem" || fail "k.pub.pem is not a PEM public key"
if $have_python; then
    [ "$kid" = "$(key_id_of_pub_pem "$T/k.pub.pem")" ] ||
        fail "keygen --ed25519: key id $kid is not vms_key_id of the public key"
fi
if command -v openssl >/dev/null 2>&1; then
    openssl pkey -in "$T/k.pem" -noout -text 2>/dev/null | grep -q ED25519 ||
        fail "openssl does not read k.pem as an Ed25519 key"
    cmp -s <(openssl pkey -in "$T/k.pem" -pubout 2>/dev/null) "$T/k.pub.pem" ||
        fail "k.pub.pem is not the public key of k.pem"
fi
ok "keygen --ed25519 writes NAME.pem (0600) and NAME.pub.pem and prints the key id"

cp "$T/k.pem" "$T/k.saved"
expect_status 2 "keygen --ed25519 over existing files" "$VMS" keygen --ed25519 -o "$T/k"
cmp -s "$T/k.pem" "$T/k.saved" || fail "keygen replaced a private key without --force"
expect_status 2 "keygen -o NAME.pem over existing files" "$VMS" keygen --ed25519 -o "$T/k.pem"
cmp -s "$T/k.pem" "$T/k.saved" || fail "keygen -o k.pem replaced k.pem"
: >"$T/half.pub.pem"
expect_status 2 "keygen --ed25519 when only NAME.pub.pem exists" \
    "$VMS" keygen --ed25519 -o "$T/half"
[ ! -e "$T/half.pem" ] || fail "keygen wrote NAME.pem although NAME.pub.pem existed"
expect_status 0 "keygen --ed25519 --force" "$VMS" keygen --ed25519 --force -o "$T/half"
[ "$(stat -c %a "$T/half.pem")" = 600 ] || fail "--force: private key mode not 600"
[ -s "$T/half.pub.pem" ] || fail "--force: public key not written"
"$VMS" keygen --ed25519 -o "$T/other.pem" >/dev/null || fail "keygen -o other.pem"
if [ ! -e "$T/other.pem" ] || [ ! -e "$T/other.pub.pem" ]; then
    fail "-o NAME.pem: files not NAME.pem/NAME.pub.pem"
fi
ok "keygen --ed25519 refuses to overwrite either file without --force"

# Signed round trip, with checkpoints every 64 KiB of state.
expect_status 0 "encode --sign" "$VMS" encode --sign "$T/k.pem" --checkpoint 64K \
    --chunk-size 16K -o "$T/signed.vms" "$T/state"
expect_status 0 "decode --verify-key" \
    "$VMS" decode --verify-key "$T/k.pub.pem" --require-auth=signature -o "$T/signed.out" \
    "$T/signed.vms"
cmp -s "$T/state" "$T/signed.out" || fail "signed round trip differs"
expect_status 0 "verify with several keys" "$VMS" verify --verify-key "$T/other.pub.pem" \
    --verify-key "$T/k.pub.pem" --require-auth "$T/signed.vms"
expect_status 0 "decode from stdin to stdout" \
    bash -c '"$1" decode --verify-key "$2" -o - - <"$3"' _ "$VMS" "$T/k.pub.pem" "$T/signed.vms"
cmp -s "$T/state" "$T/stdout" || fail "signed round trip through stdin/stdout differs"
ok "signed round trip (--sign, --checkpoint, --verify-key, --require-auth=signature)"

expect_status 0 "inspect a signed stream" "$VMS" inspect --verify-key "$T/k.pub.pem" "$T/signed.vms"
cp "$T/stdout" "$T/inspect.txt"
grep -q '^  auth mode:       ed25519 (2)$' "$T/inspect.txt" || fail "inspect: Ed25519 mode not shown"
grep -q "^  key id:          $kid\$" "$T/inspect.txt" || fail "inspect: the key id is not $kid"
ncp=$(grep -c ': checkpoint, wire 112, covers [0-9]* records and [0-9]* state bytes, signature verified$' \
    "$T/inspect.txt" || true)
[ "$ncp" -ge 4 ] || fail "inspect shows $ncp checkpoints, expected at least 4"
grep -q ': checkpoint, wire 112, covers 4 records and 65536 state bytes' "$T/inspect.txt" ||
    fail "inspect: the first checkpoint does not cover 4 records / 64 KiB"
expect_status 0 "inspect --json a signed stream" \
    "$VMS" inspect --json --verify-key "$T/k.pub.pem" "$T/signed.vms"
json_check "$T/stdout" '
d["result"] == "ok" and d["header"]["auth_mode"] == "ed25519"
and d["header"]["key_id"] == "'"$kid"'"
and len([r for r in d["records"] if r.get("kind") == "checkpoint" and r["signature_verified"]]) >= 4
and sum(r["raw_length"] for r in d["records"] if "raw_length" in r) == 300000'
expect_status 0 "verify --json a signed stream" \
    "$VMS" verify --json --verify-key "$T/k.pub.pem" "$T/signed.vms"
json_check "$T/stdout" 'd["result"] == "ok" and d["header"]["auth_mode"] == "ed25519"'
ok "inspect shows the auth mode, the key id and the checkpoints"

# Wrong key, no key.
rm -f "$T/x"
expect_status 1 "decode with the wrong verify key" \
    "$VMS" decode --verify-key "$T/other.pub.pem" -o "$T/x" "$T/signed.vms"
grep -q VMS_E_UNKNOWN_KEY "$T/stderr" || fail "wrong key: $(cat "$T/stderr")"
grep -q "$kid" "$T/stderr" || fail "wrong key: the stream's key id is not named"
[ ! -e "$T/x" ] || fail "wrong key: output written"
expect_status 1 "decode without a verify key" "$VMS" decode -o "$T/x" "$T/signed.vms"
grep -q VMS_E_UNKNOWN_KEY "$T/stderr" || fail "no key: $(cat "$T/stderr")"
expect_status 1 "verify a signed stream with the MAC key" \
    "$VMS" verify --mac-key "$T/mac.key" "$T/signed.vms"
expect_status 1 "verify a MAC stream with a verify key" \
    "$VMS" verify --verify-key "$T/k.pub.pem" "$T/mac.vms"
[ ! -e "$T/x" ] || fail "output written"
ok "a wrong or missing Ed25519 key is rejected (exit 1, VMS_E_UNKNOWN_KEY)"
# (A signature by another key under the same key id would need a key-id
# collision: it cannot be made from the command line.)

# A modified byte of a signed stream.
cp "$T/signed.vms" "$T/signed-bad.vms"
perl -e 'open(my $f, "+<:raw", $ARGV[0]) or die; seek($f, 50000, 0); read($f, my $b, 1) == 1 or die; seek($f, 50000, 0); print $f chr(ord($b) ^ 0xff); close $f' \
    "$T/signed-bad.vms"
expect_status 1 "verify a modified signed stream" \
    "$VMS" verify --verify-key "$T/k.pub.pem" "$T/signed-bad.vms"
grep -q 'rejected at byte' "$T/stderr" || fail "modified signed stream: $(cat "$T/stderr")"
ok "a modified signed stream is rejected"

# --require-auth (at least a MAC) accepts a signed stream; no policy accepts
# it too (with its key); a plain stream is refused by both policies.
expect_status 0 "--require-auth on a signed stream" \
    "$VMS" verify --verify-key "$T/k.pub.pem" --require-auth=mac "$T/signed.vms"
expect_status 1 "--require-auth=signature on a plain stream" \
    "$VMS" verify --require-auth=signature "$T/small.vms"
grep -q VMS_E_AUTH_REQUIRED "$T/stderr" || fail "plain stream under signature policy"
ok "--require-auth=mac accepts signatures; policies refuse weaker streams"

# The checkpoint interval must fit the receiver's buffered limit.
expect_status 0 "encode --checkpoint 4M" "$VMS" encode --sign "$T/k.pem" --checkpoint 4M \
    --chunk-size 64K -o "$T/sparse-cp.vms" <(head -c $((6 * 1024 * 1024)) /dev/urandom)
expect_status 1 "--limit buffered below the checkpoint interval" \
    "$VMS" verify --verify-key "$T/k.pub.pem" --limit buffered=1M "$T/sparse-cp.vms"
grep -q VMS_E_LIMIT_BUFFERED "$T/stderr" || fail "buffered limit: $(cat "$T/stderr")"
expect_status 0 "--limit buffered above the checkpoint interval" \
    "$VMS" verify --verify-key "$T/k.pub.pem" --limit buffered=8M "$T/sparse-cp.vms"
expect_status 0 "encode --checkpoint 1G warns" "$VMS" encode --sign "$T/k.pem" --checkpoint 1G \
    -o "$T/x.vms" <(head -c 1000 /dev/zero)
grep -q "warning: --checkpoint" "$T/stderr" || fail "no warning for a huge checkpoint interval"
ok "--limit buffered against the checkpoint interval (VMS_E_LIMIT_BUFFERED)"

# Usage errors.
expect_status 2 "--sign and --mac-key" "$VMS" encode --sign "$T/k.pem" --mac-key "$T/mac.key" \
    -o "$T/x" "$T/state"
expect_status 2 "--checkpoint without --sign" "$VMS" encode --checkpoint 1M -o "$T/x" "$T/state"
expect_status 2 "--checkpoint too small" "$VMS" encode --sign "$T/k.pem" --checkpoint 100 \
    -o "$T/x" "$T/state"
expect_status 2 "--sign with a public key" "$VMS" encode --sign "$T/k.pub.pem" -o "$T/x" "$T/state"
grep -q "is a public key" "$T/stderr" || fail "--sign PUB: unclear message"
expect_status 2 "--sign with a MAC key" "$VMS" encode --sign "$T/mac.key" -o "$T/x" "$T/state"
expect_status 2 "--sign with a missing file" "$VMS" encode --sign "$T/nope.pem" -o "$T/x" "$T/state"
expect_status 2 "--verify-key with a private key" \
    "$VMS" verify --verify-key "$T/k.pem" "$T/signed.vms"
grep -q "is a private key" "$T/stderr" || fail "--verify-key PRIV: unclear message"
expect_status 2 "--verify-key with a text file" \
    "$VMS" verify --verify-key "$T/inspect.txt" "$T/signed.vms"
nine=()
for _ in 1 2 3 4 5 6 7 8 9; do nine+=(--verify-key "$T/k.pub.pem"); done
expect_status 2 "nine --verify-key" "$VMS" verify "${nine[@]}" "$T/signed.vms"
[ ! -e "$T/x" ] || fail "a usage error wrote output"
ok "bad keys and option combinations exit 2"

# The golden signed vector and its raw 32-byte public key.
expect_status 0 "verify the golden signed vector" \
    "$VMS" verify --verify-key "$VECTORS/signed.pub" --require-auth=signature "$VECTORS/signed.vms"
expect_status 1 "the golden signed vector with another key" \
    "$VMS" verify --verify-key "$T/k.pub.pem" "$VECTORS/signed.vms"
grep -q VMS_E_UNKNOWN_KEY "$T/stderr" || fail "golden signed vector, wrong key"
ok "the golden signed vector verifies with its raw public key"
