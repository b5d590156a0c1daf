#!/usr/bin/env bash
# scripts/fuzz.sh: build the libFuzzer targets (tests/fuzz) with clang in their own build
# directory and run them: first a replay of the checked-in corpus (tests/fuzz/corpus/TARGET),
# then TIME seconds of fuzzing each, targets in parallel. Fails on any crash, sanitizer report,
# leak, timeout, out-of-memory or amplification (docs/testing.md).
#   scripts/fuzz.sh                   the CI run (ctest -L fuzz): 60 s per target
#   scripts/fuzz.sh --long 3600       a long session; the working corpus is kept between runs
#   scripts/fuzz.sh --merge           add what the working corpus covers beyond the checked-in
#                                     corpus to tests/fuzz/corpus (minimized); review, then commit
#   scripts/fuzz.sh --replay-only     only the corpus replay (also: --target NAME, --jobs N)
#   scripts/fuzz.sh --findings        which open findings (tests/fuzz/findings/TARGET) still fail
# Options:
#   --build DIR     build directory (default: build-fuzz/ in the checkout)
#   --time S        seconds of fuzzing per target (default 60)
#   --long S        --time S, --keep-corpus and --keep-going
#   --keep-corpus   start from the working corpus of earlier runs (DIR/fuzz-work/TARGET/corpus)
#                   instead of a fresh one
#   --keep-going    go on after a finding (libFuzzer -fork=1 -ignore_crashes=1 ...): a long session
#                   collects every finding instead of stopping at the first; still fails at the end
#   --target NAME   only this target (profile, hostfacts); repeatable
#   --jobs N        targets run at once (default: the number of CPUs, at most the targets)
#   --strict        FUZZ_STRICT=1: also what the CLI papers over (tests/fuzz/fuzz_common.hpp)
#   -- ARGS         more libFuzzer arguments (e.g. -- -max_len=65536 -dict=...)
# Limits (override with FUZZ_RSS_MB, FUZZ_MALLOC_MB, FUZZ_TIMEOUT): -rss_limit_mb=1024,
# -malloc_limit_mb=128 (one allocation), -timeout=5 (seconds per input). Inputs are a few KiB
# and take milliseconds and a few MiB each, so anything near these limits is an amplification.
# Findings: DIR/fuzz-work/TARGET/crash-* (also leak-, timeout-, oom-); reproduce with
#   DIR/tests/fuzz/fuzz_TARGET FILE
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bdir=$root/build-fuzz
time_s=60
keep=0
keep_going=0
merge=0
replay_only=0
findings=0
strict=0
jobs=0
targets=()
extra=()
while (($#)); do
    case "$1" in
    --build) bdir=$2; shift ;;
    --time) time_s=$2; shift ;;
    --long) time_s=$2; keep=1; keep_going=1; shift ;;
    --keep-corpus) keep=1 ;;
    --keep-going) keep_going=1 ;;
    --merge) merge=1; keep=1 ;;
    --replay-only) replay_only=1 ;;
    --findings) findings=1 ;;
    --target) targets+=("$2"); shift ;;
    --jobs) jobs=$2; shift ;;
    --strict) strict=1 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ $time_s =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --time needs whole seconds, not $time_s" >&2; exit 2; }
((${#targets[@]})) || targets=(profile hostfacts)
for t in "${targets[@]}"; do
    [[ -f $root/tests/fuzz/fuzz_$t.cpp ]] || { echo "fuzz.sh: no target $t (tests/fuzz/fuzz_$t.cpp)" >&2; exit 2; }
done
start=$(date +%s)

# ---- compiler: clang-14 from scripts/setup.sh (clang-14, libclang-rt-14-dev) ----
cxx=${FUZZ_CXX:-$(command -v clang++-14 || command -v clang++ || true)}
cc=${FUZZ_CC:-$(command -v clang-14 || command -v clang || true)}
if [[ -z $cxx || -z $cc ]]; then
    echo "fuzz.sh: clang not found; scripts/setup.sh installs clang-14 and libclang-rt-14-dev" >&2
    exit 1
fi
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const char *, unsigned long) { return 0; }' |
    "$cxx" -x c++ -fsanitize=fuzzer,address -o /dev/null - 2>/dev/null; then
    echo "fuzz.sh: $cxx cannot link libFuzzer programs; scripts/setup.sh installs libclang-rt-14-dev" >&2
    exit 1
fi

# ---- build (the project's CMake, IOMMUPROF_FUZZ=ON: tests/fuzz/CMakeLists.txt) ----
mkdir -p "$bdir"
exec 9>"$bdir/.fuzz.lock"
flock -n 9 || { echo "fuzz.sh: another fuzz.sh is using $bdir" >&2; exit 1; }
if [[ ! -f $bdir/build.ninja ]]; then
    cmake -S "$root" -B "$bdir" -G Ninja -DIOMMUPROF_FUZZ=ON -DCMAKE_CXX_COMPILER="$cxx" \
        -DCMAKE_C_COMPILER="$cc" >"$bdir/configure.log" 2>&1 ||
        { cat "$bdir/configure.log" >&2; echo "fuzz.sh: configure failed" >&2; exit 1; }
fi
bin_targets=()
for t in "${targets[@]}"; do bin_targets+=("fuzz_$t"); done
cmake --build "$bdir" --target "${bin_targets[@]}" -j "$(nproc)" >"$bdir/build-fuzz.log" 2>&1 ||
    { tail -n 60 "$bdir/build-fuzz.log" >&2; echo "fuzz.sh: build failed ($bdir/build-fuzz.log)" >&2; exit 1; }
built=$(date +%s)
echo "fuzz.sh: built ${bin_targets[*]} in $bdir ($((built - start)) s)"

# ---- run ----
symbolizer=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
[[ -n $symbolizer ]] && export ASAN_SYMBOLIZER_PATH=$symbolizer UBSAN_SYMBOLIZER_PATH=$symbolizer
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
((strict)) && export FUZZ_STRICT=1
limits=(-rss_limit_mb="${FUZZ_RSS_MB:-1024}" -malloc_limit_mb="${FUZZ_MALLOC_MB:-128}"
        -timeout="${FUZZ_TIMEOUT:-5}" -print_final_stats=1)
((jobs > 0)) || jobs=$(nproc)
((jobs <= ${#targets[@]})) || jobs=${#targets[@]}

# run_target T: replay, fuzz (or merge); output in $work/T/fuzz.log; exit status 0 = clean.
run_target() {
    local t=$1 bin=$bdir/tests/fuzz/fuzz_$1 seeds=$root/tests/fuzz/corpus/$1
    local w=$bdir/fuzz-work/$t dict=() going=() rc=0
    [[ -f $root/tests/fuzz/$t.dict ]] && dict=(-dict="$root/tests/fuzz/$t.dict")
    ((keep_going)) && going=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    mkdir -p "$w"
    rm -f "$w"/crash-* "$w"/leak-* "$w"/timeout-* "$w"/oom-* "$w"/slow-unit-*
    ((keep)) || rm -rf "$w/corpus"
    mkdir -p "$w/corpus"
    : >"$w/fuzz.log"
    if ((merge)); then
        echo "== merge $w/corpus into $seeds" >>"$w/fuzz.log"
        # -use_counters=0: only inputs that reach new edges (not new hit counts), so that the
        # checked-in corpus stays small.
        "$bin" -merge=1 -use_counters=0 "${limits[@]}" -artifact_prefix="$w/" "$seeds" "$w/corpus" \
            >>"$w/fuzz.log" 2>&1 || rc=$?
        grep -E '^MERGE-OUTER: [0-9]+ new files' "$w/fuzz.log" | sed "s/^MERGE-OUTER:/fuzz.sh: $t:/" || true
        return $rc
    fi
    echo "== replay $seeds" >>"$w/fuzz.log"
    "$bin" -runs=0 "${limits[@]}" -artifact_prefix="$w/" "$seeds" >>"$w/fuzz.log" 2>&1 || return $?
    ((replay_only)) && return 0
    ((time_s > 0)) || return 0
    echo "== fuzz ${time_s} s" >>"$w/fuzz.log"
    "$bin" -max_total_time="$time_s" "${limits[@]}" "${dict[@]}" "${going[@]}" -artifact_prefix="$w/" "${extra[@]}" \
        "$w/corpus" "$seeds" >>"$w/fuzz.log" 2>&1 || rc=$?
    return $rc
}

if ((findings)); then
    # Each open finding on its own: "still fails" (not fixed yet) or "passes" (fixed: move it
    # into tests/fuzz/corpus/TARGET, docs/testing.md).
    for t in "${targets[@]}"; do
        for f in "$root"/tests/fuzz/findings/"$t"/*; do
            [[ -f $f && $(basename "$f") != README* ]] || continue
            if "$bdir/tests/fuzz/fuzz_$t" "${limits[@]}" "$f" >"$bdir/finding.log" 2>&1; then
                echo "fuzz.sh: $t $(basename "$f"): passes (fixed? move it to tests/fuzz/corpus/$t)"
            else
                echo "fuzz.sh: $t $(basename "$f"): still fails: $(grep -m1 -E 'what\(\)|ERROR|^==[A-Z-]+==|runtime error' \
                    "$bdir/finding.log" | cut -c1-160)"
            fi
        done
    done
    exit 0
fi

# describe BIN FILE: one line for what failed and the first frames in iommuprof's own code.
describe() {
    local out
    out=$("$1" "${limits[@]}" "$2" 2>&1 || true)
    grep -m1 -E "what\(\)|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|^==[A-Z-]+==|runtime error:|ALARM:" <<<"$out" |
        sed 's/^ */      /' | cut -c1-200 || true
    grep -E "^ +#[0-9]+ .* in .*($root/user/|$root/tests/fuzz/)" <<<"$out" | head -n 4 |
        sed -E "s|^ +#[0-9]+ 0x[0-9a-f]+ in |        at |; s|$root/||" | cut -c1-200 || true
}

pids=() names=()
failed=0
wait_one() {  # wait for pids[0], report it
    local rc=0 t=${names[0]} w=$bdir/fuzz-work/${names[0]}
    wait "${pids[0]}" || rc=$?
    pids=("${pids[@]:1}") names=("${names[@]:1}")
    local stats='' found='' first=''
    if grep -q -E '^#[0-9]+: cov: ' "$w/fuzz.log"; then  # --keep-going (fork mode): its own status lines
        stats=$(grep -E '^#[0-9]+: cov: ' "$w/fuzz.log" | tail -n 1 |
            sed -E 's/^#([0-9]+): .*corp: ([0-9]+).*oom\/timeout\/crash: ([0-9/]+).*/executed_units=\1 corpus=\2 oom\/timeout\/crash=\3/' || true)
    else
        stats=$(grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb|slowest_unit_time_sec)' \
            "$w/fuzz.log" | tail -n 4 | sed 's/^stat:://; s/: */=/' | tr '\n' ' ' || true)
    fi
    found=$(ls "$w"/crash-* "$w"/leak-* "$w"/timeout-* "$w"/oom-* 2>/dev/null || true)
    if ((rc != 0)) || [[ -n $found ]]; then
        failed=1
        echo "fuzz.sh: $t FAILED (exit $rc) $stats"
        # The report: the sanitizer / libFuzzer / harness error and its stack (with --keep-going
        # the children's reports are gone: describe() below reruns each input).
        ((keep_going)) || first=$(grep -n -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|terminate called|^==[A-Z-]+==|ALARM:' \
            "$w/fuzz.log" | cut -d: -f1 || true)
        [[ -n $first ]] && sed -n "${first},$((first + 45))p" "$w/fuzz.log" | cut -c1-200 | sed 's/^/    /'
        local n=0
        for f in $found; do
            echo "    input: $f ($(stat -c %s "$f") bytes); reproduce: $bdir/tests/fuzz/fuzz_$t $f"
            ((++n <= 5)) && describe "$bdir/tests/fuzz/fuzz_$t" "$f"
        done
        echo "    log: $w/fuzz.log"
    else
        echo "fuzz.sh: $t ok $stats"
    fi
}
for t in "${targets[@]}"; do
    run_target "$t" &
    pids+=($!) names+=("$t")
    ((${#pids[@]} >= jobs)) && wait_one
done
while ((${#pids[@]})); do wait_one; done

if ((merge)); then
    echo "fuzz.sh: merged; review with git status tests/fuzz/corpus, then commit what is new"
fi
if ((merge || replay_only)); then
    echo "fuzz.sh: $( ((failed)) && echo FAILED || echo passed ) after $(($(date +%s) - start)) s (build $((built - start)) s)"
else
    echo "fuzz.sh: $( ((failed)) && echo FAILED || echo passed ) after $(($(date +%s) - start)) s" \
        "(build $((built - start)) s, fuzzing ${time_s} s per target, ${#targets[@]} targets, $jobs at once)"
fi
exit $failed
