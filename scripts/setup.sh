#!/usr/bin/env bash
# scripts/setup.sh: install what iommuprof needs to build and test (Debian 12, as root).
# Idempotent: returns quickly when everything is installed.
#   --lab     also the VM lab's packages and guest kernels (scripts/lab/setup.sh --kernels)
#   --bench   also bpftrace, fio and GNU time (scripts/bench-overhead)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lab=0 bench=0
for a in "$@"; do
    case "$a" in
    --lab) lab=1 ;;
    --bench) bench=1 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
    esac
done

pkgs=(
    build-essential cmake ninja-build pkg-config
    clang-14 llvm-14 bpftool       # BPF objects and skeletons
    libbpf-dev libelf-dev zlib1g-dev
    libmnl-dev                     # rtnetlink: packet counters per NIC, in every network namespace
    libfmt-dev libcli11-dev nlohmann-json3-dev
    googletest libgtest-dev
    libclang-rt-14-dev              # libFuzzer runtime (tests/fuzz)
    prometheus                      # promtool: checks the OpenMetrics output and the rules in tests;
                                    # prometheus itself: tests/prometheus/e2e_test.sh
    prometheus-node-exporter curl   # the end-to-end test's node_exporter (textfile collector)
    python3 jq
    dpkg-dev file bash-completion   # packaging: cpack -G DEB (dpkg-shlibdeps), tests/pkg
    man-db groff-base systemd       # tests/pkg: man, groff -ww, systemd-analyze verify
    chromium chromium-driver python3-selenium fonts-dejavu-core fonts-liberation
                                    # tests/html/browser_test.py: the HTML pages in headless Chromium
)
[[ $bench == 1 ]] && pkgs+=(bpftrace fio time)
missing=()
for p in "${pkgs[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) == "ii "* ]] || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) != 0 ]]; then
        echo "setup.sh: need root to install: ${missing[*]}" >&2
        exit 1
    fi
    echo "setup.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ $lab == 1 ]]; then
    "$here/lab/setup.sh" --kernels
fi
