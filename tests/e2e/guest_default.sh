#!/usr/bin/env bash
# End-to-end: boot the built-in guest with no options. Expect the banner, at least three
# heartbeat lines whose tick counts increase (the PIT interrupts reach the guest), exit code 0.
# Usage: bash guest_default.sh /path/to/vmrun     (exit 77 = skipped)
set -u

VMRUN=${1:?usage: bash guest_default.sh /path/to/vmrun}

. "$(dirname "$0")/../lib/e2e.sh"
e2e_require_kvm

e2e_tmpdir
E2E_TIMEOUT=60 e2e_boot

[ "$rc" -eq 0 ] || e2e_fail "expected exit code 0, got $rc"
grep -q '^vmrun guest: up$' "$tmp/out" || e2e_fail "no 'vmrun guest: up' line"

e2e_check_heartbeats "$tmp/out" || e2e_fail "heartbeats"

echo "PASS: banner, heartbeats with increasing ticks, exit code 0"
