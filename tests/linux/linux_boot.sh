#!/usr/bin/env bash
# Debian's stock cloud kernel (a bzImage with an LZ4 payload) under vmrun: it must print its
# version, the exact command line vmrun passed, and an e820 map matching --mem. The VM is
# stopped as soon as all three have been seen. Skips when /dev/kvm or the Debian package is
# unavailable.
set -u
VMRUN=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$(dirname "$0")/../lib/e2e.sh"
e2e_require_kvm
cache=$("$here/../../tools/fetch-kernel.sh" 2>/tmp/vmrun-fetch.err) || {
    echo "SKIP: cannot fetch Debian's cloud kernel: $(cat /tmp/vmrun-fetch.err)"
    exit 77
}
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
truncate -s 16M "$tmp/disk.img"
marker="vmrun.test=marker$$"
# earlyprintk: on this host the 8250 console only registers ~60 s into boot.
cmdline="console=ttyS0 earlyprintk=serial,ttyS0 reboot=k panic=1 noxsave $marker"
"$VMRUN" boot --kernel "$cache/vmlinuz" --initrd "$cache/initramfs.cpio.gz" --mem 384M \
    --disk "$tmp/disk.img" --cmdline "$cmdline" --no-console-input </dev/null >"$tmp/out" 2>"$tmp/err" &
pid=$!

want_cmd="Command line: $cmdline virtio_mmio.device=4K@0xd0000000:5"
want_e820="BIOS-e820: \[mem 0x0000000000100000-0x0000000017ffffff\] usable"
ok=0
for ((i = 0; i < 240; i++)); do
    if grep -q "Linux version" "$tmp/out" && grep -qF "$want_cmd" "$tmp/out" &&
        grep -q "$want_e820" "$tmp/out"; then
        ok=1
        break
    fi
    kill -0 $pid 2>/dev/null || break
    sleep 0.5
done
kill $pid 2>/dev/null
wait $pid 2>/dev/null
grep -E "Linux version|Command line|BIOS-e820" "$tmp/out" | sed 's/^/    /'
if ((ok)); then
    echo "ok: version, exact command line and a 384M e820 map seen after ~$((i / 2)) s"
    exit 0
fi
echo "FAIL: expected lines not seen; output tail:"
tail -n 30 "$tmp/out" | sed 's/^/    /'
sed 's/^/    vmrun: /' "$tmp/err"
exit 1
