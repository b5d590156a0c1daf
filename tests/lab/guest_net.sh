#!/bin/bash
# In a guest booted with scripts/lab/run --net (tests/lab/net_test.sh): profiles network traffic
# between the two NICs (TCP, then 1400-byte UDP, both received by e1000e) while dd reads the NVMe
# disk with O_DIRECT on CPU 0, so that the NICs' softirqs can run nested inside dd's DMA mapping.
# Leaves in $LAB_OUT: net.iprof, report.json, the NICs' packet counters before and after
# (stats.before/after: virtio rx tx, e1000e rx tx), dd.err, net/*.json, run.txt, run.rc.
set -u
o=$LAB_OUT
IP=${IP:?}
secs=${NET_SECS:-3}
stats() {
    echo "$(cat /sys/class/net/$LAB_NET_IF/statistics/rx_packets) $(cat /sys/class/net/$LAB_NET_IF/statistics/tx_packets)" \
        "$(ip netns exec "$LAB_NET_NS" cat /sys/class/net/$LAB_NET_PEER_IF/statistics/rx_packets)" \
        "$(ip netns exec "$LAB_NET_NS" cat /sys/class/net/$LAB_NET_PEER_IF/statistics/tx_packets)"
}
stats > "$o/stats.before"
"$IP" run --detail -o "$o/net.iprof" --label "$LAB_KERNEL $LAB_IOMMU $LAB_MODE network" -- bash -c '
    taskset -c 0 dd if=$LAB_NVME_DEV of=/dev/null bs=4k count=100000 iflag=direct 2>"$LAB_OUT/dd.err" &
    dd=$!
    scripts/lab/net-traffic --phases "tcp udp-large" '"$secs"'
    rc=$?
    kill -TERM $dd; wait $dd   # (SIGINT is ignored by a background job of a script)
    exit $rc' > "$o/run.txt" 2>&1
echo $? > "$o/run.rc"
stats > "$o/stats.after"
"$IP" report --json "$o/net.iprof" > "$o/report.json" 2> "$o/report.err"
"$IP" report -H --per-cpu "$o/net.iprof" > "$o/per-cpu.txt" 2>&1
"$IP" report "$o/net.iprof" > "$o/report.txt" 2>&1
exit 0
