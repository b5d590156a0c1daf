#!/usr/bin/env bash
# Prints "LINKS PROGS": how many BPF links and programs of iommuprof exist right now (every
# program in bpf/iommuprof.bpf.c is named ip_*). `bpftool link list` shows a link's program id,
# not its name, so links are matched through the program list.
set -uo pipefail
progs=$(bpftool prog list 2>/dev/null | awk '$3 == "name" && $4 ~ /^ip_/ { sub(":", "", $1); print $1 }')
nprogs=$(printf '%s' "$progs" | grep -c .)
nlinks=0
if [[ -n $progs ]]; then
    nlinks=$(bpftool link list 2>/dev/null | awk -v ids=" $(echo $progs) " '
        $1 ~ /^[0-9]+:$/ { for (i = 2; i < NF; i++) if ($i == "prog" && index(ids, " " $(i + 1) " ")) { n++; break } }
        END { print n + 0 }')
fi
echo "$nlinks $nprogs"
