#!/usr/bin/env bash
# End-to-end: the built-in guest's fill workload. The same seed gives the same RESULT twice, another
# seed a different one, and a region larger than RAM is refused with a non-zero exit code.
# Usage: bash guest_fill.sh /path/to/vmrun     (exit 77 = skipped)
set -u

VMRUN=${1:?usage: bash guest_fill.sh /path/to/vmrun}

. "$(dirname "$0")/../lib/e2e.sh"
e2e_require_kvm

e2e_tmpdir

# fill_result MEM CMDLINE: a successful fill run; prints nothing, sets $result.
fill_result() {
    e2e_boot --mem "$1" --cmdline "$2"
    [ "$rc" -eq 0 ] || e2e_fail "expected exit code 0, got $rc"
    grep -q '^vmrun guest: up$' "$tmp/out" || e2e_fail "no 'vmrun guest: up' line"
    grep -q '^READY$' "$tmp/out" || e2e_fail "no READY line"
    grep -q '^ticks [0-9]\+$' "$tmp/out" || e2e_fail "no 'ticks <n>' line"
    result=$(sed -n 's/^RESULT \([0-9a-f]\{16\}\)$/\1/p' "$tmp/out")
    [ -n "$result" ] || e2e_fail "no 'RESULT <16 hex digits>' line"
    [ "$(grep -n '^READY$' "$tmp/out" | cut -d: -f1)" -lt \
        "$(grep -n '^RESULT ' "$tmp/out" | cut -d: -f1)" ] || e2e_fail "RESULT before READY"
    echo "  $(grep '^ticks ' "$tmp/out"), RESULT $result"
}

fill_result 1G "workload=fill mb=512 seed=1 rounds=2"
first=$result
fill_result 1G "workload=fill mb=512 seed=1 rounds=2"
second=$result
echo "seed=1 twice: $first vs $second"
[ "$first" = "$second" ] || e2e_fail "same seed gave different RESULTs: $first vs $second"

fill_result 1G "workload=fill mb=512 seed=2 rounds=2"
other=$result
echo "seed=1 vs seed=2: $first vs $other"
[ "$first" != "$other" ] || e2e_fail "different seeds gave the same RESULT $first"

e2e_boot --mem 64M --cmdline "workload=fill mb=128 seed=1 rounds=1"
[ "$rc" -ne 0 ] || e2e_fail "mb=128 with --mem 64M: expected a non-zero exit code"
grep -q '^vmrun guest: mb=128 does not fit in RAM$' "$tmp/out" ||
    e2e_fail "mb=128 with --mem 64M: no 'does not fit' message"
echo "mb=128 in 64M: exit code $rc, 'does not fit' reported"

echo "PASS: fill is reproducible, seed-dependent, and refuses regions larger than RAM"
