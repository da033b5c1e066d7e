#!/usr/bin/env bash
# End-to-end: the built-in guest ELF also boots under QEMU through the Xen PVH protocol. Checks the
# PVH note (XEN_ELFNOTE_PHYS32_ENTRY), the heartbeat run under QEMU (banner, increasing ticks),
# an error exit code through QEMU's isa-debug-exit, and that a fill run gives the same RESULT under
# QEMU as under vmrun.
# Usage: bash guest_pvh.sh /path/to/vmrun     (exit 77 = skipped)
# The guest ELF is taken from the build tree next to vmrun (tools/guest/vmrun-guest.elf) unless
# VMRUN_GUEST_ELF names it.
set -u

VMRUN=${1:?usage: bash guest_pvh.sh /path/to/vmrun}
QEMU=${QEMU:-qemu-system-x86_64}

. "$(dirname "$0")/../lib/e2e.sh"
e2e_require_kvm
if ! command -v "$QEMU" >/dev/null 2>&1; then
    echo "SKIP: $QEMU not installed"
    exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
last=""

fail() {
    echo "FAIL: $*"
    if [ -n "$last" ]; then
        echo "---- output of: $last ----"
        cat "$tmp/out"
        [ -s "$tmp/err" ] && { echo "---- vmrun's messages ----"; cat "$tmp/err"; }
        echo "----------------"
    fi
    exit 1
}

ELF=${VMRUN_GUEST_ELF:-$(dirname "$VMRUN")/tools/guest/vmrun-guest.elf}
[ -f "$ELF" ] || fail "guest ELF $ELF not found (set VMRUN_GUEST_ELF)"
command -v readelf >/dev/null 2>&1 || fail "readelf (binutils) not installed"

# 1. The note: owner "Xen", type 18 (0x12), desc = the 32-bit entry, pvh_start32.
notes=$(readelf -nW "$ELF" 2>&1)
note=$(printf '%s\n' "$notes" | grep -E '^ +Xen +0x0000000[48]' | grep -E '0x00000012|PHYS32_ENTRY')
[ -n "$note" ] || fail "no Xen PHYS32_ENTRY (type 0x12) note in $ELF; readelf -n says:
$notes"
readelf -lW "$ELF" | grep -q '^ *NOTE ' || fail "no PT_NOTE program header in $ELF"
if command -v nm >/dev/null 2>&1; then
    entry=$(nm "$ELF" | sed -n 's/^0*\([0-9a-f]\+\) T pvh_start32$/\1/p')
    desc=$(printf '%s\n' "$note" | sed -n 's/.*description data: \(\([0-9a-f][0-9a-f] \?\)\+\).*/\1/p')
    # little-endian bytes -> hex number
    desc_hex=$(printf '%s\n' $desc | tac | tr -d '\n' | sed 's/^0*//')
    [ -n "$entry" ] && [ "$desc_hex" = "$entry" ] ||
        fail "PVH note desc ($desc) is not pvh_start32 (0x$entry)"
    echo "PVH note: entry 0x$entry (pvh_start32)"
else
    echo "PVH note: present"
fi

# qemu MEM CMDLINE: boots the ELF under QEMU (PVH), output in $tmp/out, exit status in $rc.
# isa-debug-exit makes QEMU exit with (code << 1) | 1; it sits at 0xf4 because QEMU's fw_cfg
# occupies vmrun's exit port 0x510 (tools/guest/sys.h).
qemu() {
    local start end
    local -a cmd=("$QEMU" -M microvm,pic=on,pit=on,rtc=off -enable-kvm -cpu qemu64,-cx16 -m "$1"
        -nodefaults -no-user-config -nographic -serial stdio
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$ELF" -append "$2")
    last="${cmd[*]}"
    start=$(date +%s%N)
    rm -f "$tmp/err"
    timeout 120 "${cmd[@]}" </dev/null >"$tmp/out" 2>&1
    rc=$?
    end=$(date +%s%N)
    sed -i 's/\r$//' "$tmp/out"
    echo "qemu -m $1 -append \"$2\": exit status $rc, $(((end - start) / 1000000)) ms"
}

vmrun() {
    local start end
    last="$VMRUN boot --mem $1 --cmdline \"$2\""
    start=$(date +%s%N)
    timeout 120 "$VMRUN" boot --mem "$1" --cmdline "$2" </dev/null >"$tmp/out" 2>"$tmp/err"
    rc=$?
    end=$(date +%s%N)
    sed -i 's/\r$//' "$tmp/out"
    echo "vmrun boot --mem $1 --cmdline \"$2\": exit code $rc, $(((end - start) / 1000000)) ms"
}

# fill_result: RESULT of the run in $tmp/out, checked like guest_fill.sh does.
fill_result() {
    grep -q '^vmrun guest: up$' "$tmp/out" || fail "no 'vmrun guest: up' line"
    grep -q '^READY$' "$tmp/out" || fail "no READY line"
    result=$(sed -n 's/^RESULT \([0-9a-f]\{16\}\)$/\1/p' "$tmp/out")
    [ -n "$result" ] || fail "no 'RESULT <16 hex digits>' line"
}

# 2. Heartbeat run under QEMU: the PIT interrupts reach the guest through the PIC and LAPIC.
qemu 256M ""
[ "$rc" -eq 1 ] || fail "expected QEMU exit status 1 (guest exit code 0), got $rc"
grep -q '^vmrun guest: up$' "$tmp/out" || fail "no 'vmrun guest: up' line"
e2e_check_heartbeats "$tmp/out" || fail "heartbeats"

# 3. Exit codes travel: unknown workload is exit code 2, QEMU status (2 << 1) | 1 = 5.
qemu 256M "workload=nope"
[ "$rc" -eq 5 ] || fail "unknown workload: expected QEMU exit status 5 (guest exit code 2), got $rc"
grep -q '^vmrun guest: unknown workload nope$' "$tmp/out" || fail "no 'unknown workload' line"

# 4. The same fill RESULT under QEMU and under vmrun.
args="workload=fill mb=64 seed=1 rounds=2"
qemu 1G "$args"
[ "$rc" -eq 1 ] || fail "expected QEMU exit status 1 (guest exit code 0), got $rc"
fill_result
under_qemu=$result
vmrun 1G "$args"
[ "$rc" -eq 0 ] || fail "expected exit code 0, got $rc"
fill_result
under_vmrun=$result
echo "RESULT under QEMU $under_qemu, under vmrun $under_vmrun"
[ "$under_qemu" = "$under_vmrun" ] || fail "QEMU and vmrun gave different RESULTs"

echo "PASS: PVH note, QEMU boots the guest with ticking heartbeats and exit codes, same fill RESULT as vmrun"
