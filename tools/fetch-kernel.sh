#!/usr/bin/env bash
# Fetch Debian's cloud kernel (the package linux-image-cloud-amd64 depends on) and busybox from
# Debian's archive without installing them, and build a small initramfs that loads the virtio
# modules and runs a shell script. Debian packages are the only outside source.
#   tools/fetch-kernel.sh [CACHE_DIR]      (default: $VMRUN_CACHE or ~/.cache/vmrun)
# Prints the cache directory; it then holds vmlinuz, initramfs.cpio.gz and kernel.version.
set -euo pipefail
cache=${1:-${VMRUN_CACHE:-$HOME/.cache/vmrun}}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
work=$cache/work
log=$cache/fetch.log

need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >>"$log" 2>&1; }
need cpio cpio
need gzip gzip

# Bump when the initramfs contents change, so existing caches are rebuilt.
layout=2
if [[ ! -s $cache/vmlinuz || ! -s $cache/initramfs.cpio.gz || $(cat "$cache/layout" 2>/dev/null) != "$layout" ]]; then
    pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
    if [[ -z $pkg ]]; then
        apt-get update -qq >>"$log" 2>&1 || true
        pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
    fi
    [[ -n $pkg ]] || { echo "fetch-kernel: cannot resolve linux-image-cloud-amd64" >&2; exit 3; }
    rm -rf "$work"
    mkdir -p "$work/dl" "$work/kernel" "$work/bb" "$work/root"
    (cd "$work/dl" && apt-get download "$pkg" busybox-static) >>"$log" 2>&1 ||
        { echo "fetch-kernel: apt-get download $pkg busybox-static failed (see $log)" >&2; exit 3; }
    dpkg -x "$work"/dl/linux-image-*.deb "$work/kernel"
    dpkg -x "$work"/dl/busybox-static*.deb "$work/bb"
    ver=${pkg#linux-image-}

    root=$work/root
    mkdir -p "$root"/{bin,dev,proc,sys,mnt,lib/modules}
    cp "$work/bb/bin/busybox" "$root/bin/busybox"
    for m in drivers/virtio/virtio_mmio drivers/block/virtio_blk; do
        f=$(find "$work/kernel/lib/modules/$ver" -path "*/$m.ko*" | head -n1)
        [[ -n $f ]] && cp "$f" "$root/lib/modules/"
    done
    cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo "vmrun-initramfs: userspace up, kernel $(uname -r)"
for m in /lib/modules/virtio_mmio.ko* /lib/modules/virtio_blk.ko*; do
    [ -e "$m" ] && insmod "$m" && echo "vmrun-initramfs: loaded $(basename "$m")"
done
for w in $(cat /proc/cmdline); do
    case "$w" in vmrun.test=*) t=${w#vmrun.test=} ;; esac
done
[ -n "$t" ] && [ -x "/tests/$t" ] && "/tests/$t"
echo "vmrun-initramfs: done"
# reboot, not poweroff: with reboot=k the i8042 reset ends vmrun with exit code 0, and a
# hardware-reduced ACPI machine has no poweroff path.
reboot -f
INIT
    chmod +x "$root/init"
    (cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -9) >"$cache/initramfs.cpio.gz"
    cp "$work/kernel/boot/vmlinuz-$ver" "$cache/vmlinuz"
    echo "$ver" >"$cache/kernel.version"
    echo "$layout" >"$cache/layout"
    rm -rf "$work"
fi
echo "$cache"
