#!/usr/bin/env bash
# The lab matrix: boots every cell of tests/lab/cells.txt (real Debian 6.1/6.12 kernels, emulated
# Intel VT-d / AMD-Vi / virtio-iommu, strict / lazy / passthrough), runs the real iommuprof in each
# guest under an NVMe O_DIRECT workload (tests/lab/guest_cell.sh) and asserts on its JSON
# (tests/lab/check_cell.py); then compares the strict and passthrough profiles of each kernel.
#
#   tests/lab/matrix_test.sh build/iommuprof
#   LAB_CELLS="6.12 intel strict;6.12 intel pt" tests/lab/matrix_test.sh build/iommuprof
#   LAB_JOBS=1 ...          guests booted at a time (default 2: one TCG guest per host core)
#   LAB_KEEP=DIR ...        keep every cell's outputs in DIR
#   LAB_SUMMARY=FILE ...    also write the summary (one line per cell) to FILE (scripts/test.sh prints it)
# Prints PASS/FAIL per assertion, one result line per cell with its wall time, and exits 1 on any
# failure.
set -uo pipefail
IP=$(realpath "${1:?usage: $0 PATH_TO_IOMMUPROF}")
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 1
. scripts/lab/lib.sh
RUN=$repo/scripts/lab/run
COUNT=${LAB_COUNT:-8000}
LARGE=${LAB_LARGE:-240}  # 64 KiB reads of the large-I/O run (and a tenth as many of 1 MiB)
jobs=${LAB_JOBS:-2}

if [[ -n ${LAB_KEEP:-} ]]; then
    work=$LAB_KEEP
    mkdir -p "$work"
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/lab-matrix.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi

mapfile -t all < <(lab_cells)
if [[ -n ${LAB_CELLS:-} ]]; then
    IFS=';' read -r -a want <<<"$LAB_CELLS"
    cells=()
    for w in "${want[@]}"; do
        read -r k i m <<<"$w"
        line=$(printf '%s\n' "${all[@]}" | awk -v k="$k" -v i="$i" -v m="$m" '$1 == k && $2 == i && $3 == m')
        [[ -n $line ]] || { echo "FAIL  no cell '$w' in tests/lab/cells.txt"; exit 1; }
        cells+=("$line")
    done
else
    cells=("${all[@]}")
fi

# What each cell runs besides the default steps (guest_cell.sh): the kprobe path (kprobe_multi on
# 6.12, classic on 6.1, a program pair per function without attach cookies on 5.10), clean
# detach and a live verdict on 6.12 strict, and the large reads (64 KiB, 1 MiB) on every kernel's
# Intel strict cell, 7.x pt (the two-step IOVA API refused) and the wide 5.10 cells.
extras_of() {
    case "$1 $2 $3" in
    "6.12 intel strict") echo kprobe detach live large ;;
    "6.1 intel strict" | "5.10 intel strict") echo kprobe large ;;
    *" intel strict" | "7 intel pt" | "5.10 "*) echo large ;;
    esac
}

for k in $(printf '%s\n' "${cells[@]}" | awk '{ print $1 }' | sort -u); do
    scripts/lab/kernels.sh "$k" >/dev/null || { echo "FAIL  cannot prepare kernel $k"; exit 1; }
done

run_cell() {  # run_cell KERNEL IOMMU MODE GTYPE: boot, run guest_cell.sh, check; writes DIR/result
    local k=$1 i=$2 m=$3 t=$4 d="$work/$1-$2-$3" env=() x t0 rc large=0
    mkdir -p "$d"
    for x in $(extras_of "$k" "$i" "$m"); do
        case $x in kprobe) env+=(--env CELL_KPROBE=1) ;; detach) env+=(--env CELL_DETACH=1) ;; live) env+=(--env CELL_LIVE=1) ;;
        large) large=$LARGE ;; esac
    done
    t0=$(date +%s)
    "$RUN" -q -k "$k" -i "$i" -m "$m" -t 600 -o "$d/lab" --env IP="$IP" --env CELL_COUNT="$COUNT" --env CELL_LARGE="$large" "${env[@]}" \
        -- tests/lab/guest_cell.sh >"$d/lab.stdout" 2>"$d/lab.stderr"
    rc=$?
    if [[ $rc != 0 ]]; then
        { echo "FAIL  [$k $i $m] lab run exit $rc"; tail -n 30 "$d/lab.stderr" | sed 's/^/      | /'; } >"$d/check.txt"
    else
        CELL_LARGE=$large python3 tests/lab/check_cell.py "$d/lab/out" "$k" "$i" "$m" "$t" "${LAB_NVME_BDF:-0000:00:04.0}" "$COUNT" \
            $(extras_of "$k" "$i" "$m") >"$d/check.txt" 2>&1
        rc=$?
    fi
    echo "$rc $(($(date +%s) - t0))" >"$d/result"
}

start=$(date +%s)
running=0
for c in "${cells[@]}"; do
    read -r k i m t <<<"$c"
    run_cell "$k" "$i" "$m" "$t" &
    running=$((running + 1))
    if ((running >= jobs)); then
        wait -n
        running=$((running - 1))
    fi
done
wait

failed=0
summary=()
for c in "${cells[@]}"; do
    read -r k i m t <<<"$c"
    d="$work/$k-$i-$m"
    cat "$d/check.txt"
    read -r rc secs <"$d/result"
    if [[ $rc == 0 ]]; then summary+=("PASS  cell $k × $i × $m ($secs s)"); else
        summary+=("FAIL  cell $k × $i × $m ($secs s)")
        failed=$((failed + 1))
    fi
done

# Before/after: the strict profile against the passthrough one of the same kernel (a reboot with
# iommu=pt under the same NVMe workload), and strict against lazy.
compare_pair() {  # compare_pair KERNEL BEFORE_MODE AFTER_MODE
    local k=$1 b="$work/$1-intel-$2/lab/out/fentry.iprof" a="$work/$1-intel-$3/lab/out/fentry.iprof"
    [[ -f $b && -f $a ]] || return 0
    local name="compare $k intel $2 → $3"
    if ! "$IP" compare "$b" "$a" --json >"$work/cmp.json" 2>"$work/cmp.err" ||
        ! "$IP" compare "$b" "$a" >"$work/cmp.txt" 2>>"$work/cmp.err"; then
        summary+=("FAIL  $name: exit non-zero: $(tail -n 2 "$work/cmp.err")")
        failed=$((failed + 1))
        return
    fi
    if python3 - "$work/cmp.json" "$2" "$3" <<'EOF'; then summary+=("PASS  $name"); else
import json, sys
c = json.load(open(sys.argv[1])); before, after = sys.argv[2], sys.argv[3]
cat = {x["category"]: x for x in c["categories"]}
fails = []
def need(cond, what):
    if not cond: fails.append(what)
need(c["mode_changed"] is True, f"mode_changed ({c['before']['mode']} -> {c['after']['mode']})")
need(before in c["before"]["mode"], f"before mode says {before}: {c['before']['mode']}")
inv = cat.get("flush", {})
need(inv.get("before_calls_per_s", 0) > 0, "invalidations before")
if after == "pt":
    need(c["after"]["mode"] == "passthrough", f"after mode passthrough: {c['after']['mode']}")
    core = cat.get("iommu-core", {})
    need(core.get("before_calls_per_s", 0) > 0 and core.get("after_calls_per_s", 1) < 0.05 * core["before_calls_per_s"],
         f"iommu-core calls fall to ~0: {core}")
    need(inv.get("after_calls_per_s", 1) < 0.05 * inv.get("before_calls_per_s", 0), f"invalidations fall to ~0: {inv}")
    need(c["after"]["cpu_share"] < c["before"]["cpu_share"], "IOMMU CPU share falls")
    need("passthrough" in c["conclusion"], f"conclusion names the change: {c['conclusion']}")
else:
    need("lazy" in c["after"]["mode"], f"after mode lazy: {c['after']['mode']}")
    need(inv.get("after_calls_per_s", 0) < 0.5 * inv.get("before_calls_per_s", 0), f"lazy batches invalidations: {inv}")
for f in fails: print("      | " + f)
sys.exit(1 if fails else 0)
EOF
        summary+=("FAIL  $name")
        failed=$((failed + 1))
    fi
}
for k in 6.1 6.12; do compare_pair "$k" strict pt; done
compare_pair 6.12 strict lazy

{
    echo
    echo "lab matrix ($jobs guests at a time, $COUNT NVMe reads per profile):"
    printf '%s\n' "${summary[@]}"
    echo "lab matrix: ${#cells[@]} cells, $failed failures, wall $(($(date +%s) - start)) s"
} | tee "${LAB_SUMMARY:-/dev/null}"
((failed == 0))
