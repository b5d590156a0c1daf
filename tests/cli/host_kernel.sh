#!/usr/bin/env bash
# On the host kernel (whatever it offers): `probes` is truthful for every
# catalog point, `top` runs and exits 0 with a valid JSON document, and
# `top --openmetrics-file` keeps a valid node_exporter textfile.
. "$(dirname "$0")/lib.sh"
[[ $(id -u) == 0 ]] || { bad "needs root"; finish; exit; }

expect_exit 0 "probes --json" -- "$IP" probes --json
echo "$out" > /tmp/cli_probes.$$.json
n=$(jq '.attachments | length' /tmp/cli_probes.$$.json)
[[ $n -ge 40 ]] && ok "probes lists every point ($n)" || bad "probes lists $n entries"
# Every entry has a method and, unless attached, a reason.
badrows=$(jq '[.attachments[] | select(.method == null or (.attached == false and .reason == ""))] | length' /tmp/cli_probes.$$.json)
[[ $badrows == 0 ]] && ok "every entry has a method and a reason" || bad "$badrows entries without reason"
fentry=$(jq -r .features.fentry /tmp/cli_probes.$$.json)
kprobes=$(jq -r .features.kprobes /tmp/cli_probes.$$.json)
if [[ $fentry == false && $kprobes == false ]]; then
    # No function probes: only tracepoints may claim to be attached, and the plan must say why.
    wrong=$(jq '[.attachments[] | select(.attached and .method != "tracepoint")] | length' /tmp/cli_probes.$$.json)
    [[ $wrong == 0 ]] && ok "only tracepoints attached without kprobes/fentry" || bad "$wrong non-tracepoint attachments"
    reason=$(jq -r .features.kprobes_reason /tmp/cli_probes.$$.json)
    [[ -n $reason ]] && ok "kprobes absence explained: $reason" || bad "no kprobes reason"
    expect_exit 0 "probes text" -- "$IP" probes
    [[ $out == *"no function probes can attach"* ]] && ok "text plan says so clearly" || bad "text plan: $out"
fi
tps=$(jq '[.attachments[] | select(.attached and .method == "tracepoint")] | length' /tmp/cli_probes.$$.json)
[[ $tps -ge 4 ]] && ok "$tps tracepoints attached" || bad "only $tps tracepoints attached"

expect_exit 0 "top -d 3 --json" -- timeout 60 "$IP" top -d 3 -i 1 --json
echo "$out" > /tmp/cli_top.$$.json
dur=$(jq .duration_s /tmp/cli_top.$$.json)
awk -v d="$dur" 'BEGIN{exit !(d >= 2.5 && d < 10)}' && ok "top ran for ${dur}s" || bad "top duration $dur"
[[ $(jq '.points | length' /tmp/cli_top.$$.json) -ge 40 ]] && ok "top JSON lists points" || bad "top JSON points"
expect_exit 0 "top -d 2 text" -- timeout 60 "$IP" top -d 2 -i 1
[[ $out == *DEVICE*POINT*CALLS/s* ]] && ok "top table header" || bad "top text: $out"
expect_exit 0 "top -H --per-cpu" -- timeout 60 "$IP" top -d 1 -i 1 -H --per-cpu

# top --openmetrics-file: a valid node_exporter textfile, replaced atomically
# (no temp file left beside it), covering the whole run.
omdir=$(mktemp -d)
expect_exit 0 "top --openmetrics-file" -- timeout 60 "$IP" top -d 2.5 -i 1 --openmetrics-file "$omdir/x.prom"
prom=$omdir/x.prom
[[ -s $prom ]] && ok "openmetrics file written" || bad "no $prom"
for fam in "iommuprof_calls_total counter" "iommuprof_latency_seconds histogram" \
    "iommuprof_probe_attached gauge" "iommuprof_host_info gauge"; do
    grep -qx "# TYPE $fam" "$prom" && ok "has # TYPE $fam" || bad "no '# TYPE $fam' in $prom"
done
[[ $(tail -n 1 "$prom") == "# EOF" ]] && ok "ends with # EOF" || bad "last line: $(tail -n 1 "$prom")"
d=$(awk '$1 == "iommuprof_profile_duration_seconds" {print $2}' "$prom")
awk -v d="$d" 'BEGIN{exit !(d >= 2.4 && d < 10)}' && ok "file covers the whole run (${d}s)" || bad "duration in file: $d"
if command -v promtool >/dev/null; then
    lint=$(promtool check metrics <"$prom" 2>&1) && ok "promtool check metrics" || bad "promtool: $lint"
else
    bad "promtool not installed"
fi
left=$(find "$omdir" -mindepth 1 ! -name x.prom | wc -l)
[[ $left == 0 ]] && ok "no temp file left" || bad "left beside it: $(ls -A "$omdir")"
expect_exit 0 "top --openmetrics-file --no-cpu-label" -- timeout 60 "$IP" top -d 1 -i 1 --json --no-cpu-label \
    --openmetrics-file "$omdir/y.prom"
if grep -q 'cpu="' "$omdir/y.prom"; then bad "--no-cpu-label left a cpu label"; else ok "--no-cpu-label: no cpu label"; fi
expect_exit 1 "top --openmetrics-file in a missing directory" -- "$IP" top -d 1 --openmetrics-file "$omdir/no/x.prom"
one_line_error "openmetrics file in a missing directory"
rm -rf "$omdir"

# Ctrl-C: clean detach, exit 0, and nothing left attached.
before=$(ls /proc/self/fd | wc -l)
"$IP" top -i 1 > /tmp/cli_sig.$$ 2>&1 &
pid=$!
sleep 2
kill -INT $pid
wait $pid; rc=$?
[[ $rc == 0 ]] && ok "SIGINT: clean exit" || bad "SIGINT: exit $rc: $(cat /tmp/cli_sig.$$)"
# Nothing of ours attached: links and programs counted through the program
# list (tests/lib/bpf_ours.sh; `bpftool link` prints no program names). The
# same count must see the links while top runs, or the check could not fail.
command -v bpftool >/dev/null || bad "bpftool not installed"
ours() { bash "$(dirname "$0")/../lib/bpf_ours.sh"; }
settled() {  # the kernel frees links and programs shortly after the last fd closes
    local i; for i in $(seq 50); do [[ $(ours) == "0 0" ]] && break; sleep 0.1; done; ours
}
[[ $(settled) == "0 0" ]] && ok "nothing of ours attached before" || bad "attached before: $(ours)"
"$IP" top -i 1 > /dev/null 2>&1 &
pid=$!
sleep 3
read -r nl np <<<"$(ours)"
[[ $nl -ge 4 && $np -ge 4 ]] && ok "while top runs: $nl links, $np programs of ours seen" \
    || bad "while top runs, the check sees $nl links, $np programs"
kill -INT $pid; wait $pid
[[ $(settled) == "0 0" ]] && ok "SIGINT leaves no BPF link or program" || bad "left after SIGINT: $(ours)"
"$IP" top -i 1 > /dev/null 2>&1 &
pid=$!
sleep 3
[[ $(ours) != "0 0" ]] || bad "top attached nothing before kill -9"
kill -9 $pid; wait $pid 2>/dev/null
[[ $(settled) == "0 0" ]] && ok "kill -9 leaves no BPF link or program" || bad "left after kill -9 (links, programs): $(ours)"
rm -f /tmp/cli_*.$$*
finish
