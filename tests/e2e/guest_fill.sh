#!/usr/bin/env bash
# End-to-end: the built-in guest's fill workload. The same seed gives the same RESULT twice, another
# seed a different one, and a region larger than RAM is refused with a non-zero exit code.
# Usage: bash guest_fill.sh /path/to/vmrun     (exit 77 = skipped)
set -u

VMRUN=${1:?usage: bash guest_fill.sh /path/to/vmrun}

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

# run MEM CMDLINE: boots the guest, leaves the output in $tmp/out and the exit code in $rc.
run() {
    local start end
    last="--mem $1 --cmdline \"$2\""
    start=$(date +%s%N)
    timeout 60 "$VMRUN" boot --mem "$1" --cmdline "$2" </dev/null >"$tmp/out" 2>&1
    rc=$?
    end=$(date +%s%N)
    sed -i 's/\r$//' "$tmp/out"
    echo "vmrun boot $last: exit code $rc, $(((end - start) / 1000000)) ms"
}

# fill_result MEM CMDLINE: a successful fill run; prints nothing, sets $result.
fill_result() {
    run "$1" "$2"
    [ "$rc" -eq 0 ] || fail "expected exit code 0, got $rc"
    grep -q '^vmrun guest: up$' "$tmp/out" || fail "no 'vmrun guest: up' line"
    grep -q '^READY$' "$tmp/out" || fail "no READY line"
    grep -q '^ticks [0-9]\+$' "$tmp/out" || fail "no 'ticks <n>' line"
    result=$(sed -n 's/^RESULT \([0-9a-f]\{16\}\)$/\1/p' "$tmp/out")
    [ -n "$result" ] || fail "no 'RESULT <16 hex digits>' line"
    [ "$(grep -n '^READY$' "$tmp/out" | cut -d: -f1)" -lt \
        "$(grep -n '^RESULT ' "$tmp/out" | cut -d: -f1)" ] || fail "RESULT before READY"
    echo "  $(grep '^ticks ' "$tmp/out"), RESULT $result"
}

fill_result 1G "workload=fill mb=512 seed=1 rounds=2"
first=$result
fill_result 1G "workload=fill mb=512 seed=1 rounds=2"
second=$result
echo "seed=1 twice: $first vs $second"
[ "$first" = "$second" ] || fail "same seed gave different RESULTs: $first vs $second"

fill_result 1G "workload=fill mb=512 seed=2 rounds=2"
other=$result
echo "seed=1 vs seed=2: $first vs $other"
[ "$first" != "$other" ] || fail "different seeds gave the same RESULT $first"

run 64M "workload=fill mb=128 seed=1 rounds=1"
[ "$rc" -ne 0 ] || fail "mb=128 with --mem 64M: expected a non-zero exit code"
grep -q '^vmrun guest: mb=128 does not fit in RAM$' "$tmp/out" ||
    fail "mb=128 with --mem 64M: no 'does not fit' message"
echo "mb=128 in 64M: exit code $rc, 'does not fit' reported"

echo "PASS: fill is reproducible, seed-dependent, and refuses regions larger than RAM"
