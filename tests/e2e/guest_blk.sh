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

. "$(dirname "$0")/../lib/e2e.sh"
e2e_require_kvm

e2e_tmpdir

disk=$tmp/disk.img
truncate -s 4M "$disk" || e2e_fail "cannot create $disk"

# 1. read-write
e2e_boot --disk "$disk" --cmdline workload=blk
[ "$rc" -ne 124 ] || e2e_fail "vmrun timed out"
grep -q '^BLK OK 8192$' "$tmp/out" || e2e_fail "no 'BLK OK 8192' line"
[ "$rc" -eq 0 ] || e2e_fail "expected exit code 0, got $rc"
grep '^blk: ' "$tmp/out" | sed 's/^/  /'

python3 - "$disk" <<'PY' || e2e_fail "disk contents do not hold the pattern"
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
e2e_boot --disk "$disk,ro" --cmdline workload=blk
[ "$rc" -ne 124 ] || e2e_fail "vmrun timed out"
grep -q '^BLK RO 8192$' "$tmp/out" || e2e_fail "no 'BLK RO 8192' line"
[ "$rc" -eq 0 ] || e2e_fail "expected exit code 0, got $rc"
after=$(sha256sum <"$disk")
[ "$before" = "$after" ] || e2e_fail "read-only disk changed (sha256 $before -> $after)"
echo "  read-only disk unchanged"

# 3. no disk
e2e_boot --cmdline workload=blk
grep -q '^BLK FAIL no disk$' "$tmp/out" || e2e_fail "no 'BLK FAIL no disk' line"
[ "$rc" -eq 1 ] || e2e_fail "expected exit code 1, got $rc"

echo "PASS: the guest wrote, flushed and read back a 4 MiB disk, a read-only disk refused a write and stayed unchanged, no disk is reported"
