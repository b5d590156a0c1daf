#!/usr/bin/env bash
# tests/fuzz/fixture_to_seed.sh DIR [DMESG]: print a host fixture tree (like
# tests/fixtures/hosts/intel-lazy) in the input format of fuzz_hostfacts
# (tests/fuzz/fuzz_hostfacts.cpp): "%% file PATH" + content, "%% link PATH" +
# target, "%% dir PATH" for empty directories, "%% dmesg" + the log. DMESG
# defaults to DIR/dmesg.txt when it exists.
#   tests/fuzz/fixture_to_seed.sh tests/fixtures/hosts/intel-lazy > tests/fuzz/corpus/hostfacts/intel-lazy
set -euo pipefail
dir=${1:?usage: fixture_to_seed.sh DIR [DMESG]}
dmesg=${2:-$dir/dmesg.txt}
cd "$dir"
find . -mindepth 1 \( -path ./dmesg.txt -o -name 'dmesg*.txt' \) -prune -o -print | LC_ALL=C sort | while read -r p; do
    rel=${p#./}
    if [[ -L $p ]]; then
        printf '%%%% link %s\n%s\n' "$rel" "$(readlink "$p")"
    elif [[ -d $p ]]; then
        if [[ -z $(ls -A "$p") ]]; then printf '%%%% dir %s\n' "$rel"; fi
    elif [[ -f $p ]]; then
        printf '%%%% file %s\n' "$rel"
        cat "$p"
        # A header must start a line: end a content without a newline with one.
        if [[ -s $p && $(tail -c1 "$p" | od -An -tx1) != " 0a" ]]; then echo; fi
    fi
done
cd - >/dev/null
if [[ -f $dmesg ]]; then
    printf '%%%% dmesg\n'
    cat "$dmesg"
fi
