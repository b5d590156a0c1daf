#!/usr/bin/python3
"""The HTML pages in a real browser (Debian's headless Chromium, through chromedriver).

  tests/html/browser_test.py IOMMUPROF FIXTURES_DIR ARTIFACTS_DIR

From the two lab profiles in FIXTURES_DIR (lab-6.12-intel-strict.iprof, lab-6.12-intel-pt.iprof,
recorded by scripts/lab/samples) it writes `report --html` for both, `verdict --html` for strict
and `compare --html` strict -> pt, opens each page and asserts on what the browser built:
  - the verdict and its summary are those of `verdict --json` (the compare page: the conclusion
    of `compare --json`);
  - one histogram per timed (point, device) that saw calls, as `report --json` lists them (compare:
    the union of both profiles), each with bars of its series;
  - CPU bars whose rendered widths follow their values (one scale per chart);
  - no console message of level error or warning, and no request but the page itself: every
    network event Chromium logged is for the file, and the page has no resource entries;
  - at phone width (390 px) nothing is wider than the screen;
  - the page prints (Chromium's print to PDF gives pages).
Screenshots (the first 1100 x 1500 screen; the whole page 1200 px and 390 px wide) and the PDFs are
kept in ARTIFACTS_DIR.
Exit 0 when everything holds, 1 with one line per failure otherwise.
"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def tool(*args):
    return subprocess.run([IOMMUPROF, *args], check=True, capture_output=True, text=True).stdout


def expected_figures(profile, outermost=False):
    """(point, device) pairs with timed calls; the outermost calls ("total") only for compare."""
    j = json.loads(tool("report", "--json", profile))
    timed = {p["point"] for p in j["points"] if p.get("timed") and (outermost or p["point"] != "total")}
    return {(d["point"], d["device"]) for d in j["devices"]
            if d["point"] in timed and d["calls"] > 0 and d.get("p50_ns") is not None}


def browser():
    o = Options()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", "--disable-extensions", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--metrics-recording-only",
              # Any request that would try to leave goes nowhere (and would be logged).
              "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"):
        o.add_argument(a)
    o.binary_location = "/usr/bin/chromium"
    o.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def open_page(d, path, width):
    d.set_window_size(width, 900)
    d.get("file://" + path)
    h = d.execute_script("return document.documentElement.scrollHeight")
    d.set_window_size(width, min(h + 120, 16000))
    return h


def requests_of(d):
    urls = []
    for e in d.get_log("performance"):
        m = json.loads(e["message"])["message"]
        if m["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            urls.append(m["params"].get("request", {}).get("url") or m["params"].get("url"))
    return urls


def check_page(d, name, path, verdict=None, summary=None, figures=None, series=1):
    d.get_log("browser")
    d.get_log("performance")
    d.set_window_size(1100, 1500)
    d.get("file://" + path)
    d.save_screenshot(os.path.join(ARTIFACTS, name + "-top.png"))  # the first screen (docs/img/compare.png)
    open_page(d, path, 1200)
    d.save_screenshot(os.path.join(ARTIFACTS, name + "-1200.png"))
    url = "file://" + path
    reqs = requests_of(d)
    check(all(u == url for u in reqs), f"{name}: no request but the page itself (saw {reqs})")
    res = d.execute_script("return performance.getEntriesByType('resource').length")
    check(res == 0, f"{name}: no resource loaded by the page ({res})")
    check(d.execute_script("return document.scripts.length") == 0, f"{name}: no script element")
    logs = [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    check(not logs, f"{name}: no console errors or warnings ({logs})")

    box = d.execute_script("var v=document.getElementById('verdict');"
                           "return v ? [v.dataset.verdict, v.querySelector('.summary').textContent] : null")
    check(box is not None, f"{name}: a verdict box")
    if box and verdict:
        check(box[0] == verdict, f"{name}: verdict {box[0]!r} is {verdict!r}")
        check(box[1].strip() == summary.strip(), f"{name}: summary text is the JSON's ({box[1][:60]!r}...)")

    figs = d.execute_script(
        "return [...document.querySelectorAll('figure.hist')].map(f => [f.dataset.point, f.dataset.device,"
        " f.querySelectorAll('rect.b.s0').length, f.querySelectorAll('rect.b.s1').length,"
        " f.getBoundingClientRect().width])")
    got = {(f[0], f[1]) for f in figs}
    if figures is not None:
        check(got == figures, f"{name}: one histogram per timed (point, device): {sorted(got)} == {sorted(figures)}")
        check(len(figs) == len(got), f"{name}: no histogram twice")
    if series == 2:
        both = [f for f in figs if f[0] == "total"]
        check(both and all(f[2] and f[3] for f in both),
              f"{name}: the outermost calls are drawn before and after in one histogram")
    check(all(f[2] + f[3] > 0 for f in figs), f"{name}: every histogram draws bars")
    if series == 2:
        check(any(f[2] for f in figs) and any(f[3] for f in figs), f"{name}: before and after both drawn")
    check(all(f[4] > 200 for f in figs), f"{name}: histograms are laid out at a readable width")

    bars = d.execute_script(
        "return [...document.querySelectorAll('#cpu-bars .bar')].map(b => [parseFloat(b.dataset.value),"
        " b.getBoundingClientRect().width, b.parentElement.parentElement.getBoundingClientRect().width])")
    check(len(bars) >= 2, f"{name}: CPU bars drawn ({len(bars)})")
    vmax = max((b[0] for b in bars), default=0)
    wmax = max((b[1] for b in bars), default=0)
    ok = vmax > 0 and wmax > 0
    for v, w, track in bars:
        want = wmax * v / vmax if vmax else 0
        ok = ok and abs(w - want) <= max(1.5, 0.01 * wmax) and w <= track
    check(ok, f"{name}: bar lengths follow the numbers ({[(round(b[0], 5), round(b[1], 1)) for b in bars]})")

    # The lab profiles have stack samples: every page draws them.
    n = d.execute_script("return document.querySelectorAll('svg.flame rect').length")
    check(n > 3, f"{name}: the flame graph has frames ({n})")

    # Phone width: nothing sticks out sideways.
    open_page(d, path, 390)
    sw, iw = d.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    check(sw <= iw, f"{name}: fits a 390 px screen (scrollWidth {sw} <= {iw})")
    d.save_screenshot(os.path.join(ARTIFACTS, name + "-390.png"))

    pdf = d.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})
    data = base64.b64decode(pdf["data"])
    with open(os.path.join(ARTIFACTS, name + ".pdf"), "wb") as f:
        f.write(data)
    pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))
    check(data.startswith(b"%PDF") and pages >= 1, f"{name}: prints ({pages} pages, {len(data)} bytes of PDF)")


def main():
    global IOMMUPROF, ARTIFACTS
    if len(sys.argv) != 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    IOMMUPROF, fixtures, ARTIFACTS = os.path.abspath(sys.argv[1]), sys.argv[2], os.path.abspath(sys.argv[3])
    os.makedirs(ARTIFACTS, exist_ok=True)
    strict = os.path.join(fixtures, "lab-6.12-intel-strict.iprof")
    pt = os.path.join(fixtures, "lab-6.12-intel-pt.iprof")
    out = tempfile.mkdtemp(prefix="iommuprof-html.")
    pages = {n: os.path.join(out, n + ".html") for n in ("report-strict", "report-pt", "verdict-strict", "compare")}
    tool("report", "--html", pages["report-strict"], strict)
    tool("report", "--html", pages["report-pt"], pt)
    tool("verdict", "--from", strict, "--html", pages["verdict-strict"])
    tool("compare", "--html", pages["compare"], strict, pt)
    for n, p in pages.items():
        with open(p, encoding="utf-8") as f, open(os.path.join(ARTIFACTS, n + ".html"), "w", encoding="utf-8") as g:
            g.write(f.read())

    vs = json.loads(tool("verdict", "--from", strict, "--json"))
    vp = json.loads(tool("verdict", "--from", pt, "--json"))
    cmp = json.loads(tool("compare", "--json", strict, pt))
    fs, fp = expected_figures(strict), expected_figures(pt)
    check(len(fs) >= 2 and len(fp) >= 2, f"the lab profiles have timed points ({len(fs)}, {len(fp)})")

    d = browser()
    try:
        check_page(d, "report-strict", pages["report-strict"], vs["verdict"], vs["summary"], fs)
        check_page(d, "report-pt", pages["report-pt"], vp["verdict"], vp["summary"], fp)
        check_page(d, "verdict-strict", pages["verdict-strict"], vs["verdict"], vs["summary"], fs)
        check_page(d, "compare", pages["compare"], "compare", cmp["conclusion"],
                   expected_figures(strict, True) | expected_figures(pt, True), series=2)
    finally:
        d.quit()
    print(f"{len(failures)} failure(s); pages, screenshots and PDFs in {ARTIFACTS}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
