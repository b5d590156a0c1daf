#!/usr/bin/env bash
# Label pkg: iommuprof installed like a real tool (docs/install.md).
#   1. `cmake --install` of this build dir into staging trees (prefix /usr with DESTDIR, and
#      another prefix): exactly the expected files, unit paths that match the prefix.
#   2. `cpack -G DEB` from this build dir: control fields, dependencies covering every library
#      the binary needs, maintainer scripts, conffiles, the file list, a stripped binary.
#   3. `apt-get install ./iommuprof_*.deb` on this machine: the command on PATH, --version, the
#      man page (found by man, renders without warnings, documents every command and option
#      --help lists), bash completion (loaded on demand; commands, options, file names, probe
#      points), `systemd-analyze verify` of every installed unit.
#   4. `apt-get purge iommuprof`: every file dpkg listed is gone, so are the enablement links,
#      and iommuprof is no longer on PATH.
# Needs root. Fails (never skips) when a tool is missing: scripts/setup.sh installs them.
# usage: package_test.sh BUILD_DIR
set -uo pipefail
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
start=$SECONDS
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
note() { echo "NOTE $*"; }
die() { echo "FAIL $*" >&2; echo "package_test: cannot run; $pass passed, $((fail + 1)) failed"; exit 1; }

# ---- preconditions: fail with the reason, never skip ----
[[ $(id -u) == 0 ]] || die "needs root: it installs and purges the package"
for t in cmake:cmake cpack:cmake dpkg-deb:dpkg dpkg-shlibdeps:dpkg-dev apt-get:apt man:man-db \
    groff:groff-base systemd-analyze:systemd systemctl:systemd readelf:binutils file:file \
    gzip:gzip flock:util-linux; do
    command -v "${t%%:*}" >/dev/null || die "missing ${t%%:*} (Debian package ${t#*:}): run scripts/setup.sh"
done
bc=/usr/share/bash-completion/bash_completion
[[ -r $bc ]] || die "missing $bc (Debian package bash-completion): run scripts/setup.sh"
for f in CPackConfig.cmake iommuprof iommuprof.8.gz iommuprof.bash-completion; do
    [[ -e $build/$f ]] || die "$build/$f is missing: build first (cmake --build $build)"
done
ver=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
[[ -n $ver ]] || die "no CPACK_PACKAGE_VERSION in $build/CPackConfig.cmake"
arch=$(dpkg --print-architecture)

# One run at a time on this machine (other worktrees may run it too).
exec 9>/run/lock/iommuprof-package-test.lock
flock -w 600 9 || die "another package test holds /run/lock/iommuprof-package-test.lock"
state=$(dpkg-query -W -f='${db:Status-Abbrev}' iommuprof 2>/dev/null)
[[ -z $state || $state == "un "* || $state == "pn "* ]] ||
    die "the iommuprof package is installed here (dpkg status '$state'); this test installs and purges it: apt-get purge iommuprof first"
hash -r
if p=$(command -v iommuprof); then
    die "iommuprof is already on PATH ($p, not from the package): the test checks that the package puts it there and takes it away"
fi

tmp=$(mktemp -d /tmp/iommuprof-pkg.XXXXXX)
installed=0
cleanup() {
    if ((installed)); then
        apt-get purge -y -qq -o DPkg::Lock::Timeout=300 iommuprof >/dev/null 2>&1 ||
            echo "package_test: could not purge iommuprof, do it by hand" >&2
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# ---- what should be installed, from the source tree ----
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null)
unitdir=${unitdir:-/lib/systemd/system}
units=()
for u in "$src"/dist/systemd/*.service "$src"/dist/systemd/*.timer; do
    [[ -e $u ]] && units+=("${u##*/}")
done
((${#units[@]} >= 4)) || bad "dist/systemd has ${#units[@]} units, expected at least 4"
has_conf=0 has_rules=0
if [[ -f $src/dist/etc/iommuprof/check.conf ]]; then has_conf=1; else
    note "dist/etc/iommuprof/check.conf is not in this tree: no conffile expected"; fi
if [[ -f $src/dist/prometheus/iommuprof.rules.yml ]]; then has_rules=1; else
    note "dist/prometheus/iommuprof.rules.yml is not in this tree: not expected in the package"; fi
# expected PREFIX ETC UNITDIR: the file list of an install, sorted, without the leading /
expected() {
    local p=$1 etc=$2 ud=$3 d
    {
        echo "$p/sbin/iommuprof"
        echo "$p/share/man/man8/iommuprof.8.gz"
        echo "$p/share/bash-completion/completions/iommuprof"
        echo "$p/share/doc/iommuprof/README.md"
        echo "$p/share/doc/iommuprof/copyright"
        echo "$p/share/doc/iommuprof/changelog.gz"
        for d in "$src"/docs/*.md; do echo "$p/share/doc/iommuprof/docs/${d##*/}"; done
        for d in "${units[@]}"; do echo "$ud/$d"; done
        ((has_conf)) && echo "$etc/iommuprof/check.conf"
        ((has_rules)) && echo "$p/share/iommuprof/prometheus/iommuprof.rules.yml"
    } | sed 's|^/||' | sort
}
tree() { (cd "$1" && find . ! -type d | sed 's|^\./||' | sort); }
same_list() {  # same_list DESC EXPECTED_FILE ACTUAL_FILE
    if diff -u "$2" "$3" >"$tmp/diff"; then ok "$1"; else bad "$1:"; sed 's/^/    /' "$tmp/diff"; fi
}

# ---- 1. cmake --install into staging trees ----
if DESTDIR=$tmp/usr-stage cmake --install "$build" --prefix /usr >"$tmp/install-usr.log" 2>&1; then
    ok "cmake --install --prefix /usr with DESTDIR"
else
    bad "cmake --install --prefix /usr with DESTDIR:"; sed 's/^/    /' "$tmp/install-usr.log"
fi
expected /usr /etc "$unitdir" >"$tmp/want-usr"
tree "$tmp/usr-stage" >"$tmp/got-usr"
same_list "prefix /usr: exactly the expected files (units in $unitdir, /etc)" "$tmp/want-usr" "$tmp/got-usr"
grep -q '^ExecStart=/usr/sbin/iommuprof ' "$tmp/usr-stage$unitdir/iommuprof-check.service" &&
    grep -q -- '--config /etc/iommuprof/check.conf' "$tmp/usr-stage$unitdir/iommuprof-check.service" &&
    ok "prefix /usr: units run /usr/sbin/iommuprof with /etc/iommuprof/check.conf" ||
    bad "prefix /usr: unit paths: $(grep ExecStart "$tmp/usr-stage$unitdir/iommuprof-check.service")"

stage=$tmp/stage
if cmake --install "$build" --prefix "$stage" >"$tmp/install-stage.log" 2>&1; then
    ok "cmake --install --prefix $stage"
else
    bad "cmake --install --prefix $stage:"; sed 's/^/    /' "$tmp/install-stage.log"
fi
expected "" /etc /lib/systemd/system | sed "s|^|${stage#/}/|" >"$tmp/want-stage"
(cd / && find "${stage#/}" ! -type d | sort) >"$tmp/got-stage"
same_list "prefix $stage: exactly the expected files (units in PREFIX/lib/systemd/system, PREFIX/etc)" \
    "$tmp/want-stage" "$tmp/got-stage"
u=$stage/lib/systemd/system/iommuprof-check.service
grep -q "^ExecStart=$stage/sbin/iommuprof check --config $stage/etc/iommuprof/check.conf" "$u" &&
    ! grep -qE '/usr/sbin|=/etc/' "$stage"/lib/systemd/system/* &&
    ok "prefix $stage: units rewritten to the prefix" ||
    bad "prefix $stage: unit paths: $(grep -h ExecStart "$stage"/lib/systemd/system/*)"
out=$("$stage/sbin/iommuprof" --version 2>&1)
[[ $out == "iommuprof $ver" ]] && ok "staged iommuprof --version: $out" || bad "staged --version: '$out', wanted 'iommuprof $ver'"

# ---- 2. the .deb ----
mkdir -p "$tmp/pkg"
if (cd "$build" && nice -n 19 cpack -G DEB -B "$tmp/pkg") >"$tmp/cpack.log" 2>&1; then
    ok "cpack -G DEB"
else
    bad "cpack -G DEB:"; sed 's/^/    /' "$tmp/cpack.log"
fi
deb=$tmp/pkg/iommuprof_${ver}_$arch.deb
[[ -f $deb ]] || die "no $deb after cpack (see above)"
field() { dpkg-deb -f "$deb" "$1"; }
[[ $(field Package) == iommuprof && $(field Version) == "$ver" && $(field Architecture) == "$arch" ]] &&
    ok "control: Package iommuprof, Version $ver, Architecture $arch" ||
    bad "control: $(field Package) $(field Version) $(field Architecture)"
[[ $(field Section) == admin ]] && ok "control: Section admin" || bad "control: Section '$(field Section)'"
[[ $(field Maintainer) == *"<"*"@"*">" ]] && ok "control: Maintainer $(field Maintainer)" || bad "control: Maintainer '$(field Maintainer)'"
[[ $(field Suggests) == *prometheus-node-exporter* ]] && ok "control: Suggests prometheus-node-exporter" ||
    bad "control: Suggests '$(field Suggests)'"
desc=$(field Description)
[[ $(wc -l <<<"$desc") -ge 3 && $desc == *iommu=pt* ]] && ok "control: a summary and a long description" ||
    bad "control: Description '$desc'"
depends=$(field Depends)
echo "     Depends: $depends"
mkdir -p "$tmp/x" "$tmp/ctl"
dpkg-deb -x "$deb" "$tmp/x" && dpkg-deb -e "$deb" "$tmp/ctl" || bad "dpkg-deb -x/-e $deb"
# Every library the binary needs comes from a package the .deb depends on.
for lib in $(readelf -d "$tmp/x/usr/sbin/iommuprof" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')
    owner=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
    [[ -n $owner ]] || owner=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
    if [[ -n $owner && ", $depends," == *", $owner "* || ", $depends," == *", $owner,"* ]]; then
        ok "Depends covers $lib ($owner)"
    else
        bad "Depends '$depends' lacks the package of $lib ('$owner')"
    fi
done
[[ $(file -b "$tmp/x/usr/sbin/iommuprof") == *", stripped"* ]] && ok "the packaged binary is stripped" ||
    bad "the packaged binary is not stripped: $(file -b "$tmp/x/usr/sbin/iommuprof")"
top=$(zcat "$tmp/x/usr/share/doc/iommuprof/changelog.gz" | head -1)
[[ $top == "iommuprof ($ver) "* ]] && ok "changelog.gz: the first entry is $ver" ||
    bad "changelog.gz starts with '$top', not version $ver: add an entry to dist/debian/changelog"
for s in postinst prerm postrm; do
    if [[ -x $tmp/ctl/$s ]] && sh -n "$tmp/ctl/$s"; then ok "maintainer script $s: executable, valid sh"; else bad "maintainer script $s"; fi
done
grep -q 'daemon-reload' "$tmp/ctl/postinst" && grep -q '/run/systemd/system' "$tmp/ctl/postinst" &&
    ok "postinst reloads systemd when it runs" || bad "postinst does not reload systemd"
for u in "${units[@]}"; do
    grep -qw "$u" "$tmp/ctl/postrm" || bad "postrm does not handle $u"
done
if ((has_conf)); then
    [[ $(cat "$tmp/ctl/conffiles" 2>/dev/null) == /etc/iommuprof/check.conf ]] &&
        ok "conffiles: /etc/iommuprof/check.conf" || bad "conffiles: '$(cat "$tmp/ctl/conffiles" 2>/dev/null)'"
else
    [[ ! -e $tmp/ctl/conffiles ]] && ok "no conffiles (no check.conf in the tree)" || bad "conffiles without check.conf: $(cat "$tmp/ctl/conffiles")"
fi
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./||' | sort >"$tmp/got-deb"
same_list "dpkg-deb -c: exactly the expected files" "$tmp/want-usr" "$tmp/got-deb"
[[ -z $(dpkg-deb -c "$deb" | awk '$2 != "root/root"') ]] && ok "every file owned by root/root" || bad "files not owned by root"

# ---- 3. installed on this machine ----
# dpkg may be told not to unpack some paths (path-exclude in /etc/dpkg/dpkg.cfg.d, as in
# minimized images, or in apt's DPkg::Options): such files are expected to be missing, and
# said so. dpkg reads dpkg.cfg.d/*, then dpkg.cfg, then its command line; the last match wins.
filters=()
for c in /etc/dpkg/dpkg.cfg.d/* /etc/dpkg/dpkg.cfg; do
    [[ -f $c ]] || continue
    while read -r k v _; do
        [[ $k == path-exclude || $k == path-include ]] && filters+=("$k $v $c")
    done <"$c"
done
while read -r k v; do
    filters+=("$k $v apt's DPkg::Options")
done < <(apt-config dump | sed -n 's/^dpkg::options:: "--\(path-exclude\|path-include\)=\(.*\)";$/\1 \2/Ip')
excluded_by() {  # prints the file whose path-exclude drops $1 (the last matching filter wins)
    local f k g c by=
    for f in "${filters[@]}"; do
        read -r k g c <<<"$f"
        # shellcheck disable=SC2053
        [[ $1 == $g ]] || continue
        [[ $k == path-exclude ]] && by=$c || by=
    done
    echo "$by"
}
if apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$deb" >"$tmp/apt-install.log" 2>&1; then
    installed=1
    ok "apt-get install $deb"
else
    installed=1
    bad "apt-get install:"; sed 's/^/    /' "$tmp/apt-install.log"
fi
[[ $(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' iommuprof 2>/dev/null) == "ii  $ver" ]] &&
    ok "dpkg: iommuprof $ver installed" || bad "dpkg status: $(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' iommuprof 2>&1)"
apt-get check -qq >"$tmp/apt-check.log" 2>&1 && ok "apt-get check: dependencies satisfied" ||
    { bad "apt-get check:"; sed 's/^/    /' "$tmp/apt-check.log"; }
dpkg -L iommuprof | sort >"$tmp/dpkg-L"
missing=0 dropped=()
while read -r f; do
    by=$(excluded_by "/$f")
    if [[ -n $by ]]; then
        dropped+=("/$f")
        [[ -e /$f ]] && { bad "/$f is excluded by $by but present"; missing=1; }
    elif [[ ! -f /$f ]] || ! grep -qxF "/$f" "$tmp/dpkg-L"; then
        bad "/$f: not installed or not in dpkg -L"
        missing=1
    fi
done <"$tmp/got-deb"
((missing)) || ok "every file of the package is installed and listed by dpkg -L"
((${#dropped[@]})) && note "dpkg's path-exclude on this machine drops ${#dropped[@]} file(s) of the package: ${dropped[*]}"
hash -r
[[ $(command -v iommuprof) == /usr/sbin/iommuprof ]] && ok "iommuprof on PATH: /usr/sbin/iommuprof" ||
    bad "iommuprof on PATH: '$(command -v iommuprof)'"
out=$(iommuprof --version 2>&1)
[[ $out == "iommuprof $ver" ]] && ok "iommuprof --version: $out" || bad "iommuprof --version: '$out'"

# The man page: found by man, renders without a warning, documents every command and option.
page=/usr/share/man/man8/iommuprof.8.gz
if [[ -n $(excluded_by "$page") ]]; then
    note "dpkg excludes $page here ($(excluded_by "$page")): man -w cannot find it; checking the page from the .deb"
    page=$tmp/x$page
    man -w iommuprof >/dev/null 2>&1 && bad "man -w finds an iommuprof page that dpkg should have dropped"
else
    w=$(man -w iommuprof 2>&1)
    [[ $w == "$page" ]] && ok "man -w iommuprof: $w" || bad "man -w iommuprof: '$w', wanted $page"
fi
MANWIDTH=1000 man --warnings -l "$page" >"$tmp/man.txt" 2>"$tmp/man.err"
rc=$?
[[ $rc == 0 && ! -s $tmp/man.err && -s $tmp/man.txt ]] && ok "man --warnings renders the page without a warning" ||
    { bad "man --warnings (exit $rc):"; sed 's/^/    /' "$tmp/man.err"; }
zcat "$page" | groff -ww -man -z 2>"$tmp/groff.err"
[[ ! -s $tmp/groff.err ]] && ok "groff -ww -man -z: no warning" || { bad "groff -ww -man:"; sed 's/^/    /' "$tmp/groff.err"; }
for s in NAME SYNOPSIS DESCRIPTION OPTIONS COMMANDS "EXIT STATUS" ENVIRONMENT FILES EXAMPLES "SEE ALSO"; do
    grep -q "^$s\$" "$tmp/man.txt" || bad "man page: no section $s"
done
grep -q "iommuprof $ver" "$tmp/man.txt" && ok "man page: sections, version $ver" || bad "man page: no version $ver"
grep -q __generate "$tmp/man.txt" && bad "man page mentions the hidden __generate"
# The commands --help lists, and each one's options.
subs=$(iommuprof --help | awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
[[ -n $subs ]] || bad "no subcommands in iommuprof --help"
# The option names of a command: the first column of its --help option lines ("  -d,--duration FLOAT ...").
opts_of() { iommuprof "$1" --help | awk '/^ +-/ { print $1 }' | tr ',' '\n' | sort -u; }
nman=0 nbad=$fail
for s in $subs; do
    grep -qE "^   $s\$" "$tmp/man.txt" || bad "man page: no section for command $s"
    body=$(awk -v s="$s" '$0 == "   " s { on = 1; next } on && /^   [a-z]/ { exit } on { print }' "$tmp/man.txt")
    for o in $(opts_of "$s"); do
        grep -qE -- "(^|[ ,])$o([ ,=]|\$)" <<<"$body" || bad "man page: $s $o not documented"
        nman=$((nman + 1))
    done
done
((fail == nbad && nman > 50)) && ok "man page: every command of --help ($(wc -w <<<"$subs")) and its options ($nman) documented"

# Bash completion, loaded on demand by bash-completion as for an interactive shell.
cat >"$tmp/complete.sh" <<'EOF'
# complete.sh WORD...: what bash completion offers for the command line WORD... (the last
# word is the one being completed); one candidate a line, sorted.
source /usr/share/bash-completion/bash_completion
__load_completion iommuprof || { echo "LOAD-FAILED"; exit 1; }
spec=$(complete -p iommuprof) || { echo "NO-SPEC"; exit 1; }
func=$(sed -n 's/.* -F \([^ ]*\) .*/\1/p' <<<"$spec")
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
"$func" iommuprof "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort
EOF
mkdir -p "$tmp/cwd/profdir"
touch "$tmp/cwd/prof-a.iprof" "$tmp/cwd/prof-b.iprof"
# Outside a real completion compopt complains; anything else on stderr is a failure (below).
comp() { (cd "$tmp/cwd" && bash "$tmp/complete.sh" "$@" 2>>"$tmp/comp.err"); }
want() {  # want DESC EXPECTED GOT: the same lines
    if [[ $2 == "$3" ]]; then ok "completion: $1"; else bad "completion: $1: got [$(echo $3)], wanted [$(echo $2)]"; fi
}
has() {  # has DESC GOT WORD...: GOT contains every WORD
    local w m=
    for w in "${@:3}"; do grep -qxF -- "$w" <<<"$2" || m+=" $w"; done
    if [[ -z $m ]]; then ok "completion: $1"; else bad "completion: $1: missing$m in [$(echo $2)]"; fi
}
[[ -f /usr/share/bash-completion/completions/iommuprof ]] || note "completion file not installed (dpkg path-exclude?)"
want "commands" "$(sort <<<"$subs")" "$(comp iommuprof '')"
want "commands starting with 're'" "$(printf 'record\nreport')" "$(comp iommuprof re)"
want "the hidden __generate is not offered" "" "$(comp iommuprof __)"
has "global options" "$(comp iommuprof -)" --help --version
for s in $subs; do
    # shellcheck disable=SC2046
    has "every option of '$s --help'" "$(comp iommuprof "$s" -)" $(opts_of "$s")
done
has "record -o: file names" "$(comp iommuprof record -o prof-)" prof-a.iprof prof-b.iprof
has "record --output=: file names" "$(comp iommuprof record --output=prof-)" prof-a.iprof prof-b.iprof
has "report FILE: file names" "$(comp iommuprof report prof-)" prof-a.iprof prof-b.iprof
has "verdict --from: file names" "$(comp iommuprof verdict -d 1 --from prof-)" prof-a.iprof prof-b.iprof
want "inspect --root: directories only" "profdir" "$(comp iommuprof inspect --root prof)"
want "top -i NUMBER: nothing (no file names for a number)" "" "$(comp iommuprof top -i '')"
want "compare takes two files, no third" "" "$(comp iommuprof compare prof-a.iprof prof-b.iprof prof)"
has "run -- COMMAND: commands" "$(comp iommuprof run -o x.iprof -- ech)" echo
has "run COMMAND ARGS: the command's own completion" "$(comp iommuprof run -- ls prof-)" prof-a.iprof
points=$(comp iommuprof top --points '')
has "top --points: probe points" "$points" dma_map dma_unmap
has "--points a,b: the next point of a list" "$(comp iommuprof record -o x --points dma_map,dma_un)" dma_map,dma_unmap
# Every point offered is one the command accepts (it fails on the missing file, not the points).
out=$(iommuprof verdict --from "$tmp/none.iprof" --points "$(paste -sd, <<<"$points")" 2>&1)
[[ $out == *none.iprof* && $out != *"unknown probe point"* && $(wc -l <<<"$points") -ge 10 ]] &&
    ok "completion: all $(wc -l <<<"$points") points offered are accepted by --points" || bad "points: $out"

errs=$(grep -v 'compopt: not currently executing completion function' "$tmp/comp.err")
[[ -z $errs ]] && ok "completion: nothing on stderr" || bad "completion stderr: $errs"

# The units: systemd-analyze verify each, as installed.
man_opt=()
[[ -n $(excluded_by /usr/share/man/man8/iommuprof.8.gz) ]] &&
    { man_opt=(--man=no); note "systemd-analyze verify --man=no: dpkg dropped the man page the units name"; }
nunits=0
while read -r f; do
    [[ $f == *.service || $f == *.timer ]] || continue
    nunits=$((nunits + 1))
    # Only lines about our units count: this machine's other units are not ours to judge.
    v=$(systemd-analyze verify "${man_opt[@]}" "$f" 2>&1)
    rc=$?
    ours=$(grep -i iommuprof <<<"$v")
    [[ $rc == 0 && -z $ours ]] && ok "systemd-analyze verify $f" || bad "systemd-analyze verify $f (exit $rc): $v"
done <"$tmp/dpkg-L"
((nunits == ${#units[@]})) || bad "$nunits units installed, ${#units[@]} in dist/systemd"
# Enabled by the admin, as docs/install.md says: purge must take the links away.
systemctl enable iommuprof-inspect.timer iommuprof-check.service >"$tmp/enable.log" 2>&1 &&
    [[ -L /etc/systemd/system/timers.target.wants/iommuprof-inspect.timer ]] &&
    ok "systemctl enable iommuprof-inspect.timer iommuprof-check.service" ||
    { bad "systemctl enable:"; sed 's/^/    /' "$tmp/enable.log"; }

# ---- 4. purged ----
if apt-get purge -y -qq -o DPkg::Lock::Timeout=300 iommuprof >"$tmp/apt-purge.log" 2>&1; then
    installed=0
    ok "apt-get purge iommuprof"
else
    bad "apt-get purge:"; sed 's/^/    /' "$tmp/apt-purge.log"
fi
[[ -z $(dpkg-query -W -f='${db:Status-Abbrev}' iommuprof 2>/dev/null | grep -v '^[up]n') ]] &&
    ok "dpkg: iommuprof not installed, no config left" || bad "dpkg status after purge: $(dpkg-query -W -f='${db:Status-Abbrev}' iommuprof)"
left=()
while read -r f; do
    [[ -d $f ]] && continue  # directories (/lib: a link to usr/lib) are shared
    [[ -e $f || -L $f ]] && left+=("$f")
done <"$tmp/dpkg-L"
((${#left[@]} == 0)) && ok "every file dpkg -L listed ($(wc -l <"$tmp/dpkg-L") entries) is gone" || bad "left after purge: ${left[*]}"
for d in /etc/iommuprof /usr/share/doc/iommuprof /usr/share/iommuprof; do
    [[ ! -e $d ]] || bad "$d is left after purge"
done
links=$(find /etc/systemd /var/lib/systemd -name 'iommuprof*' 2>/dev/null)
[[ -z $links ]] && ok "no enablement links or systemd state left" || bad "left after purge: $(echo $links)"
hash -r
p=$(command -v iommuprof) && bad "iommuprof still on PATH: $p" || ok "iommuprof no longer on PATH"

echo "package_test: $pass passed, $fail failed in $((SECONDS - start)) s"
((fail == 0))
