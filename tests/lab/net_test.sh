#!/usr/bin/env bash
# Network traffic through the IOMMU (issue 13): guests with virtio-net and e1000e cabled to each
# other (scripts/lab/run --net), Debian 6.12 and the newest 7.x with emulated Intel VT-d in strict
# mode, two guests at a time (LAB_JOBS); iperf3 TCP and 1400-byte UDP while dd reads the NVMe
# disk on CPU 0, all under `iommuprof run --detail` (tests/lab/guest_net.sh); each profile is
# checked on the host (tests/lab/check_net.py).
#   tests/lab/net_test.sh build/iommuprof        LAB_NET_CELLS="6.12 intel strict;6.1 intel strict"
set -uo pipefail
IP=$(realpath "${1:?usage: $0 PATH_TO_IOMMUPROF}")
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 1
work=$(mktemp -d "${TMPDIR:-/tmp}/lab-net.XXXXXX")
[[ -n ${LAB_KEEP:-} ]] && work=$LAB_KEEP && mkdir -p "$work" || trap 'rm -rf "$work"' EXIT
IFS=';' read -r -a cells <<<"${LAB_NET_CELLS:-6.12 intel strict;7 intel strict}"
jobs=${LAB_JOBS:-2} # guests at a time (each single-threaded TCG guest takes one host core)
# Kernels first (fetched and unpacked once), so that the cells' times are boot and run only.
for k in $(printf '%s\n' "${cells[@]}" | awk '{ print $1 }' | sort -u); do
    scripts/lab/kernels.sh "$k" >/dev/null || { echo "FAIL  kernel $k could not be fetched"; exit 1; }
done
one_cell() { # CELL: boots it, checks the profile; the outcome in $d/result
    local c=$1 k i m d t0 lrc
    read -r k i m <<<"$c"
    d=$work/$k-$i-$m
    mkdir -p "$d"
    t0=$(date +%s)
    scripts/lab/run -q -k "$k" -i "$i" -m "$m" --cpu auto --net --disk-size 512M -t 600 -o "$d" \
        --env IP="$IP" -- tests/lab/guest_net.sh >"$d.stdout" 2>"$d.stderr"
    lrc=$?
    if [[ $lrc != 0 ]]; then
        { echo "FAIL  [$c] lab run exit $lrc"; cat "$d.stderr"; tail -20 "$d/console.log" 2>/dev/null; } >"$d.result"
        return 1
    fi
    python3 tests/lab/check_net.py "$d/out" "$c" 0000:00:04.0 0000:00:05.0 0000:00:06.0 >"$d.result" 2>&1
    lrc=$?
    echo "[$c] $(( $(date +%s) - t0 )) s" >>"$d.result"
    return $lrc
}
rc=0
pids=()
names=()
for c in "${cells[@]}"; do
    while (( $(jobs -rp | wc -l) >= jobs )); do wait -n; done
    one_cell "$c" &
    pids+=($!)
    names+=("$c")
done
for n in "${!pids[@]}"; do
    wait "${pids[$n]}" || rc=1
    read -r k i m <<<"${names[$n]}"
    cat "$work/$k-$i-$m.result" 2>/dev/null || { echo "FAIL  [${names[$n]}] no result"; rc=1; }
    tail -n 1 "$work/$k-$i-$m.result" 2>/dev/null | grep '^\[' >>"${LAB_SUMMARY:-/dev/null}"
done
exit $rc
