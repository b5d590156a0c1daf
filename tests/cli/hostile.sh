#!/usr/bin/env bash
# Hostile input and hostile conditions (issue 14): output targets that are not
# regular files, unbounded input, invalid UTF-8, terminal escapes, odd numbers
# on the command line, full file systems, closed pipes. Needs root (record).
. "$(dirname "$0")/lib.sh"
[[ $(id -u) == 0 ]] || { bad "needs root"; finish; exit; }
tmp=$(mktemp -d)
# A broken build must not wreck the machine: device nodes under test are private
# copies (same major:minor, same code path); /dev/stdout is put back if replaced.
cleanup() {
    mountpoint -q "$tmp/full" && umount "$tmp/full"
    rm -rf "$tmp"
    [[ -L /dev/stdout ]] || { rm -f /dev/stdout; ln -s /proc/self/fd/1 /dev/stdout; }
}
trap cleanup EXIT
REC=(record -d 0.3 --no-sample)
"$IP" "${REC[@]}" -o "$tmp/plain.iprof" 2>/dev/null || bad "record of a plain profile failed"

# Peak RSS of a command in MiB (its exit code in $rss_rc).
peak_mib() {
    python3 - "$@" <<'EOF'
import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, rc)
EOF
}
is_char() { [[ $(stat -c '%F %t:%T' "$1") == "character special file $2" ]]; }

# ---- 1. output targets that are not regular files ----
null=$tmp/null
mknod -m 666 "$null" c 1 3
mknod -m 666 "$tmp/devfull" c 1 7
expect_exit 0 "record -o a null device" -- "$IP" "${REC[@]}" -o "$null"
is_char "$null" 1:3 && ok "the null device is still one" || bad "the null device is now: $(stat -c %F "$null")"
expect_exit 0 "top --openmetrics-file a null device" -- "$IP" top -d 0.5 -i 0.2 --openmetrics-file "$null"
is_char "$null" 1:3 && ok "the null device survives top" || bad "null device after top: $(stat -c %F "$null")"
expect_exit 0 "run -o a null device" -- "$IP" run --no-sample -o "$null" -- true
is_char "$null" 1:3 && ok "the null device survives run" || bad "null device after run: $(stat -c %F "$null")"
ln -s "$null" "$tmp/null-link"
expect_exit 0 "record -o a link to a null device" -- "$IP" "${REC[@]}" -o "$tmp/null-link"
[[ -L $tmp/null-link ]] && is_char "$null" 1:3 && ok "link and device untouched" || bad "link or device replaced"

mkfifo "$tmp/fifo"
timeout 30 head -c 2 "$tmp/fifo" | od -An -tx1 > "$tmp/fifo.out" &
reader=$!
expect_exit 0 "record -o FIFO" -- timeout 30 "$IP" "${REC[@]}" -o "$tmp/fifo"
wait $reader
[[ $(tr -d ' \n' < "$tmp/fifo.out") == 1f8b ]] && ok "the FIFO's reader got a gzip stream" \
    || bad "FIFO reader got: $(cat "$tmp/fifo.out")"
[[ -p $tmp/fifo ]] && ok "the FIFO is still a FIFO" || bad "FIFO replaced: $(stat -c %F "$tmp/fifo")"

"$IP" "${REC[@]}" -o /dev/stdout > "$tmp/via-stdout.iprof" 2>/dev/null
rc=$?
[[ $rc == 0 ]] && "$IP" report "$tmp/via-stdout.iprof" >/dev/null && ok "-o /dev/stdout > FILE: a valid profile" \
    || bad "-o /dev/stdout: exit $rc"
"$IP" "${REC[@]}" -o /dev//stdout > "$tmp/via-stdout2.iprof" 2>/dev/null
"$IP" report "$tmp/via-stdout2.iprof" >/dev/null && ok "-o /dev//stdout > FILE: a valid profile" || bad "-o /dev//stdout"
[[ -L /dev/stdout ]] && ok "/dev/stdout is still a link" || bad "/dev/stdout replaced"
"$IP" "${REC[@]}" -o /dev/stdout 2>/dev/null | gzip -t && ok "-o /dev/stdout into a pipe" || bad "-o /dev/stdout | gzip -t"

mkdir "$tmp/rescue"
expect_exit 1 "record -o a full device" -- env TMPDIR="$tmp/rescue" "$IP" "${REC[@]}" -o "$tmp/devfull"
is_char "$tmp/devfull" 1:7 && ok "the full device is still one" || bad "the full device is now: $(stat -c %F "$tmp/devfull")"
rescue=$(printf '%s' "$err" | sed -n 's/.*saved in \([^ ]*\).*/\1/p')
[[ $rescue == "$tmp/rescue/"* ]] && "$IP" report "$rescue" >/dev/null && ok "what was recorded is saved in \$TMPDIR" \
    || bad "no rescue copy: $err"

mknod "$tmp/mem" c 1 9  # /dev/urandom's numbers: not on the list, harmless if a broken build writes
mknod "$tmp/blk" b 7 200
mknod "$tmp/serial" c 4 64
for t in mem blk serial; do
    expect_exit 2 "record -o a device ($t)" -- "$IP" "${REC[@]}" -o "$tmp/$t"
    one_line_error "device target $t"
done
is_char "$tmp/mem" 1:9 && ok "the character device node is untouched" || bad "mem node is now $(stat -c %F "$tmp/mem")"
[[ -b $tmp/blk ]] && ok "the block device node is untouched" || bad "block node is now $(stat -c %F "$tmp/blk")"
expect_exit 2 "top --openmetrics-file on a device" -- "$IP" top -d 0.5 --openmetrics-file "$tmp/mem"
expect_exit 2 "record -o a directory" -- "$IP" "${REC[@]}" -o "$tmp"

# ---- 7. owner and mode kept, long names, full file system ----
echo old > "$tmp/user.iprof"
chown nobody:nogroup "$tmp/user.iprof"
chmod 640 "$tmp/user.iprof"
expect_exit 0 "record over a user's file" -- "$IP" "${REC[@]}" -o "$tmp/user.iprof"
[[ $(stat -c '%U:%G %a' "$tmp/user.iprof") == "nobody:nogroup 640" ]] && ok "owner and mode kept" \
    || bad "now $(stat -c '%U:%G %a' "$tmp/user.iprof")"
long=$(printf 'p%.0s' $(seq 255))
expect_exit 0 "record -o a 255-byte file name" -- "$IP" "${REC[@]}" -o "$tmp/$long"
[[ -s $tmp/$long ]] && ok "255-byte name written" || bad "255-byte name missing"
mkdir "$tmp/full"
mount -t tmpfs -o size=256k tmpfs "$tmp/full"
dd if=/dev/zero of="$tmp/full/fill" bs=4k 2>/dev/null
start=$(date +%s)
expect_exit 1 "record onto a full file system" -- timeout 30 "$IP" record -d 20 --no-sample -o "$tmp/full/x.iprof"
(( $(date +%s) - start < 10 )) && ok "refused before recording" || bad "took $(( $(date +%s) - start )) s to fail"
[[ $err == *"not enough free space"* ]] && ok "says the disk is full" || bad "message: $err"
[[ -z $(ls -A "$tmp/full" | grep -v '^fill$') ]] && ok "nothing left on the full file system" || bad "left: $(ls -A "$tmp/full")"
umount "$tmp/full"

# A closed pipe: exit 1, not death by SIGPIPE.
"$IP" top -i 0.2 -d 5 2>"$tmp/pipe.err" | head -c 10 >/dev/null
rc=${PIPESTATUS[0]}
[[ $rc == 1 ]] && ok "top | head: exit 1" || bad "top | head: exit $rc ($(cat "$tmp/pipe.err"))"

# ---- 5. numbers and names on the command line ----
for args in "record -d nan -o $tmp/n.iprof" "record -d inf -o $tmp/n.iprof" "record -d 0x10 -o $tmp/n.iprof" \
    "top -i nan -d 1" "top -d 1e400" "verdict --min-share-all nan" "verdict --min-events -1" \
    "verdict --min-seconds -1" "top -n -1" "run -p 0x10" "top --openmetrics-file="; do
    # shellcheck disable=SC2086
    expect_exit 2 "$args" -- timeout 10 "$IP" $args
    one_line_error "$args"
done
expect_exit 2 "top --openmetrics-file ''" -- timeout 10 "$IP" top -d 1 --openmetrics-file ''
expect_exit 2 "misspelt command" -- "$IP" reprot x.iprof
[[ $err == *"unknown command 'reprot' (did you mean 'report'?)"* ]] && ok "names the unknown command" || bad "said: $err"
expect_exit 2 "inspect --root ''" -- "$IP" inspect --root ''
# ... and what is right is still accepted (a validator that refuses everything fails here).
for args in "report -n 0" "report -n 3" "verdict --min-share-all 2 --min-events 10 --min-seconds 1.5" \
    "verdict --min-seconds 1e-1" "verdict --min-share-hottest .5 --min-events +5"; do
    set -- $args
    if [[ $1 == report ]]; then cmd=("$IP" "$@" "$tmp/plain.iprof"); else cmd=("$IP" "$@" --from "$tmp/plain.iprof"); fi
    expect_exit 0 "$args" -- "${cmd[@]}"
done

# ---- 2. unbounded input ----
for dev in /dev/zero /dev/urandom; do
    expect_exit 2 "inspect --dmesg $dev" -- timeout 10 "$IP" inspect --dmesg $dev
    one_line_error "--dmesg $dev"
done
expect_exit 2 "inspect --dmesg DIR" -- "$IP" inspect --dmesg "$tmp"
expect_exit 2 "verdict --from --dmesg /dev/zero" -- timeout 10 "$IP" verdict --from "$tmp/base.iprof" --dmesg /dev/zero
printf 'DMAR: IOMMU enabled\n' | "$IP" inspect --dmesg /dev/stdin --json | jq -e '.log.lines == 1' >/dev/null \
    && ok "--dmesg /dev/stdin from a pipe" || bad "--dmesg /dev/stdin from a pipe"
python3 -c "
import sys
sys.stdout.buffer.write(b'[    1.000000] DMAR: some line that says nothing in particular at all\n' * 600000)
sys.stdout.buffer.write(b'x' * (30 << 20))" > "$tmp/big.log"
read -r mib rc <<<"$(peak_mib "$IP" inspect --dmesg "$tmp/big.log")"
[[ $rc == 0 && $mib -lt 40 ]] && ok "a 70 MB log in $mib MiB" || bad "70 MB log: exit $rc, $mib MiB peak"
python3 - "$tmp" <<'EOF'
import gzip, sys
d = sys.argv[1]
with gzip.open(d + "/zeros.iprof", "wb", compresslevel=1) as f:
    f.write(bytes(200 << 20))
with gzip.open(d + "/label.iprof", "wb", compresslevel=1) as f:
    f.write(b'{"format": "iommuprof-profile", "version": 1, "label": "' + b"a" * (300 << 20) + b'"}')
EOF
for bomb in zeros label; do
    for cmd in report "compare $tmp/$bomb.iprof" "verdict --from"; do
        # shellcheck disable=SC2086
        read -r mib rc <<<"$(peak_mib "$IP" $cmd "$tmp/$bomb.iprof")"
        [[ $rc == 2 && $mib -lt 64 ]] && ok "$cmd on a $bomb bomb: exit 2 in $mib MiB" || bad "$cmd on a $bomb bomb: exit $rc, $mib MiB peak"
    done
done
fixture=${IOMMUPROF_SRC:-$(dirname "$0")/../..}/tests/fixtures/hosts/intel-lazy
cp -a "$fixture" "$tmp/root"
rm -f "$tmp/root/proc/cmdline" "$tmp/root/proc/interrupts"
mkfifo "$tmp/root/proc/cmdline" "$tmp/root/proc/interrupts"
mkdir -p "$tmp/root/dev" && mkfifo "$tmp/root/dev/kmsg"
expect_exit 0 "FIFOs inside --root do not block inspect" -- timeout 10 "$IP" inspect --root "$tmp/root"
[[ $out == *"dev/kmsg is not the kernel log device"* ]] && ok "a FIFO as dev/kmsg is not read" || bad "dev/kmsg FIFO: $out"
rm -f "$tmp/root/proc/cmdline" "$tmp/root/proc/interrupts" "$tmp/root/dev/kmsg"

# ---- 3. invalid UTF-8, 4. terminal escapes ----
printf 'BOOT_IMAGE=/vmlinuz \xff\xfe intel_iommu=on \033]0;PWNED\007 \033[2J\n' > "$tmp/root/proc/cmdline"
printf '[    1.0] DMAR: DRHD \xc3\x28 base 0xfed90000 \033[31mred\n' > "$tmp/bad.log"
expect_exit 0 "inspect --json with invalid UTF-8" -- "$IP" inspect --root "$tmp/root" --dmesg "$tmp/bad.log" --json
printf '%s' "$out" | jq -e '.kernel.cmdline | contains("intel_iommu=on")' >/dev/null && ok "valid JSON out" \
    || bad "inspect --json: $out"
expect_exit 0 "inspect text with escapes" -- "$IP" inspect --root "$tmp/root" --dmesg "$tmp/bad.log"
if printf '%s' "$out" | grep -q $'\033'; then bad "ESC reached the terminal"; else ok "no ESC in inspect text"; fi
[[ $out == *'\x1b]0;PWNED\x07'* ]] && ok "escapes shown visibly" || bad "escape not shown: $(printf '%s' "$out" | grep -a 'Command line')"
expect_exit 0 "live verdict --json with an invalid byte in the log" -- \
    "$IP" verdict -d 0.5 --no-sample --json --dmesg "$tmp/bad.log"
printf '%s' "$out" | jq -e .verdict >/dev/null && ok "verdict JSON parses" || bad "verdict --json: $out"

"$IP" "${REC[@]}" -o "$tmp/base.iprof" --label $'two\nlines \033]0;PWNED\007 \xff' 2>/dev/null
for cmd in "report" "verdict --from" "compare $tmp/base.iprof"; do
    # shellcheck disable=SC2086
    expect_exit 0 "$cmd with a hostile label" -- "$IP" $cmd "$tmp/base.iprof"
    if printf '%s' "$out" | grep -q $'\033'; then bad "$cmd: ESC reached the terminal"; else ok "$cmd: no ESC"; fi
    if printf '%s' "$out" | grep -q '^lines'; then bad "$cmd: the label's newline split a line"; else ok "$cmd: label on one line"; fi
done
expect_exit 0 "report --json with a hostile label" -- "$IP" report --json "$tmp/base.iprof"
printf '%s' "$out" | jq -e '.label | startswith("two\nlines")' >/dev/null && ok "label kept in JSON" || bad "JSON label: $out"

# ---- 7. each counter warning once ----
python3 - "$tmp/base.iprof" "$tmp/warn.iprof" <<'EOF'
import gzip, json, sys
p = json.load(gzip.open(sys.argv[1]))
p["snapshot"]["counters"]["hist_full"] = 7
gzip.open(sys.argv[2], "wt").write(json.dumps(p))
EOF
expect_exit 0 "report with a full-map counter" -- "$IP" report "$tmp/warn.iprof"
n=$(printf '%s\n' "$out" | grep -c 'warning: 7 events not recorded')
[[ $n == 1 ]] && ok "counter warning printed once" || bad "counter warning printed $n times"
finish
