#!/usr/bin/env bash
# scripts/setup.sh - install what libvmstream needs on Debian 12 (only the
# packages that are missing), then configure and build into build/.
# Usage: scripts/setup.sh [--fuzz] [--static]
#   --fuzz    also installs clang's fuzzing runtime
#   --static  also installs clang's static analyser (scan-build-14)
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(meson ninja-build pkg-config gcc clang libb2-dev zlib1g-dev libzstd-dev
      libssl-dev libcriterion-dev python3 perl)
for arg in "$@"; do
  case $arg in
    --fuzz) pkgs+=(libclang-rt-14-dev llvm-14) ;;
    --static) pkgs+=(clang-tools-14) ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -f build/build.ninja ]]; then
  meson setup build --buildtype=debugoptimized >/dev/null
fi
meson compile -C build >/dev/null
