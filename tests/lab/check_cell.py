#!/usr/bin/env python3
"""Host-side assertions on what tests/lab/guest_cell.sh left in a lab cell's out/ directory.

usage: check_cell.py OUTDIR KERNEL IOMMU MODE GROUP_TYPE NVME_BDF COUNT [kprobe] [detach] [live]

Prints one "PASS"/"FAIL" line per assertion (prefixed with the cell) and exits 1 on any failure.
"""
import json
import os
import shutil
import subprocess
import sys

out, kernel, iommu, mode, gtype, bdf, count = sys.argv[1:8]
LARGE = int(os.environ.get("CELL_LARGE", "0"))  # (guest_cell.sh: 64 KiB reads, a tenth as many 1 MiB)
count = int(count)
extras = set(sys.argv[8:])
cell = f"{kernel} {iommu} {mode}"
failures = 0
off = mode == "off"  # the IOMMU device is present, the kernel command line switches it off
translated = mode not in ("pt", "off")


def check(cond, what, detail=""):
    global failures
    if cond:
        print(f"PASS  [{cell}] {what}")
    else:
        failures += 1
        print(f"FAIL  [{cell}] {what}" + (f": {detail}" if detail else ""))
    return cond


def text(name):
    try:
        with open(os.path.join(out, name), errors="replace") as f:
            return f.read()
    except OSError:
        return None


def step(name):
    """(rc, parsed JSON stdout or None); a failed step is reported once."""
    rc = text(name + ".rc")
    rc = int(rc) if rc and rc.strip().lstrip("-").isdigit() else None
    body = text(name + ".out")
    doc = None
    if rc == 0 and body:
        try:
            doc = json.loads(body)
        except ValueError as e:
            check(False, f"{name}: stdout is JSON", str(e))
            return rc, None
    err = (text(name + ".err") or "").strip().splitlines()[-3:]
    check(rc == 0, f"{name} exits 0", f"exit {rc}; stderr: {' | '.join(err)}")
    return rc, doc


def point(doc, name):
    return next((p for p in doc.get("points", []) if p["point"] == name), None)


def calls(doc, name, device=None):
    if device is None:
        p = point(doc, name)
        return p["calls"] if p else 0
    return sum(r["calls"] for r in doc.get("devices", []) if r["point"] == name and r["device"] == device)


def category_calls(doc, cat, device=None):
    names = [p["point"] for p in doc.get("points", []) if p.get("category") == cat]
    return sum(calls(doc, n, device) for n in names)


# ---- inspect: the mode and vendor this boot really has ----
_, ins = step("inspect")
if ins:
    io = ins["iommu"]
    check(io["active"] is not off, f"inspect: IOMMU active = {not off}", io)
    check(io["vendor"] == (None if off else iommu), f"inspect: vendor {None if off else iommu}", io["vendor"])
    want_dd = {"pt": "passthrough", "off": "none"}.get(mode, "translated")
    check(io["default_domain"] == want_dd, f"inspect: default domain {want_dd}", io["default_domain"])
    if off:
        check(any("off" in n for n in io.get("notes", [])), "inspect: notes that the cmdline switches it off",
              io.get("notes"))
    want_pol = {"DMA": "strict", "DMA-FQ": "lazy", "identity": None, "none": None}[gtype]
    check(io["dma_policy"] == want_pol, f"inspect: dma policy {want_pol}", io["dma_policy"])
    nvme_group = next((g for g in ins["groups"] if any(d.get("bdf") == bdf for d in g["devices"])), None)
    if off:
        check(nvme_group is None and not ins["groups"], "inspect: no IOMMU groups", ins["groups"][:2])
    else:
        check(nvme_group is not None and nvme_group["type"] == gtype, f"inspect: NVMe {bdf} in a {gtype} group",
              nvme_group and nvme_group["type"])
    if nvme_group:
        d = next(d for d in nvme_group["devices"] if d.get("bdf") == bdf)
        check(d.get("driver") == "nvme", "inspect: NVMe bound to nvme", d.get("driver"))

# ---- probes: fentry where trampolines work, kprobe when forced ----
_, pr = step("probes")
if pr:
    att = [a for a in pr["attachments"] if a.get("method") not in (None, "unavailable")]
    check(pr["features"].get("fentry") is True, "probes: fentry feature detected", pr.get("features"))
    # What an older kernel lacks is said, and only there: 5.10 has no task storage for tracing
    # programs, no attach cookies, no bpf_get_func_arg; 6.1 and later have all of it.
    missing = " ".join(pr["features"].get("missing", []))
    lacks = ["task storage", "bpf_get_current_task_btf", "attach cookies", "bpf_get_func_arg"] if kernel == "5.10" else []
    check(all(w in missing for w in lacks) and bool(missing) == bool(lacks),
          f"probes: features.missing names {lacks or 'nothing'}", pr["features"].get("missing"))
    # By default one program pair per function; tracing multi links only when asked for.
    fe = [a for a in att if a["method"] == "fentry"]
    check(pr["features"].get("fentry_multi") is False and
          all("tracing multi link" not in a.get("reason", "") for a in fe),
          "probes: no tracing multi links by default", pr["features"].get("fentry_multi_reason"))
    # fsession programs (7.0+: one program for a function's entry and exit) where the kernel has
    # them, and each fentry attachment says so; before 7.0 the reason names the missing attach type.
    fs = int(kernel.split(".")[0]) >= 7
    check(pr["features"].get("fsession") is fs and
          (fs or "BPF_TRACE_FSESSION" in pr["features"].get("fsession_reason", "")),
          f"probes: fsession programs {'used' if fs else 'absent, and why'}", pr["features"].get("fsession_reason"))
    check(bool(fe) and all(("fsession" in a.get("reason", "")) == fs for a in fe),
          f"probes: each fentry attachment {'says' if fs else 'does not say'} 'fsession'",
          [a.get("reason") for a in fe[:2]])
# Asked for (IOMMUPROF_FENTRY_MULTI=1): Debian's 7.x kernels have them, every fentry function in one
# link pair (one fentry and one fexit program); the older ones fall back to a pair per function.
_, prm = step("probes_multi")
if prm and not off:
    multi = int(kernel.split(".")[0]) >= 7
    check(prm["features"].get("fentry_multi") is multi, f"probes (multi asked): tracing multi links {'used' if multi else 'absent'}",
          prm["features"].get("fentry_multi_reason"))
    fe = [a for a in prm["attachments"] if a.get("method") == "fentry"]
    check(bool(fe) and all(("tracing multi link" in a.get("reason", "")) == multi for a in fe),
          f"probes (multi asked): each fentry attachment {'says' if multi else 'does not say'} 'tracing multi link'",
          [a.get("reason") for a in fe[:2]])
_, prk = step("probes_kprobe")
if prk:
    meth = {a.get("method") for a in prk["attachments"]}
    check("fentry" not in meth and "kprobe" in meth, "probes --kprobe: kprobes, no fentry", meth)
    # the features say what the plan uses, not only what the kernel has
    check(prk["features"].get("fsession") is False and
          ("no fentry in the plan" in prk["features"].get("fsession_reason", "")) == (int(kernel.split(".")[0]) >= 7),
          "probes --kprobe: no fsession programs in use", prk["features"].get("fsession_reason"))


def check_profile(doc, tag, method):
    check(doc.get("kind") == "report", f"{tag}: report --json is a profile summary", doc.get("kind"))
    plan = doc.get("plan", [])
    att = [a for a in plan if a.get("attached")]
    check(len(att) >= 20, f"{tag}: >= 20 functions attached", len(att))
    check(any(a["method"] == method for a in att), f"{tag}: attached by {method}",
          sorted({a['method'] for a in att}))
    c = doc.get("counters", {})
    bad = {k: v for k, v in c.items() if k in ("hist_full", "ctx_full", "depth_overflow", "devname_full") and v}
    check(not bad, f"{tag}: no map overflow", bad)
    # The DMA API runs in every mode: one map + one unmap per NVMe request, on the NVMe device.
    dm = calls(doc, "dma_map", bdf)
    check(count <= dm <= count + count // 10 + 50, f"{tag}: dma_map on {bdf} ~ {count} calls", dm)
    check(count <= calls(doc, "dma_unmap", bdf) <= count + count // 10 + 50, f"{tag}: dma_unmap on {bdf} ~ {count}",
          calls(doc, "dma_unmap", bdf))
    p = point(doc, "dma_map")
    check(p and p.get("timed") and p.get("p50_ns") and p["p50_ns"] > 0 and p["max_ns"] >= p["p50_ns"],
          f"{tag}: dma_map latency histogram", p and {k: p.get(k) for k in ('p50_ns', 'p99_ns', 'max_ns')})
    if translated:
        # 5.10's VT-d has DMA ops of its own (dma-iommu from 5.11): they map the page tables in
        # __domain_mapping (the intel_iommu_map_pages point), not through iommu_map/iommu_unmap_fast.
        own_ops = kernel == "5.10" and iommu.startswith("intel")
        for name in (("iommu_dma_map", "intel_iommu_map_pages", "iommu_dma_unmap") if own_ops
                     else ("iommu_dma_map", "iommu_map", "iommu_unmap_fast")):
            n = calls(doc, name, bdf)
            check(n >= count, f"{tag}: {name} attributed to {bdf} >= {count}", n)
        # The page-table clear of every unmap (the vendor's unmap_pages, iommupt's *_unmap_range
        # from 7.0, 5.10 VT-d's domain_unmap), whatever the flush policy.
        unmap_pt = {"intel": "intel_iommu_unmap_pages", "amd": "amd_iommu_unmap_pages",
                    "virtio": "viommu_unmap_pages"}.get(iommu.split("-")[0])
        if unmap_pt:
            n = calls(doc, unmap_pt, bdf)
            check(n >= count, f"{tag}: page-table clear ({unmap_pt}) attributed to {bdf} >= {count}", n)
        inv = category_calls(doc, "flush")
        check(inv > 0, f"{tag}: invalidation calls > 0", inv)
        if gtype == "DMA":  # strict: every unmap flushes in the unmapping task's context
            inv_dev = category_calls(doc, "flush", bdf)
            check(inv_dev >= count, f"{tag}: strict invalidations attributed to {bdf} >= {count}", inv_dev)
        if kernel == "6.1" and iommu == "amd":
            # 6.1's AMD flushes exist only as compiler clones (.constprop.0, .isra.0): found in kallsyms,
            # attached by their real names (kprobes: clones have no BTF), device from the call context.
            for name in ("domain_flush_pages", "iommu_completion_wait"):
                syms = [a for a in plan if a["point"] == name and a.get("attached")]
                check(syms and all("." in a["symbol"] and a["method"] == "kprobe" for a in syms),
                      f"{tag}: {name} attached as a clone by kprobe", [(a["symbol"], a["method"]) for a in syms])
                n = calls(doc, name, bdf)
                check(n >= count, f"{tag}: clone {name} attributed to {bdf} >= {count}", n)
        iova = calls(doc, "iova_alloc", bdf)
        check(iova >= count, f"{tag}: iova_alloc on {bdf} >= {count}", iova)
    else:
        n = calls(doc, "iommu_map") + calls(doc, "iommu_unmap_fast")
        check(n <= count // 20, f"{tag}: {mode}: iommu_map/unmap ~ 0", n)
        check(calls(doc, "iommu_dma_map") == 0, f"{tag}: {mode}: no dma-iommu calls", calls(doc, "iommu_dma_map"))
        check(category_calls(doc, "flush", bdf) == 0, f"{tag}: {mode}: no invalidation for {bdf}")
    # per-CPU rows add up to the per-device rows, point by point
    for p in doc.get("points", []):
        by_dev = sum(r["calls"] for r in doc.get("devices", []) if r["point"] == p["point"])
        by_cpu = sum(r["calls"] for r in doc.get("cpus", []) if r["point"] == p["point"])
        if by_dev != by_cpu or by_dev != p["calls"]:
            check(False, f"{tag}: {p['point']}: per-CPU total = per-device total", f"{by_cpu} vs {by_dev}")
            break
    else:
        check(True, f"{tag}: per-CPU totals = per-device totals for every point")
    return doc


# ---- the default plan (record/run/verdict): the verdict's points, compensated ----
_, rd = step("report_default")
_, rdr = step("report_default_raw")
if rd and rdr:
    att = {a["point"] for a in rd.get("plan", []) if a.get("attached")}
    # The dma-iommu layer only: not the DMA API around it (--dma-api), nor what nests inside it;
    # where no group translates (pt, IOMMU off) the DMA API is the only DMA path: attached.
    check("iommu_dma_map" in att and not att & {"iommu_map", "iova_alloc", "qi_submit_sync"},
          "run (default): the verdict's points only (dma-iommu), no nested detail", sorted(att))
    if translated:
        check(not att & {"dma_map", "dma_unmap"}, "run (default, translated): no DMA-API probes", sorted(att))
    else:
        check({"dma_map", "dma_unmap"} <= att, f"run (default, {mode}): the DMA API is attached", sorted(att))
        dm = calls(rd, "dma_map", bdf)
        check(count <= dm <= count + count // 10 + 50, f"run (default, {mode}): dma_map on {bdf} ~ {count} calls", dm)
    if translated:
        im = calls(rd, "iommu_dma_map", bdf)
        check(count <= im <= count + count // 10 + 50, f"run (default): iommu_dma_map on {bdf} ~ {count} calls", im)
    cal = {c["method"]: c for c in rd.get("calibration", [])}
    check("fentry" in cal and cal["fentry"]["pair_ns"] > 0 and cal["fentry"]["inner_ns"] > 0,
          "run (default): probe cost calibrated for fentry (pair and inner > 0)", cal)
    # Measured once per boot (by `probes`, the first start of the cell), kept, and reused after.
    _, rdet = step("report")
    cal_d = {c["method"]: c for c in (rdet or {}).get("calibration", [])}
    check(cal.get("fentry", {}).get("reused") is True and cal_d.get("fentry", {}).get("pair_ns") == cal["fentry"]["pair_ns"],
          "run (default): the fentry calibration of an earlier start of the boot, reused as it was",
          f"{cal.get('fentry')} / run --detail: {cal_d.get('fentry')}")
    pm, pr_ = point(rd, "iommu_dma_map"), point(rdr, "iommu_dma_map")
    if translated and pm and pr_ and cal.get("fentry"):
        # compensated = raw - (inner + nested pair costs) per call: at least the inner cost per call
        sub = pr_["sum_ns"] - pm["sum_ns"]
        check(sub >= 0.9 * cal["fentry"]["inner_ns"] * pm["calls"] and pm["raw_sum_ns"] == pr_["sum_ns"],
              "run (default): iommu_dma_map time compensated by >= its calls x inner cost; --raw gives the raw sum",
              f"raw {pr_['sum_ns']} compensated {pm['sum_ns']} calls {pm['calls']} inner {cal['fentry']['inner_ns']}")

# ---- large I/O: every request on the NVMe device, from the DMA API down to the flushes ----
rl = step("report_large")[1] if LARGE else None
if rl:
    nl = LARGE + LARGE // 10  # dd reads: each is at least one NVMe request
    # Multi-page requests map through scatterlists (dma_map_sg: DMA API) before 6.17 and through
    # the two-step IOVA API (dma_iova_*: dma-iommu) from 6.17; under pt through the DMA API only.
    api = category_calls(rl, "dma-api", bdf) + category_calls(rl, "dma-iommu", bdf)
    check(api >= nl, f"large I/O: DMA-API/dma-iommu calls on {bdf} >= {nl}", api)
    ver = tuple(int(x) for x in kernel.split(".")[:2]) if "." in kernel else (int(kernel), 0)
    if translated:
        if ver >= (6, 17):
            # A request of several segments takes the two-step IOVA API; one of a single segment
            # (a physically contiguous buffer) dma_map_phys/_page (6.18 mapped 560 of 720 so, 7.3 none).
            a, ln, de, dm = (calls(rl, n, bdf) for n in ("dma_iova_alloc", "dma_iova_link", "dma_iova_destroy", "dma_map"))
            check(a > 0 and ln >= a and de >= a and a + dm >= nl,
                  f"large I/O: two-step IOVA API on {bdf} (alloc > 0, link and destroy >= alloc, alloc + dma_map >= {nl})",
                  f"alloc {a} link {ln} destroy {de} dma_map {dm}")
        core = category_calls(rl, "iommu-core", bdf)
        check(core >= nl, f"large I/O: page-table calls attributed to {bdf} >= {nl}", core)
        nodev = category_calls(rl, "iommu-core", "[no-device]")
        check(nodev <= nl // 20, f"large I/O: page-table calls without a device ~ 0", nodev)
        if gtype == "DMA":
            inv = category_calls(rl, "flush", bdf)
            check(inv >= nl, f"large I/O: strict invalidations attributed to {bdf} >= {nl}", inv)
    else:
        core = category_calls(rl, "iommu-core")
        check(core <= nl // 20, f"large I/O: {mode}: no page-table calls", core)

_, rep = step("report")
if rep:
    # fentry where trampolines work, in the whole catalog's plan (probes above has the verdict's only)
    methods = {a["point"]: a["method"] for a in rep.get("plan", []) if a.get("attached")}
    for p in ("dma_map", "dma_unmap", "iommu_dma_map", "iommu_map", "iommu_unmap_fast"):
        check(methods.get(p) == "fentry", f"run --detail plan: {p} by fentry", methods.get(p))
    check_profile(rep, "run/fentry", "fentry")
    # `run -- dd` profiles exactly the command: the window is dd's own time plus little
    dd = text("run.err") or ""
    secs = None
    for line in dd.splitlines():
        if " copied, " in line:
            secs = float(line.split(" copied, ")[1].split(" s")[0])
    check(secs is not None and secs <= rep["duration_s"] <= secs + 1.0,
          "run: profile window = the command's run time", f"dd {secs} s, profile {rep['duration_s']} s")

def tuning_verdict(doc):
    n, t = doc["numbers"], doc["thresholds"]
    hit = (n["saving_share_all"] + 1e-12 >= t["min_share_all"] or
           n["saving_share_hottest"] + 1e-12 >= t["min_share_hottest"])
    return "worth-trying" if hit else "not-worth-it"


_, ver = step("verdict")
if ver:
    v = ver["verdict"]
    if mode == "pt":
        check(v == "already-passthrough", "verdict: already-passthrough", v)
    elif off:
        check(v == "no-translation", "verdict: no-translation with the IOMMU off", v)
    elif gtype == "DMA":
        # With the probe effect removed the saving of this small dd workload is near the thresholds:
        # the verdict must be the one its own numbers and thresholds give.
        want = tuning_verdict(ver)
        check(v == want, f"verdict under strict: {want} (as its numbers and thresholds say)",
              f"{v}: {ver.get('reasons')}")
        share = ver["numbers"]["saving_share_all"]
        check(share and share > 0, "verdict: saving share reported", share)
    else:
        check(v in ("worth-trying", "not-worth-it"), "verdict: a tuning verdict under lazy", v)

_, vd = step("verdict_default")
if vd and rep:
    if rep["duration_s"] < 2.0 and translated:  # (the mode alone decides under pt)
        check(vd["verdict"] == "insufficient-data", "verdict (default --min-seconds 2) on a short profile: "
              "insufficient-data", f"{vd['verdict']} for {rep['duration_s']} s")
    elif ver:
        check(vd["verdict"] == ver["verdict"], "verdict with defaults = verdict --min-seconds 1",
              f"{vd['verdict']} vs {ver['verdict']}")

rc = text("openmetrics.rc")
check(rc and rc.strip() == "0", "report --openmetrics exits 0", rc)
om = text("openmetrics.out") or ""
check(f'device="{bdf}"' in om and "iommuprof_calls_total" in om, "openmetrics: per-device call counters",
      om[:200])
promtool = shutil.which("promtool")
if promtool and om:
    r = subprocess.run([promtool, "check", "metrics"], input=om, capture_output=True, text=True)
    check(r.returncode == 0, "openmetrics: promtool check metrics", (r.stdout + r.stderr)[-300:])

if "kprobe" in extras:
    _, rk = step("report_kprobe")
    if rk:
        check_profile(rk, "run/kprobe", "kprobe")
        check(all(a["method"] != "fentry" for a in rk["plan"] if a.get("attached")), "run/kprobe: no fentry")
    # A refused fentry attach (simulated for iommu_dma_map, the verdict's point): that point on a kprobe, the rest on fentry.
    _, rr = step("report_refused")
    if rr:
        att = [a for a in rr["plan"] if a.get("attached")]
        im_att = [a for a in att if a["point"] == "iommu_dma_map"]
        check(im_att and all(a["method"] == "kprobe" and "fentry attach failed" in a.get("reason", "") for a in im_att),
              "refused fentry: iommu_dma_map falls back to a kprobe, and says why", [(a["method"], a.get("reason")) for a in im_att])
        other = [a for a in att if a["point"] != "iommu_dma_map" and a["method"] != "tracepoint"]
        check(other and all(a["method"] == "fentry" for a in other), "refused fentry: the other points stay on fentry",
              [(a["point"], a["method"]) for a in other])
        dm = calls(rr, "iommu_dma_map", bdf)
        check(count <= dm <= count + count // 10 + 50, f"refused fentry: iommu_dma_map on {bdf} ~ {count} calls", dm)
        cal = {c["method"] for c in rr.get("calibration", [])}
        check({"fentry", "kprobe"} <= cal, "refused fentry: both probe costs calibrated", sorted(cal))

if "live" in extras:
    _, vl = step("verdict_live")
    if vl:
        want = {"pt": "already-passthrough", "off": "no-translation"}.get(mode) or tuning_verdict(vl)
        check(vl["verdict"] == want and (mode in ("pt", "off") or vl["numbers"]["saving_share_all"] > 0),
              f"verdict -d 4 under load: {want}",
              f"{vl['verdict']}: {vl.get('reasons')}")

def hist_blocks(body):
    """{(point, key): total count} from `top -H` text: "point = P  device = D" or "point = P  cpu = N"
    headers, then "lo -> hi : count |***|" rows."""
    blocks, cur = {}, None
    for line in (body or "").splitlines():
        s = line.strip()
        if s.startswith("point = "):
            parts = s.split()
            cur = (parts[2], parts[5] if len(parts) > 5 else "")
            blocks[cur] = 0
        elif cur and "->" in s and ":" in s and "|" in s:
            try:
                blocks[cur] += int(s.split(":")[1].split("|")[0])
            except ValueError:
                pass
    return blocks


if "live" in extras:
    for name, col in (("top_hist", bdf), ("top_hist_cpu", None)):
        rc = (text(name + ".rc") or "").strip()
        check(rc == "0", f"{name}: exit 0", f"{rc}: {(text(name + '.err') or '')[-200:]}")
        b = hist_blocks(text(name + ".out"))
        want = ["dma_map", "iommu_map", "iommu_unmap_fast"] + (["total"] if translated else [])
        if not translated:
            want = ["dma_map", "dma_unmap"]
        for p in want:
            rows = {k: v for k, v in b.items() if k[0] == p and (col is None or k[1] == col)}
            check(rows and sum(rows.values()) > 0, f"{name}: {p} histogram with counts"
                  + (f" for {col}" if col else " per CPU"), rows or sorted(b)[:8])
        if col is None:
            cpus = {k[1] for k in b if k[0] == "dma_map"}
            check(cpus and all(c.isdigit() for c in cpus), "top -H --per-cpu: one dma_map histogram per CPU", cpus)
    rc = (text("record_sigint.rc") or "").strip()
    check(rc == "0", "record stopped by SIGINT: exit 0", f"{rc}: {(text('record_sigint.err') or '')[-200:]}")
    _, rs = step("report_sigint")
    if rs:
        # (the default plan: dma-iommu where the disk is translated, the DMA API otherwise)
        pt_ = "iommu_dma_map" if translated else "dma_map"
        check(rs["duration_s"] > 1.5 and calls(rs, pt_, bdf) > 0,
              f"record stopped by SIGINT: the profile is complete (window, {pt_} calls)",
              f"{rs['duration_s']} s, {calls(rs, pt_, bdf)} calls")

if "detach" in extras:
    for sig in ("INT", "KILL"):
        before = (text(f"detach_{sig}.links_before") or "").strip()
        after = (text(f"detach_{sig}.links_after") or "").strip()
        progs = (text(f"detach_{sig}.progs_after") or "").strip()
        rc = (text(f"detach_{sig}.rc") or "").strip()
        check(before.isdigit() and int(before) > 0, f"detach SIG{sig}: links attached before", before)
        if sig == "INT":
            check(rc == "0", "detach SIGINT: exit 0", f"{rc}: {text('detach_INT.err')}")
        check(after == "0" and progs == "0", f"detach SIG{sig}: no links or programs left",
              f"links {after}, progs {progs}")

print(f"[{cell}] {failures} failed")
sys.exit(1 if failures else 0)
