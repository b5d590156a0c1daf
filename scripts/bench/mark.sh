#!/usr/bin/env bash
# mark.sh NAME: a measurement point of scripts/bench/guest-overhead.sh, run by fio itself
# (exec_prerun / exec_postrun) right before the first and after the last I/O of a run.
# Saves the guest's /proc/stat busy time to $BENCH_WORK/stat/NAME and, when BENCH_SYNC=1 (under
# scripts/bench-overhead), has the host (scripts/bench/host_sync.py) sample QEMU's CPU time:
# writes $BENCH_OUT/sync/NAME.req on the 9p result share and waits for NAME.ack.
set -u
name=$1
work=${BENCH_WORK:?}
mkdir -p "$work/stat"
# busy jiffies (all CPUs: user nice system irq softirq steal), and its system-side part: sampled
# by the tick, which is stopped while a CPU idles, so on a mostly idle (I/O-bound) guest they are
# biased and noisy; then the precise figure: elapsed time x CPUs - (idle + iowait), where idle and
# iowait are measured at every idle entry and exit (NOHZ), in USER_HZ units like the others.
read -r up _ </proc/uptime
awk -v up="$up" -v ncpu="$(nproc)" '$1 == "cpu" {
    printf "%d %d %d\n", $2 + $3 + $4 + $7 + $8 + $9, $4 + $7 + $8, up * 100 * ncpu - $5 - $6 }' /proc/stat >"$work/stat/$name"
[[ ${BENCH_SYNC:-0} == 1 ]] || exit 0
d=${BENCH_OUT:?}/sync
mkdir -p "$d"
: >"$d/$name.req"
for ((i = 0; i < 1000; i++)); do
    [[ -e $d/$name.ack ]] && exit 0
    sleep 0.01
done
echo "mark.sh: no ack from the host for $name" >&2
