#!/usr/bin/env bash
# fuzz/coverage.sh - library line coverage reached by the fuzz corpora.
#
#   fuzz/coverage.sh [BUILD] [CORPUS_ROOT]
#
# BUILD is the fuzzing build (default build-fuzz, see fuzz/README.md); it
# holds vmsfuzz_replay_cov{,_bypass}: the replayer linked with a copy of the
# library built with -fprofile-instr-generate -fcoverage-mapping.
# CORPUS_ROOT holds corpus-<harness>/ directories written by the fuzzers
# (default BUILD/fuzz-ci, as scripts/fuzz-ci.sh leaves them).  The generated
# seeds, fuzz/corpus/<h> and tests/regress/<h> are replayed too.
# Prints two llvm-cov reports for libvmstream/src:
#   all         every harness (decode on the checksum-bypass flavour)
#   production  only harnesses on the production flavour (decode_mutator,
#               roundtrip, descriptors, keys): what the real verifier reached
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-fuzz}
croot=${2:-$build/fuzz-ci}
out=$build/coverage
prof=${LLVM_PROFDATA:-llvm-profdata-14}
cov=${LLVM_COV:-llvm-cov-14}
rm -rf "$out"; mkdir -p "$out"

dirs_for() { # corpus directories of harness $1 that exist
  local h=$1 d
  for d in "$build/fuzz/corpus/$h" "fuzz/corpus/$h" "tests/regress/$h" "$croot/corpus-$h"; do
    [[ -d $d ]] && printf '%s\n' "$d"
  done
}

run() { # $1 flavour suffix ("" or _bypass), $2 harness
  local exe=$build/fuzz/vmsfuzz_replay_cov$1 h=$2
  mapfile -t ds < <(dirs_for "$h")
  ((${#ds[@]})) || return 0
  LLVM_PROFILE_FILE="$out/$h$1-%m.profraw" "$exe" "$h" "${ds[@]}" >"$out/$h$1.log" 2>&1 ||
    { echo "note: some $h inputs fail their invariants:"; grep '^FAIL' "$out/$h$1.log" | head -5; }
  tail -1 "$out/$h$1.log"
}

run _bypass decode
for h in decode_mutator roundtrip descriptor_text descriptor_binary keys b2many; do run "" "$h"; done

"$prof" merge -sparse "$out"/*.profraw -o "$out/all.profdata"
ls "$out"/*.profraw | grep -v _bypass | xargs "$prof" merge -sparse -o "$out/production.profdata"

srcs=(libvmstream/src/*.c)
echo "== all harnesses (decode on the checksum-bypass build)"
"$cov" report "$build/fuzz/vmsfuzz_replay_cov" -object "$build/fuzz/vmsfuzz_replay_cov_bypass" \
  -instr-profile="$out/all.profdata" "${srcs[@]}" | tee "$out/report-all.txt"
echo "== production flavour only"
"$cov" report "$build/fuzz/vmsfuzz_replay_cov" \
  -instr-profile="$out/production.profdata" "${srcs[@]}" | tee "$out/report-production.txt"
# line-by-line HTML for decoder.c etc.: llvm-cov-14 show ... -format=html
"$cov" show "$build/fuzz/vmsfuzz_replay_cov" -object "$build/fuzz/vmsfuzz_replay_cov_bypass" \
  -instr-profile="$out/all.profdata" "${srcs[@]}" -format=text >"$out/show-all.txt"
echo "(line detail: $out/show-all.txt)"
