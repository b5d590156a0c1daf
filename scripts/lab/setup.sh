#!/usr/bin/env bash
# scripts/lab/setup.sh [--kernels]: install what the VM lab needs (Debian 12, as root).
# Idempotent and quiet; when everything is installed and the apt lists are fresh it returns at
# once without touching the network.  --kernels also prefetches the guest kernels (kernels.sh).
# LAB_SETUP_UPDATE=1 forces apt-get update.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

pkgs=(
    qemu-system-x86 # qemu-system-x86_64 (TCG; KVM where real)
    busybox-static  # the guest's initramfs userland (must be static)
    cpio gzip       # initramfs image
    xz-utils zstd   # decompressing modules (.ko.xz) and vmlinuz payloads
    kmod            # depmod for the unpacked kernels' modules.dep
    util-linux      # flock, mountpoint
    coreutils grep mawk
    bpftool         # used in the guest (host binary over 9p) by the smoke test
    iproute2 iperf3 # scripts/lab/run --net: network namespace, addresses, traffic (net-traffic)
    iputils-ping    # bench-accuracy net-rr: one echo request in flight at a time (ping -f)
)
names=()
for p in "${pkgs[@]}"; do [[ $p == \#* ]] || names+=("$p"); done

missing=()
for p in "${names[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) == "ii "* ]] || missing+=("$p")
done

# apt lists are needed to resolve the guest kernels (apt-cache).  Refresh them when absent; the lab
# itself refreshes them when a kernel cannot be resolved or downloaded (lists gone stale).
lists_ok() { compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }

export DEBIAN_FRONTEND=noninteractive
if [[ ${#missing[@]} -gt 0 || ${LAB_SETUP_UPDATE:-0} == 1 ]] || ! lists_ok; then
    [[ $(id -u) == 0 ]] || { echo "setup.sh: needs root for apt-get" >&2; exit 1; }
    log=$(mktemp)
    apt-get update -qq >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; exit 1; }
    rm -f "$log"
fi
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "setup.sh: installing ${missing[*]}" >&2
    log=$(mktemp)
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1 ||
        { cat "$log" >&2; rm -f "$log"; exit 1; }
    rm -f "$log"
fi

if [[ ${1:-} == --kernels ]]; then
    "$here/kernels.sh" >/dev/null
fi
