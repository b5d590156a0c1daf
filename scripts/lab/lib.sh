# shellcheck shell=bash
# Shared helpers of the iommuprof VM lab (sourced by scripts/lab/run, kernels.sh, tests/lab/*).
#
# Everything here prints diagnostics on stderr only: callers keep stdout for their own data.

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_REPO=$(cd "$LAB_DIR/../.." && pwd)
LAB_CACHE=${IOMMUPROF_LAB_CACHE:-/var/cache/iommuprof-lab}
# Bump when the initramfs layout changes in a way the hashed inputs do not capture.
LAB_INITRAMFS_FORMAT=3
LAB_QUIET=${LAB_QUIET:-0}

# Modules the guest needs before it can reach the 9p root; dependencies come from modules.dep.
# Names use '_' (depmod normalises '-' to '_').  Builtin ones are skipped.
LAB_MODULES_REQUIRED=(virtio_pci 9pnet_virtio 9p overlay nvme)
# Loaded when the kernel has them (6.1 has no virtio-iommu driver).
LAB_MODULES_OPTIONAL=(virtio_iommu)

lab_log() { [[ $LAB_QUIET == 1 ]] || printf 'lab: %s\n' "$*" >&2; }
lab_warn() { printf 'lab: warning: %s\n' "$*" >&2; }
lab_die() { printf 'lab: error: %s\n' "$*" >&2; exit 125; }

# Two free UDP ports on 127.0.0.1, P and P+1 (the two ends of the lab's NIC cable).
lab_free_udp_pair() {
    local p i
    for i in $(seq 50); do
        p=$((20000 + (RANDOM % 20000) * 2))
        if ! ss -Hlun "sport = :$p" | grep -q . && ! ss -Hlun "sport = :$((p + 1))" | grep -q .; then
            echo "$p $((p + 1))"
            return 0
        fi
    done
    lab_die "no free UDP port pair on 127.0.0.1"
}

# Run a command under an exclusive lock on the cache (concurrent runs share the cache).
lab_locked() {
    mkdir -p "$LAB_CACHE"
    (
        flock 9
        "$@"
    ) 9>"$LAB_CACHE/.lock"
}

# ---- the lab's own apt state ----
# Guest kernels come from every Debian suite (bullseye's 5.10 to sid's newest 7.x), resolved and
# downloaded with an apt state of the lab's own under $LAB_CACHE/apt: its own sources list, lists,
# archive cache and an empty dpkg status, selected with APT_CONFIG. The host's sources and lists
# are never touched, and nothing is installed.
LAB_APT=$LAB_CACHE/apt
LAB_APT_MIRROR=${IOMMUPROF_LAB_MIRROR:-http://deb.debian.org/debian}
LAB_APT_SECURITY=${IOMMUPROF_LAB_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
LAB_APT_SUITES=${IOMMUPROF_LAB_SUITES:-bullseye bullseye-security bookworm bookworm-updates bookworm-security trixie trixie-security trixie-backports sid}

_lab_apt_init() {
    mkdir -p "$LAB_APT/lists/partial" "$LAB_APT/cache/archives/partial" "$LAB_APT/sources.list.d" \
        "$LAB_APT/preferences.d"
    [[ -f $LAB_APT/status ]] || : >"$LAB_APT/status"
    local s uri kr=/usr/share/keyrings/debian-archive-keyring.gpg
    {
        for s in $LAB_APT_SUITES; do
            uri=$LAB_APT_MIRROR
            [[ $s == *-security ]] && uri=$LAB_APT_SECURITY
            echo "deb [arch=amd64 signed-by=$kr] $uri $s main"
        done
    } >"$LAB_APT/sources.list.new"
    mv "$LAB_APT/sources.list.new" "$LAB_APT/sources.list"
    cat >"$LAB_APT/apt.conf.new" <<EOF_CONF
Dir::Etc::SourceList "$LAB_APT/sources.list";
Dir::Etc::SourceParts "$LAB_APT/sources.list.d";
Dir::Etc::Preferences "$LAB_APT/preferences";
Dir::Etc::PreferencesParts "$LAB_APT/preferences.d";
Dir::State::Lists "$LAB_APT/lists";
Dir::State::status "$LAB_APT/status";
Dir::Cache "$LAB_APT/cache";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
Acquire::Languages "none";
Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
EOF_CONF
    mv "$LAB_APT/apt.conf.new" "$LAB_APT/apt.conf"
}
# lab_apt CMD ARGS: an apt command (apt-get, apt-cache) on the lab's own apt state.
lab_apt() { APT_CONFIG=$LAB_APT/apt.conf "$@"; }
_lab_apt_lists_ok() { compgen -G "$LAB_APT/lists/*_Packages*" >/dev/null; }
_lab_apt_update_locked() {
    _lab_apt_init
    lab_log "apt-get update of the lab's own apt state ($LAB_APT: $LAB_APT_SUITES)"
    local log
    log=$(mktemp)
    if ! lab_apt apt-get update -q >"$log" 2>&1; then
        lab_warn "apt-get update ($LAB_APT) failed: $(grep -E '^(E|W):' "$log" | head -n 3 | tr '\n' ' ')"
        rm -f "$log"
        _lab_apt_lists_ok
        return
    fi
    # a suite that could not be read is a warning (the others still resolve)
    grep -E '^(W|E):' "$log" | head -n 3 | while IFS= read -r l; do lab_warn "$l"; done
    rm -f "$log"
}
# lab_apt_update: refresh the lab's apt lists (once per call; serialised with the cache lock).
lab_apt_update() { lab_locked _lab_apt_update_locked; }
# lab_apt_ready: the lab's apt lists exist (fetched once, on first use).
lab_apt_ready() {
    [[ -f $LAB_APT/apt.conf ]] && _lab_apt_lists_ok && return 0
    lab_apt_update
}

# Package-name regex of a kernel series: "6.1" (6.1.0-N-amd64), "6.12" (6.12.N+deb12-amd64), any
# other "X.Y" (X.Y.N+debNN-amd64 or X.Y.0-N-amd64: 5.10, 6.18, 6.19, 7.3, ...), or a bare major
# "7" (the newest 7.x).
lab_series_regex() {
    case $1 in
        6.1) echo '^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
        6.12) echo '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
        [5-9].[0-9] | [5-9].[0-9][0-9])
            local v=${1//./\\.}
            echo "^linux-image-$v(\\.0-[0-9]+|\\.[0-9]+\\+deb[0-9]+)-amd64\$" ;;
        [5-9]) echo "^linux-image-$1\\.[0-9]+(\\.0-[0-9]+|\\.[0-9]+\\+deb[0-9]+)-amd64\$" ;;
        *) return 1 ;;
    esac
}

# lab_resolve_kver SERIES|KVER -> prints the kernel release (e.g. 6.12.117+deb12-amd64).
# A series resolves to the newest matching package apt knows about (no pinned patch version);
# without apt lists it falls back to the newest kernel of that series already in the cache.
lab_resolve_kver() {
    local want=$1 re pkg kver
    if [[ $want == *-amd64 ]]; then
        echo "${want#linux-image-}"
        return 0
    fi
    re=$(lab_series_regex "$want") ||
        lab_die "unknown kernel '$want' (use a series such as 5.10, 6.1, 6.12, 6.18, 7.3, a major such as 7, or a full release like 6.12.117+deb12-amd64)"
    # apt-cache takes ~1 s per call here: remember the answer until the apt lists change.
    local memo=$LAB_CACHE/resolved-$want
    if [[ -s $memo ]] && [[ -z $(find "$LAB_APT/lists" -maxdepth 1 -name '*Packages*' -newer "$memo" 2>/dev/null | head -n1) ]] &&
        [[ -f $LAB_CACHE/kernels/$(cat "$memo")/.complete ]]; then
        cat "$memo"
        return 0
    fi
    kver=$(_lab_resolve_apt "$re" "$want") || kver=
    if [[ -n $kver ]]; then
        mkdir -p "$LAB_CACHE" && echo "$kver" >"$memo.$$" && mv "$memo.$$" "$memo"
        echo "$kver"
        return 0
    fi
    kver=$(find "$LAB_CACHE/kernels" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null |
        sed 's/^/linux-image-/' | grep -E "$re" | sort -V | tail -n1 | sed 's/^linux-image-//')
    if [[ -n $kver && -f $LAB_CACHE/kernels/$kver/.complete ]]; then
        lab_warn "apt knows no linux-image for $want (run scripts/lab/setup.sh?); using cached $kver"
        echo "$kver"
        return 0
    fi
    lab_die "no linux-image package found for kernel series $want in $LAB_APT_SUITES"
}

# Newest package matching regex $1 that has an installable candidate ("pkgnames" also lists names
# only mentioned in dependencies).  Prints the kernel release.
_lab_resolve_apt() {
    local re=$1 series=$2 pkgs pkg
    lab_apt_ready || return 1
    mapfile -t pkgs < <(lab_apt apt-cache pkgnames "linux-image-${series%%.*}" 2>/dev/null | grep -E "$re" | sort -rV)
    [[ ${#pkgs[@]} -gt 0 ]] || return 1
    # newest first, the first whose package (and, split, every part of it) can be downloaded: a
    # suite may list an image whose parts are gone (seen: 6.19.14+deb13 in trixie-backports)
    local p kver
    while read -r p; do
        kver=${p#linux-image-}
        _lab_split_parts "$kver" | _lab_all_have_candidates && { echo "$kver"; return 0; }
    done < <(lab_apt apt-cache policy "${pkgs[@]}" 2>/dev/null | awk '
        /^[^ ].*:$/ { name = substr($0, 1, length($0) - 1) }
        /^  Candidate:/ && $2 != "(none)" { print name }')
    return 1
}
# The split packages a linux-image-KVER depends on (none for the older, whole images).
# An image is split when it depends on its linux-binary part; a whole image (6.18 and older)
# holds the kernel and its modules itself, and the linux-base-KVER some of them depend on is not
# needed (seen: trixie-backports lists none for 6.18).
_lab_split_parts() {
    local kver=$1 deps
    deps=$(lab_apt apt-cache show --no-all-versions "linux-image-$kver" 2>/dev/null | sed -n 's/^Depends: //p' |
        tr ',|' '\n\n' | awk '{ print $1 }')
    grep -qxF "linux-binary-$kver" <<<"$deps" || return 0
    grep -xF -e "linux-binary-$kver" -e "linux-modules-$kver" -e "linux-base-$kver" <<<"$deps" | sort -u
    return 0 # (under pipefail, grep's "no match" would make it a failure)
}
# stdin: package names; true when every one has an installable candidate
_lab_all_have_candidates() {
    local names
    mapfile -t names
    [[ ${#names[@]} -gt 0 ]] || return 0
    [[ $(lab_apt apt-cache policy "${names[@]}" 2>/dev/null | grep -c '^  Candidate: [^(]') == "${#names[@]}" ]]
}

# Directory holding the unpacked kernel package (boot/, lib/modules/KVER with modules.dep).
lab_kernel_dir() { echo "$LAB_CACHE/kernels/$1"; }
lab_vmlinuz() { echo "$LAB_CACHE/kernels/$1/boot/vmlinuz-$1"; }
lab_moddir() { echo "$LAB_CACHE/kernels/$1/lib/modules/$1"; }

_lab_fetch_kernel_locked() {
    local kver=$1 dir tmp deb
    dir=$(lab_kernel_dir "$kver")
    [[ -f $dir/.complete ]] && return 0
    lab_log "fetching linux-image-$kver into $dir (one-time)"
    lab_apt_ready || return 1
    tmp=$(mktemp -d "$LAB_CACHE/.fetch.XXXXXX")
    # apt-get download drops privileges to _apt: let it write into the scratch directory.
    chmod 0777 "$tmp"
    # From 6.19 (sid) and 7.x the image is split: linux-image-KVER is a metapackage over
    # linux-binary-KVER (the kernel), linux-modules-KVER and linux-base-KVER, all of them under
    # usr/lib/modules/KVER/.
    local pkgs=("linux-image-$kver") p
    for p in $(_lab_split_parts "$kver"); do
        pkgs+=("$p")
    done
    if ! (cd "$tmp" && lab_apt apt-get download -q=2 "${pkgs[@]}" >&2); then
        rm -rf "$tmp"
        lab_warn "apt-get download ${pkgs[*]} failed"
        return 1
    fi
    mkdir -p "$tmp/x"
    for deb in "$tmp"/*.deb; do
        [[ -f $deb ]] || lab_die "no .deb downloaded for linux-image-$kver"
        dpkg -x "$deb" "$tmp/x" || lab_die "dpkg -x $deb failed"
        rm -f "$deb"
    done
    # The lab's layout: boot/vmlinuz-KVER and lib/modules/KVER (merged-/usr packages put the
    # modules, and the split ones the kernel as well, under usr/lib/modules/KVER).
    if [[ -d $tmp/x/usr/lib/modules/$kver ]]; then
        mkdir -p "$tmp/x/lib/modules"
        cp -a "$tmp/x/usr/lib/modules/$kver" "$tmp/x/lib/modules/" && rm -rf "$tmp/x/usr/lib/modules/$kver"
    fi
    if [[ ! -f $tmp/x/boot/vmlinuz-$kver ]]; then
        mkdir -p "$tmp/x/boot"
        for p in "$tmp/x/lib/modules/$kver/vmlinuz" "$tmp/x/lib/modules/$kver/vmlinuz-$kver"; do
            [[ -f $p ]] && mv "$p" "$tmp/x/boot/vmlinuz-$kver" && break
        done
    fi
    [[ -f $tmp/x/boot/vmlinuz-$kver ]] || lab_die "${pkgs[*]}: no kernel image (boot/vmlinuz-$kver or usr/lib/modules/$kver/vmlinuz)"
    # The package ships no modules.dep (postinst runs depmod): generate it for the unpacked tree.
    depmod -b "$tmp/x" "$kver" || lab_die "depmod for $kver failed"
    rm -rf "$dir"
    mkdir -p "$(dirname "$dir")"
    mv "$tmp/x" "$dir"
    rm -rf "$tmp"
    touch "$dir/.complete"
}

# lab_fetch_kernel KVER: apt-get download + dpkg -x into the cache (never installed on the host).
lab_fetch_kernel() {
    [[ -f $(lab_kernel_dir "$1")/.complete ]] && return 0
    lab_locked _lab_fetch_kernel_locked "$1"
}

# lab_get_kernel SERIES|KVER: resolve + fetch; prints the kernel release.  When the download
# fails (apt lists gone stale: the mirror dropped that version) refresh the lists and retry once.
lab_get_kernel() {
    local kver
    if ! kver=$(lab_resolve_kver "$1" 2>/dev/null) || ! lab_fetch_kernel "$kver"; then
        [[ $1 == *-amd64 ]] && lab_die "cannot download linux-image-$kver"
        lab_log "refreshing the lab's apt lists and resolving $1 again"
        lab_apt_update || lab_warn "apt-get update ($LAB_APT) failed"
        kver=$(lab_resolve_kver "$1") || return 1
        lab_fetch_kernel "$kver" || lab_die "cannot download linux-image-$kver"
    fi
    echo "$kver"
}

_lab_extract_vmlinux_locked() {
    local kver=$1 bz out magic tool off
    bz=$(lab_vmlinuz "$kver")
    out=$(lab_kernel_dir "$kver")/boot/vmlinux-$kver
    [[ -f $out ]] && return 0
    # Same approach as the kernel's scripts/extract-vmlinux: find the payload's magic, decompress.
    for magic in '\x28\xb5\x2f\xfd:zstd -qdc' '\xfd\x37\x7a\x58\x5a\x00:xz -qdc' \
        '\x1f\x8b\x08:gzip -qdc' '\x02\x21\x4c\x18:lz4 -qdc'; do
        tool=${magic#*:}
        command -v "${tool%% *}" >/dev/null || continue
        while read -r off; do
            # Trailing data after the stream makes the decompressors complain: check the result.
            tail -c +"$((off + 1))" "$bz" | $tool >"$out.tmp" 2>/dev/null || true
            if [[ $(head -c 4 "$out.tmp" | od -An -tx1 | tr -d ' \n') == 7f454c46 ]]; then
                mv "$out.tmp" "$out"
                return 0
            fi
        done < <(LC_ALL=C grep -obUaP "${magic%%:*}" "$bz" | cut -d: -f1 | head -n 3)
    done
    rm -f "$out.tmp"
    return 1
}

# lab_vmlinux KVER: prints the uncompressed ELF vmlinux (for QEMU's PVH direct boot), extracting
# it from vmlinuz once.  PVH skips firmware and in-guest decompression (~1 s under TCG).
lab_vmlinux() {
    local out
    out=$(lab_kernel_dir "$1")/boot/vmlinux-$1
    [[ -f $out ]] || lab_locked _lab_extract_vmlinux_locked "$1" ||
        lab_die "cannot extract vmlinux from $(lab_vmlinuz "$1")"
    echo "$out"
}

# lab_module_closure KVER: prints "name<TAB>relative-path" in load order for the lab's modules.
lab_module_closure() {
    local kver=$1 moddir line path deps name m
    moddir=$(lab_moddir "$kver")
    declare -A modpath=() moddeps=() builtin=() seen=()
    while IFS= read -r line; do
        path=${line%%:*}
        deps=${line#*:}
        name=${path##*/}
        name=${name%%.ko*}
        name=${name//-/_}
        modpath[$name]=$path
        moddeps[$name]=$deps
    done <"$moddir/modules.dep"
    while IFS= read -r path; do
        name=${path##*/}
        name=${name%%.ko*}
        builtin[${name//-/_}]=1
    done <"$moddir/modules.builtin"
    _visit() {
        local n=$1 d dn
        [[ -n ${seen[$n]:-} ]] && return 0
        seen[$n]=1
        for d in ${moddeps[$n]}; do
            dn=${d##*/}
            dn=${dn%%.ko*}
            _visit "${dn//-/_}"
        done
        printf '%s\t%s\n' "$n" "${modpath[$n]}"
    }
    for m in "${LAB_MODULES_REQUIRED[@]}"; do
        if [[ -n ${modpath[$m]:-} ]]; then
            _visit "$m"
        elif [[ -z ${builtin[$m]:-} ]]; then
            lab_die "kernel $kver has no module $m (neither modular nor builtin)"
        fi
    done
    for m in "${LAB_MODULES_OPTIONAL[@]}"; do
        [[ -n ${modpath[$m]:-} ]] && _visit "$m"
    done
    return 0
}

# Drop the appended signature of a module: verifying it (RSA + SHA-512 under TCG) is ~80 % of the
# time insmod takes in the guest (~0.5 s per boot).  The kernel then logs "module verification
# failed" and sets taint E; set IOMMUPROF_LAB_KEEP_MODULE_SIGS=1 to keep the signatures.
_lab_strip_module_sig() {
    local f=$1 size siglen
    [[ $(tail -c 28 "$f") == "~Module signature appended~" ]] || return 0
    size=$(stat -c %s "$f")
    # struct module_signature (12 bytes) ends with the signature length, big-endian u32.
    siglen=$(tail -c 32 "$f" | head -c 4 | od -An -tu1 | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
    truncate -s $((size - 28 - 12 - siglen)) "$f"
}

_lab_build_initramfs_locked() {
    local kver=$1 out=$2 moddir stage name path src
    [[ -f $out ]] && return 0
    moddir=$(lab_moddir "$kver")
    lab_log "building initramfs for $kver"
    if ldd /bin/busybox >/dev/null 2>&1; then
        lab_die "/bin/busybox is dynamically linked: install busybox-static (scripts/lab/setup.sh)"
    fi
    stage=$(mktemp -d "$LAB_CACHE/.initramfs.XXXXXX")
    mkdir -p "$stage"/{bin,dev,proc,sys,mnt/lower,mnt/share,mnt/rw,mnt/root,lib/modules}
    cp /bin/busybox "$stage/bin/busybox"
    cp "$LAB_DIR/guest-init.sh" "$stage/init"
    chmod 0755 "$stage/init"
    : >"$stage/modules.list"
    while IFS=$'\t' read -r name path; do
        src=$moddir/$path
        case $src in
            *.ko.xz) xz -dc "$src" >"$stage/lib/modules/$name.ko" ;;
            *.ko.zst) zstd -qdc "$src" >"$stage/lib/modules/$name.ko" ;;
            *.ko.gz) gzip -dc "$src" >"$stage/lib/modules/$name.ko" ;;
            *.ko) cp "$src" "$stage/lib/modules/$name.ko" ;;
            *) lab_die "unexpected module file $src" ;;
        esac
        [[ ${IOMMUPROF_LAB_KEEP_MODULE_SIGS:-0} == 1 ]] || _lab_strip_module_sig "$stage/lib/modules/$name.ko"
        echo "$name" >>"$stage/modules.list"
    done < <(lab_module_closure "$kver")
    echo "$kver" >"$stage/kernel-release"
    (cd "$stage" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
        cpio --null -o -H newc --quiet --owner=0:0) | gzip -1 >"$out.tmp"
    mv "$out.tmp" "$out"
    rm -rf "$stage"
    # Images of older init scripts: keep a week (other checkouts may still use them), then drop.
    find "$LAB_CACHE/initramfs" -maxdepth 1 -name "$kver-*.cpio.gz" -mtime +7 -delete 2>/dev/null || true
}

# lab_initramfs KVER: prints the path of the cached initramfs, building it when missing.
# Keyed by kernel release + a hash of the init script, the module lists and the busybox binary.
lab_initramfs() {
    local kver=$1 key out
    key=$( {
        echo "format=$LAB_INITRAMFS_FORMAT"
        echo "req=${LAB_MODULES_REQUIRED[*]} opt=${LAB_MODULES_OPTIONAL[*]}"
        echo "keepsigs=${IOMMUPROF_LAB_KEEP_MODULE_SIGS:-0}"
        cat "$LAB_DIR/guest-init.sh"
        sha256sum </bin/busybox
    } | sha256sum | cut -c1-16)
    out=$LAB_CACHE/initramfs/$kver-$key.cpio.gz
    if [[ ! -f $out ]]; then
        mkdir -p "$LAB_CACHE/initramfs"
        lab_locked _lab_build_initramfs_locked "$kver" "$out"
    fi
    echo "$out"
}

# lab_accel [auto|kvm|tcg]: prints "ACCEL REASON...".  KVM only when /dev/kvm is a real KVM:
# PVM (kvm_pvm, seen on these machines) runs only PVM-enlightened guests, not stock kernels.
lab_accel() {
    case ${1:-auto} in
        tcg) echo "tcg forced" ;;
        kvm)
            [[ -w /dev/kvm ]] || lab_die "--accel kvm: /dev/kvm not usable"
            [[ -d /sys/module/kvm_pvm ]] && lab_warn "--accel kvm forced although /dev/kvm is PVM"
            echo "kvm forced" ;;
        auto)
            if [[ -d /sys/module/kvm_pvm ]]; then
                echo "tcg /dev/kvm is PVM (kvm_pvm): stock kernels cannot boot on it"
            elif [[ -w /dev/kvm ]] && [[ -d /sys/module/kvm_intel || -d /sys/module/kvm_amd ]]; then
                echo "kvm real KVM"
            else
                echo "tcg no usable /dev/kvm"
            fi ;;
        *) lab_die "unknown accelerator '$1' (auto|kvm|tcg)" ;;
    esac
}

# lab_cells: prints the matrix cells "KERNEL IOMMU MODE EXPECTED_GROUP_TYPE" of tests/lab/cells.txt
# (or $LAB_CELLS_FILE), comments and blank lines removed. Cells tagged `wide` (a fifth column)
# belong to the wide matrix: printed with LAB_WIDE=1 (all cells) or LAB_WIDE=only (those alone).
lab_cells() {
    sed -e 's/#.*//' -e '/^[[:space:]]*$/d' -e 's/[[:space:]]\+/ /g' -e 's/^ //;s/ $//' \
        "${LAB_CELLS_FILE:-$LAB_REPO/tests/lab/cells.txt}" |
        awk -v w="${LAB_WIDE:-0}" '{ wide = $5 == "wide"; $5 = "" ; sub(/ +$/, "") }
            (w == "1") || (w == "only" && wide) || (w != "1" && w != "only" && !wide)'
}
