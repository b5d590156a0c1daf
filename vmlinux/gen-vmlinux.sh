#!/usr/bin/env bash
# Regenerate vmlinux/<arch>/vmlinux.h from a kernel's BTF.
# Usage: vmlinux/gen-vmlinux.sh [BTF_FILE] [ARCH]
#   BTF_FILE defaults to /sys/kernel/btf/vmlinux (the running kernel);
#   a vmlinux ELF with .BTF, or a raw BTF blob, also works.
# The checked-in header only has to carry the types iommuprof's BPF code names
# (struct device, struct kobject, struct pt_regs, ...): CO-RE relocates field
# offsets against the target kernel at load time, so one header serves 6.1..6.18.
set -euo pipefail
btf=${1:-/sys/kernel/btf/vmlinux}
arch=${2:-$(uname -m)}
case "$arch" in x86_64|amd64) arch=x86 ;; aarch64|arm64) arch=arm64 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/$arch"
command -v bpftool >/dev/null || { echo "gen-vmlinux: bpftool not found (apt-get install bpftool)" >&2; exit 1; }
bpftool btf dump file "$btf" format c > "$here/$arch/vmlinux.h.tmp"
mv "$here/$arch/vmlinux.h.tmp" "$here/$arch/vmlinux.h"
echo "wrote $here/$arch/vmlinux.h from $btf ($(wc -l < "$here/$arch/vmlinux.h") lines)"
