# Shared by tests/cli/*.sh: tiny assertion helpers. Source, then call `finish`.
set -uo pipefail
IP=${1:?usage: $0 PATH_TO_IOMMUPROF}
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
# expect_exit CODE DESC -- CMD...: run CMD, check its exit code, keep stdout/stderr in $out/$err
expect_exit() {
    local want=$1 desc=$2
    shift 3
    out=$("$@" 2>/tmp/cli_err.$$) ; local rc=$?
    err=$(cat /tmp/cli_err.$$); rm -f /tmp/cli_err.$$
    if [[ $rc == "$want" ]]; then ok "$desc (exit $rc)"; else bad "$desc: exit $rc, wanted $want; stderr: $err"; fi
}
one_line_error() {  # the error is one line, prefixed
    local lines
    lines=$(printf '%s\n' "$err" | grep -c 'iommuprof:')
    if [[ $lines == 1 && $err == iommuprof:* ]]; then ok "$1: one-line error"; else bad "$1: error was: $err"; fi
}
finish() {
    echo "$pass passed, $fail failed"
    [[ $fail == 0 ]]
}
