#!/usr/bin/env bash
# Network traffic through the IOMMU (issue 13): a guest with virtio-net and e1000e cabled to each
# other (scripts/lab/run --net), 6.12 with emulated Intel VT-d in strict mode, iperf3 TCP and
# 1400-byte UDP while dd reads the NVMe disk on CPU 0, all under `iommuprof run --detail`
# (tests/lab/guest_net.sh); the profile is checked on the host (tests/lab/check_net.py).
#   tests/lab/net_test.sh build/iommuprof        LAB_NET_CELLS="6.12 intel strict;6.1 intel strict"
set -uo pipefail
IP=$(realpath "${1:?usage: $0 PATH_TO_IOMMUPROF}")
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 1
work=$(mktemp -d "${TMPDIR:-/tmp}/lab-net.XXXXXX")
[[ -n ${LAB_KEEP:-} ]] && work=$LAB_KEEP && mkdir -p "$work" || trap 'rm -rf "$work"' EXIT
IFS=';' read -r -a cells <<<"${LAB_NET_CELLS:-6.12 intel strict}"
rc=0
for c in "${cells[@]}"; do
    read -r k i m <<<"$c"
    d=$work/$k-$i-$m
    t0=$(date +%s)
    scripts/lab/run -q -k "$k" -i "$i" -m "$m" --cpu auto --net --disk-size 512M -t 600 -o "$d" \
        --env IP="$IP" -- tests/lab/guest_net.sh
    lrc=$?
    [[ $lrc == 0 ]] || { echo "FAIL  [$c] lab run exit $lrc"; tail -20 "$d/console.log" 2>/dev/null; rc=1; continue; }
    python3 tests/lab/check_net.py "$d/out" "$c" 0000:00:04.0 0000:00:05.0 0000:00:06.0 || rc=1
    echo "[$c] $(( $(date +%s) - t0 )) s" | tee -a "${LAB_SUMMARY:-/dev/null}"
done
exit $rc
