#!/usr/bin/env bash
# Installs the build into a DESTDIR, then builds tests/install/consumer.c out
# of tree with `pkg-config --cflags --libs libvmstream` and runs it; also
# checks that only vms_* symbols are exported and that the CLI, headers and
# man pages were installed.
set -euo pipefail
builddir=$1 srcdir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$builddir" --destdir "$tmp/root" --no-rebuild >/dev/null
prefix=$(meson introspect "$builddir" --buildoptions | python3 -c \
  'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
libdir=$(meson introspect "$builddir" --buildoptions | python3 -c \
  'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="libdir"][0])')
[[ $libdir = /* ]] || libdir="$prefix/$libdir"
root="$tmp/root"
pc="$root$libdir/pkgconfig/libvmstream.pc"
[[ -f $pc ]] || { echo "not ok - no libvmstream.pc at $pc"; exit 1; }
echo "ok - libvmstream.pc installed"
for f in "$root$prefix/include/vmstream.h" "$root$prefix/include/vmstream_compat.h" \
         "$root$prefix/bin/vmstream"; do
  [[ -e $f ]] || { echo "not ok - missing $f"; exit 1; }
done
echo "ok - headers and CLI installed"
mandir=$(meson introspect "$builddir" --buildoptions | python3 -c \
  'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="mandir"][0])')
[[ $mandir = /* ]] || mandir="$prefix/$mandir"
for m in man1/vmstream.1 man3/libvmstream.3 man5/vmstream-format.5; do
  [[ -f "$root$mandir/$m" ]] || { echo "not ok - man page $m not installed"; exit 1; }
done
echo "ok - man pages installed"
# A sanitizer build's library needs the sanitizer runtime in the consumer.
san=$(meson introspect "$builddir" --buildoptions | python3 -c \
  'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="b_sanitize"][0])')
sanflags=""
[[ $san != none ]] && sanflags="-fsanitize=$san"
export PKG_CONFIG_PATH="$root$libdir/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$root"
flags=$(pkg-config --cflags --libs libvmstream)
cc -std=c11 -Wall -Wextra -Werror $sanflags -o "$tmp/consumer" "$srcdir/consumer.c" $flags
echo "ok - consumer built with: $flags"
LD_LIBRARY_PATH="$root$libdir" "$tmp/consumer"
echo "ok - consumer ran against the installed shared library"
# static link too: the archive plus its private dependencies from the .pc
cc -std=c11 $sanflags -o "$tmp/consumer-static" "$srcdir/consumer.c" \
  $(pkg-config --cflags libvmstream) "$root$libdir/libvmstream.a" \
  $(pkg-config --libs --static libvmstream | sed 's/-lvmstream//')
"$tmp/consumer-static" >/dev/null
echo "ok - static archive links with pkg-config --static"
so=$(ls "$root$libdir"/libvmstream.so.* | head -1)
bad=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v -E '^vms_' | grep -v -E '^VMSTREAM_' || true)
[[ -z $bad ]] || { echo "not ok - unexpected exported symbols: $bad"; exit 1; }
nexp=$(nm -D --defined-only "$so" | grep -c ' vms_')
echo "ok - only vms_* exported ($nexp symbols)"
