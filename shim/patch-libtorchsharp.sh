#!/usr/bin/env bash
# Makes TorchSharp's native shim load on systems whose libstdc++ predates GLIBCXX_3.4.32 (GCC 12, Debian 12).
# Idempotent; a no-op where the system libstdc++ already has that version. Usage: patch-libtorchsharp.sh DIR
set -euo pipefail
dir=$1; here=$(cd "$(dirname "$0")" && pwd); so="$dir/libLibTorchSharp.so"
[ -f "$so" ] || exit 0
libstdcxx=$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')
if [ -n "$libstdcxx" ] && LC_ALL=C grep -qF 'GLIBCXX_3.4.32' "$libstdcxx"; then exit 0; fi
command -v patchelf >/dev/null || { echo "patch-libtorchsharp: patchelf is required (apt-get install patchelf)" >&2; exit 1; }
objdump -p "$so" 2>/dev/null | grep -q 'NEEDED *libiosinit_shim.so' && { cp -f "$here/libiosinit_shim.so" "$dir/" 2>/dev/null || true; exit 0; }
# Build the stub into a private temp file, then move it: parallel builds may race here.
if [ ! -f "$here/libiosinit_shim.so" ]; then
  tmp=$(mktemp "$here/.shim.XXXXXX"); gcc -shared -fPIC -O2 -o "$tmp" "$here/iosinit_shim.c"; mv -f "$tmp" "$here/libiosinit_shim.so"
fi
cp -f "$here/libiosinit_shim.so" "$dir/"
patchelf --clear-symbol-version _ZSt21ios_base_library_initv "$so"
python3 "$here/weaken_verneed.py" "$so" GLIBCXX_3.4.32 >/dev/null
patchelf --add-needed libiosinit_shim.so "$so"
