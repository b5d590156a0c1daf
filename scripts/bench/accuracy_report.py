#!/usr/bin/env python3
"""Turn a scripts/bench-accuracy run directory into the result: a table on stdout and a JSON
document.

    accuracy_report.py DIR --cells "intel:strict ..." --iommuprof BIN [--json FILE] [--check]

DIR/<iommu>-<mode>-translated/lab/out and DIR/<iommu>-<mode>-pt/lab/out are the guests' outputs
(scripts/bench/guest-overhead.sh: samples.jsonl, profiles/). Per cell and shape:
  real saving / I/O      median CPU/I/O with nothing attached, translated - the same booted with pt
  real saving, in boot   the same, translated - the disk switched to an identity domain at run time
                         in the translated guest (variant none-identity; "id" columns)
  estimate / I/O         `iommuprof verdict --from PROFILE --json` saving_ns / the run's I/Os
                         (median over repeats), and the same with --raw (uncompensated)
  ratio                  estimate / real (target 0.85-1.15, never above 1.15)
  overhead               CPU/I/O under iommuprof record / CPU/I/O with nothing attached
CPU per I/O is the guest's busy time (/proc/stat, all CPUs) per I/O: under -icount, thousands of
instructions per I/O. --check: exit 1 unless every number was produced (the ctest smoke run).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def samples(d):
    p = os.path.join(d, "lab", "out", "samples.jsonl")
    if not os.path.exists(p):
        return []
    return [json.loads(l) for l in open(p) if l.strip()]


def cpu_per_io_k(s, secs=None):
    """thousands of guest ns (= instructions under -icount) per I/O"""
    if not s.get("ok") or not s.get("ios"):
        return None
    if secs and s.get("seconds", 0) > 1.5 * secs + 1:
        return None  # the I/O stalled (a lost interrupt): it measured the stall
    busy = s["busy_precise_jiffies"] if "busy_precise_jiffies" in s else s["busy_jiffies"]
    return busy / s["hz"] * 1e6 / s["ios"]


def verdict_doc(binary, profile, raw):
    cmd = [binary, "verdict", "--from", profile, "--json", "--min-seconds", "0", "--min-events", "0"]
    if raw:
        cmd.append("--raw")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"accuracy_report: {' '.join(cmd)} failed: {r.stderr.strip()}")
    return json.loads(r.stdout)


def verdict_numbers(binary, profile, raw):
    return verdict_doc(binary, profile, raw)["numbers"]


def fmt(x, nd=2):
    return "-" if x is None else f"{x:.{nd}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--cells", required=True)
    ap.add_argument("--iommuprof", required=True)
    ap.add_argument("--json")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()

    rows = []
    missing = []
    for cell in a.cells.split():
        base = os.path.join(a.dir, cell.replace(":", "-"))
        tr, pt = samples(base + "-translated"), samples(base + "-pt")
        shapes = sorted({s.get("shape", "4k-rand") for s in tr + pt if s.get("ok")})
        if not shapes:
            missing.append(f"{cell}: no samples")
        for shape in shapes:
            def sel(ss, v):
                return [s for s in ss if s.get("shape", "4k-rand") == shape and s.get("variant") == v and s.get("ok")]
            # the nominal run length: the median of every run's (stalled runs are the exception)
            nominal = med([s.get("seconds") for s in tr + pt if s.get("ok")])
            stalled = [s["tag"] for s in tr + pt if s.get("ok") and cpu_per_io_k(s) is not None
                       and cpu_per_io_k(s, nominal) is None]
            runs_tr = [cpu_per_io_k(s, nominal) for s in sel(tr, "none")]
            runs_pt = [cpu_per_io_k(s, nominal) for s in sel(pt, "none")]
            runs_id = [cpu_per_io_k(s, nominal) for s in sel(tr, "none-identity")]
            none_tr, none_pt, none_id = med(runs_tr), med(runs_pt), med(runs_id)
            r = {"cell": cell, "shape": shape, "none_translated_k": none_tr, "none_pt_k": none_pt,
                 "none_identity_k": none_id,
                 # every run, to show the spread (None: stalled, left out)
                 "none_translated_runs_k": runs_tr, "none_pt_runs_k": runs_pt, "none_identity_runs_k": runs_id,
                 "stalled_runs_left_out": stalled,
                 "real_saving_k": None if none_tr is None or none_pt is None else none_tr - none_pt,
                 # the same boot: translated runs against the disk switched to identity at run time
                 "real_saving_inboot_k": None if none_tr is None or none_id is None else none_tr - none_id}
            for v in ("iommuprof", "iommuprof-detail"):
                runs = []
                for s in sel(tr, v):
                    prof = os.path.join(base + "-translated", "lab", "out", "profiles", s["tag"] + ".iprof")
                    if not os.path.exists(prof):
                        missing.append(f"{cell} {shape}: no profile {prof}")
                        continue
                    doc = verdict_doc(a.iommuprof, prof, False)
                    n = doc["numbers"]
                    domain = doc.get("host", {}).get("default_domain")
                    if domain not in ("translated", "mixed"):
                        # e.g. AMD-Vi refuses to start without CMPXCHG16B (-cpu max,-cx16)
                        missing.append(f"{cell} {shape}: the translated guest did not translate "
                                       f"(default domain {domain!r}, verdict {doc.get('verdict')}): "
                                       f"{prof}")
                        continue
                    nr = verdict_numbers(a.iommuprof, prof, True)
                    ios = s["ios"]
                    span_k = n["duration_s"] * max(1, n["ncpus"]) * 1e6 / ios  # all CPUs' time per I/O, k
                    sampled = {}
                    if n.get("sampled"):
                        sampled = {"sampled_k": n["sampled_share_all"] * span_k,
                                   "sampled_ci95_k": n["sampled_ci95"] * span_k,
                                   "samples": n["samples"], "samples_translation": n["samples_translation"]}
                    if cpu_per_io_k(s, nominal) is None:
                        continue  # stalled
                    runs.append({**sampled, "repeat": s["repeat"], "ios": ios, "cpu_per_io_k": cpu_per_io_k(s),
                                 "estimate_k": n["saving_ns"] / ios / 1e3,
                                 "estimate_raw_k": nr["saving_ns"] / ios / 1e3,
                                 "dma_paths_k": n["total_ns"] / ios / 1e3,
                                 "dma_paths_raw_k": nr["total_ns"] / ios / 1e3})
                if not runs:
                    continue
                key = "" if v == "iommuprof" else "detail_"
                est = med([x["estimate_k"] for x in runs])
                raw = med([x["estimate_raw_k"] for x in runs])
                cpu = med([x["cpu_per_io_k"] for x in runs])
                real = r["real_saving_k"]
                r[key + "runs"] = runs
                r[key + "estimate_k"] = est
                r[key + "estimate_raw_k"] = raw
                r[key + "dma_paths_k"] = med([x["dma_paths_k"] for x in runs])
                r[key + "ratio"] = est / real if real and real > 0 else None
                r[key + "ratio_raw"] = raw / real if real and real > 0 else None
                rib = r["real_saving_inboot_k"]
                r[key + "ratio_inboot"] = est / rib if rib and rib > 0 else None
                r[key + "overhead"] = cpu / none_tr if cpu and none_tr else None
                sk = [x["sampled_k"] for x in runs if "sampled_k" in x]
                if sk:
                    # the runs pooled: their mean, and the interval of the pooled samples
                    r[key + "sampled_k"] = statistics.mean(sk)
                    r[key + "sampled_ci95_k"] = (sum(x["sampled_ci95_k"] ** 2 for x in runs if "sampled_k" in x)
                                                 ** 0.5 / len(sk))
                    r[key + "sampled_ratio"] = r[key + "sampled_k"] / real if real and real > 0 else None
                    r[key + "sampled_within"] = (real is not None and
                                                 abs(r[key + "sampled_k"] - real) <= r[key + "sampled_ci95_k"])
            # --direct: the DMA API's time per I/O with the disk on the direct path (identity), from
            # a profile: what dma-direct costs where the verdict counts the dma-iommu layer as saved
            dk = []
            for s in sel(tr, "iommuprof-identity"):
                prof = os.path.join(base + "-translated", "lab", "out", "profiles", s["tag"] + ".iprof")
                if os.path.exists(prof) and cpu_per_io_k(s, nominal) is not None:
                    n = verdict_numbers(a.iommuprof, prof, False)
                    dk.append(n["total_ns"] / s["ios"] / 1e3)
            if dk:
                r["direct_dma_api_k"] = med(dk)
                r["direct_dma_api_runs_k"] = dk
            rows.append(r)

    hdr = (f"{'cell':<20} {'shape':<9} {'none k/IO':>9} {'pt k/IO':>8} {'real':>7} {'estimate':>8} "
           f"{'ratio':>6} {'raw est':>8} {'raw ratio':>9} {'overhead':>8} {'sampled':>14} {'s.ratio':>7} "
           f"{'id k/IO':>8} {'real id':>7} {'ratio id':>8}")
    print("CPU per I/O in thousands of guest instructions (-icount) or guest ns; estimate = "
          "iommuprof verdict saving / I/O")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['cell']:<20} {r['shape']:<9} {fmt(r['none_translated_k']):>9} {fmt(r['none_pt_k']):>8} "
              f"{fmt(r['real_saving_k']):>7} {fmt(r.get('estimate_k')):>8} {fmt(r.get('ratio')):>6} "
              f"{fmt(r.get('estimate_raw_k')):>8} {fmt(r.get('ratio_raw')):>9} {fmt(r.get('overhead')):>8} "
              f"{fmt(r.get('sampled_k')) + ' +/- ' + fmt(r.get('sampled_ci95_k')):>14} {fmt(r.get('sampled_ratio')):>7} "
              f"{fmt(r.get('none_identity_k')):>8} {fmt(r.get('real_saving_inboot_k')):>7} {fmt(r.get('ratio_inboot')):>8}")
        if r.get("detail_estimate_k") is not None:
            print(f"{'  --detail':<30} {'':>9} {'':>8} {'':>7} {fmt(r['detail_estimate_k']):>8} "
                  f"{fmt(r.get('detail_ratio')):>6} {fmt(r.get('detail_estimate_raw_k')):>8} "
                  f"{fmt(r.get('detail_ratio_raw')):>9} {fmt(r.get('detail_overhead')):>8}")
    spread = [r for r in rows if r.get("none_identity_k") is not None or r.get("direct_dma_api_k") is not None]
    if spread:
        print("\nrun by run (k/IO, nothing attached): translated | booted pt | identity in the translated boot;"
              " DMA paths: the profile's outermost time, of it the estimate, the rest (the DMA API's own cost"
              " where it was timed, and dma-direct's per-entry walk taken off); DMA API on the direct path (--direct)")
        for r in spread:
            runs = lambda k: " ".join(fmt(x) for x in r.get(k, []))
            own = (r["dma_paths_k"] - r["estimate_k"]) if r.get("dma_paths_k") is not None and r.get("estimate_k") is not None else None
            print(f"{r['cell']:<20} {r['shape']:<13} {runs('none_translated_runs_k'):<16} | {runs('none_pt_runs_k'):<16} | "
                  f"{runs('none_identity_runs_k'):<16}; DMA paths {fmt(r.get('dma_paths_k'))} = {fmt(r.get('estimate_k'))} + "
                  f"{fmt(own)}; direct {fmt(r.get('direct_dma_api_k'))}")
    ok_rows = [r for r in rows if r.get("ratio") is not None]
    inside = [r for r in ok_rows if 0.85 <= r["ratio"] <= 1.15]
    print(f"\nestimate within 0.85-1.15 of the real saving: {len(inside)} of {len(rows)} cell x shape "
          f"(target: all; never above 1.15)")
    sw = [r for r in rows if r.get("sampled_within")]
    print(f"real saving within the sampled estimate's 95 % interval: {len(sw)} of {len(rows)} (target: all)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cells": a.cells.split(), "rows": rows, "missing": missing}, f, indent=2)
    if missing:
        print("missing: " + "; ".join(missing), file=sys.stderr)
    if a.check:
        need = ["none_translated_k", "none_pt_k", "real_saving_k", "estimate_k", "estimate_raw_k", "overhead"]
        bad = [f"{r['cell']} {r['shape']}: no {k}" for r in rows for k in need if r.get(k) is None]
        if not rows:
            bad.append("no rows")
        if bad or missing:
            print("accuracy_report: CHECK FAILED: " + "; ".join(bad + missing), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
