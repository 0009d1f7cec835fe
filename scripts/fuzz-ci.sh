#!/usr/bin/env bash
# scripts/fuzz-ci.sh - short libFuzzer runs of every harness (issue 5).
#
# Builds build-fuzz/ with clang (-Dfuzzing=true -Dtests=false), generates the
# seed corpus from the encoder, then runs each harness from its seeds
# (generated + fuzz/corpus/<h> + tests/regress/<h>), two harnesses at a time,
# with -timeout=10 -rss_limit_mb=2048.  Prints "ok - fuzz <name>" per
# harness; on a crash, hang, leak or OOM prints the offending input as hex
# plus the end of the fuzzer log and exits non-zero.
#
# Two modes (FUZZ_MODE):
#   ci       (default) reproducible: a fixed -seed and a fixed number of
#            runs per harness (about 30 s each on 2 cores), so the same commit
#            gives the same verdict on every CI run; FUZZ_SECONDS (default 90)
#            only caps a run on a slow machine.  A gate, not a search.
#   explore  a random seed, each harness for FUZZ_SECONDS (default 45): the
#            search for new bugs.  Run it (and the long runs in fuzz/README.md)
#            outside the gate; put what it finds in tests/regress/<harness>/.
# About 3-4 minutes of fuzzing plus the build on 2 cores either way.
#
# Env: FUZZ_MODE, FUZZ_SECONDS, FUZZ_SEED (ci mode, default 20261125),
#      FUZZ_RUNS_SCALE (ci mode: multiplies the run counts, default 1),
#      FUZZ_JOBS (parallel harnesses, default 2),
#      FUZZ_HARNESSES (space-separated subset), FUZZ_BUILD (dir, build-fuzz),
#      FUZZ_WORK (corpus/artifact dir, default $FUZZ_BUILD/fuzz-ci).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

mode=${FUZZ_MODE:-ci}
case $mode in
  ci) seconds=${FUZZ_SECONDS:-90} ;;
  explore) seconds=${FUZZ_SECONDS:-45} ;;
  *) echo "not ok - fuzz setup (FUZZ_MODE must be ci or explore, not $mode)"; exit 1 ;;
esac
seed=${FUZZ_SEED:-20261125}
scale=${FUZZ_RUNS_SCALE:-1}
jobs=${FUZZ_JOBS:-2}
build=${FUZZ_BUILD:-build-fuzz}
harnesses=${FUZZ_HARNESSES:-"decode decode_mutator roundtrip descriptor_text descriptor_binary keys b2many"}
work=${FUZZ_WORK:-$build/fuzz-ci}

# clang and its fuzzer runtime (the rest is what the normal build needs)
missing=()
for p in clang libclang-rt-14-dev llvm-14 meson ninja-build pkg-config libb2-dev \
         zlib1g-dev libzstd-dev libssl-dev xxd; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null ||
    { echo "not ok - fuzz setup (apt-get install ${missing[*]} failed)"; exit 1; }
fi

if [[ ! -f $build/build.ninja ]]; then
  if ! CC=clang meson setup "$build" -Dfuzzing=true -Dtests=false >"$root/$build.setup.log" 2>&1; then
    echo "not ok - fuzz build setup"; tail -30 "$root/$build.setup.log"; exit 1
  fi
fi
# only what fuzzing needs (the harnesses and the generated seed corpus)
targets=(fuzz/corpus.stamp)
for h in $harnesses; do targets+=("fuzz/fuzz_$h"); done
if ! ninja -C "$build" "${targets[@]}" >"$build/fuzz-build.log" 2>&1; then
  echo "not ok - fuzz build"; grep -E "error|FAILED" -A5 "$build/fuzz-build.log" | head -40
  exit 1
fi

hexdump_file() { # prints a file as hex (first 4 KiB)
  if command -v xxd >/dev/null; then xxd "$1" | head -256
  else od -A x -t x1z -v "$1" | head -256; fi
}

ci_runs() { # runs per harness in ci mode: about 30 s each on this 2-core kind
  case $1 in
    decode) echo 350000 ;; decode_mutator) echo 40000 ;; roundtrip) echo 6000 ;;
    descriptor_text) echo 3000000 ;; descriptor_binary) echo 2500000 ;;
    keys) echo 25000 ;; b2many) echo 100000 ;; *) echo 10000 ;;
  esac
}

run_one() { # $1 harness; writes $work/$1.log and $work/$1.status
  local h=$1 exe=$build/fuzz/fuzz_$1
  local cdir=$work/corpus-$h adir=$work/artifacts-$h
  rm -rf "$adir"; mkdir -p "$cdir" "$adir"
  local seeds=()
  [[ -d $build/fuzz/corpus/$h ]] && seeds+=("$build/fuzz/corpus/$h")
  [[ -d fuzz/corpus/$h ]] && seeds+=("fuzz/corpus/$h")
  [[ -d tests/regress/$h ]] && seeds+=("tests/regress/$h")
  local extra=()
  case $h in decode|decode_mutator|roundtrip) extra+=(-max_len=65536) ;;
    b2many) extra+=(-max_len=20000) ;; esac
  if [[ $mode == ci ]]; then
    # the corpus directory starts empty so the run depends on the commit only
    rm -rf "$cdir"; mkdir -p "$cdir"
    extra+=(-seed="$seed" -runs="$(( $(ci_runs "$h") * scale ))")
  fi
  ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
  "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -dict=fuzz/vmstream.dict -artifact_prefix="$adir/" -print_final_stats=1 \
    "${extra[@]}" "$cdir" "${seeds[@]}" >"$work/$h.log" 2>&1
  echo $? >"$work/$h.status"
}

report() { # $1 harness; returns non-zero on failure
  local h=$1 st
  st=$(cat "$work/$h.status" 2>/dev/null || echo 99)
  local arts=("$work/artifacts-$h"/*)
  if [[ $st == 0 && ! -e ${arts[0]} ]]; then
    local runs
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$work/$h.log" | grep -Eo '[0-9]+$')
    local secs
    secs=$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$work/$h.log" | grep -Eo '[0-9]+ second' | grep -Eo '[0-9]+')
    echo "ok - fuzz $h (${runs:-?} runs in ${secs:-$seconds}s, $mode mode)"
    return 0
  fi
  echo "not ok - fuzz $h (exit $st)"
  grep -E "ERROR|invariant violated|SUMMARY|#[0-9]+ 0x" "$work/$h.log" | head -30
  for a in "${arts[@]}"; do
    [[ -f $a ]] || continue
    echo "--- $a ($(stat -c %s "$a") bytes):"
    hexdump_file "$a"
    echo "--- reproduce: $build/fuzz/fuzz_${h} $a"
  done
  echo "--- end of $work/$h.log:"
  tail -15 "$work/$h.log"
  return 1
}

mkdir -p "$work"
fail=0
set -- $harnesses
while (($#)); do
  batch=()
  for ((i = 0; i < jobs && $# > 0; i++)); do batch+=("$1"); shift; done
  for h in "${batch[@]}"; do run_one "$h" & done
  wait
  for h in "${batch[@]}"; do report "$h" || fail=1; done
done
exit $fail
