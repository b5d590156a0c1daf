#!/usr/bin/env bash
# The BPF accounting tests (tests/bpf, BPF_PROG_TEST_RUN) on the oldest kernels of the lab, not
# only on the host's: map-op return values, helper availability and verifier behaviour differ
# (before 6.4 bpf_map_update_elem's result is an int whose upper half is not sign-extended;
# a long comparison with -E2BIG never matched there, so devname_full was never counted).
#
#   tests/lab/bpf_logic_test.sh build/iommuprof     (bpf_tests is found beside it in tests/)
#   LAB_BPF_KERNELS="6.1 6.12" ...                  kernels to run them on (default 6.1)
# Ends with "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
IP=$(realpath "${1:?usage: $0 PATH_TO_IOMMUPROF}")
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 1
tests=$(dirname "$IP")/tests/bpf_tests
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
[[ -x $tests ]] || { bad "no $tests (build the bpf_tests target)"; echo "$pass passed, $fail failed"; exit 1; }
for k in ${LAB_BPF_KERNELS:-6.1}; do
    start=$(date +%s)
    out=$(scripts/lab/run -k "$k" -i intel -m strict -t 600 -- "$tests" --gtest_filter='Maps/BpfLogic.*' \
        --gtest_brief=1 2>&1)
    rc=$?
    secs=$(( $(date +%s) - start ))
    total=$(printf '%s\n' "$out" | sed -n 's/.*\[==========\] \([0-9]*\) tests from.*ran.*/\1/p')
    if [[ $rc == 0 && ${total:-0} -ge 20 ]]; then
        ok "$k: $total BPF logic tests passed in the guest (${secs}s)"
    else
        bad "$k: exit $rc, $total tests: $(printf '%s\n' "$out" | grep -E 'FAILED|Failure|Expected|actual|lab:' | head -20)"
    fi
    [[ -n ${LAB_SUMMARY:-} ]] && echo "bpf logic on $k: exit $rc, ${total:-0} tests, ${secs}s" >>"$LAB_SUMMARY"
done
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
