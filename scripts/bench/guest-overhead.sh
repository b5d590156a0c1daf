#!/usr/bin/env bash
# Guest side of scripts/bench-overhead: runs inside ONE lab guest (scripts/lab/run) and
# measures, interleaved over repeats, the same NVMe workload (4K O_DIRECT random reads at a
# fixed queue depth) under each probe variant:
#
#   none              no probes
#   empty-fentry      empty fentry/fexit (kprobe/raw_tp where iommuprof uses those) on exactly
#                     the attachments `iommuprof probes --json` reports: the floor
#   empty-pair        the same with an empty fentry and fexit program per function, where the floor
#                     has fsession programs or tracing multi links (the classic way, for comparison)
#   empty-kprobe      empty kprobe/kretprobe on the same functions
#   iommuprof         `iommuprof record` with its defaults
#   iommuprof-dma-api `iommuprof record --dma-api` (the DMA API timed around the dma-iommu layer)
#   iommuprof-pair    `iommuprof record` with IOMMUPROF_NO_FSESSION=1 (fentry/fexit pairs on 7.x)
#   iommuprof-legacy  `iommuprof record` with the BPF build for kernels before 5.12 (IOMMUPROF_TEST_LEGACY=1)
#   iommuprof-kprobe  `iommuprof record --kprobe` (like for like with empty-kprobe and bpftrace)
#   bpftrace          kprobe/kretprobe latency histogram per function (same functions)
#   none-identity     no probes, the NVMe disk's IOMMU group switched to an identity domain at run
#                     time (unbind, /sys/kernel/iommu_groups/N/type, bind): what iommu=pt gives
#                     this device, measured in the same boot as the translated runs; the other
#                     variants switch it back to the group's boot-time type first
#   iommuprof-identity `iommuprof record` with the disk switched to identity: what the DMA API
#                     costs this device on the direct path (dma-direct), i.e. under pt
#
# Every tracer is started and waited for until all of its probes are attached; then the workload
# runs, and scripts/bench/mark.sh (run by fio right before the first and after the last I/O)
# reads /proc/stat and has the host sample QEMU's CPU time; the tracer is stopped before the
# next run. The order of the variants rotates from one repeat to the next.
#
# Writes to $BENCH_OUT (default $LAB_OUT): samples.jsonl (one line per run), meta.json (plan,
# attach timings, peak RSS), plan.json, logs/. scripts/bench/overhead_report.py turns them into
# the result. Settings (environment):
#   BENCH_REPEATS (5) BENCH_SECONDS (10) BENCH_IODEPTH (8) BENCH_RSS_SECONDS (60; 0: no RSS run)
#   BENCH_VARIANTS ("none empty-fentry empty-kprobe iommuprof iommuprof-kprobe bpftrace")
#   BENCH_BUILD (build dir, ./build) BENCH_WORKLOAD (auto|fio|dd) BENCH_READY_TIMEOUT (300)
#   BENCH_SYNC (1: a host sampler answers mark.sh; set by scripts/bench-overhead)
#   BENCH_ICOUNT (1: QEMU -icount, the guest clock counts instructions; set by scripts/bench-overhead)
#   BENCH_COST_ITERATIONS (50000: iterations of iommuprof-bpf-cost; 0: skip)
#   BENCH_SHAPES ("4k-rand": workload shapes, each NAME:RW:BS:QD, e.g. "4k-rand:randread:4k:8
#                seq-256k:read:256k:4"; a bare name takes its settings from the list below).
#                Network shapes (a guest booted with scripts/lab/run --net): net-udp, 1400-byte UDP
#                datagrams at 20 Mbit/s from virtio-net to e1000e (iperf3), net-udp-small, 64-byte
#                datagrams at 2 Mbit/s; net-rr, 1400-byte echo requests from virtio-net answered by
#                e1000e, one in flight at a time (ping -f: every packet costs the same, no batching
#                that depends on when packets arrive). Their "I/Os" are the frames e1000e received
#   BENCH_KEEP_PROFILES (1: keep every iommuprof profile in $BENCH_OUT/profiles/, for
#                scripts/bench-accuracy)
#   BENCH_IOMMUPROF_ARGS (extra arguments of `iommuprof record` in the iommuprof variants)
set -uo pipefail

out=${BENCH_OUT:-${LAB_OUT:?not in a lab guest: set BENCH_OUT}}
repeats=${BENCH_REPEATS:-5}
secs=${BENCH_SECONDS:-10}
qd=${BENCH_IODEPTH:-8}
rss_secs=${BENCH_RSS_SECONDS:-60}
read -r -a variants <<<"${BENCH_VARIANTS:-none empty-fentry empty-kprobe iommuprof iommuprof-kprobe bpftrace}"
build=${BENCH_BUILD:-./build}
workload=${BENCH_WORKLOAD:-auto}
ready_timeout=${BENCH_READY_TIMEOUT:-300}
dev=${LAB_NVME_DEV:-/dev/nvme0n1}
IOMMUPROF=$build/iommuprof
EMPTY=$build/iommuprof-empty-probes
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

mkdir -p "$out/logs"
work=$(mktemp -d /tmp/bench.XXXXXX)
export BENCH_OUT=$out BENCH_WORK=$work
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
T0=$(now)
log() { echo "bench: [$(elapsed "$T0")s] $*" >&2; }
die() { log "$*"; exit 1; }

[[ -x $IOMMUPROF ]] || die "$IOMMUPROF not built"
[[ -b $dev ]] || die "no NVMe disk $dev"
if [[ $workload == auto ]]; then
    if command -v fio >/dev/null; then workload=fio; else workload=dd; fi
fi
[[ $workload == dd ]] && qd=1
hz=$(getconf CLK_TCK)
ncpu=$(nproc)

# ---- the plan: what iommuprof attaches, and how long attaching takes ----------------------
log "iommuprof probes --json (attach timing)"
t0=$(now)
# BENCH_PLAN=detail: the whole catalog (what record --detail attaches); default: the verdict's
# points (what record attaches by default): the empty-probe floor and bpftrace use the same plan.
plan_args=(--verdict-plan)
[[ ${BENCH_PLAN:-verdict} == detail ]] && plan_args=()
IOMMUPROF_DEBUG=1 "$IOMMUPROF" probes --json "${plan_args[@]}" >"$out/plan.json" 2>"$out/logs/probes.err" ||
    die "iommuprof probes failed: $(tail -n 3 "$out/logs/probes.err")"
probes_wall=$(elapsed "$t0")

# bpftrace program: the equivalent latency histogram per attached function (kprobe +
# kretprobe, in-flight start time keyed by (cpu, tid) per function, one histogram map per
# function), an event count per tracepoint. (Named maps, not @lat["func"]: bpftrace 0.17 emits
# a misaligned stack store for some string keys, which the verifier refuses.)
python3 - "$out/plan.json" >"$work/lat.bt" <<'PY'
import json, re, sys
plan = json.load(open(sys.argv[1]))
n = 0
ends = []
for a in plan["attachments"]:
    if not a["attached"]:
        continue
    s = a["symbol"]
    m = re.sub(r"[^A-Za-z0-9_]", "_", s)
    if a["method"] in ("fentry", "kprobe"):
        print(f"kprobe:{s} {{ @s{n}[cpu, tid] = nsecs; }}")
        print(f"kretprobe:{s} /@s{n}[cpu, tid]/ {{ @lat_{m} = hist(nsecs - @s{n}[cpu, tid]); "
              f"delete(@s{n}[cpu, tid]); }}")
        ends.append(f"clear(@s{n});")
        n += 1
    elif a["method"] == "tracepoint":
        print(f"tracepoint:{s} {{ @ev_{m} = count(); }}")
print('BEGIN { printf("ready\\n"); }')
print("END { " + " ".join(ends) + " }")
PY
cp "$work/lat.bt" "$out/logs/lat.bt"

# ---- workload ---------------------------------------------------------------------------
# Workload shapes: NAME:RW:BS:QD. The shape in use is in $rw $bs $qd.
declare -A known_shapes=([4k-rand]=randread:4k:$qd [4k-rand-qd1]=randread:4k:1 [seq-128k]=read:128k:4 [seq-128k-qd1]=read:128k:1 [seq-256k]=read:256k:4 [seq-1m]=read:1m:2
    [net-udp]=net:1400/20M:1 [net-udp-small]=net:64/2M:1 [net-rr]=net:1400/rr:1)
read -r -a shapes <<<"${BENCH_SHAPES:-4k-rand}"
rw=randread bs=4k
set_shape() {
    local spec=$1
    [[ $spec == *:* ]] || spec=$spec:${known_shapes[$spec]:?unknown shape $spec}
    IFS=: read -r _ rw bs qd <<<"$spec"
    [[ $workload == dd ]] && qd=1
    if [[ $rw == net ]]; then
        : "${LAB_NET_NS:?shape $1 needs a guest booted with scripts/lab/run --net}"
        # one iperf3 server for the whole shape, in the peer's namespace
        pgrep -f "iperf3 -s -B $LAB_NET_PEER_ADDR" >/dev/null ||
            ip netns exec "$LAB_NET_NS" iperf3 -s -B "$LAB_NET_PEER_ADDR" -D --logfile "$out/logs/iperf3-server.log" ||
            die "iperf3 server did not start"
        local i
        for ((i = 0; i < 100; i++)); do
            timeout 1 bash -c ">/dev/tcp/$LAB_NET_PEER_ADDR/5201" 2>/dev/null && break
            sleep 0.1
        done
    fi
    true
}
peer_rx() { ip netns exec "$LAB_NET_NS" cat "/sys/class/net/$LAB_NET_PEER_IF/statistics/rx_packets"; }

# A network shape: UDP datagrams of ${bs%/*} bytes at ${bs#*/}bit/s for SECONDS; the "I/Os" are
# the frames e1000e received (in its namespace) between the marks.
run_net() {
    local t=$1 tag=${2:-} rx0 rx1 t0 rc=0
    rx0=$(peer_rx)
    [[ -n $tag ]] && "$here/mark.sh" "$tag.start"
    t0=$(now)
    if [[ ${bs#*/} == rr ]]; then # request-response: flood ping, the next request when the reply is in
        timeout -k 10 $((3 * t + 60)) ping -f -q -s "${bs%/*}" -w "$t" -I "$LAB_NET_IF" "$LAB_NET_PEER_ADDR" \
            >"$work/iperf3.json" 2>"$work/iperf3.err" || rc=$?
    else
        timeout -k 10 $((3 * t + 60)) iperf3 -c "$LAB_NET_PEER_ADDR" -B "$LAB_NET_ADDR" -u -l "${bs%/*}" -b "${bs#*/}" \
            -t "$t" --json >"$work/iperf3.json" 2>"$work/iperf3.err" || rc=$?
    fi
    local secs_run
    secs_run=$(elapsed "$t0")
    [[ -n $tag ]] && "$here/mark.sh" "$tag.end"
    rx1=$(peer_rx)
    ((rc == 124 || rc == 137)) && return 124
    ((rc == 0)) || { cat "$work/iperf3.err" >&2; return 1; }
    echo "$((rx1 - rx0)) $secs_run 0" >"$work/net.out"
}

# run_workload SECONDS [TAG]: with a TAG, scripts/bench/mark.sh TAG.start / TAG.end run right
# before the first and after the last I/O. workload_result prints "ios elapsed_s fio_cpu_s".
run_workload() {
    local t=$1 tag=${2:-}
    if [[ $rw == net ]]; then
        run_net "$@"
    elif [[ $workload == fio ]]; then
        local marks=()
        [[ -n $tag ]] && marks=(--exec_prerun="$here/mark.sh $tag.start" --exec_postrun="$here/mark.sh $tag.end")
        # (fio writes the exec_* output to bench.prerun.txt / bench.postrun.txt in its cwd)
        # A watchdog: a run that has not ended long after its time (a stall the driver's timeout
        # does not recover) is killed and reported as 124, so that the caller runs it again
        # instead of waiting for the test's own timeout.
        local rc=0
        (cd "$work" && timeout -k 10 $((3 * t + 60)) fio --name=bench --filename="$dev" --rw="$rw" --bs="$bs" --direct=1 --ioengine=libaio \
            --iodepth="$qd" --runtime="$t" --time_based --norandommap --randrepeat=0 "${marks[@]}" \
            --output-format=json >"$work/fio.json" 2>"$work/fio.err") || rc=$?
        if ((rc == 124 || rc == 137)); then
            log "fio did not end within $((3 * t + 60))s of a ${t}s run: killed"
            return 124
        fi
        ((rc == 0)) || { cat "$work/fio.err" >&2; return 1; }
    else
        # QD1: dd over the whole disk, again and again, until SECONDS are up.
        local n=0 t0 blocks
        [[ -n $tag ]] && "$here/mark.sh" "$tag.start"
        t0=$(now)
        blocks=$(($(blockdev --getsize64 "$dev") / $(numfmt --from=iec "${bs^^}")))
        while awk -v a="$t0" -v b="$(now)" -v t="$t" 'BEGIN { exit !(b - a < t) }'; do
            dd if="$dev" of=/dev/null bs="$bs" count="$blocks" iflag=direct status=none || return 1
            n=$((n + blocks))
        done
        [[ -n $tag ]] && "$here/mark.sh" "$tag.end"
        echo "$n $(elapsed "$t0") 0" >"$work/dd.out"
    fi
}
workload_result() {
    if [[ $rw == net ]]; then
        cat "$work/net.out"
    elif [[ $workload == fio ]]; then
        # (with exec_prerun, fio prints "Saving output of prerun ..." before the JSON)
        sed -n '/^{/,$p' "$work/fio.json" |
            jq -r '.jobs[0] | (.job_runtime / 1000) as $rt | "\(.read.total_ios) \($rt) \((.usr_cpu + .sys_cpu) / 100 * $rt)"'
    else
        cat "$work/dd.out"
    fi
}

# ---- the NVMe disk's default domain (variant none-identity) -----------------------------------
nvme_bdf=${LAB_NVME_BDF:-}
nvme_group=
boot_type=
if [[ -n $nvme_bdf && -e /sys/bus/pci/devices/$nvme_bdf/iommu_group ]]; then
    nvme_group=$(readlink -f "/sys/bus/pci/devices/$nvme_bdf/iommu_group")
    boot_type=$(cat "$nvme_group/type" 2>/dev/null)
fi
set_nvme_domain() { # TYPE: rebinds the disk in a group of that type (0 when it already is)
    local want=$1 i
    [[ -n $nvme_group && -n $boot_type ]] || { log "the NVMe disk has no IOMMU group"; return 1; }
    [[ $(cat "$nvme_group/type") == "$want" ]] && return 0
    echo "$nvme_bdf" >/sys/bus/pci/drivers/nvme/unbind || return 1
    if ! echo "$want" >"$nvme_group/type"; then
        log "cannot set $nvme_group/type to $want"
        echo "$nvme_bdf" >/sys/bus/pci/drivers/nvme/bind
        return 1
    fi
    echo "$nvme_bdf" >/sys/bus/pci/drivers/nvme/bind || return 1
    for ((i = 0; i < 300; i++)); do
        [[ -b $dev ]] && dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null && break
        sleep 0.1
    done
    [[ -b $dev ]] || { log "$dev did not come back after the switch to $want"; return 1; }
    log "NVMe group $(basename "$nvme_group"): $want"
    run_workload 1 # warm-up in the new domain (IOVA caches, first mappings), not measured
}

# ---- the NICs' default domains (variant none-identity with a network shape) ------------------
# Both NICs are switched (each driver unbound, its group's type written, bound again), and the
# link is set up again as at boot (scripts/lab/net-guest.sh: namespace, addresses, carrier).
net_group() { readlink -f "/sys/bus/pci/devices/$1/iommu_group"; }
net_boot_type=
[[ -n ${LAB_NET_E1000E_BDF:-} && -e /sys/bus/pci/devices/${LAB_NET_E1000E_BDF:-none}/iommu_group ]] &&
    net_boot_type=$(cat "$(net_group "$LAB_NET_E1000E_BDF")/type" 2>/dev/null)
set_net_domain() { # TYPE
    local want=$1 bdf g drv changed=0 i
    [[ -n $net_boot_type ]] || { log "the NICs have no IOMMU group"; return 1; }
    for bdf in "$LAB_NET_E1000E_BDF" "$LAB_NET_VIRTIO_BDF"; do
        g=$(net_group "$bdf")
        [[ $(cat "$g/type") == "$want" ]] && continue
        drv=$(basename "$(readlink -f "/sys/bus/pci/devices/$bdf/driver")")
        echo "$bdf" >"/sys/bus/pci/drivers/$drv/unbind" || return 1
        if ! echo "$want" >"$g/type"; then
            log "cannot set $g/type to $want"
            echo "$bdf" >"/sys/bus/pci/drivers/$drv/bind"
            return 1
        fi
        echo "$bdf" >"/sys/bus/pci/drivers/$drv/bind" || return 1
        changed=1
    done
    ((changed)) || return 0
    pkill -x iperf3 2>/dev/null
    for ((i = 0; i < 50; i++)); do pgrep -x iperf3 >/dev/null || break; sleep 0.1; done
    ip netns del "$LAB_NET_NS" 2>/dev/null
    # shellcheck source=scripts/lab/net-guest.sh
    . "$here/../lab/net-guest.sh" || { log "the link did not come back after the switch to $want"; return 1; }
    set_shape "$shape_spec" # the iperf3 server again
    log "NIC groups $(basename "$(net_group "$LAB_NET_E1000E_BDF")") $(basename "$(net_group "$LAB_NET_VIRTIO_BDF")"): $want"
    run_workload 1 # warm-up in the new domains, not measured
}
set_domain() { if [[ $rw == net ]]; then set_net_domain "$@"; else set_nvme_domain "$@"; fi; }

# ---- tracers ----------------------------------------------------------------------------
tracer_pid=
ready_s=
start_tracer() { # VARIANT TAG: sets tracer_pid and ready_s (start -> all probes attached); 1 on failure
    local v=$1 tag=$2 t0 i ready=
    local lg=$out/logs/$tag.log
    t0=$(now)
    ready_s=0
    tracer_pid=
    if [[ $v == *-identity ]]; then
        set_domain identity || return 1
        switched_once=1
    elif [[ -n ${switched_once:-} ]]; then
        if [[ $rw == net ]]; then set_net_domain "$net_boot_type" || return 1
        elif [[ -n $boot_type ]]; then set_nvme_domain "$boot_type" || return 1; fi
    fi
    case $v in
        none | none-identity) return 0 ;;
        empty-fentry) "$EMPTY" --plan "$out/plan.json" >"$lg" 2>&1 & ;;
        empty-kprobe) "$EMPTY" --plan "$out/plan.json" --kprobe >"$lg" 2>&1 & ;;
        empty-pair) "$EMPTY" --plan "$out/plan.json" --pairs >"$lg" 2>&1 & ;;
        iommuprof) "$IOMMUPROF" record ${BENCH_IOMMUPROF_ARGS:-} -o "$work/$tag.iprof" >"$lg" 2>&1 & ;;
        iommuprof-pair) # (an fentry and an fexit program per function where fsession would be used)
            IOMMUPROF_NO_FSESSION=1 "$IOMMUPROF" record ${BENCH_IOMMUPROF_ARGS:-} -o "$work/$tag.iprof" >"$lg" 2>&1 & ;;
        iommuprof-legacy) # (the build for kernels before 5.12, whatever the kernel: IOMMUPROF_TEST_LEGACY)
            IOMMUPROF_TEST_LEGACY=1 "$IOMMUPROF" record ${BENCH_IOMMUPROF_ARGS:-} -o "$work/$tag.iprof" >"$lg" 2>&1 & ;;
        iommuprof-kprobe) "$IOMMUPROF" record --kprobe ${BENCH_IOMMUPROF_ARGS:-} -o "$work/$tag.iprof" >"$lg" 2>&1 & ;;
        iommuprof-cold) # (a first start of the boot: no kernel view kept from an earlier one)
            IOMMUPROF_NO_CACHE=1 "$IOMMUPROF" record ${BENCH_IOMMUPROF_ARGS:-} -o "$work/$tag.iprof" >"$lg" 2>&1 & ;;
        iommuprof-dma-api | iommuprof-identity) # (identity: the disk was switched above)
            "$IOMMUPROF" record --dma-api ${BENCH_IOMMUPROF_ARGS:-} -o "$work/$tag.iprof" >"$lg" 2>&1 & ;;
        iommuprof-detail) "$IOMMUPROF" record --detail ${BENCH_IOMMUPROF_ARGS:-} -o "$work/$tag.iprof" >"$lg" 2>&1 & ;;
        iommuprof-sample) "$IOMMUPROF" record --sample ${BENCH_IOMMUPROF_ARGS:-} -o "$work/$tag.iprof" >"$lg" 2>&1 & ;;
        iommuprof-raw) IOMMUPROF_NO_CALIBRATION=1 "$IOMMUPROF" record ${BENCH_IOMMUPROF_ARGS:-} -o "$work/$tag.iprof" >"$lg" 2>&1 & ;;
        bpftrace) bpftrace "$work/lat.bt" >"$lg" 2>&1 & ;;
        *) die "unknown variant $v" ;;
    esac
    tracer_pid=$!
    # ready: the empty loader and the bpftrace program print "ready" once everything is
    # attached (bpftrace runs BEGIN after attaching); iommuprof record says "recording".
    for ((i = 0; i < ready_timeout * 20; i++)); do
        if grep -qE '^ready|iommuprof: recording' "$lg"; then ready=1; break; fi
        kill -0 "$tracer_pid" 2>/dev/null || break
        sleep 0.05
    done
    if [[ -z $ready ]]; then
        log "$v did not get ready: $(tail -n 5 "$lg")"
        kill -INT "$tracer_pid" 2>/dev/null
        wait "$tracer_pid" 2>/dev/null
        tracer_pid=
        return 1
    fi
    ready_s=$(elapsed "$t0")
}
peak_rss_kb() { [[ -n $1 ]] && awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
stop_tracer() {
    [[ -n $tracer_pid ]] || return 0
    kill -INT "$tracer_pid" 2>/dev/null
    # A watchdog: a tracer that has not exited 60 s after SIGINT is killed (its run then fails
    # with a log line, instead of hanging until the test's timeout).
    local i
    for ((i = 0; i < 600; i++)); do
        kill -0 "$tracer_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$tracer_pid" 2>/dev/null; then
        log "the tracer (pid $tracer_pid) did not exit within 60 s of SIGINT: killed"
        kill -KILL "$tracer_pid" 2>/dev/null
    fi
    wait "$tracer_pid"
    local rc=$?
    tracer_pid=
    return $rc
}
# events the tracer saw (iommuprof: calls of every point but "total"; bpftrace: histogram counts)
events_of() {
    local v=$1 tag=$2
    case $v in
        iommuprof*) zcat "$work/$tag.iprof" 2>/dev/null |
            jq '[.snapshot.cells[] | select(.point != "total") | .hist.count] | add // 0' || echo null ;;
        bpftrace) awk '/^\[/ && /\|/ { for (i = 1; i < NF; i++) if ($i ~ /^[0-9]+$/ && $(i+1) ~ /^\|/) s += $i }
            END { print s + 0 }' "$out/logs/$tag.log" ;;
        *) echo null ;;
    esac
}

# ---- the interleaved runs -------------------------------------------------------------------
[[ ${BENCH_KEEP_PROFILES:-0} == 1 ]] && mkdir -p "$out/profiles"
: >"$out/samples.jsonl"
nv=${#variants[@]}
for shape in "${shapes[@]}"; do
set_shape "$shape"
shape_spec=$shape
shape=${shape%%:*}
log "shape $shape: warm-up ($workload, $rw bs $bs QD $qd)"
run_workload 2 || die "workload failed"
for ((r = 0; r < repeats; r++)); do
    for ((j = 0; j < nv; j++)); do
        v=${variants[$(((j + r) % nv))]}
        tag=r$r-$v
        [[ ${#shapes[@]} -gt 1 ]] && tag=$shape-$tag
        # (with a network shape, the identity variants switch the NICs' groups)
        if ! start_tracer "$v" "$tag"; then
            echo "{\"repeat\": $r, \"variant\": \"$v\", \"shape\": \"$shape\", \"ok\": false, \"why\": \"not ready\"}" >>"$out/samples.jsonl"
            continue
        fi
        sleep 1 # the tracer's own start-up work (page faults, first map accesses) settles
        w=
        # A run whose I/O stalled (seen under -icount: an NVMe completion interrupt lost, recovered
        # by the driver's 30 s timeout) measures the stall, not the I/O: run it again, twice at most.
        for attempt in 1 2 3; do
            wrc=0
            run_workload "$secs" "$tag" || wrc=$?
            if ((wrc == 124)); then
                echo "$tag attempt $attempt killed by the watchdog" >>"$out/stalls.txt"
                continue
            fi
            ((wrc == 0)) && w=$(workload_result)
            [[ -n $w ]] || break
            read -r _ wsecs _ <<<"$w"
            awk -v a="$wsecs" -v s="$secs" 'BEGIN { exit !(a <= 1.5 * s + 1) }' && break
            log "repeat $r $v: the I/O stalled (${wsecs}s for a ${secs}s run): again"
            echo "$tag attempt $attempt stalled ${wsecs}s" >>"$out/stalls.txt"
            w=
        done
        rss=$(peak_rss_kb "$tracer_pid")
        stop_tracer
        trc=$?
        if ((trc == 137)); then  # killed by stop_tracer's watchdog: the run does not count
            echo "{\"repeat\": $r, \"variant\": \"$v\", \"shape\": \"$shape\", \"ok\": false, \"why\": \"tracer hung on SIGINT\"}" >>"$out/samples.jsonl"
            continue
        fi
        if [[ -z $w || ! -f $work/stat/$tag.start || ! -f $work/stat/$tag.end ]]; then
            echo "{\"repeat\": $r, \"variant\": \"$v\", \"shape\": \"$shape\", \"ok\": false, \"why\": \"workload failed\"}" >>"$out/samples.jsonl"
            continue
        fi
        read -r b0 s0 p0 <"$work/stat/$tag.start"
        read -r b1 s1 p1 <"$work/stat/$tag.end"
        read -r ios wsecs fiocpu <<<"$w"
        ev=$(events_of "$v" "$tag")
        [[ ${BENCH_KEEP_PROFILES:-0} == 1 && -f $work/$tag.iprof ]] && cp "$work/$tag.iprof" "$out/profiles/"
        echo "{\"repeat\": $r, \"variant\": \"$v\", \"shape\": \"$shape\", \"bs\": \"$bs\", \"tag\": \"$tag\", \"ok\": true, \"ios\": $ios," \
            "\"seconds\": $wsecs, \"busy_jiffies\": $((b1 - b0)), \"sys_jiffies\": $((s1 - s0)), \"busy_precise_jiffies\": $((p1 - p0)), \"hz\": $hz," \
            "\"ncpu\": $ncpu, \"fio_cpu_s\": $fiocpu, \"ready_s\": $ready_s, \"tracer_peak_rss_kb\": ${rss:-0}," \
            "\"tracer_rc\": $trc, \"events\": ${ev:-null}}" >>"$out/samples.jsonl"
        log "repeat $r $v: $ios I/Os in ${wsecs}s, guest busy $((b1 - b0)) jiffies, ready ${ready_s}s, events ${ev:-?}"
    done
done
done

# ---- peak RSS of a long recording under load --------------------------------------------------
rss_json=null
if ((rss_secs > 0)); then
    log "iommuprof record -d $rss_secs under load (peak RSS)"
    t0=$(now)
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -o "$work/rss.time" -f '%M %e %U %S' "$IOMMUPROF" record -d "$rss_secs" -o "$work/rss.iprof" \
            >"$out/logs/rss.log" 2>&1 &
    else
        "$IOMMUPROF" record -d "$rss_secs" -o "$work/rss.iprof" >"$out/logs/rss.log" 2>&1 &
    fi
    rp=$!
    for ((i = 0; i < ready_timeout * 10; i++)); do
        grep -q 'iommuprof: recording' "$out/logs/rss.log" && break
        kill -0 "$rp" 2>/dev/null || break
        sleep 0.1
    done
    rss_ready=$(elapsed "$t0")
    (run_workload "$rss_secs") &
    wp=$!
    rpid=$(pgrep -n -x iommuprof || true)
    hwm=0
    while kill -0 "$rp" 2>/dev/null; do
        h=$(peak_rss_kb "$rpid")
        [[ ${h:-0} -gt $hwm ]] && hwm=$h
        sleep 1
    done
    wait "$rp"
    rrc=$?
    wait "$wp" 2>/dev/null
    maxrss=0
    [[ -f $work/rss.time ]] && read -r maxrss _ <"$work/rss.time"
    rss_json="{\"seconds\": $rss_secs, \"rc\": $rrc, \"ready_s\": $rss_ready, \"max_rss_kb\": ${maxrss:-0},"
    rss_json+=" \"vmhwm_polled_kb\": $hwm, \"profile_bytes\": $(stat -c %s "$work/rss.iprof" 2>/dev/null || echo 0)}"
fi

# ---- the BPF body, piece by piece (no probes attached) ----------------------------------------
cost_json=null
if [[ -x $build/iommuprof-bpf-cost && ${BENCH_COST_ITERATIONS:-50000} != 0 ]]; then
    log "iommuprof-bpf-cost (BPF body cost per piece)"
    if "$build/iommuprof-bpf-cost" --iterations "${BENCH_COST_ITERATIONS:-50000}" --json "$work/cost.json" \
        >"$out/logs/bpf-cost.txt" 2>&1; then
        cost_json=$(cat "$work/cost.json")
    else
        log "iommuprof-bpf-cost failed: $(tail -n 2 "$out/logs/bpf-cost.txt")"
    fi
fi

# ---- meta ---------------------------------------------------------------------------------
# phase timings of `iommuprof probes` (IOMMUPROF_DEBUG=1): "iommuprof: WHAT   1.234s (total 5.678s)"
phases=$(awk '/^iommuprof: .*s \(total / {
    sub(/^iommuprof: /, ""); t = $0; sub(/ +[0-9.]+s \(total.*/, "", t)
    match($0, /[0-9.]+s \(total/); d = substr($0, RSTART, RLENGTH); sub(/s \(total/, "", d)
    printf "%s{\"%s\": %s}", (n++ ? ", " : ""), t, d }' "$out/logs/probes.err")
jq -n --slurpfile plan "$out/plan.json" --argjson rss "$rss_json" --argjson phases "[$phases]" \
    --argjson cost "$cost_json" --argjson icount "${BENCH_ICOUNT:-0}" \
    --arg workload "$workload" --arg variants "${variants[*]}" --arg iommu "${LAB_IOMMU:-}" --arg mode "${LAB_MODE:-}" \
    --argjson qd "$qd" --argjson secs "$secs" --argjson repeats "$repeats" --argjson ncpu "$ncpu" \
    --argjson probes_wall "$probes_wall" '
    ($plan[0].attachments | map(select(.attached))) as $att |
    { kernel: $plan[0].kernel, iommu: $iommu, mode: $mode, workload: $workload, iodepth: $qd,
      seconds: $secs, repeats: $repeats, ncpu: $ncpu, variants: ($variants | split(" ")),
      attachments: { fentry: ($att | map(select(.method == "fentry")) | length),
                     kprobe: ($att | map(select(.method == "kprobe")) | length),
                     tracepoint: ($att | map(select(.method == "tracepoint")) | length) },
      attached_symbols: ($att | map(.symbol)),
      probes_attach_seconds: $plan[0].attach_seconds, probes_wall_seconds: $probes_wall,
      probes_phases: $phases, rss: $rss, bpf_cost: $cost, icount: ($icount == 1) }' >"$out/meta.json" || die "writing meta.json failed"
rm -rf "$work"
log "done"
