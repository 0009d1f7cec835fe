#!/bin/sh
# Runs the independent reference decoder (doc/reference/vmsdecode.py) over
# the golden vectors of this directory.  Exit status 0 when every good
# vector decodes to its .expect and every bad vector fails with the status
# in bad/EXPECTED; 1 on any mismatch; 77 (skip) without python3.
here=$(cd "$(dirname "$0")" && pwd)
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 77; }
exec python3 "$here/../../doc/reference/vmsdecode.py" --check "$here"
