#!/usr/bin/env bash
# End-to-end: workload=hostile feeds vmrun's virtio-blk device malformed descriptor chains and a
# corrupt avail ring, and checks each reaction (used len 0 and nothing written for invalid chains,
# IOERR/UNSUPP for bad requests, DEVICE_NEEDS_RESET for a corrupt ring, working again after a
# reset). vmrun must survive it all and exit with the guest's code.
# Usage: bash guest_hostile.sh /path/to/vmrun     (exit 77 = skipped)
set -u

VMRUN=${1:?usage: bash guest_hostile.sh /path/to/vmrun}

. "$(dirname "$0")/../lib/e2e.sh"
e2e_require_kvm

e2e_tmpdir
truncate -s 4M "$tmp/disk.img" || e2e_fail "cannot create the disk"
e2e_boot --disk "$tmp/disk.img" --cmdline workload=hostile

[ "$rc" -ne 124 ] || e2e_fail "vmrun timed out"
grep -q '^vmrun guest: up$' "$tmp/out" || e2e_fail "no 'vmrun guest: up' line"
for c in bad-addr loop too-long oversized short-header bad-type bad-head; do
    grep -q "^hostile $c: " "$tmp/out" || e2e_fail "no line for case $c"
done
if grep '^hostile [^:]*: ' "$tmp/out" | grep -v ': ok$' >/dev/null; then
    e2e_fail "case(s) failed: $(grep '^hostile [^:]*: ' "$tmp/out" | grep -v ': ok$' | tr '\n' ';')"
fi
grep -q '^HOSTILE OK$' "$tmp/out" || e2e_fail "no 'HOSTILE OK' line"
[ "$rc" -eq 0 ] || e2e_fail "expected exit code 0 (the guest's), got $rc"
echo "  $(grep -c '^hostile [^:]*: ok$' "$tmp/out") cases ok"
echo "PASS: vmrun's virtio-blk handled every malformed request as its contract says and kept running"
