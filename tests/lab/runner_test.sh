#!/usr/bin/env bash
# Smoke test of the VM lab: boots a few matrix cells and checks from inside each guest that the
# lab gives what the integration tests rely on (IOMMU groups of the right type, /sys/class/iommu,
# NVMe O_DIRECT reads, bpftool, kallsyms, exit-code propagation), then the runner's failure paths.
#
#   tests/lab/runner_test.sh                 # the default cells (see SMOKE_CELLS)
#   LAB_SMOKE_CELLS=all tests/lab/runner_test.sh   # every cell of tests/lab/cells.txt
#   LAB_SMOKE_CELLS="6.12 amd strict;6.1 intel strict" tests/lab/runner_test.sh
#   LAB_SMOKE_MECHANISMS=0 ...             # skip the timeout / boot-failure / workload checks
#   LAB_JOBS=2 ...                         # boot two guests at a time (one host core each)
# Ends with "N passed, M failed"; exits non-zero on any failure.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
# shellcheck source=scripts/lab/lib.sh
. scripts/lab/lib.sh
RUN=$repo/scripts/lab/run
TIMEOUT=${LAB_SMOKE_TIMEOUT:-240}

# (cells the CI matrix does not boot: 6.12 Intel strict and virtio-iommu, which it does, checked
# the same and more there, took 40 s of the default test command)
SMOKE_CELLS=("6.1 intel pt" "6.12 amd strict")
case ${LAB_SMOKE_CELLS:-} in
    "") cells=("${SMOKE_CELLS[@]}") ;;
    all) mapfile -t cells < <(lab_cells | awk '{ print $1, $2, $3 }') ;;
    *) IFS=';' read -r -a cells <<<"$LAB_SMOKE_CELLS" ;;
esac

passed=0
failed=0
work=$(mktemp -d "${TMPDIR:-/tmp}/lab-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT

pass() { passed=$((passed + 1)); printf 'PASS  %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL  %s\n' "$*"; }
show() { sed 's/^/      | /' "$@" | tail -n 40; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Expected group type of a cell from cells.txt (falls back to the mode's usual type).
expected_type() {
    local t
    t=$(lab_cells | awk -v k="$1" -v i="$2" -v m="$3" '$1 == k && $2 == i && $3 == m { print $4; exit }')
    if [[ -z $t ]]; then
        case $3 in strict) t=DMA ;; lazy | translated) t=DMA-FQ ;; pt) t=identity ;; *) t=none ;; esac
    fi
    echo "$t"
}

# Resolution from the lab's apt lists, as on a fresh machine (no kernel cached to fall back on),
# under this script's pipefail: a whole (unsplit) image has no parts, which is an answer (6.1);
# a whole image that depends on a linux-base-KVER the suite does not list still resolves (6.18).
if lab_apt_ready; then
    for s in 6.1 6.18; do
        re=$(lab_series_regex "$s")
        if kver=$(_lab_resolve_apt "$re" "$s") && [[ $kver == "$s".* ]]; then
            pass "resolution: $s -> $kver from the lab's apt lists (no cache used)"
        else
            fail "resolution: $s did not resolve from the lab's apt lists ('${kver:-}')"
        fi
    done
fi

# Fetch kernels and build initramfs images first, so that the timings below are boot + run only.
for k in $(printf '%s\n' "${cells[@]}" | awk '{ print $1 }' | sort -u); do
    scripts/lab/kernels.sh "$k" >/dev/null
done

# Boot the cells, LAB_JOBS at a time (each TCG guest uses one host core).
jobs=${LAB_JOBS:-2}
boot_cell() {
    local kernel=$1 iommu=$2 mode=$3 d=$4 t0 rc
    t0=$(now)
    set +e
    "$RUN" -q -k "$kernel" -i "$iommu" -m "$mode" -t "$TIMEOUT" -o "$d/out" -- tests/lab/guest_facts.sh \
        >"$d/facts" 2>"$d/err"
    rc=$?
    set -e
    echo "$rc" >"$d/rc"
    since "$t0" >"$d/secs"
}
for cell in "${cells[@]}"; do
    read -r kernel iommu mode <<<"$cell"
    d=$work/$kernel-$iommu-$mode
    mkdir -p "$d"
    while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do wait -n || true; done
    boot_cell "$kernel" "$iommu" "$mode" "$d" &
done
wait

for cell in "${cells[@]}"; do
    read -r kernel iommu mode <<<"$cell"
    name="$kernel × $iommu × $mode"
    d=$work/$kernel-$iommu-$mode
    rc=$(cat "$d/rc")
    secs=$(cat "$d/secs")
    fact() { sed -n "s/^$1=//p" "$d/facts" | head -n1; }
    why=()
    [[ $rc == 7 ]] || why+=("exit code $rc, expected 7 (guest_facts.sh exits 7)")
    want=$(expected_type "$kernel" "$iommu" "$mode")
    got=$(fact nvme_group_type)
    [[ $got == "$want" ]] || why+=("NVMe iommu group type '$got', expected '$want'")
    cls=$(fact iommu_class)
    case $iommu in
        intel*) re='^dmar[0-9]' ;;
        amd) re='^ivhd[0-9]' ;;
        virtio) re='^0000:00:01\.0$' ;; # virtio-iommu names its iommu after its PCI device
        none) re='^none$' ;;
    esac
    [[ $mode == off ]] && re='^none$' # the device is there, the kernel does not use it
    [[ $cls =~ $re ]] || why+=("/sys/class/iommu has '$cls', expected /$re/")
    [[ $(fact dd_rc) == 0 && $(fact dd_records) == 256+0 ]] ||
        why+=("NVMe O_DIRECT dd failed (rc $(fact dd_rc), records '$(fact dd_records)')")
    [[ $(fact bpftool_rc) == 0 ]] || why+=("bpftool prog list failed in the guest")
    [[ $(fact bpftool_btf_rc) == 0 ]] || why+=("bpftool btf show failed in the guest")
    syms=,$(fact kallsyms),
    need=(iommu_dma_map_page dma_map_page_attrs)
    case $iommu in
        intel*) need+=(qi_submit_sync) ;;
        amd) need+=(amd_iommu_map_pages) ;;
        virtio) need+=(viommu_map_pages) ;;
    esac
    for s in "${need[@]}"; do [[ $syms == *",$s,"* ]] || why+=("/proc/kallsyms lacks $s"); done
    [[ $(fact kernel) == "$kernel".* || $(fact kernel) == "$kernel"-* ]] || why+=("guest runs kernel '$(fact kernel)'")
    [[ $(fact cwd) == "$repo" ]] || why+=("cwd in the guest '$(fact cwd)', expected $repo")
    want_mounts=/proc,/sys,/dev,/sys/kernel/debug,/sys/kernel/tracing,/sys/fs/bpf,/tmp,/lab
    # No fresh tmpfs on /tmp when the checkout (the guest's cwd) or the cache is below /tmp.
    case $repo/:$LAB_CACHE/ in /tmp/* | *:/tmp/*) want_mounts=${want_mounts/,\/tmp,/,} ;; esac
    [[ $(fact mounts) == "$want_mounts" ]] ||
        why+=("mounts: '$(fact mounts)'")
    [[ $(fact tracefs_events) == yes ]] || why+=("tracefs has no available_events")
    [[ $(fact writable) == 0 ]] || why+=("the overlay root is not writable")
    [[ -f $d/out/out/marker ]] || why+=("\$LAB_OUT/marker did not reach the host")
    case $mode in
        strict) [[ $(fact dma_policy) == strict* ]] || why+=("dmesg policy '$(fact dma_policy)', expected strict") ;;
        lazy) [[ $(fact dma_policy) == lazy* ]] || why+=("dmesg policy '$(fact dma_policy)', expected lazy") ;;
        pt) [[ $(fact default_domain) == Passthrough* ]] || why+=("default domain '$(fact default_domain)'") ;;
    esac
    # Guest uptime when the command started / ended (scripts/lab/run writes them to timing).
    boot=$(sed -n 's/^start_uptime_s=//p' "$d/out/timing" 2>/dev/null)
    end=$(sed -n 's/^end_uptime_s=//p' "$d/out/timing" 2>/dev/null)
    cmd=$(awk -v a="${boot:-0}" -v b="${end:-0}" 'BEGIN { printf "%.1f", b - a }')
    if [[ ${#why[@]} -eq 0 ]]; then
        pass "$name  (${secs}s: boot ${boot:-?}s + checks ${cmd}s; nvme group $got, iommu $cls)"
    else
        fail "$name  (${secs}s)"
        printf '      - %s\n' "${why[@]}"
        echo "      stdout:"; show "$d/facts"
        echo "      stderr:"; show "$d/err"
    fi
done

if [[ ${LAB_SMOKE_MECHANISMS:-1} == 1 ]]; then
    # stdout carries only the command's stdout; a background workload runs; files come back.
    d=$work/workload
    mkdir -p "$d"
    t0=$(now)
    set +e
    "$RUN" -q -t "$TIMEOUT" -o "$d/out" --workload-wait \
        --workload "dd if=/dev/nvme0n1 of=/dev/null bs=4k count=300 iflag=direct" \
        -- sh -c 'sleep 1; echo "{\"ok\": true}"; echo to-stderr >&2; exit 3' >"$d/stdout" 2>"$d/stderr"
    rc=$?
    set -e
    if [[ $rc == 3 && $(cat "$d/stdout") == '{"ok": true}' ]] && grep -qx to-stderr "$d/stderr" &&
        grep -q '^300+0 records in' "$d/out/workload.log" && [[ $(cat "$d/out/workload.rc") == 0 ]]; then
        pass "runner: stdout/stderr/exit code passthrough + --workload  ($(since "$t0")s)"
    else
        fail "runner: stdout/stderr/exit code passthrough + --workload (rc $rc)"
        echo "      stdout:"; show "$d/stdout"
        echo "      stderr:"; show "$d/stderr"
        echo "      workload.log:"; show "$d/out/workload.log" 2>/dev/null || true
    fi

    # expect_failure DESC RC TAG PATTERN1 PATTERN2 -- RUN_ARGS...: the runner exits RC and its
    # stderr holds both patterns.
    expect_failure() {
        local desc=$1 want=$2 tag=$3 p1=$4 p2=$5 t0 rc
        shift 6
        t0=$(now)
        set +e
        "$RUN" -q "$@" >"$work/$tag.out" 2>"$work/$tag.err"
        rc=$?
        set -e
        if [[ $rc == "$want" ]] && grep -q "$p1" "$work/$tag.err" && grep -q "$p2" "$work/$tag.err"; then
            pass "runner: $desc -> exit $want with console tail  ($(since "$t0")s)"
        else
            fail "runner: $desc (rc $rc, expected $want)"
            show "$work/$tag.err"
        fi
    }
    # A command that never ends is killed at the bound: exit 124 and the console tail on stderr.
    expect_failure "hung command" 124 to 'TIMEOUT' 'guest console' -- -t 25 -- sleep 600
    # A guest that never reaches the command (test hook lab.hang in guest-init.sh): same, and
    # the message says the boot hung.
    expect_failure "hung boot" 124 hb 'did not boot' 'guest console' -- -t 12 --cmdline lab.hang -- true
    # A guest that cannot boot (no init) is reported as a lab failure with the console tail.
    expect_failure "failed boot" 125 bf 'BOOT FAILED' 'Kernel panic' -- -t "$TIMEOUT" --cmdline rdinit=/nonexistent -- true
fi

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
