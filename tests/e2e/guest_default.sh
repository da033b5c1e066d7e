#!/usr/bin/env bash
# End-to-end: boot the built-in guest with no options. Expect the banner, at least three
# heartbeat lines whose tick counts increase (the PIT interrupts reach the guest), exit code 0.
# Usage: bash guest_default.sh /path/to/vmrun     (exit 77 = skipped)
set -u

VMRUN=${1:?usage: bash guest_default.sh /path/to/vmrun}

. "$(dirname "$0")/../lib/e2e.sh"
e2e_require_kvm

out=$(mktemp)
trap 'rm -f "$out" "$out.err"' EXIT

fail() {
    echo "FAIL: $*"
    echo "---- output ----"
    cat "$out"
    echo "---- vmrun's messages ----"
    cat "$out.err"
    echo "----------------"
    exit 1
}

start=$(date +%s%N)
timeout 60 "$VMRUN" boot </dev/null >"$out" 2>"$out.err"
rc=$?
end=$(date +%s%N)
sed -i 's/\r$//' "$out"
echo "vmrun boot: exit code $rc, $(((end - start) / 1000000)) ms"

[ "$rc" -eq 0 ] || fail "expected exit code 0, got $rc"
grep -q '^vmrun guest: up$' "$out" || fail "no 'vmrun guest: up' line"

e2e_check_heartbeats "$out" || fail "heartbeats"

echo "PASS: banner, heartbeats with increasing ticks, exit code 0"
