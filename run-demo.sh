#!/usr/bin/env bash
# run-demo.sh - the main job, from a fresh Debian 12 machine: installs missing
# packages, builds, then runs the end-to-end migration demo
# (examples/demo.sh: a device emulator migrated between two processes).
# Extra arguments go to the demo (e.g. --compress, --mac, --sign).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec examples/demo.sh "$@"
