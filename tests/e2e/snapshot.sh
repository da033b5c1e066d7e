#!/usr/bin/env bash
# Snapshots of the built-in guest: --snapshot-on mid-workload, the control socket with a diff
# chain, inspect --verify catching any flipped byte (naming file and chunk), and a snapshot
# killed mid-write leaving the previous one intact.
set -u
VMRUN=$1
. "$(dirname "$0")/../lib/e2e.sh"
e2e_require_kvm
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

# 1. --snapshot-on READY while the workload keeps computing; the guest still finishes.
out=$(timeout 120 "$VMRUN" boot --mem 256M --no-console-input \
    --cmdline "workload=fill mb=64 seed=7 rounds=3" \
    --snapshot-on READY --snapshot-dir "$tmp/s1" </dev/null 2>"$tmp/err")
rc=$?
if [[ $rc -eq 0 ]] && grep -q "snapshot written to $tmp/s1" "$tmp/err" && grep -q "^RESULT" <<<"$out"; then
    ok "snapshot-on READY: $(grep 'snapshot written' "$tmp/err")"
else
    bad "snapshot-on READY (exit $rc):"; sed 's/^/    /' <<<"$out"; sed 's/^/    stderr: /' "$tmp/err"
fi
if v=$("$VMRUN" inspect "$tmp/s1" --verify 2>&1); then ok "inspect --verify s1"; else bad "verify s1: $v"; fi
"$VMRUN" inspect "$tmp/s1" | sed 's/^/    /'
if command -v dtc >/dev/null; then
    dtc -I dtb -O dts "$tmp/s1/vmstate.dtb" 2>/dev/null | grep -q 'compatible = "vmrun,snapshot"' &&
        ok "dtc reads vmstate.dtb" || bad "dtc cannot read vmstate.dtb"
fi

# 2. --exit-after-snapshot ends the VM with 0 right after the snapshot.
out=$(timeout 60 "$VMRUN" boot --mem 128M --no-console-input --cmdline "workload=fill mb=16 rounds=100000" \
    --snapshot-on READY --snapshot-dir "$tmp/s2" --exit-after-snapshot 2>&1)
rc=$?
[[ $rc -eq 0 && -f $tmp/s2/vmstate.dtb ]] && ! grep -q RESULT <<<"$out" &&
    ok "exit-after-snapshot" || { bad "exit-after-snapshot (exit $rc)"; sed 's/^/    /' <<<"$out"; }

# 2b. A failed --snapshot-on snapshot is reported and the guest carries on; with
#     --exit-after-snapshot the run fails instead.
out=$(timeout 60 "$VMRUN" boot --mem 128M --no-console-input --cmdline "workload=fill mb=16 rounds=2" \
    --snapshot-on READY --snapshot-dir /proc/vmrun-no-such-dir/s </dev/null 2>"$tmp/err")
rc=$?
[[ $rc -eq 0 ]] && grep -q "^RESULT" <<<"$out" && grep -q "vmrun: --snapshot-on: snapshot to" "$tmp/err" &&
    ok "failed snapshot-on: reported, guest finished" ||
    { bad "failed snapshot-on (exit $rc):"; sed 's/^/    /' <<<"$out"; sed 's/^/    stderr: /' "$tmp/err"; }
out=$(timeout 60 "$VMRUN" boot --mem 128M --no-console-input --cmdline "workload=fill mb=16 rounds=2" \
    --snapshot-on READY --snapshot-dir /proc/vmrun-no-such-dir/s --exit-after-snapshot 2>&1)
rc=$?
[[ $rc -eq 1 ]] && ok "failed snapshot-on with --exit-after-snapshot: exit 1" || bad "exit-after failure: exit $rc"

# 3. Control socket: status, pause, full snapshot, diff snapshot, resume, stop.
sock=$tmp/api.sock
"$VMRUN" boot --mem 256M --no-console-input --api-sock "$sock" \
    --cmdline "workload=fill mb=32 seed=3 rounds=1 hold=100000" >"$tmp/vm.out" 2>&1 &
pids+=($!)
for ((i = 0; i < 100; i++)); do grep -q READY "$tmp/vm.out" && break; sleep 0.1; done
st=$("$VMRUN" status --api-sock "$sock") && grep -q '"state":"running"' <<<"$st" &&
    ok "status: $st" || bad "status: $st"
"$VMRUN" pause --api-sock "$sock" >/dev/null && grep -q '"state":"paused"' <<<"$("$VMRUN" status --api-sock "$sock")" &&
    ok "pause" || bad "pause"
r=$("$VMRUN" snapshot --api-sock "$sock" "$tmp/full") && grep -q '"diff":false' <<<"$r" &&
    ok "full snapshot: $r" || bad "full snapshot: $r"
"$VMRUN" resume --api-sock "$sock" >/dev/null || bad "resume"
sleep 0.3
r=$("$VMRUN" snapshot --api-sock "$sock" "$tmp/diff" --diff) && grep -q '"diff":true' <<<"$r" &&
    ok "diff snapshot: $r" || bad "diff snapshot: $r"
r=$("$VMRUN" snapshot --api-sock "$sock" "$tmp/diff" --diff 2>&1) && bad "a diff into its own parent was accepted" ||
    ok "diff into its own parent refused"
full_kb=$(du -k "$tmp/full/memory.lz4" | cut -f1)
diff_kb=$(du -k "$tmp/diff/memory.lz4" | cut -f1)
((diff_kb < full_kb)) && ok "diff ($diff_kb KiB) smaller than full ($full_kb KiB)" || bad "diff $diff_kb KiB >= full $full_kb KiB"
ins=$("$VMRUN" inspect "$tmp/diff" --verify 2>&1) && grep -q "parent: snapshot $tmp/full" <<<"$ins" &&
    ok "inspect --verify follows the parent chain" || { bad "inspect diff:"; sed 's/^/    /' <<<"$ins"; }
"$VMRUN" inspect --json "$tmp/diff" | python3 -c 'import json,sys; c=json.load(sys.stdin)["chain"]; assert len(c)==2 and c[0]["chunks_absent"]>0, c' &&
    ok "inspect --json" || bad "inspect --json"
"$VMRUN" stop --api-sock "$sock" >/dev/null && wait "${pids[-1]}" && ok "stop ends the VM with 0" || bad "stop"

# 4. Any flipped byte makes --verify fail and name the file (and the chunk, for memory).
for f in vmstate.dtb memory.lz4; do
    size=$(stat -c %s "$tmp/s1/$f")
    for off in 0 7 $((size / 3)) $((size / 2)) $((size - 1)); do
        cp -r "$tmp/s1" "$tmp/flip"
        python3 - "$tmp/flip/$f" "$off" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read()); b[off] ^= 0x20; open(p, "wb").write(b)
PY
        msg=$("$VMRUN" inspect "$tmp/flip" --verify 2>&1)
        rc=$?
        if [[ $rc -ne 0 ]] && grep -q "$tmp/flip/$f" <<<"$msg"; then
            ok "flip $f@$off: $(grep -m1 "vmrun:" <<<"$msg")"
        else
            bad "flip $f@$off not caught (exit $rc): $msg"
        fi
        rm -rf "$tmp/flip"
    done
done
cp -r "$tmp/s1" "$tmp/flip"
# A byte inside the payload area of memory.lz4 must be pinned to a chunk.
python3 - "$tmp/flip/memory.lz4" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 1; open(p, "wb").write(b)
PY
msg=$("$VMRUN" inspect "$tmp/flip" --verify 2>&1)
grep -qE "memory.lz4: chunk [0-9]+" <<<"$msg" && ok "payload flip names the chunk" || bad "payload flip: $msg"
rm -rf "$tmp/flip"

# 5. SIGKILL in the middle of replacing a snapshot leaves a complete, verifiable one. vmrun runs
#    directly (not under timeout) so the kill reaches it; lz4hc makes the write long enough to
#    be caught in the middle.
sock2=$tmp/api2.sock
"$VMRUN" boot --mem 512M --no-console-input --api-sock "$sock2" --lz4hc \
    --cmdline "workload=fill mb=384 seed=5 rounds=1 hold=100000" >"$tmp/vm2.out" 2>&1 &
vm2=$!
pids+=($vm2)
for ((i = 0; i < 200; i++)); do grep -q READY "$tmp/vm2.out" && break; sleep 0.1; done
"$VMRUN" snapshot --api-sock "$sock2" "$tmp/k" >/dev/null || bad "first snapshot for the kill test"
before=$(sha256sum "$tmp/k/vmstate.dtb" | cut -c1-16)
"$VMRUN" snapshot --api-sock "$sock2" "$tmp/k" >/dev/null 2>&1 &
client=$!
killed=0
for ((i = 0; i < 2000; i++)); do
    part=$(ls "$tmp"/k.tmp-*/memory.lz4 2>/dev/null | head -n1)
    if [[ -n $part && $(stat -c %s "$part" 2>/dev/null || echo 0) -gt 1000000 ]]; then
        kill -9 $vm2
        killed=1
        break
    fi
    sleep 0.005
done
wait $vm2 2>/dev/null
wait $client 2>/dev/null
if ((killed)); then
    ls -d "$tmp"/k.tmp-* >/dev/null 2>&1 && ok "vmrun killed mid-write (a partial $(basename "$(ls -d "$tmp"/k.tmp-* | head -n1)") remains)" ||
        bad "no partial temporary directory after the kill"
    after=$(sha256sum "$tmp/k/vmstate.dtb" | cut -c1-16)
    [[ $before == "$after" ]] && ok "the previous snapshot is still in place" || bad "snapshot at $tmp/k changed"
    v=$("$VMRUN" inspect "$tmp/k" --verify 2>&1) && ok "and it verifies" || bad "after SIGKILL: $v"
else
    bad "could not catch the snapshot mid-write"
    kill -9 $vm2 2>/dev/null
fi
exit $fail
