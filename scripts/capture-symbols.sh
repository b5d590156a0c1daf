#!/usr/bin/env bash
# Capture the catalog-relevant lines of a kernel's symbol table, for the
# symbol-resolution unit tests (tests/fixtures/kallsyms/).
# Usage: scripts/capture-symbols.sh [/proc/kallsyms | System.map-X] > out.txt
# Keeps every text symbol whose name is a catalog symbol, a compiler clone of
# one (.isra.N/.constprop.N/.part.N), or a .cold fragment (which must NOT be
# attached), plus the feature-probe targets.
set -euo pipefail
src=${1:-/proc/kallsyms}
here=$(cd "$(dirname "$0")/.." && pwd)
names=$(grep -oE 'fn(_sg)?\("[^"]*"' "$here/user/catalog/catalog.cpp" | sed -E 's/fn(_sg)?\("//; s/"//' | sort -u | paste -sd'|')
names="$names|bpf_fentry_test1|do_nanosleep|vfs_read"
grep -E "^[0-9a-f]+ [tT] ($names)((\.(isra|constprop|part|cold|llvm)(\.[0-9]+)?)*)?([[:space:]].*)?$" "$src"
