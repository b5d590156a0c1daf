#!/usr/bin/env bash
# tests/prometheus/e2e_test.sh IOMMUPROF: iommuprof, Debian's node_exporter and a real Prometheus,
# end to end, on loopback only.
#
#   1. `inspect --openmetrics-file` writes the host facts of a translated fixture host, and
#      `top --openmetrics-file` (live, tracepoints on this host) writes the profile export, both
#      into one textfile directory;
#   2. prometheus-node-exporter serves that directory (textfile collector only) on 127.0.0.1;
#   3. Prometheus scrapes it every second with dist/prometheus/iommuprof.rules.yml loaded;
#   4. the host "reboots into iommu=pt": inspect rewrites the facts from a passthrough fixture;
#   5. Prometheus' HTTP API must show the series of both files, the recording rule's inputs, no
#      textfile error, and the real alert IommuDefaultDomainChanged firing with domain=passthrough.
# Bounded in time (each wait has a deadline); every process and file is removed at the end.
set -euo pipefail
bin=$(realpath "$1")
src=${IOMMUPROF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
fx=$src/tests/fixtures/hosts
rules=$src/dist/prometheus/iommuprof.rules.yml

fail() { echo "FAIL: $*" >&2; exit 1; }
for t in prometheus-node-exporter prometheus promtool curl jq; do
    command -v "$t" >/dev/null || fail "$t is not installed (scripts/setup.sh installs it)"
done
[[ $(id -u) == 0 ]] || fail "needs root (top attaches BPF programs)"

work=$(mktemp -d /tmp/iommuprof-e2e.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
text=$work/textfile
mkdir -p "$text" "$work/data"

# Two free loopback ports.
read -r p_node p_prom < <(python3 -c '
import socket
s=[socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1",0))
print(*[x.getsockname()[1] for x in s])')

wait_for() {  # SECONDS DESCRIPTION COMMAND...: retry until the command succeeds
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "timed out after waiting for $what"
        sleep 0.5
    done
}
query() {  # PROMQL -> the API's JSON result array
    curl -sfG "http://127.0.0.1:$p_prom/api/v1/query" --data-urlencode "query=$1" | jq -c '.data.result'
}
has_value() {  # PROMQL VALUE: the query has exactly one sample, equal to VALUE
    [[ $(query "$1" | jq -r 'if length == 1 then .[0].value[1] else "n=\(length)" end') == "$2" ]]
}

# 1. The exports. Host facts of a translated host (AMD, strict).
"$bin" inspect --root "$fx/amd-strict" --dmesg "$fx/amd-strict/dmesg-faults.txt" \
    --openmetrics-file "$text/iommuprof_host.prom"
promtool check metrics < "$text/iommuprof_host.prom" || fail "promtool rejects the host facts file"
"$bin" top -i 1 --openmetrics-file "$text/iommuprof.prom" >"$work/top.out" 2>"$work/top.err" &
pids+=($!)
wait_for 60 "top's first export" test -s "$text/iommuprof.prom"

# 2. node_exporter, textfile collector only.
prometheus-node-exporter --web.listen-address="127.0.0.1:$p_node" --collector.disable-defaults \
    --collector.textfile --collector.textfile.directory="$text" >"$work/node.log" 2>&1 &
pids+=($!)
wait_for 30 "node_exporter on 127.0.0.1:$p_node" curl -sf "http://127.0.0.1:$p_node/metrics"
curl -sf "http://127.0.0.1:$p_node/metrics" >"$work/node.metrics"
grep -q '^iommuprof_facts_default_domain{domain="translated"} 1$' "$work/node.metrics" ||
    fail "node_exporter does not serve the host facts"
grep -q '^iommuprof_cpus ' "$work/node.metrics" || fail "node_exporter does not serve top's export"
grep -q '^node_textfile_scrape_error 0$' "$work/node.metrics" ||
    fail "node_exporter reports a textfile error: $(grep -E 'textfile|error' "$work/node.log" | tail -3)"

# 3. Prometheus with the rules.
cat >"$work/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ['$rules']
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$p_node']}]
EOF
promtool check config "$work/prometheus.yml" >/dev/null || fail "promtool rejects the test config"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$p_prom" >"$work/prom.log" 2>&1 &
pids+=($!)
wait_for 60 "Prometheus on 127.0.0.1:$p_prom" curl -sf "http://127.0.0.1:$p_prom/-/ready"
wait_for 60 "the first scrape of the host facts" has_value 'iommuprof_facts_default_domain{domain="translated"}' 1
[[ $(curl -sf "http://127.0.0.1:$p_prom/api/v1/rules" | jq '[.data.groups[].rules[]] | length') -ge 13 ]] ||
    fail "Prometheus did not load the rules"
sleep 3  # a few samples of the translated state

# 4. The host comes back from a reboot with iommu=pt.
"$bin" inspect --root "$fx/intel-pt-vfio" --dmesg "$fx/intel-pt-vfio/dmesg.txt" \
    --openmetrics-file "$text/iommuprof_host.prom"

# 5. What Prometheus must show.
firing() {
    curl -sf "http://127.0.0.1:$p_prom/api/v1/alerts" | jq -e '.data.alerts[] |
        select(.labels.alertname == "IommuDefaultDomainChanged" and .state == "firing"
               and .labels.domain == "passthrough" and .labels.job == "node")'
}
wait_for 60 "IommuDefaultDomainChanged to fire" firing
has_value 'iommuprof_facts_default_domain{domain="passthrough"}' 1 || fail "passthrough state not scraped"
has_value 'iommuprof_facts_vfio_devices' 1 || fail "iommuprof_facts_vfio_devices: $(query iommuprof_facts_vfio_devices)"
has_value 'iommuprof_facts_irq_remapping' 1 || fail "iommuprof_facts_irq_remapping: $(query iommuprof_facts_irq_remapping)"
has_value 'iommuprof_cpus' "$(getconf _NPROCESSORS_ONLN)" || fail "iommuprof_cpus from top: $(query iommuprof_cpus)"
[[ $(query 'iommuprof_probe_attached == 1' | jq length) -ge 1 ]] || fail "no attached probe in top's export"
has_value 'node_textfile_scrape_error' 0 || fail "textfile error: $(query node_textfile_scrape_error)"
has_value 'iommuprof_facts_kernel_log_read' 1 || fail "kernel log not read: $(query iommuprof_facts_kernel_log_read)"
# The alert's text is the rule's.
summary=$(curl -sf "http://127.0.0.1:$p_prom/api/v1/alerts" | jq -r '.data.alerts[] |
    select(.labels.alertname == "IommuDefaultDomainChanged") | .annotations.summary')
[[ $summary == "IOMMU default domain of 127.0.0.1:$p_node changed to passthrough" ]] || fail "summary: $summary"
# No alert about iommuprof itself (stale files, lost data) in a healthy run.
bad=$(curl -sf "http://127.0.0.1:$p_prom/api/v1/alerts" | jq -r '[.data.alerts[].labels.alertname |
    select(startswith("Iommuprof"))] | join(" ")')
[[ -z $bad ]] || fail "unexpected alerts: $bad"
kill -0 "${pids[0]}" 2>/dev/null || fail "top ended early: $(tail -3 "$work/top.err")"
echo "PASS: node_exporter + Prometheus on loopback: host facts and top export scraped, rules loaded, IommuDefaultDomainChanged fired (translated -> passthrough)"
