#!/usr/bin/env bash
# scripts/static-analysis.sh - the library through two static analysers.
#
#   scan-build  clang's static analyser (scan-build-14, package clang-tools-14)
#               over a fresh build of the library and the examples; the CLI
#               (tools/) and bench/ are left out (see below).
#   -fanalyzer  gcc's analyser over the library's own sources, with its
#               warnings as errors, at -O2: at -O0 it spends more than 8
#               minutes and 12 GB on the SIMD kernels (b2many_avx2.c).  (At
#               -O2 a malloc whose memory is never used is deleted before
#               the analyser sees it; one that is used is still followed.)
#
# Prints "ok - static <name>" or "not ok - static <name>" for each, the
# "not ok" followed by every report (file:line: what), and exits non-zero
# when either reports anything.  The build directories are made fresh each
# run (an analyser sees only what it compiles): build-scan/ and
# build-analyzer/.  About a minute on 2 cores.
#
# Why tools/ and bench/ are not gated: both analysers look at one
# translation unit at a time.  The CLI's option parsers return the result
# of cli_usage_error() (tools/common.c, always EXIT_USAGE) and read
# getopt's optarg; seen from tools/encode.c either could be anything, and
# scan-build reports the paths where they are.  doc/SECURITY.md lists what
# was reported there and why each is not a bug.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --static >/dev/null || { echo "not ok - static setup (scripts/setup.sh --static)"; exit 1; }

fail=0

# --- clang scan-build ------------------------------------------------------
rm -rf build-scan
if ! CC=clang scan-build-14 meson setup build-scan -Dtests=false -Dbuildtype=debug \
     >build-scan.log 2>&1; then
  echo "not ok - static scan-build (meson setup failed)"; tail -20 build-scan.log; fail=1
else
  scan-build-14 -o build-scan/report --status-bugs \
    --exclude tools --exclude bench \
    ninja -C build-scan >>build-scan.log 2>&1
  rc=$?
  reports=$(find build-scan/report -name 'report-*.html' 2>/dev/null)
  if [[ -z "$reports" && $rc -eq 0 ]]; then
    echo "ok - static scan-build"
  else
    echo "not ok - static scan-build (rc $rc)"
    for f in $reports; do
      file=$(sed -n 's/^<!-- BUGFILE \(.*\) -->$/\1/p' "$f")
      line=$(sed -n 's/^<!-- BUGLINE \(.*\) -->$/\1/p' "$f")
      desc=$(sed -n 's/^<!-- BUGDESC \(.*\) -->$/\1/p' "$f")
      echo "  ${file#"$PWD"/}:$line: $desc"
    done
    [[ -z "$reports" ]] && tail -20 build-scan.log
    fail=1
  fi
fi

# --- gcc -fanalyzer ----------------------------------------------------------
rm -rf build-analyzer
if ! CC=gcc meson setup build-analyzer -Dtests=false -Dbuildtype=debugoptimized \
     -Dc_args=-fanalyzer -Dwerror=true >build-analyzer.log 2>&1; then
  echo "not ok - static gcc-fanalyzer (meson setup failed)"; tail -20 build-analyzer.log; fail=1
elif meson compile -C build-analyzer vmstream:shared_library vmstream:static_library \
     >>build-analyzer.log 2>&1; then
  echo "ok - static gcc-fanalyzer"
else
  echo "not ok - static gcc-fanalyzer"
  grep -E 'warning:|error:' build-analyzer.log | sed "s|$PWD/||" | sort -u | head -40
  fail=1
fi

exit $fail
