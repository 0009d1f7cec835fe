#!/usr/bin/env bash
# run-tests.sh - the whole test suite, from a fresh Debian 12 machine:
# installs missing packages, builds, runs the test suite, then the same suite
# again under AddressSanitizer + UndefinedBehaviorSanitizer, then the
# library through two static analysers (scripts/static-analysis.sh), then a
# short libFuzzer run of every fuzz harness.  Ends with one line
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

total_pass=0
total_fail=0
run_suite() { # $1 = build dir, $2 = label
  local dir=$1 label=$2
  meson test -C "$dir" --num-processes 2 --print-errorlogs >"$dir/suite.log" 2>&1
  local counts
  counts=$(python3 scripts/count-tests.py "$dir/meson-logs/testlog.json")
  local p=${counts% *} f=${counts#* }
  echo "$label: $p passed, $f failed"
  if ((f > 0)); then
    grep -E "FAIL|ERROR|Assertion|not ok" "$dir/suite.log" | head -40
  fi
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
}

run_suite build "suite"

# Sanitizer build: same tests under ASan + UBSan (leaks included).
if [[ ! -f build-asan/build.ninja ]]; then
  meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debug >/dev/null
fi
if meson compile -C build-asan >build-asan.log 2>&1; then
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    run_suite build-asan "asan+ubsan suite"
else
  echo "sanitizer build failed:"; tail -30 build-asan.log
  total_fail=$((total_fail + 1))
fi

# Runs a script that prints "ok - PREFIX..." and "not ok - ..." lines into
# LOG, and counts them (a non-zero exit with no "not ok" counts as one).
run_tap() { # $1 = log, $2 = label, $3 = prefix, the rest = the command
  local log=$1 label=$2 prefix=$3
  shift 3
  "$@" >"$log" 2>&1
  local rc=$? p f
  p=$(grep -c "^ok - $prefix" "$log")
  f=$(grep -c '^not ok' "$log")
  if ((rc != 0 && f == 0)); then f=1; fi
  echo "$label: $p passed, $f failed"
  if ((f > 0)); then tail -60 "$log"; fi
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
}

# Static analysis of the library: clang's scan-build and gcc -fanalyzer,
# each a fresh build that must report nothing (about a minute).
run_tap static-analysis.log "static analysis" static scripts/static-analysis.sh

# Short fuzz runs of every harness (clang + libFuzzer), about a minute each.
if [[ -x scripts/fuzz-ci.sh ]]; then
  run_tap fuzz-ci.log fuzz fuzz scripts/fuzz-ci.sh
fi

echo "${total_pass} passed, ${total_fail} failed"
((total_fail == 0))
