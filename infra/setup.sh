#!/usr/bin/env bash
# One-time (idempotent) machine set-up for building and testing fusion on Debian/Ubuntu with the .NET 10 SDK.
# Installs only what is missing: patchelf (for the TorchSharp libstdc++ fix), gcc, python3, binutils, the DejaVu fonts
# (chart and grid labels) and the npm packages of infra/ as infra/package-lock.json pins them
# (Azurite, the Azure Storage emulator the tests run against).
# `setup.sh test` (what `./fusion test` calls) also installs what only the tests need: Debian's chromium.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

need_apt=()
command -v patchelf >/dev/null || need_apt+=(patchelf)
command -v gcc >/dev/null || need_apt+=(gcc)
command -v python3 >/dev/null || need_apt+=(python3)
command -v objdump >/dev/null || need_apt+=(binutils)
# Labels of report charts and sample grids (Skia draws no text without a font; GPU images often have none).
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
# The report test opens report.html in headless Chromium (page errors, a screenshot); runs never need a browser.
if [ "${1:-}" = test ] && ! command -v chromium >/dev/null; then need_apt+=(chromium); fi
if [ -f "$here/package.json" ] && ! command -v npm >/dev/null; then need_apt+=(nodejs npm); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
  echo "setup: installing ${need_apt[*]} with apt-get" >&2
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ -f "$here/package.json" ]; then
  # `npm ci`: exactly the versions (and integrity hashes) of infra/package-lock.json, in a fresh node_modules; it fails
  # rather than updates when package.json and the lock disagree.
  stamp="$here/node_modules/.fusion-installed"
  if [ ! -f "$stamp" ] || [ "$here/package.json" -nt "$stamp" ] || [ "$here/package-lock.json" -nt "$stamp" ]; then
    echo "setup: npm ci in infra/" >&2
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$stamp"
  fi
fi
command -v dotnet >/dev/null || { echo "setup: the .NET 10 SDK is required (dotnet not on PATH)" >&2; exit 1; }
