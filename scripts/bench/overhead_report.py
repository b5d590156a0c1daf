#!/usr/bin/env python3
"""Turn a scripts/bench-overhead run directory into the result: a table on stdout and
a JSON document.

    overhead_report.py DIR [--json FILE] [--snapshot FILE] [--check]

DIR is the lab output directory (-o of scripts/lab/run): DIR/out/{samples.jsonl,meta.json}
from the guest (scripts/bench/guest-overhead.sh), DIR/host-cpu.jsonl from
scripts/bench/host_sync.py. --snapshot adds the host snapshot-scaling benchmark's JSON.
--check: exit 1 unless every variant ran and produced numbers (the ctest smoke run).

Cost per I/O, primary: host CPU time of QEMU's TCG vCPU thread per I/O (what the guest
really executed; the guest's own /proc/stat is distorted under single-threaded TCG, where
a vCPU with work "runs" while it waits for its turn). Also reported: the whole QEMU
process, and the guest's /proc/stat busy time. Added cost of a variant = median over
repeats of (variant - none) in the same repeat (the variants are interleaved in each
repeat, so slow drift of the contended host cancels).
"""
import argparse
import json
import os
import statistics
import sys

FLOOR = {"iommuprof": "empty-fentry", "iommuprof-kprobe": "empty-kprobe"}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def load(d):
    out = os.path.join(d, "out")
    meta = json.load(open(os.path.join(out, "meta.json")))
    samples = [json.loads(l) for l in open(os.path.join(out, "samples.jsonl")) if l.strip()]
    host = {}
    hp = os.path.join(d, "host-cpu.jsonl")
    if os.path.exists(hp):
        for l in open(hp):
            if l.strip():
                s = json.loads(l)
                host[s["name"]] = s
    return meta, samples, host


def per_sample(s, host):
    ios = s["ios"]
    r = {
        "repeat": s["repeat"],
        "iops": ios / s["seconds"] if s["seconds"] else None,
        # the precise busy time (elapsed x CPUs - idle - iowait, scripts/bench/mark.sh) when the run
        # has it: the tick-sampled one is biased on a mostly idle, I/O-bound guest
        "guest_busy_us_per_io": s.get("busy_precise_jiffies", s["busy_jiffies"]) / s["hz"] * 1e6 / ios if ios else None,
        "guest_busy_ticks_us_per_io": s["busy_jiffies"] / s["hz"] * 1e6 / ios if ios else None,
        "guest_sys_us_per_io": s["sys_jiffies"] / s["hz"] * 1e6 / ios if ios else None,
        "fio_cpu_us_per_io": s["fio_cpu_s"] * 1e6 / ios if ios and s.get("fio_cpu_s") else None,
        "host_tcg_us_per_io": None,
        "host_qemu_us_per_io": None,
        "events_per_io": s["events"] / ios if ios and s.get("events") is not None else None,
        "ready_s": s.get("ready_s"),
        "tracer_peak_rss_kb": s.get("tracer_peak_rss_kb") or None,
        "tracer_rc": s.get("tracer_rc"),
    }
    a, b = host.get(s.get("tag", "") + ".start"), host.get(s.get("tag", "") + ".end")
    if a and b and ios:
        if a.get("tcg_ns") is not None and b.get("tcg_ns") is not None:
            r["host_tcg_us_per_io"] = (b["tcg_ns"] - a["tcg_ns"]) / 1e3 / ios
        if a.get("proc_ticks") is not None and b.get("proc_ticks") is not None:
            r["host_qemu_us_per_io"] = (b["proc_ticks"] - a["proc_ticks"]) / a["hz"] * 1e6 / ios
    return r


def fmt(x, nd=1):
    return "-" if x is None else f"{x:.{nd}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--json")
    ap.add_argument("--snapshot")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    meta, samples, host = load(a.dir)
    variants = meta["variants"]
    rows = {v: [per_sample(s, host) for s in samples if s["variant"] == v and s.get("ok")] for v in variants}
    failed = {v: [s.get("why") for s in samples if s["variant"] == v and not s.get("ok")] for v in variants}
    icount = bool(meta.get("icount"))
    # Under -icount the guest clock counts instructions: the guest's own busy time per I/O is then
    # an instruction count (1 ns = 1 instruction), repeatable to a fraction of a percent. Without
    # it, the host CPU time of QEMU's TCG thread is the least distorted measure.
    metric = "guest_busy_us_per_io" if icount else "host_tcg_us_per_io"
    if not any(r[metric] is not None for rs in rows.values() for r in rs):
        metric = "guest_busy_us_per_io"  # run without the host sampler
    unit = "k instr/IO" if metric == "guest_busy_us_per_io" and icount else "µs/IO"

    keys = ["iops", "host_tcg_us_per_io", "host_qemu_us_per_io", "guest_busy_us_per_io",
            "guest_sys_us_per_io", "fio_cpu_us_per_io", "events_per_io", "ready_s", "tracer_peak_rss_kb"]
    res = {}
    base = {r["repeat"]: r for r in rows.get("none", [])}
    for v in variants:
        rs = rows[v]
        d = {"runs": len(rs), "failed_runs": len(failed[v])}
        for k in keys:
            d[k] = med(r[k] for r in rs)
        # Paired with "none" of the same repeat.
        diffs = [r[metric] - base[r["repeat"]][metric] for r in rs
                 if r["repeat"] in base and r[metric] is not None and base[r["repeat"]][metric] is not None]
        d["added_us_per_io"] = med(diffs) if v != "none" else 0.0
        d["added_us_per_io_runs"] = diffs if v != "none" else []
        rel = [r["iops"] / base[r["repeat"]]["iops"] for r in rs if r["repeat"] in base and base[r["repeat"]]["iops"]]
        d["iops_vs_none"] = med(rel)
        ev = d["events_per_io"]
        d["added_ns_per_event"] = (d["added_us_per_io"] * 1e3 / ev) if ev and d["added_us_per_io"] is not None else None
        res[v] = d
    # Events per I/O are the same workload for every variant: take iommuprof's count for the others.
    ev_ref = (res.get("iommuprof") or {}).get("events_per_io")
    for v, d in res.items():
        if d["added_ns_per_event"] is None and ev_ref and d["added_us_per_io"] is not None and v != "none":
            d["added_ns_per_event"] = d["added_us_per_io"] * 1e3 / ev_ref

    def ratio(x, y):
        ax, ay = (res.get(x) or {}).get("added_us_per_io"), (res.get(y) or {}).get("added_us_per_io")
        return ax / ay if ax is not None and ay not in (None, 0) else None

    def paired_ratios(x, y):
        if x not in res or y not in res:
            return []
        bx = {r["repeat"]: r for r in rows[x]}
        out = []
        for r in rows[y]:
            n, m = base.get(r["repeat"]), bx.get(r["repeat"])
            if n and m and None not in (n[metric], m[metric], r[metric]) and r[metric] != n[metric]:
                out.append((m[metric] - n[metric]) / (r[metric] - n[metric]))
        return out

    def paired_total(x, y):
        """median over repeats of metric(x) / metric(y): the plain CPU-per-I/O ratio."""
        if x not in res or y not in res:
            return None, []
        by = {r["repeat"]: r for r in rows[y]}
        out = [r[metric] / by[r["repeat"]][metric] for r in rows[x]
               if r["repeat"] in by and r[metric] and by[r["repeat"]][metric]]
        return med(out), out

    ratios = {}
    for name, x, y, target in (("cpu_per_io_iommuprof_over_empty_fentry", "iommuprof", "empty-fentry", 1.2),
                               ("cpu_per_io_iommuprof_kprobe_over_empty_kprobe", "iommuprof-kprobe", "empty-kprobe", None),
                               ("cpu_per_io_iommuprof_over_none", "iommuprof", "none", 1.2),
                               ("cpu_per_io_iommuprof_sample_over_none", "iommuprof-sample", "none", 1.05),
                               ("cpu_per_io_iommuprof_dma_api_over_none", "iommuprof-dma-api", "none", None),
                               ("cpu_per_io_iommuprof_detail_over_none", "iommuprof-detail", "none", None)):
        v, pr = paired_total(x, y)
        if v is not None:
            ratios[name] = {"total": f"{x} / {y}", "value": v, "target_max": target,
                            "per_repeat_min": min(pr), "per_repeat_max": max(pr)}
    for name, x, y, target in (
        ("iommuprof_over_empty_fentry", "iommuprof", "empty-fentry", None),
        ("iommuprof_over_bpftrace", "iommuprof", "bpftrace", 1 / 3),
        ("iommuprof_kprobe_over_empty_kprobe", "iommuprof-kprobe", "empty-kprobe", None),
        ("iommuprof_kprobe_over_bpftrace", "iommuprof-kprobe", "bpftrace", None),
        ("empty_fentry_over_empty_kprobe", "empty-fentry", "empty-kprobe", None),
    ):
        if x in res and y in res:
            pr = paired_ratios(x, y)
            ratios[name] = {"added": f"({x}-none)/({y}-none)", "value": ratio(x, y), "target_max": target,
                            "per_repeat_min": min(pr) if pr else None, "per_repeat_max": max(pr) if pr else None}

    result = {
        "schema": 1,
        "what": "iommuprof overhead benchmark (scripts/bench-overhead)",
        "metric": metric,
        "icount": icount,
        "unit": unit,
        "bpf_cost": meta.get("bpf_cost"),
        "guest": {k: meta.get(k) for k in ("kernel", "iommu", "mode", "ncpu")},
        "workload": {"tool": meta.get("workload"), "pattern": "4k random read, O_DIRECT", "iodepth": meta.get("iodepth"),
                     "seconds_per_run": meta.get("seconds"), "repeats": meta.get("repeats")},
        "attachments": meta.get("attachments"),
        "attach": {"probes_attach_seconds": meta.get("probes_attach_seconds"),
                   "probes_wall_seconds": meta.get("probes_wall_seconds"),
                   "phases": meta.get("probes_phases"),
                   "ready_seconds_median": {v: res[v]["ready_s"] for v in variants if v != "none"}},
        "rss": meta.get("rss"),
        "variants": res,
        "ratios": ratios,
    }
    if a.snapshot and os.path.exists(a.snapshot):
        result["snapshot_scaling"] = json.load(open(a.snapshot))

    # ---- table ----
    g = result["guest"]
    w = result["workload"]
    print(f"iommuprof overhead: kernel {g['kernel']}, {g['iommu']} {g['mode']}, {g['ncpu']} vCPUs (TCG); "
          f"{w['tool']} 4k randread O_DIRECT QD{w['iodepth']}, {w['seconds_per_run']} s x {w['repeats']} repeats, "
          f"medians; attachments {result['attachments']}")
    mname = "CPU " + unit
    hdr = (f"{'variant':<17} {'runs':>4} {'IOPS':>7} {'vs none':>7} {mname:>15} {'added':>8} "
           f"{'ns/event':>8} {'guest µs/IO':>11} {'events/IO':>9} {'ready s':>7} {'RSS MiB':>7}")
    print(hdr)
    print("-" * len(hdr))
    for v in variants:
        d = res[v]
        rss = d["tracer_peak_rss_kb"] / 1024 if d["tracer_peak_rss_kb"] else None
        print(f"{v:<17} {d['runs']:>4} {fmt(d['iops'], 0):>7} {fmt(d['iops_vs_none'], 3):>7} "
              f"{fmt(d[metric], 2):>15} {fmt(d['added_us_per_io'], 2):>8} {fmt(d['added_ns_per_event'], 0):>8} "
              f"{fmt(d['guest_busy_us_per_io']):>11} {fmt(d['events_per_io']):>9} "
              f"{fmt(d['ready_s'], 1) if v != 'none' else '-':>7} {fmt(rss, 1):>7}")
    if icount:
        print(f"(CPU = guest busy time per I/O under QEMU -icount shift=0: thousands of guest instructions per I/O; "
              f"added = median of (variant - none) per repeat; ns/event = added instructions per probed call)")
    else:
        print(f"(CPU = {metric}: QEMU TCG thread CPU per I/O; added = median of (variant - none) per repeat)")
    for name, r in ratios.items():
        t = r["target_max"]
        verdict = "" if t is None or r["value"] is None else ("  OK" if r["value"] <= t else f"  ABOVE target {t:.2f}")
        what = ("CPU/IO " + r["total"]) if "total" in r else ("added  " + r["added"])
        print(f"ratio {what:<48} {fmt(r['value'], 2):>6}  (per repeat {fmt(r['per_repeat_min'], 2)}.."
              f"{fmt(r['per_repeat_max'], 2)}){verdict}")
    bc = result["bpf_cost"]
    if bc:
        u = "instr" if icount else "ns"
        print(f"BPF body per piece (iommuprof-bpf-cost, {u}): clock {bc['clock_ns']:.0f}, task context "
              f"{bc['task_context_ns']:.0f}, irq context {bc['irq_context_ns']:.0f}, histogram update "
              f"{bc['record_ns']:.0f}; call enter+exit: outermost {bc['outermost_call_ns']:.0f}, nested "
              f"{bc['nested_call_ns']:.0f}")
        e, ip, fl = (res.get("iommuprof") or {}).get("events_per_io"), (res.get("iommuprof") or {}), \
            (res.get("empty-fentry") or {})
        if e and ip.get("added_us_per_io") is not None and fl.get("added_us_per_io") is not None:
            body = (ip["added_us_per_io"] - fl["added_us_per_io"]) * 1e3 / e
            print(f"  per probed call: floor (trampoline) {fl['added_us_per_io'] * 1e3 / e:.0f} {u}, iommuprof body "
                  f"{body:.0f} {u} (measured in the workload: (iommuprof - empty-fentry) / {e:.1f} calls per I/O)")
    at = result["attach"]
    print(f"attach: iommuprof probes: all probes attached after {fmt(at['probes_attach_seconds'], 2)} s ("
          + ", ".join(f"{k} {v:.2f} s" for p in (at["phases"] or []) for k, v in p.items()) + ")")
    print("        start -> ready (median): " + ", ".join(
        f"{v} {fmt(s, 1)} s" for v, s in at["ready_seconds_median"].items()))
    if not result["rss"] and (res.get("iommuprof") or {}).get("tracer_peak_rss_kb"):
        print(f"rss: no long recording; iommuprof record peak RSS during the runs "
              f"{res['iommuprof']['tracer_peak_rss_kb'] / 1024:.1f} MiB")
    if result["rss"]:
        r = result["rss"]
        print(f"rss: iommuprof record -d {r['seconds']} under load: peak RSS {r['max_rss_kb'] / 1024:.1f} MiB "
              f"(polled VmHWM {r['vmhwm_polled_kb'] / 1024:.1f} MiB), exit {r['rc']}, profile {r['profile_bytes']} B")

    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")

    if a.check:
        bad = []
        for v in variants:
            d = res[v]
            if d["runs"] == 0:
                bad.append(f"{v}: no successful run ({', '.join(str(x) for x in failed[v]) or 'missing'})")
                continue
            for k in ("iops", metric):
                if d[k] is None or d[k] <= 0:
                    bad.append(f"{v}: no {k}")
            if v != "none" and d["added_us_per_io"] is None:
                bad.append(f"{v}: no added cost")
            if v.startswith("iommuprof") or v == "bpftrace":
                if not d["events_per_io"]:
                    bad.append(f"{v}: saw no events")
        r = result["rss"]
        if r is None:  # no long recording (--smoke): the runs' own peak RSS
            if "iommuprof" in res and not res["iommuprof"]["tracer_peak_rss_kb"]:
                bad.append("rss: no peak RSS of iommuprof")
        elif r.get("rc") != 0 or not (r.get("max_rss_kb") or r.get("vmhwm_polled_kb")):
            bad.append("rss: the long recording failed or gave no RSS")
        if not at["probes_attach_seconds"]:
            bad.append("no attach time")
        for b in bad:
            print("CHECK FAILED: " + b, file=sys.stderr)
        if bad:
            return 1
        print("check: every variant ran and produced numbers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
