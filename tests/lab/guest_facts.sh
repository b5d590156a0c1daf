#!/bin/bash
# Runs INSIDE a lab guest (scripts/lab/run ... -- tests/lab/guest_facts.sh): prints facts about
# the guest as key=value lines for tests/lab/lab_smoke.sh, then exits 7 so that the caller can
# check that the exit code crosses the VM boundary.
set -u

kv() { printf '%s=%s\n' "$1" "$2"; }

kv kernel "$(uname -r)"
kv cwd "$PWD"
kv lab_env "${LAB_KERNEL:-}/${LAB_IOMMU:-}/${LAB_MODE:-}"

types=$(cat /sys/kernel/iommu_groups/*/type 2>/dev/null | sort -u | paste -sd, -)
kv group_types "${types:-none}"
pci=$(readlink -f /sys/class/nvme/nvme0/device 2>/dev/null)
kv nvme_pci "${pci##*/}"
if [[ -n $pci && -r $pci/iommu_group/type ]]; then
    kv nvme_group_type "$(cat "$pci/iommu_group/type")"
else
    kv nvme_group_type none
fi
cls=$(find /sys/class/iommu -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort | paste -sd, -)
kv iommu_class "${cls:-none}"
kv dma_policy "$(dmesg | grep -m1 -o 'DMA domain TLB invalidation policy: .*' | sed 's/.*policy: //')"
kv default_domain "$(dmesg | grep -m1 -o 'Default domain type: .*' | sed 's/.*type: //')"

out=$(dd if=/dev/nvme0n1 of=/dev/null bs=4k count=256 iflag=direct 2>&1)
rc=$?
kv dd_rc "$rc"
kv dd_records "$(grep -m1 -o '^[0-9]*+[0-9]* records in' <<<"$out" | cut -d' ' -f1)"

bpftool prog list >/dev/null 2>&1
kv bpftool_rc $?
bpftool btf show id 1 >/dev/null 2>&1
kv bpftool_btf_rc $?

syms=$(grep -owE 'qi_submit_sync|iommu_dma_map_page|amd_iommu_map_pages|viommu_map_pages|dma_map_page_attrs' /proc/kallsyms | sort -u | paste -sd, -)
kv kallsyms "$syms"

mounts=""
for m in /proc /sys /dev /sys/kernel/debug /sys/kernel/tracing /sys/fs/bpf /tmp /lab; do
    mountpoint -q "$m" && mounts+="$m,"
done
kv mounts "${mounts%,}"
kv tracefs_events "$( [[ -r /sys/kernel/tracing/available_events ]] && echo yes || echo no)"
touch /var/tmp/lab-write-test /etc/lab-write-test /tmp/lab-write-test 2>/dev/null
kv writable $?
if echo "written in the guest" >"$LAB_OUT/marker"; then kv out_rc 0; else kv out_rc 1; fi
exit 7
