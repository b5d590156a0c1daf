#!/usr/bin/env bash
# scripts/build.sh [BUILD_DIR]: configure and build iommuprof and its tests (default: build/).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bdir=${1:-$root/build}
if [[ ! -f $bdir/build.ninja ]]; then
    cmake -S "$root" -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$bdir" -j "$(nproc)"
