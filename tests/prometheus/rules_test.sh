#!/usr/bin/env bash
# tests/prometheus/rules_test.sh: dist/prometheus/iommuprof.rules.yml is valid (promtool check rules)
# and each alert fires on the series that reproduce it and not on their look-alikes
# (promtool test rules tests/prometheus/iommuprof.rules.test.yml).
set -euo pipefail
src=${IOMMUPROF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v promtool >/dev/null || { echo "FAIL: promtool is not installed (scripts/setup.sh installs prometheus)" >&2; exit 1; }
promtool check rules "$src/dist/prometheus/iommuprof.rules.yml"
cd "$src/tests/prometheus"
promtool test rules iommuprof.rules.test.yml
# Every alert of the rules file has a test that expects it to fire.
missing=()
for a in $(sed -n 's/^ *- alert: *//p' "$src/dist/prometheus/iommuprof.rules.yml"); do
    grep -q "alertname: $a\$" iommuprof.rules.test.yml || missing+=("$a")
done
((${#missing[@]} == 0)) || { echo "FAIL: alerts without a test: ${missing[*]}" >&2; exit 1; }
echo "PASS: rules valid, every alert tested"
