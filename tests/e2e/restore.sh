#!/usr/bin/env bash
# Restore fidelity: the fill+hash workload snapshotted at READY while it keeps computing must
# reach the same RESULT as an uninterrupted run, in every memory mode, for two restores of one
# snapshot running side by side, and through a diff chain; timer ticks keep counting. Hostile
# snapshots are refused with exit 2 and an error naming the file.
set -u
VMRUN=$1
SNAPMUT=$2 # makes hostile snapshots whose hashes still match (tests/tools/snapmut.c)
. "$(dirname "$0")/../lib/e2e.sh"
e2e_require_kvm
tmp=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
result() { grep -m1 '^RESULT' <<<"$1" | cut -d' ' -f2; }
# vm ARGS...: vmrun with a timeout; the guest console (stdout) is printed, vmrun's own messages
# go to $tmp/err so they can never split a console line the checks parse.
vm() { timeout 120 "$VMRUN" "$@" </dev/null 2>"$tmp/err"; }
# both OUT: the console output and vmrun's messages of the last vm run, indented, for a failure.
both() { sed 's/^/    /' <<<"$1"; sed 's/^/    stderr: /' "$tmp/err"; }

work="workload=fill mb=192 seed=9 rounds=8"
ref=$(vm boot --mem 384M --no-console-input --cmdline "$work")
want=$(result "$ref")
[[ -n $want ]] && ok "uninterrupted RESULT $want" || { bad "reference run:"; both "$ref"; exit 1; }

out=$(vm boot --mem 384M --no-console-input --cmdline "$work" \
    --snapshot-on READY --snapshot-dir "$tmp/s" --exit-after-snapshot)
[[ $? -eq 0 && -f $tmp/s/vmstate.dtb ]] && ok "snapshot at READY" || { bad "snapshot:"; both "$out"; exit 1; }
ready_ticks=$(grep -o 'ticks [0-9]*' <<<"$out" | head -n1 | cut -d' ' -f2)

for mode in cow eager lazy; do
    out=$(vm restore "$tmp/s" --memory "$mode" --no-console-input)
    rc=$?
    got=$(result "$out")
    end_ticks=$(grep -o '^ticks [0-9]*' <<<"$out" | cut -d' ' -f2)
    if [[ $rc -eq 0 && $got == "$want" ]]; then
        ok "restore --memory $mode: RESULT $got ($(grep -m1 'restored' "$tmp/err" | sed 's/^vmrun: //'))"
    else
        bad "restore --memory $mode: exit $rc, RESULT '$got' (want $want):"; both "$out"
    fi
    if [[ -n $end_ticks && -n $ready_ticks ]] && ((end_ticks > ready_ticks)); then
        ok "$mode: ticks kept counting ($ready_ticks at READY, $end_ticks at the end)"
    else
        bad "$mode: ticks '$end_ticks' after restore vs '$ready_ticks' at READY"
    fi
done
[[ -f $tmp/s/memory.raw ]] && ok "cow left a reusable memory.raw" || bad "no memory.raw after cow restore"

# Two clones of one snapshot side by side.
timeout 120 "$VMRUN" restore "$tmp/s" --no-console-input </dev/null >"$tmp/c1" 2>"$tmp/c1.err" &
p1=$!
timeout 120 "$VMRUN" restore "$tmp/s" --no-console-input </dev/null >"$tmp/c2" 2>"$tmp/c2.err" &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
g1=$(result "$(cat "$tmp/c1")")
g2=$(result "$(cat "$tmp/c2")")
[[ $r1 -eq 0 && $r2 -eq 0 && $g1 == "$want" && $g2 == "$want" ]] &&
    ok "two clones side by side: $g1 $g2" || bad "clones: exit $r1/$r2, RESULT $g1/$g2"

# A restored VM can be snapshotted again (its RAM is file-backed or filled lazily, so untouched
# pages are not zero): restoring that snapshot still reaches the same RESULT.
for mode in cow lazy; do
    rm -rf "$tmp/again"
    timeout 120 "$VMRUN" restore "$tmp/s" --memory "$mode" --no-console-input </dev/null \
        --snapshot-on "ticks" --snapshot-dir "$tmp/again" --exit-after-snapshot >"$tmp/a.out" 2>&1
    out=$(vm restore "$tmp/again" --no-console-input)
    [[ $(result "$out") == "$want" ]] && ok "snapshot of a $mode-restored VM restores to $want" ||
        { bad "snapshot of a $mode-restored VM:"; sed 's/^/    first run: /' "$tmp/a.out"; both "$out"; }
done

# A diff chain: full at READY, diff after the guest changes 8 MiB, restore the diff.
work2="workload=fill mb=192 seed=11 rounds=8 hold=30 touch_mb=8 hold2=150"
ref2=$(vm boot --mem 384M --no-console-input --cmdline "$work2")
want2=$(result "$ref2")
sock=$tmp/api.sock
timeout 120 "$VMRUN" boot --mem 384M --no-console-input --cmdline "$work2" --api-sock "$sock" \
    --snapshot-on READY --snapshot-dir "$tmp/base" </dev/null >"$tmp/vm.out" 2>"$tmp/vm.err" &
vmpid=$!
for ((i = 0; i < 300; i++)); do grep -q TOUCHED "$tmp/vm.out" && break; sleep 0.05; done
d=$("$VMRUN" snapshot --api-sock "$sock" "$tmp/diff" --diff 2>&1)
grep -q '"diff":true' <<<"$d" && ok "diff snapshot after TOUCHED" || bad "diff: $d"
wait $vmpid
[[ $(result "$(cat "$tmp/vm.out")") == "$want2" ]] && ok "snapshotted VM itself still reaches $want2" ||
    bad "snapshotted VM: $(result "$(cat "$tmp/vm.out")") vs $want2"
for mode in cow eager lazy; do
    out=$(vm restore "$tmp/diff" --memory "$mode" --no-console-input)
    [[ $? -eq 0 && $(result "$out") == "$want2" ]] && ok "restore diff chain --memory $mode: $want2" ||
        { bad "diff chain $mode:"; both "$out"; }
done

# A restored VM's first diff is against the snapshot it came from: only what the guest dirtied
# after restore (8 MiB = 32 chunks, plus a few of stack and timer state) is stored.
for mode in cow lazy eager; do
    rm -rf "$tmp/rdiff" "$tmp/r.out"
    timeout 120 "$VMRUN" restore "$tmp/base" --memory "$mode" --no-console-input --api-sock "$tmp/r.sock" \
        </dev/null >"$tmp/r.out" 2>"$tmp/r.err" &
    rpid=$!
    for ((i = 0; i < 300; i++)); do grep -q TOUCHED "$tmp/r.out" && break; sleep 0.05; done
    d=$("$VMRUN" snapshot --api-sock "$tmp/r.sock" "$tmp/rdiff" --diff 2>&1)
    wait $rpid
    stored=$(grep -o '"chunks_data":[0-9]*' <<<"$d" | cut -d: -f2)
    out=$(vm restore "$tmp/rdiff" --no-console-input)
    if grep -q '"diff":true' <<<"$d" && [[ -n $stored ]] && ((stored < 64)) &&
        [[ $(result "$out") == "$want2" ]] &&
        "$VMRUN" inspect "$tmp/rdiff" | grep -q "parent: snapshot $tmp/base"; then
        ok "diff of a $mode-restored VM: $stored chunks, parent $tmp/base, restores to $want2"
    else
        bad "diff of a $mode-restored VM: $d"; both "$out"; sed 's/^/    first run: /' "$tmp/r.out" "$tmp/r.err"
    fi
done

# virtio-blk: snapshot after the guest has written the whole disk, before it reads it back; the
# restored guest must find every sector it wrote (on the disk, or on a copy via --disk 0=).
truncate -s 4M "$tmp/disk.img"
out=$(timeout 120 "$VMRUN" boot --mem 128M --no-console-input --disk "$tmp/disk.img"     --cmdline workload=blk --snapshot-on "blk: wrote" --snapshot-dir "$tmp/b" --exit-after-snapshot 2>&1)
[[ $? -eq 0 && -f $tmp/b/vmstate.dtb ]] && ! grep -q "BLK OK" <<<"$out" &&
    ok "snapshot between the blk write and read-back passes" || { bad "blk snapshot:"; echo "$out"; }
cp "$tmp/disk.img" "$tmp/copy.img"
out=$(vm restore "$tmp/b" --no-console-input)
[[ $? -eq 0 ]] && grep -q "^BLK OK 8192" <<<"$out" && ok "restored blk workload: $(grep 'BLK OK' <<<"$out")" ||
    { bad "restored blk workload:"; both "$out"; }
out=$(vm restore "$tmp/b" --memory lazy --disk "0=$tmp/copy.img" --no-console-input)
[[ $? -eq 0 ]] && grep -q "^BLK OK 8192" <<<"$out" && ok "restored onto a copy with --disk 0=: BLK OK" ||
    { bad "restore onto a copy:"; both "$out"; }
dd if=/dev/urandom of="$tmp/disk.img" bs=4096 count=1 conv=notrunc 2>/dev/null
out=$(timeout 60 "$VMRUN" restore "$tmp/b" --no-console-input 2>&1)
[[ $? -eq 2 ]] && grep -q "content differs" <<<"$out" && ok "a changed disk is refused: $(head -n1 <<<"$out")" ||
    { bad "changed disk accepted (exit $?):"; sed 's/^/    /' <<<"$out"; }

# Hostile snapshots: refused before the guest runs, exit 2, the file and field named. Copies of
# $hsrc, restored with ${hargs[@]}.
hsrc=$tmp/s
hargs=()
hostile() { # NAME PATTERN SETUP...
    local name=$1 pattern=$2
    shift 2
    rm -rf "$tmp/h"
    cp -r "$hsrc" "$tmp/h"
    rm -f "$tmp/h/memory.raw" "$tmp/h"/memory.raw.*
    "$@" || { bad "hostile $name: setup failed: $*"; return; }
    local out rc
    out=$(timeout 60 "$VMRUN" restore "$tmp/h" --no-console-input "${hargs[@]}" </dev/null 2>&1)
    rc=$?
    if [[ $rc -eq 2 ]] && tr '\n' ' ' <<<"$out" | grep -qE "$pattern" && ! grep -q "^RESULT" <<<"$out"; then
        ok "hostile $name: $(head -n1 <<<"$out")"
        sed '1d; s/^/         /' <<<"$out"
    else
        bad "hostile $name: exit $rc:"; sed 's/^/    /' <<<"$out"
    fi
}
flip() { python3 -c "import sys; p=sys.argv[1]; o=int(sys.argv[2]); b=bytearray(open(p,'rb').read()); b[o]^=0x10; open(p,'wb').write(b)" "$@"; }
trunc() { truncate -s "$2" "$1"; }
hostile "truncated vmstate.dtb" "vmstate.dtb" trunc "$tmp/h/vmstate.dtb" 100
hostile "empty vmstate.dtb" "vmstate.dtb" trunc "$tmp/h/vmstate.dtb" 0
hostile "truncated memory.lz4" "memory.lz4" trunc "$tmp/h/memory.lz4" 5000
hostile "wrong magic" "memory.lz4.*magic" flip "$tmp/h/memory.lz4" 0
hostile "dtb hash mismatch" "vmstate.dtb.*state-hash" flip "$tmp/h/vmstate.dtb" 2000
mid=$(($(stat -c %s "$tmp/s/memory.lz4") / 2))
hostile "chunk hash mismatch" "memory.lz4: chunk [0-9]+" flip "$tmp/h/memory.lz4" $mid
hostile "missing memory.lz4" "memory.lz4" rm "$tmp/h/memory.lz4"
# Lazy mode verifies a chunk when the guest first touches it: a corrupt one stops the VM there
# (exit 1) before the guest computes on it, so no RESULT.
rm -rf "$tmp/h" && cp -r "$tmp/s" "$tmp/h" && rm -f "$tmp/h"/memory.raw*
flip "$tmp/h/memory.lz4" $mid
out=$(timeout 60 "$VMRUN" restore "$tmp/h" --memory lazy --no-console-input </dev/null 2>&1)
rc=$?
if [[ $rc -eq 1 ]] && grep -qE "lazy restore: chunk [0-9]+: unreadable; stopping the VM" <<<"$out" &&
    ! grep -q "^RESULT" <<<"$out"; then
    ok "lazy restore of a corrupt chunk stops the VM: $(grep -m1 'lazy restore' <<<"$out")"
else
    bad "lazy restore of a corrupt chunk: exit $rc:"; sed 's/^/    /' <<<"$out"
fi
# The same chunk, first touched by a snapshot of the lazily restored VM (its guest idles at READY
# here, so it never reaches the chunk itself): the snapshot is refused and nothing is published,
# since it would hold zeros where the guest's data was.
rm -rf "$tmp/hz" "$tmp/hz2"
timeout 120 "$VMRUN" boot --mem 384M --no-console-input --cmdline "$work hold=100000" \
    --snapshot-on READY --snapshot-dir "$tmp/hz" --exit-after-snapshot </dev/null >/dev/null 2>&1
flip "$tmp/hz/memory.lz4" "$(($(stat -c %s "$tmp/hz/memory.lz4") / 2))"
timeout 60 "$VMRUN" restore "$tmp/hz" --memory lazy --no-console-input --api-sock "$tmp/hz.sock" \
    </dev/null >"$tmp/hz.out" 2>"$tmp/hz.err" &
hpid=$!
for ((i = 0; i < 100; i++)); do [[ -S $tmp/hz.sock ]] && break; sleep 0.05; done
d=$("$VMRUN" snapshot --api-sock "$tmp/hz.sock" "$tmp/hz2" 2>&1)
wait $hpid
rc=$?
if [[ $rc -eq 1 ]] && grep -q '"ok":false' <<<"$d" && ! ls -d "$tmp"/hz2* >/dev/null 2>&1 &&
    grep -q "hz2.tmp-[0-9]*/memory.lz4: guest memory could not be read in full" "$tmp/hz.err"; then
    ok "snapshot of a lazy VM over a corrupt chunk: refused, nothing published, VM exit 1"
else
    bad "snapshot of a lazy VM over a corrupt chunk: VM exit $rc, reply $d"; sed 's/^/    /' "$tmp/hz.err"
    ls -d "$tmp"/hz2* 2>/dev/null | sed 's/^/    left: /'
fi
# One field changed with every hash re-sealed, so the field check itself must catch it.
hostile "format version (re-sealed)" "vmstate.dtb: /vmrun/format-version" "$SNAPMUT" "$tmp/h" dtb-version
hostile "vCPU count (re-sealed)" "vmstate.dtb: /vm/vcpus: outside" "$SNAPMUT" "$tmp/h" dtb-vcpus
hostile "memory.lz4 version (re-sealed)" "memory.lz4: version: 2 unsupported" "$SNAPMUT" "$tmp/h" mem-version
hostile "chunk size (re-sealed)" "memory.lz4: chunk size: 3000" "$SNAPMUT" "$tmp/h" mem-chunk-size
hostile "chunk outside the file (re-sealed)" "memory.lz4: chunk [0-9]+: payload at" \
    "$SNAPMUT" "$tmp/h" mem-chunk-offset
hsrc=$tmp/b
hargs=(--disk "0=$tmp/copy.img")
hostile "virtqueue size (re-sealed)" \
    "queue 0: size 1024 above the maximum.*vmstate.dtb: /devices/virtio-blk@0/transport" \
    "$SNAPMUT" "$tmp/h" dtb-queue-size
out=$("$VMRUN" restore "$tmp/nope" 2>&1); [[ $? -eq 2 ]] && ok "missing directory: $out" || bad "missing dir: $out"
exit $fail
