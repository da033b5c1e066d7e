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

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "FAIL: $*"
    echo "---- output of: vmrun boot --disk DISK --cmdline workload=hostile ----"
    cat "$tmp/out"
    echo "---- vmrun's messages ----"
    cat "$tmp/err"
    echo "----------------"
    exit 1
}

truncate -s 4M "$tmp/disk.img" || fail "cannot create the disk"
start=$(date +%s%N)
timeout 120 "$VMRUN" boot --disk "$tmp/disk.img" --cmdline workload=hostile </dev/null \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
end=$(date +%s%N)
sed -i 's/\r$//' "$tmp/out"
echo "vmrun boot --disk DISK --cmdline workload=hostile: exit code $rc, $(((end - start) / 1000000)) ms"

[ "$rc" -ne 124 ] || fail "vmrun timed out"
grep -q '^vmrun guest: up$' "$tmp/out" || fail "no 'vmrun guest: up' line"
for c in bad-addr loop too-long oversized short-header bad-type bad-head; do
    grep -q "^hostile $c: " "$tmp/out" || fail "no line for case $c"
done
if grep '^hostile [^:]*: ' "$tmp/out" | grep -v ': ok$' >/dev/null; then
    fail "case(s) failed: $(grep '^hostile [^:]*: ' "$tmp/out" | grep -v ': ok$' | tr '\n' ';')"
fi
grep -q '^HOSTILE OK$' "$tmp/out" || fail "no 'HOSTILE OK' line"
[ "$rc" -eq 0 ] || fail "expected exit code 0 (the guest's), got $rc"
echo "  $(grep -c '^hostile [^:]*: ok$' "$tmp/out") cases ok"
echo "PASS: vmrun's virtio-blk handled every malformed request as its contract says and kept running"
