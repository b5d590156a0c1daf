#!/usr/bin/env bash
# Stack sampling on the host kernel (perf events attach here even without kprobes or fentry):
# `record --sample` keeps samples at about the asked rate on every CPU, the profile round-trips,
# `report --folded` and `verdict --from` read it, and a profile without samples is refused by
# --folded with exit 2.
. "$(dirname "$0")/lib.sh"
[[ $(id -u) == 0 ]] || { bad "needs root"; finish; exit; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

# Every CPU busy meanwhile: a busy CPU samples at the asked rate (an idle one may not at all on a
# tickless host; the analysis then counts its time, see tests/unit Sampling.*).
busy=()
for c in $(seq 0 $(($(nproc) - 1))); do
    taskset -c "$c" timeout 4 sh -c 'while :; do :; done' &
    busy+=($!)
done
expect_exit 0 "record --sample -d 2" -- timeout 60 "$IP" record --sample -d 2 -o "$d/s.iprof"
wait "${busy[@]}" 2>/dev/null
zcat "$d/s.iprof" > "$d/s.json"
total=$(jq '[.snapshot.samples.cpus[].total] | add // 0' "$d/s.json")
ncpu=$(jq '.snapshot.ncpus' "$d/s.json")
dur=$(jq '.snapshot.duration_s' "$d/s.json")
# 997 Hz per CPU: at least half of what the window allows, on every CPU
awk -v t="$total" -v n="$ncpu" -v d="$dur" 'BEGIN { exit !(t >= 0.5 * 997 * n * d && t <= 1.2 * 997 * n * d) }' &&
    ok "samples: $total on $ncpu CPUs over ${dur}s" || bad "samples: $total on $ncpu CPUs over ${dur}s"
low=$(jq --argjson d "$dur" '[.snapshot.samples.cpus[] | select(.total < 0.5 * 997 * $d)] | length' "$d/s.json")
ncs=$(jq '.snapshot.samples.cpus | length' "$d/s.json")
[[ $low == 0 && $ncs == "$ncpu" ]] && ok "every busy CPU sampled at the rate" || bad "$low of $ncs CPUs under half the rate"
attached=$(jq '[.plan[] | select(.attached)] | length' "$d/s.json")
[[ $attached == 0 ]] && ok "--sample attaches no probe" || bad "--sample attached $attached probes"
ev=$(jq -r '.snapshot.samples.event' "$d/s.json")
[[ $ev == cpu-clock || $ev == cycles ]] && ok "sampled on $ev" || bad "event '$ev'"

expect_exit 0 "report" -- "$IP" report "$d/s.iprof"
[[ $out == *"sampled ("*"samples"* ]] && ok "report shows the samples line" || bad "report: $out"
expect_exit 0 "report --folded" -- "$IP" report --folded "$d/s.iprof"
expect_exit 0 "verdict --from --json" -- "$IP" verdict --from "$d/s.iprof" --json
[[ $(jq -r .numbers.sampled <<<"$out") == true ]] && ok "verdict uses the samples" || bad "verdict: $out"

# beside the probes (the default of record): samples and the probes' plan in one profile
expect_exit 0 "record -d 1 (samples beside the probes)" -- timeout 60 "$IP" record -d 1 -o "$d/b.iprof"
n=$(zcat "$d/b.iprof" | jq '[.snapshot.samples.cpus[].total] | add // 0')
[[ $n -gt 0 ]] && ok "default record samples too ($n)" || bad "default record: no samples"
expect_exit 0 "record --no-sample" -- timeout 60 "$IP" record --no-sample -d 1 -o "$d/n.iprof"
[[ $(zcat "$d/n.iprof" | jq '.snapshot.samples') == null ]] && ok "--no-sample: no samples" || bad "--no-sample sampled"
expect_exit 2 "report --folded without samples" -- "$IP" report --folded "$d/n.iprof"
[[ $err == *"no stack samples"* ]] && ok "one clear line: $err" || bad "stderr: $err"
finish
