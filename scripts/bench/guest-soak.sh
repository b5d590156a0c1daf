#!/usr/bin/env bash
# Runs INSIDE a lab guest (scripts/bench-soak): `top --openmetrics-file` and a `record` side by
# side for SOAK_SECS under mixed NVMe load, on a disk that the host unplugs and plugs back through
# the QEMU monitor meanwhile. Every SOAK_SAMPLE seconds one line of samples.tsv: RSS of both
# iommuprof processes, entries of their BPF maps. Every rewrite of the metrics file is copied and
# checked with promtool (rewrites.tsv). Leaves everything in $LAB_OUT; asserts nothing.
set -u
: "${IP:?}" "${LAB_OUT:?}" "${SOAK_SECS:?}"
out=$LAB_OUT
sample=${SOAK_SAMPLE:-30}
interval=${SOAK_INTERVAL:-5}
main=${LAB_NVME_DEV:-/dev/nvme0n1}
hot_serial=soakhot

hot_dev() {  # the hot-plugged disk's block device, if it is there now
    local d
    for d in /sys/class/nvme/nvme*; do
        [[ -e $d/serial ]] || continue
        [[ $(tr -d ' ' <"$d/serial" 2>/dev/null) == "$hot_serial" ]] || continue
        for n in "$d"/nvme*n1; do [[ -e $n ]] && { echo "/dev/${n##*/}"; return; }; done
    done
}

# Mixed load: 4K random reads and 128K sequential reads on the main disk, 4K writes, and 4K reads
# on the hot disk whenever it is present (its I/O fails while it is gone; the loop goes on).
loads=()
(while :; do dd if="$main" of=/dev/null bs=4k count=2000 iflag=direct skip=$((RANDOM % 12000)) 2>/dev/null; done) &
loads+=($!)
(while :; do dd if="$main" of=/dev/null bs=128k count=400 iflag=direct 2>/dev/null; done) &
loads+=($!)
(while :; do dd if=/dev/zero of="$main" bs=4k count=200 oflag=direct seek=$((RANDOM % 12000)) 2>/dev/null; sleep 1; done) &
loads+=($!)
(while :; do h=$(hot_dev); if [[ -n $h ]]; then dd if="$h" of=/dev/null bs=4k count=500 iflag=direct 2>/dev/null; else sleep 0.5; fi; done) &
loads+=($!)

# The metrics file on a local file system (tmpfs), as a node_exporter textfile directory would
# be; $out is a 9p share, where a rename is not atomic for the guest's own readers.
prom=/tmp/soak.prom
"$IP" top -i "$interval" -d "$SOAK_SECS" --json --openmetrics-file "$prom" >"$out/top.json" 2>"$out/top.err" &
top_pid=$!
"$IP" record -d "$SOAK_SECS" -o "$out/soak.iprof" --label "soak $SOAK_SECS s" 2>"$out/record.err" &
rec_pid=$!

# Every rewrite of the metrics file: a new inode each time (atomic rename). Each version is
# kept (prom/N.prom) and checked with promtool on the host afterwards (promtool is slow under TCG).
(
    last=
    n=0
    mkdir -p "$out/prom"
    while kill -0 $top_pid 2>/dev/null; do
        ino=$(stat -c %i "$prom" 2>/dev/null)
        if [[ -n $ino && $ino != "$last" ]]; then
            last=$ino
            n=$((n + 1))
            err=$(cp "$prom" "$out/prom/$n.prom" 2>&1) || echo "$n $err" >>"$out/copy-errors.txt"
            printf '%s\t%s\t%s\n' "$(cut -d' ' -f1 /proc/uptime)" "$n" "$ino" >>"$out/rewrites.tsv"
        fi
        sleep 0.3
    done
) &
checker=$!

maps_of() {  # entries of the hists/devnames/devrows maps of one process, "h/d/r"
    # (map ids from the process's fdinfo: bpftool's pid column needs BPF iterators)
    # (bpftool is slow under TCG: one `map list` per sample, plain dumps, no jq)
    local pid=$1 h=0 d=0 r=0 id name c
    local ids
    ids=" $(grep -h '^map_id:' /proc/"$pid"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -un | tr '\n' ' ') "
    while read -r id name; do
        [[ $ids == *" $id "* ]] || continue
        c=$(bpftool map dump id "$id" 2>/dev/null | grep -c '"key":')
        case $name in hists) h=${c:-0} ;; devnames) d=${c:-0} ;; devrows) r=${c:-0} ;; esac
    done <<<"$(printf '%s\n' "$maplist" | awk '$2 == "hists" || $2 == "devnames" || $2 == "devrows"')"
    # (a here-string: the lab guest's devtmpfs has no /dev/fd for process substitution)
    echo "$h/$d/$r"
}
# VmRSS/RssAnon: the anonymous part is what a leak grows; file pages of the binary come and go.
rss_kb() { awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } END { print (r ? r : 0) "/" (a ? a : 0) }' "/proc/$1/status" 2>/dev/null || echo 0/0; }

printf 'uptime\ttop_rss_kb\trecord_rss_kb\ttop_maps\trecord_maps\thot_present\n' >"$out/samples.tsv"
t0=$(cut -d' ' -f1 /proc/uptime)
while kill -0 $top_pid 2>/dev/null || kill -0 $rec_pid 2>/dev/null; do
    maplist=$(bpftool map list 2>/dev/null | awk '$1 ~ /^[0-9]+:$/ { sub(":", "", $1); for (i = 2; i < NF; i++) if ($i == "name") print $1, $(i + 1) }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(cut -d' ' -f1 /proc/uptime)" "$(rss_kb $top_pid)" "$(rss_kb $rec_pid)" \
        "$(maps_of $top_pid)" "$(maps_of $rec_pid)" "$([[ -n $(hot_dev) ]] && echo 1 || echo 0)" >>"$out/samples.tsv"
    sleep "$sample"
done
wait $top_pid
echo $? >"$out/top.rc"
wait $rec_pid
echo $? >"$out/record.rc"
sleep 1
kill $checker "${loads[@]}" 2>/dev/null
cp "$prom" "$out/soak.prom" 2>/dev/null
wait 2>/dev/null
"$IP" report --json "$out/soak.iprof" >"$out/report.json" 2>"$out/report.err"
echo $? >"$out/report.rc"
grep -c . /proc/interrupts >/dev/null
awk -v t0="$t0" '{ print $1 - t0 }' /proc/uptime >"$out/guest_secs"
dmesg | grep -iE 'nvme|pciehp|DMAR|iommu' | tail -200 >"$out/dmesg-devices.txt"
exit 0
