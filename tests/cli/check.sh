#!/usr/bin/env bash
# `iommuprof check` (docs/check.md): the real binary against the fixture hosts.
# Nagios exit codes 0 OK / 1 WARNING / 2 CRITICAL / 3 UNKNOWN (usage errors and
# bad configs included), the status line and one line per check, the JSON, the
# baseline, the packaged config, and the same as user nobody (no root needed).
. "$(dirname "$0")/lib.sh"
SRC=${IOMMUPROF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
F=$SRC/tests/fixtures/hosts
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
# A fixture host with its own kernel log; no /etc/iommuprof/check.conf is read.
facts() { echo --root "$F/$1" --dmesg "$F/$1/${2:-dmesg.txt}"; }
host() { echo --no-config $(facts "$@"); }
first_line() { printf '%s\n' "$out" | head -1; }
has_line() {  # has_line DESC LINE: $out has exactly this line
    if printf '%s\n' "$out" | grep -qxF -- "$2"; then ok "$1"; else bad "$1: no line '$2' in: $out"; fi
}
json_is() {  # json_is DESC JQ-EXPR: true on $out
    if printf '%s' "$out" | jq -e "$2" >/dev/null 2>&1; then ok "$1"; else bad "$1: $2 is not true of: $out"; fi
}

# ---- 0 OK ----
expect_exit 0 "translated lazy host as expected" -- "$IP" check $(host intel-lazy) \
    --default-domain DMA-FQ --vendor intel --iommu-active yes --irq-remapping yes \
    --cmdline-require intel_iommu=on --cmdline-forbid iommu=pt --cmdline-forbid iommu=off
[[ $(first_line) == "IOMMU OK - 7 checks passed | faults=0;;;0 vfio_devices=0;;;0 vfio_unclean_groups=0;;;0 mixed_groups=0;;;0" ]] \
    && ok "OK status line with perfdata" || bad "OK status line: $(first_line)"
[[ $(printf '%s\n' "$out" | wc -l) == 8 ]] && ok "one line per check" || bad "line count: $out"
has_line "OK line names its source" "OK default-domain: translated (lazy), as expected [command line]"
[[ -z $err ]] && ok "nothing on stderr when it runs" || bad "stderr: $err"

# ---- 1 WARNING ----
expect_exit 1 "faults above max-faults" -- "$IP" check $(host amd-strict dmesg-faults.txt) --max-faults 0
[[ $(first_line) == "IOMMU WARNING - 1 violation: faults: 3 IOMMU faults in the kernel log (0000:41:00.0, 0000:42:00.1), more than 0 | faults=3;0;;0 "* ]] \
    && ok "WARNING status line" || bad "WARNING status line: $(first_line)"
expect_exit 1 "a vfio-pci device sharing its group" -- "$IP" check $(host intel-pt-vfio) --vfio-groups clean
has_line "the shared group is named" "WARNING vfio-groups group 9: vfio-pci 0000:03:00.0 shares the group with 0000:04:00.0 (ahci): VFIO refuses a group with host-owned devices [command line]"
expect_exit 1 "a mixed group" -- "$IP" check $(host intel-pt-vfio) --mixed-groups none
expect_exit 0 "functions of one device are not mixed" -- "$IP" check $(host amd-strict) --mixed-groups none

# ---- 2 CRITICAL ----
expect_exit 2 "passthrough where translated is expected" -- "$IP" check $(host intel-pt-vfio) \
    --default-domain translated --cmdline-forbid iommu=pt --max-faults 0
[[ $(first_line) == "IOMMU CRITICAL - 2 violations: default-domain: passthrough, expected translated (command line: intel_iommu=on iommu=pt); cmdline-forbid iommu=pt: iommu=pt is on the kernel command line | "* ]] \
    && ok "CRITICAL status line lists both" || bad "CRITICAL status line: $(first_line)"
has_line "default-domain line" "CRITICAL default-domain: passthrough, expected translated (command line: intel_iommu=on iommu=pt) [command line]"
has_line "cmdline line" "CRITICAL cmdline-forbid iommu=pt: iommu=pt is on the kernel command line [command line]"
expect_exit 2 "faults above faults-critical" -- "$IP" check $(host amd-strict dmesg-faults.txt) --max-faults 0 --faults-critical 2
expect_exit 2 "strict expected, lazy found" -- "$IP" check $(host intel-lazy) --dma-policy strict
expect_exit 2 "no IRQ remapping" -- "$IP" check --no-config --root "$F/virtio-iommu" --irq-remapping yes
expect_exit 1 "severity lowered per check" -- "$IP" check --no-config --root "$F/virtio-iommu" --irq-remapping yes \
    --severity irq-remapping=warning
expect_exit 2 "no IOMMU where one is expected" -- "$IP" check $(host no-iommu) --iommu-active yes

# ---- 3 UNKNOWN ----
expect_exit 3 "faults with no kernel log" -- "$IP" check --no-config --root "$F/amd-strict" --max-faults 0
[[ $(first_line) == "IOMMU UNKNOWN - 1 unknown: faults: kernel log not read"* ]] \
    && ok "UNKNOWN, not OK, without the log" || bad "no-log status line: $(first_line)"
expect_exit 2 "CRITICAL outranks UNKNOWN" -- "$IP" check --no-config --root "$F/amd-strict" --max-faults 0 --vendor intel
expect_exit 3 "usage error: unknown option" -- "$IP" check --no-config --frobnicate
one_line_error "usage error"
[[ $out == "IOMMU UNKNOWN - usage: The following argument was not expected: --frobnicate" ]] \
    && ok "usage error: status line on stdout" || bad "usage error stdout: $out"
expect_exit 3 "usage error: bad value" -- "$IP" check --no-config --default-domain sideways
[[ $err == *"--default-domain: 'sideways' is not one of translated, passthrough, DMA, DMA-FQ, identity"* ]] \
    && ok "bad value named" || bad "bad value: $err"
expect_exit 3 "usage error: count" -- "$IP" check --no-config --max-faults -1
expect_exit 3 "usage error: option twice" -- "$IP" check --no-config --vendor intel --vendor amd
expect_exit 3 "usage error: --config with --no-config" -- "$IP" check --no-config --config /x
expect_exit 3 "usage error with --json" -- "$IP" check --json --no-config --frobnicate
json_is "usage error as JSON" '.status == "UNKNOWN" and .exit_code == 3 and (.error | startswith("usage: "))'
expect_exit 2 "other commands keep exit 2 for usage errors" -- "$IP" inspect --frobnicate
expect_exit 3 "missing --root" -- "$IP" check --no-config --root /nonexistent
[[ $out == "IOMMU UNKNOWN - --root /nonexistent: no such directory" ]] && ok "missing root on stdout" || bad "stdout: $out"
one_line_error "missing --root"
expect_exit 3 "--dmesg a device" -- timeout 10 "$IP" check --no-config --root "$F/intel-lazy" --dmesg /dev/zero
expect_exit 3 "contradicting expectations" -- "$IP" check $(host intel-lazy) --default-domain DMA --dma-policy lazy
[[ $err == "iommuprof: default-domain DMA (command line) contradicts dma-policy lazy (command line)" ]] \
    && ok "contradiction named" || bad "contradiction: $err"

# ---- config files ----
conf() { printf "$1" >"$tmp/c.conf"; }
conf '# fleet policy\ndefault-domain = passthrough  # iommu=pt\ncmdline-require = iommu=pt intel_iommu=on\nvfio-groups = clean\n'
expect_exit 1 "config: WARNING from the config" -- "$IP" check --config "$tmp/c.conf" --root "$F/intel-pt-vfio" --dmesg "$F/intel-pt-vfio/dmesg.txt"
has_line "config line is the source" "OK default-domain: passthrough, as expected [$tmp/c.conf:2]"
expect_exit 0 "command line overrides the config" -- "$IP" check --config "$tmp/c.conf" --root "$F/intel-pt-vfio" \
    --dmesg "$F/intel-pt-vfio/dmesg.txt" --vfio-groups any
expect_exit 2 "command line overrides the config (2)" -- "$IP" check --config "$tmp/c.conf" --root "$F/intel-pt-vfio" \
    --dmesg "$F/intel-pt-vfio/dmesg.txt" --vfio-groups any --default-domain translated
conf 'max-faults = 0\nmax-fautls = 1\n'
expect_exit 3 "config: unknown key" -- "$IP" check --config "$tmp/c.conf" --root "$F/intel-lazy"
[[ $err == "iommuprof: $tmp/c.conf:2: unknown key 'max-fautls' (did you mean 'max-faults'?)" ]] \
    && ok "unknown key: file and line" || bad "unknown key: $err"
[[ $out == "IOMMU UNKNOWN - $tmp/c.conf:2: unknown key 'max-fautls' (did you mean 'max-faults'?)" ]] \
    && ok "unknown key on stdout" || bad "unknown key stdout: $out"
conf 'vendor = intel\n\nvendor = amd\n'
expect_exit 3 "config: duplicate key" -- "$IP" check --config "$tmp/c.conf" --root "$F/intel-lazy"
[[ $err == *"c.conf:3: 'vendor' is already set on line 1" ]] && ok "duplicate named" || bad "duplicate: $err"
conf 'irq-remapping = sometimes\n'
expect_exit 3 "config: bad value" -- "$IP" check --config "$tmp/c.conf" --root "$F/intel-lazy"
[[ $err == *"c.conf:1: irq-remapping: 'sometimes' is not yes or no"* ]] && ok "bad value named" || bad "bad value: $err"
expect_exit 3 "config: missing" -- "$IP" check --config "$tmp/none.conf"
[[ $err == "iommuprof: config $tmp/none.conf: No such file or directory" ]] && ok "missing config named" || bad "$err"
expect_exit 3 "config: a directory" -- "$IP" check --config "$tmp"
mkfifo "$tmp/fifo.conf"
expect_exit 3 "config: a FIFO is refused, not opened" -- timeout 10 "$IP" check --config "$tmp/fifo.conf"
head -c 70000 /dev/zero | tr '\0' '#' >"$tmp/big.conf"
expect_exit 3 "config: too large" -- "$IP" check --config "$tmp/big.conf"
printf 'vendor = intel\x1b[2J\n' >"$tmp/esc.conf"
expect_exit 3 "config: control characters" -- "$IP" check --config "$tmp/esc.conf"
if printf '%s%s' "$out" "$err" | grep -q $'\033'; then bad "ESC from the config reached the terminal"; else ok "config ESC not echoed"; fi

# The packaged config: everything commented out -> the defaults (no faults, clean VFIO groups).
DIST=$SRC/dist/etc/iommuprof/check.conf
expect_exit 0 "packaged config on a clean host" -- "$IP" check --config "$DIST" --root "$F/intel-lazy" --dmesg "$F/intel-lazy/dmesg.txt"
[[ $(first_line) == "IOMMU OK - 2 checks passed (defaults: no check key configured) | "* ]] \
    && ok "packaged config: the defaults, said so" || bad "packaged config: $(first_line)"
has_line "packaged config: faults by default" "OK faults: no IOMMU fault in the kernel log, as expected [default]"
expect_exit 1 "packaged config on a host with a shared VFIO group" -- "$IP" check --config "$DIST" --root "$F/intel-pt-vfio" --dmesg "$F/intel-pt-vfio/dmesg.txt"
# Every commented-out example line of it is valid once uncommented.
sed -n 's/^#\([a-z-]* = .*\)$/\1/p' "$DIST" >"$tmp/uncommented.conf"
[[ $(wc -l <"$tmp/uncommented.conf") -ge 14 ]] && ok "packaged config has an example per key" || bad "examples: $(cat "$tmp/uncommented.conf")"
sed -i '/^baseline/d; /^dma-policy/d' "$tmp/uncommented.conf"  # dma-policy strict contradicts passthrough
expect_exit 2 "packaged examples parse" -- "$IP" check --config "$tmp/uncommented.conf" $(facts intel-pt-vfio)

# ---- JSON ----
expect_exit 2 "JSON" -- "$IP" check $(host intel-pt-vfio) --json --default-domain translated --cmdline-require iommu=pt --vfio-groups clean
json_is "JSON status" '.schema == 1 and .status == "CRITICAL" and .exit_code == 2 and .defaults == false'
json_is "JSON counts" '.counts == {"ok": 1, "warning": 1, "critical": 1, "unknown": 0}'
json_is "JSON first check" '.checks[0] | .check == "default-domain" and .status == "CRITICAL" and .expected == "translated" and .actual == "passthrough" and .subject == null and .source == "command line"'
json_is "JSON subjects" '[.checks[] | .subject] == [null, "group 9", "iommu=pt"]'
json_is "JSON perfdata" '.perfdata == {"faults": 0, "vfio_devices": 1, "vfio_unclean_groups": 1, "mixed_groups": 1, "swiotlb_used_slabs": 0}'
json_is "JSON no error" '.error == null and (.summary | startswith("2 violations: "))'
expect_exit 3 "JSON unknown fault check" -- "$IP" check --no-config --root "$F/amd-strict" --max-faults 0 --json
json_is "JSON UNKNOWN check" '.checks[0].status == "UNKNOWN" and .checks[0].actual == null and .perfdata.faults == null'
expect_exit 3 "JSON error" -- "$IP" check --no-config --root /nonexistent --json
json_is "JSON error document" '.status == "UNKNOWN" and .error == "--root /nonexistent: no such directory" and .checks == []'

# ---- baseline ----
B=$tmp/state/baseline.json
mkdir "$tmp/state"
expect_exit 0 "baseline: written on the first run" -- "$IP" check $(host intel-pt-vfio) --skip vfio-groups --baseline "$B"
has_line "baseline: note" "note: baseline written to $B: default domain passthrough, intel IOMMU, interrupt remapping on; later runs compare with it (remove it to record a new one)"
jq -e '.format == "iommuprof-check-baseline" and .default_domain == "passthrough" and .vendor == "intel"' "$B" >/dev/null \
    && ok "baseline: the file" || bad "baseline file: $(cat "$B")"
expect_exit 0 "baseline: same host later" -- "$IP" check $(host intel-pt-vfio) --skip vfio-groups --baseline "$B"
[[ $out != *"note: baseline written"* ]] && ok "baseline: not rewritten" || bad "baseline rewritten: $out"
expect_exit 2 "baseline: the default domain changed" -- "$IP" check $(host intel-lazy) --baseline "$B"
[[ $(printf '%s\n' "$out" | sed -n 2p) == "CRITICAL default-domain: translated (lazy), expected passthrough (command line: intel_iommu=on) [baseline $B of "* ]] \
    && ok "baseline: change named with its source" || bad "baseline change: $out"
expect_exit 0 "baseline: the config wins" -- "$IP" check $(host intel-lazy) --baseline "$B" --default-domain translated
printf '{"format": "something else"}\n' >"$tmp/other.json"
expect_exit 3 "baseline: not a baseline" -- "$IP" check $(host intel-lazy) --baseline "$tmp/other.json"
[[ $err == "iommuprof: baseline $tmp/other.json: not an iommuprof check baseline (remove it to record a new baseline)" ]] \
    && ok "baseline: bad file named" || bad "bad baseline: $err"
expect_exit 3 "baseline: a directory that does not exist" -- "$IP" check $(host intel-lazy) --baseline "$tmp/nodir/b.json"
# A dangling symbolic link is replaced by the file, never followed.
ln -s "$tmp/target-outside.json" "$tmp/state/link.json"
expect_exit 0 "baseline: through a dangling link" -- "$IP" check $(host intel-lazy) --baseline "$tmp/state/link.json"
[[ ! -L $tmp/state/link.json && -f $tmp/state/link.json && ! -e $tmp/target-outside.json ]] \
    && ok "baseline: the link replaced, its target not created" || bad "baseline link: $(ls -l "$tmp/state" "$tmp")"
conf "baseline = $B\n"
expect_exit 2 "baseline from the config" -- "$IP" check --config "$tmp/c.conf" --root "$F/intel-lazy" --dmesg "$F/intel-lazy/dmesg.txt"

# ---- stdout closed: still UNKNOWN, not a crash ----
# (with the log read, the host itself is OK: the closed stdout is the only reason for 3)
expect_exit 0 "stdout open: the same check is OK" -- "$IP" check --no-config --root "$F/intel-lazy" --dmesg "$F/intel-lazy/dmesg.txt"
expect_exit 3 "stdout closed" -- sh -c 'exec "$0" check --no-config --root "$1" --dmesg "$1/dmesg.txt" >&-' "$IP" "$F/intel-lazy"

# ---- without root ----
if id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
    NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all)
    chmod 644 "$B"
    expect_exit 2 "as nobody: fixture host, baseline changed" -- "${NOBODY[@]}" "$IP" check $(host intel-lazy) --baseline "$B"
    expect_exit 1 "as nobody: packaged config" -- "${NOBODY[@]}" "$IP" check --config "$DIST" --root "$F/intel-pt-vfio" --dmesg "$F/intel-pt-vfio/dmesg.txt"
    mkdir "$tmp/nobody" && chown nobody "$tmp/nobody"
    expect_exit 0 "as nobody: baseline written" -- "${NOBODY[@]}" "$IP" check $(host intel-lazy) --baseline "$tmp/nobody/b.json"
    [[ $(stat -c %U "$tmp/nobody/b.json" 2>/dev/null) == nobody ]] && ok "as nobody: baseline owned by nobody" || bad "nobody baseline: $(ls -l "$tmp/nobody")"
    # The live host: no IOMMU groups here means no vfio device, so vfio-groups passes.
    expect_exit 0 "as nobody: live host, no faults check" -- "${NOBODY[@]}" "$IP" check --no-config --skip faults \
        --vfio-groups any
    if [[ $(cat /proc/sys/kernel/dmesg_restrict 2>/dev/null) == 1 ]]; then
        expect_exit 3 "as nobody with dmesg_restrict=1: the fault check is UNKNOWN" -- "${NOBODY[@]}" "$IP" check --no-config
        [[ $out == *"UNKNOWN faults: kernel log not read: /dev/kmsg: "*"run as root"* ]] \
            && ok "as nobody: why the log is unknown" || bad "nobody faults: $out"
    fi
else
    bad "cannot test without root (no nobody user or setpriv)"
fi
finish
