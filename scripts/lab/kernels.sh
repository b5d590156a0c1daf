#!/usr/bin/env bash
# scripts/lab/kernels.sh [--prune] [SERIES|KVER ...]   (default: 6.1 6.12)
#
# Resolves each kernel series to the newest Debian linux-image package (apt-cache), downloads and
# unpacks it into the cache (${IOMMUPROF_LAB_CACHE:-/var/cache/iommuprof-lab}; never installed on
# the host), extracts vmlinux for PVH boot and builds the lab initramfs.  Re-runs reuse the cache.
# Prints one line per kernel on stdout: SERIES KVER VMLINUX VMLINUZ INITRAMFS
# --prune removes cached kernels and initramfs images not listed in this run's output.
set -euo pipefail

# shellcheck source=scripts/lab/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

prune=0
series=()
for a in "$@"; do
    case $a in
        --prune) prune=1 ;;
        -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) lab_die "unknown option $a" ;;
        *) series+=("$a") ;;
    esac
done
[[ ${#series[@]} -gt 0 ]] || series=(6.1 6.12)

keep_k=()
keep_i=()
for s in "${series[@]}"; do
    kver=$(lab_get_kernel "$s") || exit 125
    vmlinux=$(lab_vmlinux "$kver") || exit 125
    initrd=$(lab_initramfs "$kver") || exit 125
    [[ -f $initrd ]] || exit 125
    printf '%s %s %s %s %s\n' "$s" "$kver" "$vmlinux" "$(lab_vmlinuz "$kver")" "$initrd"
    keep_k+=("$kver")
    keep_i+=("${initrd##*/}")
done

if [[ $prune == 1 ]]; then
    for d in "$LAB_CACHE"/kernels/*/; do
        d=${d%/}
        [[ -d $d ]] || continue
        [[ " ${keep_k[*]} " == *" ${d##*/} "* ]] && continue
        lab_log "pruning $d"
        rm -rf "$d"
    done
    for f in "$LAB_CACHE"/initramfs/*.cpio.gz; do
        [[ -f $f ]] || continue
        [[ " ${keep_i[*]} " == *" ${f##*/} "* ]] && continue
        lab_log "pruning $f"
        rm -f "$f"
    done
fi
