#!/usr/bin/env bash
# scripts/test.sh: install, build, and run every test: unit (no privileges),
# host-kernel BPF tests and CLI tests (root), the package (built, installed and
# purged on this machine), the VM lab (QEMU guests with real 6.1/6.12 kernels and
# emulated IOMMUs) and the benchmark smoke run.
#   scripts/test.sh            everything
#   scripts/test.sh -L unit    only some labels (unit, host, cli, pkg, lab, bench, fuzz), passed to ctest
#   scripts/test.sh --wide     also the wide matrix (label wide: the 5-minute soak, ...)
set -euo pipefail
wide=(-LE wide)
if [[ ${1:-} == --wide ]]; then
    wide=()
    shift
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" --lab --bench
"$root/scripts/build.sh" "$root/build"
cd "$root/build"
start=$(date +%s)
rm -f lab-matrix_test.txt bench-overhead-smoke/table.txt bench-accuracy-smoke/table.txt
set +e
ctest --output-on-failure --timeout 1800 "${wide[@]}" "$@"
rc=$?
set -e
# The lab matrix and the benchmark smoke run, one line per cell / variant.
[[ -f lab-matrix_test.txt ]] && cat lab-matrix_test.txt
[[ -f bench-overhead-smoke/table.txt ]] && { echo; echo "benchmark smoke run (numbers not judged):"; cat bench-overhead-smoke/table.txt; }
[[ -f bench-accuracy-smoke/table.txt ]] && { echo; echo "accuracy smoke run (no -icount, 1 s: numbers not judged):"; cat bench-accuracy-smoke/table.txt; }
echo "test.sh: ctest exit $rc after $(( $(date +%s) - start ))s"
exit $rc
