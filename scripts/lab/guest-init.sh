#!/bin/busybox sh
# /init of the iommuprof lab initramfs (busybox-static).  Loads the modules, mounts the host root
# (9p, read-only) under a tmpfs overlay, mounts the result share at /lab, runs /lab/job.sh
# chrooted, stores its exit code in /lab/rc and powers off.  Messages go to the serial console.
# shellcheck shell=sh disable=SC2039,SC3037

/bin/busybox --install -s /bin
export PATH=/bin
R=/mnt/root

say() { echo "lab-init: $*" >/dev/console; }
fail() {
    say "FATAL: $*"
    [ -d /mnt/share/.ctl ] && echo "$*" >/mnt/share/.ctl/init-error
    [ -d $R/lab/.ctl ] && echo "$*" >$R/lab/.ctl/init-error
    sync
    poweroff -f
    sleep 5
}

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# lab.trace on the kernel command line: print a timestamp at each step on the console.
TRACE=0
case " $(cat /proc/cmdline) " in *" lab.trace "*) TRACE=1 ;; esac
mark() { [ $TRACE = 1 ] && say "t=$(cut -d' ' -f1 /proc/uptime) $*"; }
mark "start"

# virtio_iommu only with a virtio-iommu device (lab.viommu), as udev would: otherwise its symbols
# would sit in kallsyms of every 6.12 guest.
VIOMMU=0
case " $(cat /proc/cmdline) " in *" lab.viommu "*) VIOMMU=1 ;; esac
while read -r m; do
    [ "$m" = virtio_iommu ] && [ $VIOMMU = 0 ] && continue
    insmod "/lib/modules/$m.ko" || say "insmod $m failed"
    mark "insmod $m"
done </modules.list
mark "modules loaded"

# 9p devices can appear late (probe deferred until virtio-iommu is up): retry briefly.
mount9p() {
    tag=$1 dir=$2 opts=$3 i=0
    while ! mount -t 9p -o "trans=virtio,version=9p2000.L,msize=262144,$opts" "$tag" "$dir" 2>/dev/null; do
        i=$((i + 1))
        [ $i -ge 200 ] && return 1
        usleep 50000
    done
}
mount9p labshare /mnt/share cache=none || fail "cannot mount 9p share 'labshare'"
[ -f /mnt/share/.ctl/init.conf ] || fail "no .ctl/init.conf on the result share"
# shellcheck disable=SC1091
. /mnt/share/.ctl/init.conf
mark "share mounted"
cut -d' ' -f1 /proc/uptime >/mnt/share/.ctl/t_init

mount9p hostroot /mnt/lower "ro,cache=${LAB_ROOT_CACHE:-loose}" || fail "cannot mount 9p share 'hostroot'"
mount -t tmpfs -o mode=0755 rw /mnt/rw || fail "tmpfs"
mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay -o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work overlay $R ||
    fail "overlay mount failed"

mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
mount -t tmpfs -o mode=0755 run $R/run
# A fresh /tmp, unless the command's cwd or the cache lives there (run decides): then the host's
# /tmp stays visible, writable through the overlay.
[ "${LAB_FRESH_TMP:-1}" = 1 ] && mount -t tmpfs -o mode=1777 tmp $R/tmp
mount -t debugfs debugfs $R/sys/kernel/debug || say "debugfs mount failed"
mount -t tracefs tracefs $R/sys/kernel/tracing || say "tracefs mount failed"
mount -t bpf bpf $R/sys/fs/bpf || say "bpffs mount failed"
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null || true
mkdir -p $R/lab
mount --move /mnt/share $R/lab || fail "cannot move the result share to /lab"
# The guest kernel's own modules (from the host-side cache) so modprobe works inside the guest.
if [ -n "${LAB_MODDIR:-}" ] && [ -d "$R$LAB_MODDIR" ]; then
    mkdir -p "$R/lib/modules/$(uname -r)"
    mount --bind "$R$LAB_MODDIR" "$R/lib/modules/$(uname -r)"
fi
mark "root mounted"
hostname lab
ip link set lo up 2>/dev/null

mark "mounts done"
# NVMe namespaces are probed asynchronously: wait for them before starting the job.
if [ "${LAB_NVME:-0}" = 1 ]; then
    i=0
    while [ ! -b /dev/nvme0n1 ]; do
        i=$((i + 1))
        [ $i -ge 400 ] && { say "no /dev/nvme0n1 after 20 s"; break; }
        usleep 50000
    done
fi

mark "nvme ready"
# Test hook (tests/lab/runner_test.sh): simulate a guest that never gets to the command.
case " $(cat /proc/cmdline) " in *" lab.hang "*) say "lab.hang: hanging before the command"; while :; do sleep 3600; done ;; esac
cut -d' ' -f1 /proc/uptime >$R/lab/.ctl/t_start
env -i chroot $R /bin/bash /lab/.ctl/job.sh </dev/null >$R/lab/stdout 2>$R/lab/stderr
rc=$?
cut -d' ' -f1 /proc/uptime >$R/lab/.ctl/t_end
mark "command done"
dmesg >$R/lab/dmesg.txt 2>/dev/null
echo $rc >$R/lab/.ctl/rc.tmp && mv $R/lab/.ctl/rc.tmp $R/lab/rc

# virtio-iommu: an nvme device still bound makes the shutdown hang for 60 s.  Unbind always.
for d in /sys/bus/pci/drivers/nvme/0000:*; do
    [ -e "$d" ] && echo "${d##*/}" >/sys/bus/pci/drivers/nvme/unbind
done
mark "nvme unbound"
sync
poweroff -f
