#!/usr/bin/env python3
"""Host-side assertions on a network lab cell (tests/lab/guest_net.sh).

usage: check_net.py OUTDIR CELL NVME_BDF VIRTIO_BDF E1000E_BDF

- the traffic ran (iperf3 phases with bytes) and the profile was written;
- e1000e's receive path is attributed to e1000e: it maps at least one buffer per received frame
  (every frame here is larger than its copybreak: TCP segments and 1400-byte datagrams), at most
  what receiving and sending need plus a margin; virtio-net maps too;
- totals per CPU equal totals per device for every point;
- no call lost: unmatched exits and dropped in-flight frames at most 0.1 % of the calls + 10;
- the nesting counters: calls during which another context (the NICs' softirqs, dd runs on CPU 0
  beside the traffic) completed probed calls on the same CPU were seen (intr_count > 0), and
  softirqs that mapped inside a task's own probed call (counters.softirq_nested > 0);
- packets: the profile's packet counters of both NICs (e1000e in its own network namespace) match
  the guest's own interface statistics over the run, and the report's network rows give maps and
  CPU time per packet from them.
Prints one PASS/FAIL line per assertion and a summary line; exit 1 on any failure.
"""
import glob
import gzip
import json
import os
import sys

out, cell, nvme, virtio, e1000e = sys.argv[1:6]
failures = 0


def check(cond, what, detail=""):
    global failures
    print(("PASS  " if cond else "FAIL  ") + f"[{cell}] {what}" + ("" if cond else f": {detail}"))
    failures += not cond
    return cond


def read(name):
    try:
        return open(os.path.join(out, name)).read()
    except OSError:
        return None


rc = (read("run.rc") or "").strip()
check(rc == "0", "iommuprof run of the traffic exits 0", f"rc {rc!r}; {(read('run.txt') or '')[-400:]}")
phases = {}
for f in glob.glob(os.path.join(out, "net", "*.json")):
    try:
        e = json.load(open(f))["end"]
        s = e.get("sum_received") or e.get("sum") or {}
        phases[os.path.basename(f)[:-5]] = s.get("bytes", 0)
    except (OSError, ValueError, KeyError):
        phases[os.path.basename(f)[:-5]] = 0
check(set(phases) >= {"tcp", "udp-large"} and all(v > 0 for v in phases.values()),
      "iperf3 moved bytes in every phase", str(phases))
try:
    before = [int(x) for x in read("stats.before").split()]
    after = [int(x) for x in read("stats.after").split()]
    d = [a - b for a, b in zip(after, before)]
except (AttributeError, ValueError):
    d = [0, 0, 0, 0]
v_rx, v_tx, e_rx, e_tx = d
check(e_rx > 1000, f"e1000e received frames ({e_rx}; virtio-net sent {v_tx})")

try:
    prof = json.loads(gzip.open(os.path.join(out, "net.iprof")).read())
    rep = json.load(open(os.path.join(out, "report.json")))
except (OSError, ValueError) as e:
    check(False, "profile and report readable", str(e))
    sys.exit(1)
cells = prof["snapshot"]["cells"]


def calls(point, device):
    return sum(c["hist"]["count"] for c in cells if c["point"] == point and c["device"] == device)


maps_e = calls("dma_map", e1000e)
unmaps_e = calls("dma_unmap", e1000e)
check(maps_e >= 0.9 * e_rx, f"e1000e: dma_map on {e1000e} ({maps_e}) >= 0.9 x its received frames ({e_rx})")
check(maps_e <= 1.2 * (e_rx + e_tx) + 200,
      f"e1000e: dma_map ({maps_e}) <= 1.2 x (received + sent frames, {e_rx} + {e_tx}) + 200")
check(unmaps_e >= 0.9 * e_rx, f"e1000e: dma_unmap ({unmaps_e}) >= 0.9 x its received frames ({e_rx})")
maps_v = calls("dma_map", virtio)
check(maps_v > 0, f"virtio-net: dma_map on {virtio} ({maps_v})")
print(f"INFO  [{cell}] per frame: e1000e {maps_e / max(1, e_rx + e_tx):.2f} maps per frame received or sent; "
      f"virtio-net {maps_v / max(1, v_rx + v_tx):.2f}")

# Per CPU = per device, for every point (the report's two views of the same cells).
by_dev, by_cpu = {}, {}
for r in rep["devices"]:
    by_dev[r["point"]] = by_dev.get(r["point"], 0) + r["calls"]
for r in rep["cpus"]:
    by_cpu[r["point"]] = by_cpu.get(r["point"], 0) + r["calls"]
check(by_dev == by_cpu, "totals per CPU equal totals per device for every point",
      str({p: (by_dev.get(p), by_cpu.get(p)) for p in set(by_dev) | set(by_cpu) if by_dev.get(p) != by_cpu.get(p)}))

total = sum(c["hist"]["count"] for c in cells)
cnt = prof["snapshot"]["counters"]
bound = total // 1000 + 10
# Calls lost: entries (unmatched exits) and exits (dropped frames) the kernel's recursion guard
# skipped when an interrupt entered a probed function while the same probe ran on that CPU. Each
# must be accounted for by the guard's own count (recursion_misses), beyond a small bound.
lost = cnt["unmatched_exit"] + cnt["dropped_frames"]
misses = cnt.get("recursion_misses", 0)
check(lost <= misses + bound,
      f"calls lost ({cnt['unmatched_exit']} unmatched exits + {cnt['dropped_frames']} dropped frames) are the "
      f"kernel's recursion misses ({misses}) + at most {bound} (0.1 % of {total} calls + 10)")
check(lost <= total // 100 + 10, f"calls lost ({lost}) at most 1 % of {total}")
check(cnt["hist_full"] == 0 and cnt["ctx_full"] == 0 and cnt["depth_overflow"] == 0, "no map overflow", str(cnt))

nested = sum(c["hist"].get("intr_count", 0) for c in cells if c["point"] != "total")
nested_nvme = sum(c["hist"].get("intr_count", 0) for c in cells if c["device"] == nvme and c["point"] != "total")
check(nested > 0, f"nesting seen: {nested} calls ran while another context completed probed calls on their CPU "
      f"({nested_nvme} of them NVMe calls of dd)")
check(cnt.get("softirq_nested", 0) > 0,
      f"softirq-in-task nesting seen: {cnt.get('softirq_nested', 0)} softirqs completed "
      f"{cnt.get('softirq_nested_calls', 0)} probed calls inside a task's own probed call")

# Packets: the profile's counters against the guest's own (read before and after the whole run, so
# a few packets outside the profile's window, ARP and neighbour discovery, may differ).
net = {(n["netns"], n["device"]): n for n in prof["snapshot"].get("net", [])}
pe = next((n for (ns, dev), n in net.items() if dev == e1000e), None)
pv = next((n for (ns, dev), n in net.items() if dev == virtio), None)
if check(pe is not None and pv is not None, "the profile has packet counters of both NICs", str(list(net))):
    check(pe["netns"] != "" and pv["netns"] == "", f"e1000e counted in its namespace ({pe['netns']!r}), "
          f"virtio-net in the profiler's own")
    for name, p, rx, tx in (("e1000e", pe, e_rx, e_tx), ("virtio-net", pv, v_rx, v_tx)):
        ok = all(abs(a - b) <= 0.02 * b + 20 for a, b in ((p["rx_packets"], rx), (p["tx_packets"], tx)))
        check(ok, f"{name}: profile's packets rx {p['rx_packets']} tx {p['tx_packets']} = the guest's "
              f"rx {rx} tx {tx} (within 2 % + 20)")
    rows = {r["device"]: r for r in rep.get("network", [])}
    re_ = rows.get(e1000e, {})
    mpp = re_.get("maps_per_packet")
    want = maps_e / max(1, pe["rx_packets"] + pe["tx_packets"])
    check(mpp is not None and abs(mpp - want) < 1e-9 and re_.get("cpu_ns_per_packet", 0) and re_["cpu_ns_per_packet"] > 0,
          f"report: e1000e {mpp} maps per packet (= {maps_e} / its packets), "
          f"{re_.get('cpu_ns_per_packet')} ns CPU per packet")
    for dev, r in rows.items():
        print(f"INFO  [{cell}] {dev} {','.join(r['interfaces'])}: {r['packets_per_s']:.0f} packets/s, "
              f"{r['maps_per_packet']} maps/packet, {r['cpu_ns_per_packet']} ns CPU/packet")
print(f"{'FAIL' if failures else 'PASS'}  [{cell}] network cell: {failures} failure(s)")
sys.exit(1 if failures else 0)
