#!/usr/bin/env python3
"""Judges a scripts/bench-soak run (OUT/lab/out/* from the guest, OUT/churn.tsv from the host):
RSS over time for top and record, BPF map occupancy, overflow counters and unmatched exits,
every rewrite of the metrics file, the device churn. Writes OUT/result.json, prints a table,
exits 1 when a check failed."""
import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--minutes", type=int, required=True)
ap.add_argument("--churn", type=int, required=True)
ap.add_argument("--kernel", default="")
ap.add_argument("--iommu", default="")
ap.add_argument("--mode", default="")
ap.add_argument("--lab-rc", type=int, default=0)
a = ap.parse_args()
g = os.path.join(a.out, "lab", "out")
checks = []


def check(name, ok, detail):
    checks.append({"check": name, "ok": bool(ok), "detail": detail})


def read(path, default=""):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return default


check("lab run", a.lab_rc == 0, f"scripts/lab/run exit {a.lab_rc}")
for what in ("top", "record", "report"):
    rc = read(os.path.join(g, f"{what}.rc")).strip()
    check(f"{what} exit 0", rc == "0", f"exit {rc or 'missing'}: {read(os.path.join(g, what + '.err'))[-300:].strip()}")

# ---- RSS and map occupancy over time ----
samples = []
for line in read(os.path.join(g, "samples.tsv")).splitlines()[1:]:
    f = line.split("\t")
    if len(f) < 6:
        continue
    try:
        tr, ta = (int(x or 0) for x in f[1].split("/"))
        rr, ra = (int(x or 0) for x in f[2].split("/"))
        samples.append({"t": float(f[0]), "top_rss_kb": tr, "top_anon_kb": ta, "record_rss_kb": rr,
                        "record_anon_kb": ra, "top_maps": f[3], "record_maps": f[4], "hot": f[5] == "1"})
    except ValueError:
        pass
t0 = samples[0]["t"] if samples else 0
for s in samples:
    s["t"] -= t0
dur = samples[-1]["t"] if samples else 0
check("samples cover the soak", dur >= a.minutes * 60 * 0.9, f"{len(samples)} samples over {dur:.0f} s")


def rss_series(key):
    return [(s["t"], s[key]) for s in samples if s[key] > 0]


rss = {}
for who in ("top", "record"):
    # Judged on the anonymous part (RssAnon): what a leak grows. VmRSS also counts the binary's
    # file pages, which the guest's page cache takes and gives back.
    ser = rss_series(f"{who}_anon_kb")
    vm = rss_series(f"{who}_rss_kb")
    if len(ser) < 8:
        check(f"{who} RSS flat", False, f"only {len(ser)} RSS samples")
        continue
    n = len(ser)
    q2 = [v for _, v in ser[n // 4: n // 2]]
    q4 = [v for _, v in ser[3 * n // 4:]]
    m2, m4 = sum(q2) / len(q2), sum(q4) / len(q4)
    growth = (m4 - m2) / m2 if m2 else 0
    rss[who] = {"first_kb": ser[0][1], "max_kb": max(v for _, v in ser), "last_kb": ser[-1][1],
                "q2_mean_kb": round(m2), "q4_mean_kb": round(m4), "growth_q2_to_q4": round(growth, 4),
                "vmrss_max_kb": max(v for _, v in vm) if vm else 0}
    # Flat: the last quarter within 5 % (or 1 MiB) of the second quarter.
    check(f"{who} RSS flat", m4 - m2 <= max(0.05 * m2, 1024),
          f"anonymous {m2 / 1024:.1f} MiB (2nd quarter) -> {m4 / 1024:.1f} MiB (last quarter), max "
          f"{rss[who]['max_kb'] / 1024:.1f} MiB; VmRSS max {rss[who]['vmrss_max_kb'] / 1024:.1f} MiB")


def maps_series(key):
    out = []
    for s in samples:
        try:
            h, d, r = (int(x) for x in s[key].split("/"))
            out.append((s["t"], h, d, r))
        except ValueError:
            pass
    return out


occupancy = {}
for who in ("top", "record"):
    ser = maps_series(f"{who}_maps")
    if not ser:
        check(f"{who} map occupancy read", False, "no bpftool map samples")
        continue
    occupancy[who] = {"hists_max": max(x[1] for x in ser), "devnames_max": max(x[2] for x in ser),
                      "devrows_max": max(x[3] for x in ser), "hists_last": ser[-1][1],
                      "devnames_last": ser[-1][2], "devrows_last": ser[-1][3]}

# ---- the profile's own counters ----
counters = {}
try:
    with gzip.open(os.path.join(g, "soak.iprof")) as f:
        prof = json.load(f)
    counters = prof["snapshot"].get("counters", {})
    devices = sorted({c.get("device", "") for c in prof["snapshot"].get("cells", [])})
except (OSError, ValueError, KeyError) as e:
    prof, devices = None, []
    check("profile readable", False, str(e))
# Bounded maps must not overflow under churn (every plug is a new device key).
for k in ("hist_full", "devname_full", "ctx_full"):
    if k in counters:
        check(f"{k} == 0", counters[k] == 0, f"{counters[k]}")
unmatched = counters.get("unmatched_exit", counters.get("unmatched_exits"))
dropped = counters.get("dropped_frames")

# ---- metrics-file rewrites ----
rew = [l.split("\t") for l in read(os.path.join(g, "rewrites.tsv")).splitlines() if l.strip()]
bad = []
promtool = shutil.which("promtool")
for r in rew:
    p = os.path.join(g, "prom", f"{r[1]}.prom") if len(r) > 1 else ""
    try:
        text = open(p, "rb").read()
    except OSError:
        bad.append(r + [f"copy {r[1]} missing"])
        continue
    if not text.endswith(b"# EOF\n"):
        bad.append(r + [f"{r[1]}.prom: no # EOF at the end"])
        continue
    if promtool:
        pr = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True)
        if pr.returncode != 0:
            bad.append(r + [f"{r[1]}.prom: promtool: {(pr.stdout + pr.stderr).decode(errors='replace').strip()[:200]}"])
if not promtool:
    check("promtool installed", False, "no promtool: rewrites only checked for # EOF")
check("every metrics rewrite parsed", rew and not bad,
      f"{len(rew)} rewrites seen, {len(bad)} bad{': ' + bad[0][-1] if bad else ''}")
# top rewrites every interval (5 s of guest time) plus its snapshot; an overloaded TCG guest
# stretches that. What matters: they kept coming to the end.
times = [float(r[0]) for r in rew if r and r[0].replace(".", "", 1).isdigit()]
gaps = [b - x for x, b in zip(times, times[1:])]
tail_gap = (float(samples[-1]["t"]) + t0 - times[-1]) if times and samples else None
check("rewrites kept coming", len(times) >= 3 and max(gaps) < 120 and (tail_gap is None or tail_gap < 120),
      f"{len(times)} seen, mean gap {sum(gaps) / len(gaps) if gaps else 0:.1f} s, longest {max(gaps) if gaps else 0:.1f} s")

# ---- what the metrics file shows over time: series and devices per rewrite ----
series_over_time = []
for r in rew[:: max(1, len(rew) // 60)] + rew[-1:]:
    try:
        text = open(os.path.join(g, "prom", f"{r[1]}.prom"), errors="replace").read()
    except OSError:
        continue
    calls = [l for l in text.splitlines() if l.startswith("iommuprof_calls_total{")]
    devs = {l.split('device="', 1)[1].split('"', 1)[0] for l in calls if 'device="' in l}
    series_over_time.append([round(float(r[0]) - t0), len(text.splitlines()), len(calls), len(devs)])
if series_over_time:
    n = len(series_over_time)
    lines_q2 = max(x[1] for x in series_over_time[: max(1, n // 2)])
    lines_end = series_over_time[-1][1]
    check("metrics file size bounded", lines_end <= lines_q2 * 1.1 + 20,
          f"{lines_q2} lines by mid-soak, {lines_end} at the end; devices {series_over_time[-1][3]}")

# ---- churn ----
ch = [l.split("\t") for l in read(os.path.join(a.out, "churn.tsv")).splitlines() if l.strip()]
unplugs = [c for c in ch if len(c) > 3 and c[1] == "unplug"]
plugs = [c for c in ch if len(c) > 3 and c[1] == "plug"]
ok_unplugs = sum(c[3] == "ok" for c in unplugs)
ok_plugs = sum(c[3] == "ok" for c in plugs)
want = max(1, int(a.minutes * 60 / (a.churn + 25)) - 1)
check("hot disk churned", ok_unplugs >= want and ok_plugs >= want,
      f"{ok_unplugs}/{len(unplugs)} unplugs, {ok_plugs}/{len(plugs)} plugs ok (>= {want} wanted)")

result = {"kernel": a.kernel, "iommu": a.iommu, "mode": a.mode, "minutes": a.minutes, "churn_s": a.churn,
          "duration_s": round(dur), "rss": rss, "map_occupancy": occupancy, "counters": counters,
          "unmatched_exits": unmatched, "dropped_frames": dropped, "devices_in_profile": len(devices),
          "metrics_rewrites": len(rew), "metrics_rewrites_bad": len(bad), "unplugs_ok": ok_unplugs,
          "plugs_ok": ok_plugs, "checks": checks,
          "metrics_over_time": {"columns": ["t_s", "lines", "calls_series", "devices"], "rows": series_over_time},
          "rss_series_mib": {w: [[round(t), round(v / 1024, 2)] for t, v in rss_series(f"{w}_rss_kb")]
                             for w in ("top", "record")},
          "passed": all(c["ok"] for c in checks)}
with open(os.path.join(a.out, "result.json"), "w") as f:
    json.dump(result, f, indent=1)

print(f"soak {a.minutes} min on {a.kernel} {a.iommu} {a.mode}: {len(samples)} samples, {len(rew)} metrics rewrites, "
      f"{ok_unplugs} unplugs / {ok_plugs} plugs, {len(devices)} devices in the profile")
for who, r in rss.items():
    print(f"  RSS {who:<7} first {r['first_kb'] / 1024:.1f} MiB, 2nd quarter {r['q2_mean_kb'] / 1024:.1f}, "
          f"last quarter {r['q4_mean_kb'] / 1024:.1f}, max {r['max_kb'] / 1024:.1f}")
for who, o in occupancy.items():
    print(f"  maps {who:<7} hists max {o['hists_max']}, devnames max {o['devnames_max']}, devrows max {o['devrows_max']}")
print(f"  counters {json.dumps(counters)}")
for c in checks:
    print(f"  {'PASS' if c['ok'] else 'FAIL'} {c['check']}: {c['detail']}")
sys.exit(0 if result["passed"] else 1)
