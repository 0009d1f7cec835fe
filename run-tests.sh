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

# Static analysis of the library: clang's scan-build and gcc -fanalyzer,
# each a fresh build that must report nothing (about a minute).
scripts/static-analysis.sh >static-analysis.log 2>&1
sa_rc=$?
p=$(grep -c '^ok - static' static-analysis.log)
f=$(grep -c '^not ok' static-analysis.log)
if ((sa_rc != 0 && f == 0)); then f=1; fi
echo "static analysis: $p passed, $f failed"
if ((f > 0)); then cat static-analysis.log | head -60; fi
total_pass=$((total_pass + p))
total_fail=$((total_fail + f))

# Short fuzz runs of every harness (clang + libFuzzer), about a minute each.
if [[ -x scripts/fuzz-ci.sh ]]; then
  scripts/fuzz-ci.sh >fuzz-ci.log 2>&1
  fuzz_rc=$?
  p=$(grep -c '^ok - fuzz' fuzz-ci.log)
  f=$(grep -c '^not ok' fuzz-ci.log)
  if ((fuzz_rc != 0 && f == 0)); then f=1; fi
  echo "fuzz: $p passed, $f failed"
  if ((f > 0)); then tail -60 fuzz-ci.log; fi
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
fi

echo "${total_pass} passed, ${total_fail} failed"
((total_fail == 0))
