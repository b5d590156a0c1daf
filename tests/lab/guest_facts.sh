#!/bin/bash
# Runs INSIDE a lab guest (scripts/lab/run ... -- tests/lab/guest_facts.sh): prints facts about
# the guest as key=value lines for tests/lab/runner_test.sh, then exits 7 so that the caller can
# check that the exit code crosses the VM boundary.
# Under TCG every exec of a dynamic binary costs ~50-100 ms: builtins are used wherever possible.
set -u
shopt -s nullglob

kv() { printf '%s=%s\n' "$1" "$2"; }
join() { local IFS=,; echo "$*"; }

read -r kernel </proc/sys/kernel/osrelease
kv kernel "$kernel"
kv cwd "$PWD"
kv lab_env "${LAB_KERNEL:-}/${LAB_IOMMU:-}/${LAB_MODE:-}"

declare -A seen=()
for f in /sys/kernel/iommu_groups/*/type; do read -r t <"$f" && seen[$t]=1; done
types=("${!seen[@]}")
kv group_types "$(join "${types[@]:-none}")"
pci=$(cd -P /sys/class/nvme/nvme0/device 2>/dev/null && pwd)
kv nvme_pci "${pci##*/}"
gt=none
[[ -n $pci && -r $pci/iommu_group/type ]] && read -r gt <"$pci/iommu_group/type"
kv nvme_group_type "$gt"
cls=()
for f in /sys/class/iommu/*; do cls+=("${f##*/}"); done
kv iommu_class "$(join "${cls[@]:-none}")"

log=$(dmesg)
re='DMA domain TLB invalidation policy: ([^'$'\n'']*)'
if [[ $log =~ $re ]]; then kv dma_policy "${BASH_REMATCH[1]}"; else kv dma_policy ""; fi
re='Default domain type: ([^'$'\n'']*)'
if [[ $log =~ $re ]]; then kv default_domain "${BASH_REMATCH[1]}"; else kv default_domain ""; fi

out=$(dd if=/dev/nvme0n1 of=/dev/null bs=4k count=256 iflag=direct 2>&1)
kv dd_rc $?
re='([0-9]+\+[0-9]+) records in'
if [[ $out =~ $re ]]; then kv dd_records "${BASH_REMATCH[1]}"; else kv dd_records ""; fi

bpftool prog list >/dev/null 2>&1
kv bpftool_rc $?
bpftool btf show id 1 >/dev/null 2>&1
kv bpftool_btf_rc $?

syms=$(grep -owE 'qi_submit_sync|iommu_dma_map_page|amd_iommu_map_pages|viommu_map_pages|dma_map_page_attrs' /proc/kallsyms)
declare -A have=()
for s in $syms; do have[$s]=1; done
kv kallsyms "$(join "${!have[@]}")"

declare -A mnt=()
while read -r _ m _; do mnt[$m]=1; done </proc/self/mounts
mounts=()
for m in /proc /sys /dev /sys/kernel/debug /sys/kernel/tracing /sys/fs/bpf /tmp /lab; do
    [[ -n ${mnt[$m]:-} ]] && mounts+=("$m")
done
kv mounts "$(join "${mounts[@]}")"
kv tracefs_events "$([[ -r /sys/kernel/tracing/available_events ]] && echo yes || echo no)"
if : >/var/tmp/lab-write-test && : >/etc/lab-write-test && : >/tmp/lab-write-test; then
    kv writable 0
else
    kv writable 1
fi
if echo "written in the guest" >"$LAB_OUT/marker"; then kv out_rc 0; else kv out_rc 1; fi
exit 7
