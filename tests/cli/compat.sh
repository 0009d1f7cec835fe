#!/bin/bash
# compat.sh - device descriptors from the command line: `vmstream compat`
# (exit statuses, reasons, --json), `vmstream descriptor`, and descriptors
# in streams (encode --descriptor, decode/verify --target, inspect).  Uses
# the descriptor vectors of tests/vectors/descriptors, whose comments state
# the expected outcomes.
# shellcheck disable=SC2016 # the bash -c scripts expand their own arguments
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
D=$(cd "$(dirname "${BASH_SOURCE[0]}")/../vectors/descriptors" && pwd)

have_python=false
if command -v python3 >/dev/null 2>&1; then
    have_python=true
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

src11=$D/source-nvidia-11.txt
src12=$D/source-nvidia-12.txt
tgt11=$D/target-nvidia-11.txt
refuses=$D/target-refuses.txt
bad=$D/bad-unknown-key.txt

denied='interface version 1.2.0 of the source is on the target'"'"'s deny list (1.1.3, 1.2.0)'
typed='device type "nvidia-12" of the source is not "nvidia-11" nor in the target'"'"'s accepted types (nvidia-21)'

# ---- vmstream compat ---------------------------------------------------------------

expect_status 0 "compat: compatible" "$VMS" compat "$src11" "$tgt11"
[ "$(cat "$T/stdout")" = 'compatible: source type "nvidia-11" version 1.2.0 can be loaded by target type "nvidia-11" version 1.3.0' ] ||
    fail "compat: compatible: $(cat "$T/stdout")"
[ ! -s "$T/stderr" ] || fail "compat wrote to stderr"
expect_status 1 "compat: denied" "$VMS" compat "$src11" "$refuses"
[ "$(cat "$T/stdout")" = "incompatible (denied): $denied" ] || fail "compat: denied: $(cat "$T/stdout")"
expect_status 1 "compat: type" "$VMS" compat "$src12" "$tgt11"
[ "$(cat "$T/stdout")" = "incompatible (type): $typed" ] || fail "compat: type: $(cat "$T/stdout")"
ok "compat: exit 0 compatible, 1 incompatible with the rule name and the sentence"

expect_status 2 "compat: parse error in SOURCE" "$VMS" compat "$bad" "$tgt11"
grep -q "bad-unknown-key.txt:6: unknown key \"mdev_type\"" "$T/stderr" ||
    fail "compat: parse error not reported as FILE:LINE: $(cat "$T/stderr")"
[ ! -s "$T/stdout" ] || fail "compat: a parse error printed on stdout"
expect_status 2 "compat: parse error in TARGET" "$VMS" compat "$src11" "$bad"
grep -q "bad-unknown-key.txt:6: " "$T/stderr" || fail "compat: TARGET parse error"
printf 'vendor_id=pci:0x10de\ndevice_api=vfio-pci\ntype=nvidia-11\n' >"$T/nover.txt"
expect_status 2 "compat: missing key" "$VMS" compat "$T/nover.txt" "$tgt11"
grep -q 'nover.txt:0: missing required key "version"' "$T/stderr" ||
    fail "compat: missing key: $(cat "$T/stderr")"
expect_status 2 "compat: missing file" "$VMS" compat "$T/none.txt" "$tgt11"
grep -q none.txt "$T/stderr" || fail "compat: the missing file is not named"
expect_status 2 "compat: one argument" "$VMS" compat "$src11"
expect_status 2 "compat: three arguments" "$VMS" compat "$src11" "$tgt11" "$tgt11"
expect_status 2 "compat: both stdin" "$VMS" compat - -
ok "compat: exit 2 for parse errors (FILE:LINE: MESSAGE), missing files and bad usage"

expect_status 1 "compat: SOURCE from stdin" bash -c '"$1" compat - "$2" <"$3"' _ "$VMS" "$refuses" "$src11"
[ "$(cat "$T/stdout")" = "incompatible (denied): $denied" ] || fail "compat - TARGET"
expect_status 0 "compat: TARGET from stdin" bash -c '"$1" compat "$2" - <"$3"' _ "$VMS" "$src11" "$tgt11"
expect_status 1 "compat -q" "$VMS" compat -q "$src11" "$refuses"
[ ! -s "$T/stdout" ] || fail "compat -q printed something"
ok "compat reads one descriptor from stdin; -q prints nothing"

# --json (doc/COMPAT.md section 7: the rule name, the field and the reason).
expect_status 0 "compat --json: compatible" "$VMS" compat --json "$src11" "$tgt11"
json_check "$T/stdout" '
d["compatible"] is True and d["rule"] == "ok" and d["field"] is None
and d["reason"].startswith("compatible: ") and d["error"] is None'
expect_status 1 "compat --json: denied" "$VMS" compat --json "$src11" "$refuses"
cp "$T/stdout" "$T/denied.json"
json_check "$T/denied.json" '
d["compatible"] is False and d["rule"] == "denied" and d["field"] is None
and d["reason"] == "'"$denied"'"'
# A vendor-field failure names the field.
sed 's/^field.aggregator=2$/field.aggregator=0/' "$tgt11" >"$T/tgt-agg0.txt"
expect_status 1 "compat --json: field_value" "$VMS" compat --json "$src11" "$T/tgt-agg0.txt"
json_check "$T/stdout" '
d["compatible"] is False and d["rule"] == "field_value" and d["field"] == "aggregator"
and "aggregator" in d["reason"]'
grep -v '^field.pv_mode' "$tgt11" >"$T/tgt-nopv.txt"
expect_status 1 "compat: field_missing" "$VMS" compat "$src11" "$T/tgt-nopv.txt"
grep -q '^incompatible (field_missing): vendor field "pv_mode" of the source' "$T/stdout" ||
    fail "compat: field_missing: $(cat "$T/stdout")"
expect_status 2 "compat --json: parse error" "$VMS" compat --json "$bad" "$tgt11"
json_check "$T/stdout" '
d["compatible"] is None and d["rule"] is None and d["error"]["line"] == 6
and d["error"]["file"].endswith("bad-unknown-key.txt") and "mdev_type" in d["error"]["message"]'
ok "compat --json: valid JSON with compatible, rule, field and reason"

# ---- vmstream descriptor ---------------------------------------------------------------

expect_status 0 "descriptor --check" "$VMS" descriptor --check "$tgt11"
cp "$T/stdout" "$T/canon.txt"
head -n 4 "$T/canon.txt" | tr '\n' ' ' |
    grep -q '^vendor_id=pci:0x10de device_api=vfio-pci type=nvidia-11 version=1.3.0 $' ||
    fail "descriptor --check: not canonical: $(cat "$T/canon.txt")"
grep -q '^field.pv_mode=context+none+ppgtt$' "$T/canon.txt" || fail "superset value not sorted"
grep -q '^field.display.rule=equal$' "$T/canon.txt" || fail "the implicit rule is not written"
expect_status 0 "descriptor of the canonical text" "$VMS" descriptor "$T/canon.txt"
cmp -s "$T/canon.txt" "$T/stdout" || fail "canonical text does not format to itself"
expect_status 1 "descriptor --check of an invalid file" "$VMS" descriptor --check "$bad"
grep -q "bad-unknown-key.txt:6: " "$T/stderr" || fail "descriptor --check: no FILE:LINE"
expect_status 0 "descriptor --binary" "$VMS" descriptor --binary -o "$T/t.bin" "$tgt11"
head -c 4 "$T/t.bin" | grep -q '^VMSD' || fail "binary descriptor without its magic"
expect_status 0 "descriptor --from-binary" "$VMS" descriptor --from-binary "$T/t.bin"
cmp -s "$T/canon.txt" "$T/stdout" || fail "text -> binary -> text differs"
expect_status 1 "descriptor --from-binary of text" "$VMS" descriptor --from-binary "$tgt11"
expect_status 0 "descriptor --json" "$VMS" descriptor --json "$tgt11"
json_check "$T/stdout" '
d["vendor_id"] == "pci:0x10de" and d["device_api"] == "vfio-pci" and d["type"] == "nvidia-11"
and d["version"] == "1.3.0" and d["accept_types"] == ["nvidia-21"]
and d["deny_versions"] == ["1.1.3"]
and [f["name"] for f in d["fields"]] == ["aggregator", "display", "pv_mode"]
and d["fields"][0] == {"name": "aggregator", "value": "2", "rule": "ge"}'
expect_status 2 "descriptor --binary without -o" "$VMS" descriptor --binary "$tgt11"
expect_status 2 "descriptor --check --binary" "$VMS" descriptor --check --binary -o "$T/x" "$tgt11"
ok "descriptor: --check prints canonical text, --binary / --from-binary round trip, --json"

# ---- descriptors in streams ------------------------------------------------------------------

head -c 200000 /dev/urandom >"$T/state"
sid=000102030405060708090a0b0c0d0e0f
expect_status 0 "encode --descriptor" "$VMS" encode --descriptor "$src11" --chunk-size 64K \
    --stream-id $sid -o "$T/d11.vms" "$T/state"
expect_status 0 "encode --descriptor (nvidia-12)" "$VMS" encode --descriptor "$src12" \
    --chunk-size 64K -o "$T/d12.vms" "$T/state"

# The sentence `vmstream compat` gives for the refused pair.
"$VMS" compat "$src11" "$refuses" >"$T/compat.out" && fail "compat should refuse"
reason=$(sed 's/^incompatible ([a-z_]*): //' "$T/compat.out")
[ "$reason" = "$denied" ] || fail "unexpected compat reason: $reason"

rm -f "$T/out"
expect_status 1 "decode --target of a refused stream" \
    "$VMS" decode --target "$refuses" -o "$T/out" "$T/d11.vms"
[ ! -e "$T/out" ] || fail "decode --target: output written for a refused stream"
[ -z "$(find "$T" -name '.out.vmstream-*')" ] || fail "decode --target left a temporary file"
grep -q VMS_E_INCOMPATIBLE "$T/stderr" || fail "decode --target: VMS_E_INCOMPATIBLE not named"
grep -qF "$reason" "$T/stderr" || fail "decode --target: the reason differs from compat's: $(cat "$T/stderr")"
grep -qF "(denied)" "$T/stderr" || fail "decode --target: the rule is not named"
expect_status 1 "decode --target to stdout" "$VMS" decode --target "$refuses" -o - "$T/d11.vms"
[ ! -s "$T/stdout" ] || fail "decode --target -o -: a refused stream wrote to stdout"
expect_status 1 "decode --target (type rule)" "$VMS" decode --target "$tgt11" -o "$T/out" "$T/d12.vms"
grep -qF "$typed" "$T/stderr" || fail "decode --target: type reason: $(cat "$T/stderr")"
[ ! -e "$T/out" ] || fail "decode --target (type): output written"
ok "decode --target refuses before writing anything, with the reason compat gives"

expect_status 0 "decode --target of a compatible stream" \
    "$VMS" decode --target "$tgt11" -o "$T/out" "$T/d11.vms"
cmp -s "$T/state" "$T/out" || fail "decode --target: output differs"
expect_status 0 "verify --target" "$VMS" verify --target "$tgt11" "$T/d11.vms"
expect_status 1 "verify --target refused" "$VMS" verify --json --target "$refuses" "$T/d11.vms"
json_check "$T/stdout" '
d["result"] == "rejected" and d["error"]["code"] == "VMS_E_INCOMPATIBLE"
and "'"$denied"'" in d["error"]["message"]'
expect_status 0 "decode without --target ignores the descriptor" \
    "$VMS" decode -o "$T/out" "$T/d11.vms"
ok "a compatible stream decodes; verify --target"

"$VMS" encode -o "$T/plain.vms" "$T/state" || fail "encode without descriptor"
expect_status 1 "decode --target of a stream without descriptor" \
    "$VMS" decode --target "$tgt11" -o "$T/out2" "$T/plain.vms"
grep -q "VMS_E_INCOMPATIBLE: .*no device descriptor" "$T/stderr" ||
    fail "no descriptor: $(cat "$T/stderr")"
[ ! -e "$T/out2" ] || fail "no descriptor: output written"
expect_status 2 "decode --target of an invalid descriptor" \
    "$VMS" decode --target "$bad" -o "$T/out2" "$T/d11.vms"
grep -q "bad-unknown-key.txt:6: " "$T/stderr" || fail "--target parse error not FILE:LINE"
expect_status 2 "decode --target of a missing file" \
    "$VMS" decode --target "$T/none.txt" -o "$T/out2" "$T/d11.vms"
[ ! -e "$T/out2" ] || fail "bad --target: output written"
expect_status 2 "--target - with IN -" bash -c '"$1" verify --target - - <"$2"' _ "$VMS" "$T/d11.vms"
grep -q "stdin can be read only once" "$T/stderr" || fail "--target - and IN -: not explained"
expect_status 2 "encode --descriptor - with IN -" \
    bash -c '"$1" encode --descriptor - -o "$2" - <"$3"' _ "$VMS" "$T/x.vms" "$T/state"
expect_status 0 "verify --target - with IN a file" \
    bash -c '"$1" verify --target - "$2" <"$3"' _ "$VMS" "$T/d11.vms" "$tgt11"
ok "--target refuses streams without a descriptor; a bad --target exits 2"

# inspect shows the descriptor in text form, and as an object with --json.
expect_status 0 "inspect of a stream with a descriptor" "$VMS" inspect "$T/d11.vms"
cp "$T/stdout" "$T/inspect.txt"
"$VMS" descriptor "$src11" | sed 's/^/  /' >"$T/desc.want"
sed -n '/^descriptor:$/,/^records:$/p' "$T/inspect.txt" | sed '1d;$d' >"$T/desc.got"
cmp -s "$T/desc.want" "$T/desc.got" || fail "inspect does not show the descriptor: $(cat "$T/inspect.txt")"
grep -q '^  features:        .*optional 0x00000001 (descriptor)$' "$T/inspect.txt" ||
    fail "inspect: the DESCRIPTOR feature is not shown"
grep -q '^  vendor id:       pci:0x10de$' "$T/inspect.txt" || fail "inspect: vendor id not set"
expect_status 0 "inspect --json of a stream with a descriptor" "$VMS" inspect --json "$T/d11.vms"
json_check "$T/stdout" '
d["result"] == "ok" and d["descriptor"]["verified"] is True
and d["descriptor"]["vendor_id"] == "pci:0x10de" and d["descriptor"]["device_api"] == "vfio-pci"
and d["descriptor"]["type"] == "nvidia-11" and d["descriptor"]["version"] == "1.2.0"
and d["descriptor"]["accept_types"] == [] and d["descriptor"]["deny_versions"] == []
and d["descriptor"]["fields"] == [
    {"name": "aggregator", "value": "1", "rule": "ge"},
    {"name": "pv_mode", "value": "none+ppgtt", "rule": "superset"}]
and d["header"]["vendor_id"] == 0x800010de'
expect_status 0 "inspect --json without a descriptor" "$VMS" inspect --json "$T/plain.vms"
json_check "$T/stdout" 'd["descriptor"] is None'
"$VMS" inspect "$T/plain.vms" >"$T/inspect.txt"
grep -q '^descriptor' "$T/inspect.txt" && fail "inspect shows a descriptor for a stream without one"
ok "inspect shows the stream's descriptor (text, and --json object)"

# A MAC stream inspected without its key: the descriptor is shown, marked.
head -c 32 /dev/urandom >"$T/mac.key"
"$VMS" encode --descriptor "$src11" --mac-key "$T/mac.key" -o "$T/dmac.vms" "$T/state" ||
    fail "encode --descriptor --mac-key"
expect_status 1 "inspect a MAC stream without the key" "$VMS" inspect "$T/dmac.vms"
grep -q '^descriptor (NOT verified' "$T/stdout" || fail "unverified descriptor not shown"
grep -q '^  type=nvidia-11$' "$T/stdout" || fail "unverified descriptor: no type line"
expect_status 0 "decode --target --mac-key" \
    "$VMS" decode --mac-key "$T/mac.key" --target "$tgt11" -o "$T/out" "$T/dmac.vms"
cmp -s "$T/state" "$T/out" || fail "MAC + descriptor round trip differs"
ok "inspect shows an unauthenticated descriptor marked NOT verified"

# --descriptor with --vendor, --pci-vendor, --version-blob: only when consistent.
expect_status 0 "--descriptor with the same --pci-vendor" "$VMS" encode --descriptor "$src11" \
    --pci-vendor 10de --chunk-size 64K --stream-id $sid -o "$T/v.vms" "$T/state"
cmp -s "$T/d11.vms" "$T/v.vms" || fail "a consistent --pci-vendor changed the stream"
expect_status 2 "--descriptor with another --vendor" \
    "$VMS" encode --descriptor "$src11" --vendor pci:0x8086 -o "$T/x.vms" "$T/state"
grep -q "differs from the descriptor" "$T/stderr" || fail "vendor conflict not explained"
"$VMS" descriptor --binary -o "$T/src11.bin" "$src11"
expect_status 0 "--descriptor with its own binary as --version-blob" \
    "$VMS" encode --descriptor "$src11" --version-blob "$T/src11.bin" --chunk-size 64K \
    --stream-id $sid -o "$T/b.vms" "$T/state"
cmp -s "$T/d11.vms" "$T/b.vms" || fail "a consistent --version-blob changed the stream"
printf 'opaque' >"$T/opaque.blob"
expect_status 2 "--descriptor with another --version-blob" \
    "$VMS" encode --descriptor "$src11" --version-blob "$T/opaque.blob" -o "$T/x.vms" "$T/state"
expect_status 2 "--descriptor of an invalid file" "$VMS" encode --descriptor "$bad" -o "$T/x.vms" "$T/state"
grep -q "bad-unknown-key.txt:6: " "$T/stderr" || fail "encode --descriptor: no FILE:LINE"
[ ! -e "$T/x.vms" ] || fail "a refused encode wrote its output"
ok "--descriptor conflicts with --vendor/--pci-vendor/--version-blob unless consistent"

# A reason longer than the decoder's error message: decode still prints the
# whole sentence that compat gives.
long_a=$(printf 'a%.0s' $(seq 250))
long_b=$(printf 'b%.0s' $(seq 250))
{ grep -v '^#' "$src11"; echo "field.serial=$long_a"; } >"$T/src-long.txt"
{ grep -v '^#' "$tgt11"; echo "field.serial=$long_b"; } >"$T/tgt-long.txt"
expect_status 1 "compat: a long reason" "$VMS" compat "$T/src-long.txt" "$T/tgt-long.txt"
long_reason=$(sed 's/^incompatible ([a-z_]*): //' "$T/stdout")
[ "${#long_reason}" -gt 400 ] || fail "the long reason is only ${#long_reason} bytes"
"$VMS" encode --descriptor "$T/src-long.txt" -o "$T/long.vms" "$T/state" || fail "encode long"
expect_status 1 "decode --target: a long reason" \
    "$VMS" decode --target "$T/tgt-long.txt" -o "$T/out3" "$T/long.vms"
grep -qF "$long_reason" "$T/stderr" || fail "decode --target does not print the whole reason: $(cat "$T/stderr")"
[ ! -e "$T/out3" ] || fail "long reason: output written"
ok "decode --target prints the whole reason even when it is long"
