#!/usr/bin/env bash
# scripts/valgrind-suite.sh - the library's test programs under valgrind's
# memcheck: the reads of uninitialised memory that ASan does not see.
#
# Not part of run-tests.sh (about 11 minutes on 2 cores); run it after a
# change to the decoder, the encoder or a parser.  Uses build/ (made by
# scripts/setup.sh).  Each Criterion test runs in a child process whose
# exit status does not reach the runner, so a test "passes" under
# valgrind whatever memcheck says; this script therefore also fails when
# the log holds any memcheck report ("==PID== ...").  Under valgrind the
# CPU has no AVX-512, so the hashing runs on the AVX2 and portable paths.
#
# Usage: scripts/valgrind-suite.sh [TEST...]   (default: every test meson
# lists but the shell-script ones: the cli and examples suites,
# reference_decoder and install_pkgconfig)
# Prints "ok - valgrind" or "not ok - valgrind" and the reports.
set -uo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "not ok - valgrind (not installed: apt-get install valgrind)"; exit 1; }
scripts/setup.sh >/dev/null || { echo "not ok - valgrind (scripts/setup.sh failed)"; exit 1; }

if (($# == 0)); then
  # shellcheck disable=SC2046 # one word per test name
  set -- $(meson test -C build --list --no-suite cli --no-suite examples 2>/dev/null |
    sed -n 's|^.* / ||p' | grep -vx -e reference_decoder -e install_pkgconfig)
  (($# > 0)) || { echo "not ok - valgrind (meson test --list gave no tests)"; exit 1; }
fi

log=build/meson-logs/testlog-valgrind.txt
rm -f "$log"
meson test -C build --num-processes 2 --timeout-multiplier 40 \
  --wrap='valgrind -q --error-exitcode=99 --trace-children=yes --track-origins=yes --leak-check=no' \
  "$@" >build/valgrind-suite.out 2>&1
rc=$?
reports=$(grep -cE '^==[0-9]+== ' "$log" 2>/dev/null)
if ((rc == 0)) && [[ -f $log && ${reports:-0} -eq 0 ]]; then
  echo "ok - valgrind ($# test programs, no memcheck report)"
  exit 0
fi
echo "not ok - valgrind (meson test rc $rc, ${reports:-?} memcheck lines)"
grep -E '^==[0-9]+== ' "$log" 2>/dev/null | head -60
grep -E 'FAIL|TIMEOUT' build/valgrind-suite.out | head -20
exit 1
