#!/usr/bin/env bash
# Runs INSIDE a lab guest (scripts/lab/run ... -- tests/lab/guest_cell.sh): exercises the real
# iommuprof against the guest kernel and its emulated IOMMU, and leaves every output in $LAB_OUT
# for the host-side checks (tests/lab/check_cell.py). It asserts nothing itself: a step that
# fails leaves its exit code in STEP.rc and its stderr in STEP.err.
#
# Environment (scripts/lab/run --env):
#   IP            path of the iommuprof binary (required)
#   CELL_COUNT    NVMe 4K O_DIRECT reads of the workload (default 8000)
#   CELL_LARGE    NVMe 64 KiB O_DIRECT reads of a large-I/O run (and a tenth as many of 1 MiB; 0: none)
#   CELL_KPROBE=1 also profile the same workload with --kprobe (no fentry)
#   CELL_DETACH=1 also check clean detach after SIGINT and after kill -9 (bpftool)
#   CELL_LIVE=1   also run a live `verdict -d` under a background NVMe load
set -u
: "${IP:?IP (iommuprof binary) not set}" "${LAB_OUT:?not in a lab guest}"
out=$LAB_OUT
dev=${LAB_NVME_DEV:-/dev/nvme0n1}
count=${CELL_COUNT:-8000}
dd_cmd=(dd "if=$dev" of=/dev/null bs=4k "count=$count" iflag=direct)

step() {  # step NAME CMD...: stdout > NAME.out, stderr > NAME.err, exit code > NAME.rc
    local name=$1
    shift
    local t0=$(date +%s.%N)
    "$@" >"$out/$name.out" 2>"$out/$name.err"
    echo $? >"$out/$name.rc"
    awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }' >"$out/$name.secs"
}

# iommuprof's BPF links and programs that exist now (tests/lib/bpf_ours.sh prints "LINKS PROGS").
ours=$(dirname "$0")/../lib/bpf_ours.sh
our_links() { "$ours" | cut -d' ' -f1; }
our_progs() { "$ours" | cut -d' ' -f2; }

uname -r >"$out/uname"
step inspect "$IP" inspect --json
# (the verdict's few points: the whole catalog is attached by `run --detail` below, whose plan the
# checks read too; loading it once more took 17-34 s of every cell)
step probes "$IP" probes --json --verdict-plan
step probes_kprobe "$IP" probes --json --kprobe --verdict-plan
# tracing multi links, asked for (7.x has them; not the default: docs/performance.md), on the
# verdict's few points (the whole catalog once more took 20-30 s of a 6.x cell for nothing new)
step probes_multi env IOMMUPROF_FENTRY_MULTI=1 "$IP" probes --json --verdict-plan
# --detail: every point (the checks below look at iommu_map, IOVA and flushes); the verdict's
# default set is profiled once more below (run_default)
step run "$IP" run --detail -o "$out/fentry.iprof" --label "$LAB_KERNEL $LAB_IOMMU $LAB_MODE" -- "${dd_cmd[@]}"
step report "$IP" report "$out/fentry.iprof" --json
step run_default "$IP" run -o "$out/default.iprof" -- "${dd_cmd[@]}"
step report_default "$IP" report "$out/default.iprof" --json
step report_default_raw "$IP" report "$out/default.iprof" --json --raw
# (dd's few seconds are below the default --min-seconds 2 in some cells: judged with 1 s, and
# once with the defaults, which must then refuse to judge)
step verdict "$IP" verdict --from "$out/fentry.iprof" --json --min-seconds 1
step verdict_default "$IP" verdict --from "$out/fentry.iprof" --json
step openmetrics "$IP" report "$out/fentry.iprof" --openmetrics
# Large O_DIRECT reads: multi-page requests, mapped with scatterlists before 6.17 and with the
# two-step IOVA API from 6.17 (CELL_LARGE 64 KiB reads, then a tenth as many of 1 MiB).
large=${CELL_LARGE:-0}
if ((large > 0)); then
    step run_large "$IP" run --detail -o "$out/large.iprof" -- \
        bash -c "dd if=$dev of=/dev/null bs=64k count=$large iflag=direct && dd if=$dev of=/dev/null bs=1M count=$((large / 10)) iflag=direct"
    step report_large "$IP" report "$out/large.iprof" --json
fi

if [[ ${CELL_KPROBE:-0} == 1 ]]; then
    step run_kprobe "$IP" run --kprobe --detail -o "$out/kprobe.iprof" -- "${dd_cmd[@]}"
    step report_kprobe "$IP" report "$out/kprobe.iprof" --json
    # A fentry attach the kernel refuses (simulated for iommu_dma_map's functions): that point falls back
    # to a kprobe (the kprobe programs loaded then, by a reload), the others stay on fentry.
    step run_refused env IOMMUPROF_TEST_REFUSE_FENTRY=iommu_dma_map "$IP" run -o "$out/refused.iprof" -- "${dd_cmd[@]}"
    step report_refused "$IP" report "$out/refused.iprof" --json
fi

if [[ ${CELL_LIVE:-0} == 1 ]]; then
    # A live verdict under a steady load, the way an engineer runs it on a busy host.
    (while :; do dd "if=$dev" of=/dev/null bs=4k count=500 iflag=direct 2>/dev/null; done) &
    load=$!
    step verdict_live "$IP" verdict -d 4 --json
    # The live histogram view, per device and per CPU (text, the way it is read on a terminal).
    # (the points the checks look at, and dma_unmap, which gives iommu_unmap_fast its device: the
    # whole catalog took 35 s of each)
    step top_hist "$IP" top -H -d 3 -i 3 --points dma_map dma_unmap iommu_map iommu_unmap_fast
    step top_hist_cpu "$IP" top -H --per-cpu -d 3 -i 3 --points dma_map dma_unmap iommu_map iommu_unmap_fast
    # record stopped by Ctrl-C: the profile is still written, complete.
    "$IP" record -o "$out/sigint.iprof" >"$out/record_sigint.out" 2>"$out/record_sigint.err" &
    rec=$!
    for _ in $(seq 1 300); do
        grep -q 'iommuprof: recording' "$out/record_sigint.err" && break
        kill -0 $rec 2>/dev/null || break
        sleep 0.2
    done
    sleep 2
    kill -INT $rec
    wait $rec
    echo $? >"$out/record_sigint.rc"
    step report_sigint "$IP" report "$out/sigint.iprof" --json
    kill $load 2>/dev/null
    wait $load 2>/dev/null
fi

if [[ ${CELL_DETACH:-0} == 1 ]]; then
    # Clean detach: attach, wait until the links exist, stop, count what is left.
    for sig in INT KILL; do
        "$IP" top -i 1 >/dev/null 2>"$out/detach_$sig.err" &
        pid=$!
        n=0
        for _ in $(seq 1 120); do  # attached when top has its links and prints (stderr: nothing)
            n=$(our_links)
            [[ $n -gt 0 ]] && sleep 2 && n=$(our_links) && break
            kill -0 $pid 2>/dev/null || break
            sleep 1
        done
        echo "$n" >"$out/detach_$sig.links_before"
        our_progs >"$out/detach_$sig.progs_before"
        kill -$sig $pid
        wait $pid
        echo $? >"$out/detach_$sig.rc"
        sleep 0.5
        our_links >"$out/detach_$sig.links_after"
        our_progs >"$out/detach_$sig.progs_after"
    done
fi
exit 0
