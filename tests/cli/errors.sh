#!/usr/bin/env bash
# Bad input: clear one-line errors and documented exit codes (docs/cli.md).
. "$(dirname "$0")/lib.sh"

expect_exit 2 "unknown flag" -- "$IP" top --no-such-flag
one_line_error "unknown flag"
expect_exit 2 "unknown subcommand" -- "$IP" frobnicate
expect_exit 2 "no subcommand" -- "$IP"
expect_exit 2 "bad interval" -- "$IP" top -i 0
expect_exit 2 "unknown probe point" -- "$IP" probes --points not_a_point
[[ $err == *not_a_point* ]] && ok "unknown point is named" || bad "unknown point not named: $err"
# Files: missing, not a profile, truncated; a PID that does not exist.
expect_exit 2 "missing profile" -- "$IP" report /nonexistent/x.iprof
one_line_error "missing profile"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo garbage >"$tmp/g.iprof"
expect_exit 2 "non-gzip profile" -- "$IP" report "$tmp/g.iprof"
one_line_error "non-gzip profile"
printf '{"format":"iommuprof-profile"' | gzip >"$tmp/t.iprof"
expect_exit 2 "truncated JSON profile" -- "$IP" compare "$tmp/t.iprof" "$tmp/t.iprof"
one_line_error "truncated JSON profile"
expect_exit 2 "no such pid" -- "$IP" run --pid 999999
[[ $err == *999999* ]] && ok "pid named" || bad "pid not named: $err"
expect_exit 2 "record without -o" -- "$IP" record
expect_exit 2 "run without command or pid" -- "$IP" run
expect_exit 2 "inspect with a missing root" -- "$IP" inspect --root /nonexistent
# inspect --openmetrics / --openmetrics-file (host facts as metrics)
fx=${IOMMUPROF_SRC:?}/tests/fixtures/hosts
omt=$(mktemp -d)
expect_exit 0 "inspect --openmetrics" -- "$IP" inspect --root "$fx/intel-lazy" --openmetrics
[[ $out == *'iommuprof_facts_dma_policy{policy="lazy"} 1'* && $out == *"# EOF" ]] && ok "inspect --openmetrics: the lazy policy" ||
    bad "inspect --openmetrics: $out"
expect_exit 0 "inspect --openmetrics-file" -- "$IP" inspect --root "$fx/intel-lazy" --openmetrics-file "$omt/h.prom"
[[ -z $out ]] && grep -q '^iommuprof_facts_default_domain{domain="translated"} 1$' "$omt/h.prom" &&
    ok "inspect --openmetrics-file: written, nothing on stdout" || bad "inspect --openmetrics-file: $out"
[[ $(ls -A "$omt") == h.prom ]] && ok "inspect --openmetrics-file: no temp file left" || bad "left: $(ls -A "$omt")"
expect_exit 2 "inspect --openmetrics-file ''" -- "$IP" inspect --root "$fx/intel-lazy" --openmetrics-file ''
one_line_error "inspect --openmetrics-file ''"
expect_exit 2 "inspect --openmetrics-file a directory" -- "$IP" inspect --root "$fx/intel-lazy" --openmetrics-file "$omt"
expect_exit 1 "inspect --openmetrics-file in a missing directory" -- "$IP" inspect --root "$fx/intel-lazy" \
    --openmetrics-file "$omt/no/h.prom"
one_line_error "inspect --openmetrics-file in a missing directory"
expect_exit 2 "inspect --openmetrics with --json" -- "$IP" inspect --root "$fx/intel-lazy" --openmetrics --json
rm -rf "$omt"
expect_exit 0 "--help" -- "$IP" --help
[[ $out == *probes* && $out == *top* ]] && ok "help lists commands" || bad "help: $out"

# Without privileges: one line, exit 1, no crash.
if id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
    expect_exit 1 "probes as nobody" -- setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all "$IP" probes
    one_line_error "probes as nobody"
    [[ $err == *CAP_BPF* ]] && ok "privilege error names CAP_BPF" || bad "privilege error: $err"
else
    bad "cannot test the unprivileged path (no nobody user or setpriv)"
fi

# A kernel without BTF (hidden in a private mount namespace): one line, exit 1.
if [[ $(id -u) == 0 ]] && command -v unshare >/dev/null && [[ -e /sys/kernel/btf/vmlinux ]]; then
    expect_exit 1 "no BTF" -- unshare -m sh -c 'mount -t tmpfs none /sys/kernel/btf && exec "$0" probes' "$IP"
    one_line_error "no BTF"
    [[ $err == *BTF* ]] && ok "no-BTF error names BTF" || bad "no-BTF error: $err"
    # No tracefs: profiling still works (raw tracepoints and BTF need none); the plan says so.
    expect_exit 0 "no tracefs" -- unshare -m sh -c 'for d in /sys/kernel/tracing /sys/kernel/debug; do
        [ -d $d ] && mount -t tmpfs none $d; done; exec "$0" probes' "$IP"
    [[ $out == *"tracefs is not mounted"* ]] && ok "no tracefs: noted in the plan" || bad "no tracefs note: $out"
else
    bad "cannot test the no-BTF path (needs root, unshare and a kernel with BTF)"
fi
finish
