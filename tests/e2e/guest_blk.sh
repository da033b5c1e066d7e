#!/usr/bin/env bash
# End-to-end: the built-in guest's virtio-blk driver (workload=blk) against vmrun's virtio-blk.
# 1. A 4 MiB zero disk: the guest writes the pattern over every sector, flushes, reads it all back
#    (BLK OK 8192, exit 0); then the host checks the file holds the pattern in every sector.
# 2. The same file with ,ro: the guest reads it all and sees a write refused (BLK RO 8192, exit 0);
#    the file is unchanged.
# 3. No --disk: BLK FAIL no disk, exit 1.
# Usage: bash guest_blk.sh /path/to/vmrun     (exit 77 = skipped)
set -u

VMRUN=${1:?usage: bash guest_blk.sh /path/to/vmrun}

if ! [ -c /dev/kvm ] || ! { exec 3<>/dev/kvm; } 2>/dev/null; then
    echo "SKIP: /dev/kvm not available"
    exit 77
fi
exec 3>&-

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
last=""

fail() {
    echo "FAIL: $*"
    if [ -n "$last" ]; then
        echo "---- output of: vmrun boot $last ----"
        cat "$tmp/out"
        echo "----------------"
    fi
    exit 1
}

# run ARGS...: boots the guest, leaves the output in $tmp/out and the exit code in $rc.
run() {
    local start end
    last="$*"
    start=$(date +%s%N)
    timeout 120 "$VMRUN" boot "$@" </dev/null >"$tmp/out" 2>&1
    rc=$?
    end=$(date +%s%N)
    sed -i 's/\r$//' "$tmp/out"
    echo "vmrun boot $last: exit code $rc, $(((end - start) / 1000000)) ms"
}

disk=$tmp/disk.img
truncate -s 4M "$disk" || fail "cannot create $disk"

# 1. read-write
run --disk "$disk" --cmdline workload=blk
[ "$rc" -ne 124 ] || fail "vmrun timed out"
grep -q '^BLK OK 8192$' "$tmp/out" || fail "no 'BLK OK 8192' line"
[ "$rc" -eq 0 ] || fail "expected exit code 0, got $rc"
grep '^blk: ' "$tmp/out" | sed 's/^/  /'

python3 - "$disk" <<'PY' || fail "disk contents do not hold the pattern"
import struct, sys
data = open(sys.argv[1], "rb").read()
if len(data) != 4 << 20:
    sys.exit("disk is %d bytes, want %d" % (len(data), 4 << 20))
for s in range(len(data) // 512):
    want = struct.pack("<Q", s) + bytes(((s * 7 + i * 13) & 0xff) for i in range(8, 512))
    got = data[s * 512:(s + 1) * 512]
    if got != want:
        i = next(i for i in range(512) if got[i] != want[i])
        sys.exit("sector %d byte %d: 0x%02x, want 0x%02x" % (s, i, got[i], want[i]))
print("  host check: all %d sectors hold the pattern" % (len(data) // 512))
PY

# 2. read-only
before=$(sha256sum <"$disk")
run --disk "$disk,ro" --cmdline workload=blk
[ "$rc" -ne 124 ] || fail "vmrun timed out"
grep -q '^BLK RO 8192$' "$tmp/out" || fail "no 'BLK RO 8192' line"
[ "$rc" -eq 0 ] || fail "expected exit code 0, got $rc"
after=$(sha256sum <"$disk")
[ "$before" = "$after" ] || fail "read-only disk changed (sha256 $before -> $after)"
echo "  read-only disk unchanged"

# 3. no disk
run --cmdline workload=blk
grep -q '^BLK FAIL no disk$' "$tmp/out" || fail "no 'BLK FAIL no disk' line"
[ "$rc" -eq 1 ] || fail "expected exit code 1, got $rc"

echo "PASS: the guest wrote, flushed and read back a 4 MiB disk, a read-only disk refused a write and stayed unchanged, no disk is reported"
