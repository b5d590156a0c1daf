#!/usr/bin/env bash
# --html FILE of report, verdict and compare as the user meets it: the page is written and
# self-contained, output targets are treated like every other output file (a symbolic link is
# replaced, never written through; a directory is refused with one line and exit 2), hostile
# strings in a profile stay text, and a profile as older versions wrote it (no samples, no
# calibration, no scatterlist entries) still renders. The pages in a real browser:
# tests/html/browser_test.py.
. "$(dirname "$0")/lib.sh"
fx=${IOMMUPROF_SRC:?}/tests/fixtures/profiles
strict=$fx/lab-6.12-intel-strict.iprof pt=$fx/lab-6.12-intel-pt.iprof
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect_exit 0 "report --html" -- "$IP" report "$strict" --html "$tmp/r.html"
[[ -z $out ]] && ok "report --html prints nothing else" || bad "report --html printed: ${out:0:80}"
[[ $(head -c 15 "$tmp/r.html") == '<!DOCTYPE html>' ]] && ok "a page" || bad "not a page: $(head -c 40 "$tmp/r.html")"
grep -q 'data-verdict="worth-trying"' "$tmp/r.html" && ok "the page has the profile's verdict" || bad "no verdict"
grep -qiE '<script|src=|href=|url\(' "$tmp/r.html" && bad "the page could load something" || ok "nothing to load"
expect_exit 0 "report --html with --json" -- "$IP" report "$strict" --html "$tmp/r2.html" --json
[[ $out == '{'* ]] && [[ -s $tmp/r2.html ]] && ok "--json still printed, page written" || bad "--json with --html"
expect_exit 2 "report --html with --folded" -- "$IP" report "$strict" --html "$tmp/r3.html" --folded
one_line_error "report --html --folded"
[[ ! -e $tmp/r3.html ]] && ok "no page written on a usage error" || bad "page written despite exit 2"

expect_exit 0 "compare --html" -- "$IP" compare "$strict" "$pt" --html "$tmp/c.html"
[[ $out == *CONCLUSION* ]] && ok "compare still prints its text" || bad "compare text missing"
grep -q 'data-point="total"' "$tmp/c.html" && ok "compare page overlays the outermost calls" || bad "no total histogram"
expect_exit 0 "verdict --from --html" -- "$IP" verdict --from "$strict" --html "$tmp/v.html"
[[ $out == Verdict:* ]] && grep -q 'id="verdict"' "$tmp/v.html" && ok "verdict text and page" || bad "verdict --html"

# A live verdict (root: the probes attach; this host may have no IOMMU) writes its page; when the
# page cannot be written the verdict is still printed and the page is saved under a rescue name.
if [[ $(id -u) == 0 ]]; then
    expect_exit 0 "verdict -d 1 --html" -- "$IP" verdict -d 1 --html "$tmp/live.html"
    [[ $out == Verdict:* ]] && grep -q 'data-verdict=' "$tmp/live.html" && ok "live verdict: text and page" \
        || bad "live verdict --html: ${out:0:80}"
    mknod -m 666 "$tmp/full" c 1 7
    TMPDIR=$tmp expect_exit 1 "verdict -d 1 --html a full device" -- "$IP" verdict -d 1 --html "$tmp/full"
    [[ $out == Verdict:* ]] && ok "the verdict printed although its page could not be written" \
        || bad "no verdict on stdout: ${out:0:80}"
    [[ $err == *iommuprof-rescue* ]] && ls "$tmp"/iommuprof-rescue-* > /dev/null 2>&1 \
        && ok "the page was saved under a rescue name" || bad "no rescue copy: $err"
fi

# Output targets.
mkdir "$tmp/dir"
expect_exit 2 "report --html DIRECTORY" -- "$IP" report "$strict" --html "$tmp/dir"
one_line_error "report --html DIRECTORY"
echo precious > "$tmp/victim"
ln -s "$tmp/victim" "$tmp/link.html"
expect_exit 0 "compare --html through a symbolic link" -- "$IP" compare "$strict" "$pt" --html "$tmp/link.html"
[[ $(cat "$tmp/victim") == precious && -f $tmp/link.html && ! -L $tmp/link.html ]] \
    && ok "the link was replaced, its target untouched" || bad "wrote through the link"
expect_exit 1 "verdict --html into a missing directory" -- "$IP" verdict --from "$strict" --html "$tmp/no/such/v.html"
one_line_error "verdict --html into a missing directory"

# A hostile label and device name, and a profile as an older iommuprof wrote it.
python3 - "$strict" "$tmp/hostile.iprof" "$tmp/old.iprof" <<'EOF'
import gzip, json, sys
p = json.loads(gzip.open(sys.argv[1]).read())
h = json.loads(json.dumps(p))
h["label"] = '"><script>alert(1)</script>\x1b[31m'
for c in h["snapshot"]["cells"]:
    c["device"] = "<img src=x onerror=alert(2)>"
gzip.open(sys.argv[2], "wt").write(json.dumps(h))
o = json.loads(json.dumps(p))
o["snapshot"].pop("samples", None)
o["snapshot"].pop("calibration", None)
for c in o["snapshot"]["cells"]:
    c["hist"].pop("entries", None)
gzip.open(sys.argv[3], "wt").write(json.dumps(o))
EOF
expect_exit 0 "report --html of a hostile profile" -- "$IP" report "$tmp/hostile.iprof" --html "$tmp/h.html"
grep -qE '<script|<img' "$tmp/h.html" && bad "markup from the profile reached the page" || ok "hostile strings stay text"
grep -q '&lt;img src=x onerror=alert(2)&gt;' "$tmp/h.html" && ok "the device name is shown escaped" || bad "device name lost"
expect_exit 0 "report --html of an older profile" -- "$IP" report "$tmp/old.iprof" --html "$tmp/o.html"
grep -q 'No stack samples in this profile' "$tmp/o.html" && grep -q '<figure class="hist"' "$tmp/o.html" \
    && ok "older profile: histograms drawn, missing samples said" || bad "older profile page"
finish
