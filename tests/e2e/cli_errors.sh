#!/usr/bin/env bash
# Bad flags and bad kernel files: a clear "vmrun: <what>: <why>" naming the flag or file,
# a non-zero exit, never a crash.
set -u
VMRUN=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# expect NAME EXPECTED_EXIT PATTERN -- ARGS...
expect() {
    local name=$1 want=$2 pattern=$3
    shift 4
    local out rc
    out=$(timeout 30 "$VMRUN" "$@" </dev/null 2>&1)
    rc=$?
    if [[ $rc -ne $want ]] || ! grep -qE -- "$pattern" <<<"$out"; then
        echo "FAIL $name: exit $rc (want $want), output:"
        sed 's/^/    /' <<<"$out"
        fail=1
    else
        echo "ok   $name: exit $rc, $(head -n1 <<<"$out")"
    fi
}

expect help 0 "usage: vmrun" -- --help
expect version 0 "^vmrun [0-9]+\.[0-9]+" -- --version
expect no-command 2 "vmrun: no command" --
expect bad-command 2 "vmrun: unknown command 'frob'" -- frob
expect bad-mem 2 "vmrun: --mem 1Q: not a size" -- boot --mem 1Q
expect small-mem 2 "vmrun: --mem 1M: must be between" -- boot --mem 1M
expect bad-cpus 2 "vmrun: --cpus 0:" -- boot --cpus 0
expect bad-flag 2 "vmrun: boot: unknown option --frob" -- boot --frob
expect missing-value 2 "vmrun: boot: option --kernel needs a value" -- boot --kernel
expect initrd-alone 2 "vmrun: --initrd: needs --kernel" -- boot --initrd /dev/null

if [[ -r /dev/kvm && -w /dev/kvm ]]; then
    guest_elf=$(dirname "$VMRUN")/tools/guest/vmrun-guest.elf
    echo "just text" >"$tmp/text"
    head -c 100 "$guest_elf" >"$tmp/truncated.elf"
    : >"$tmp/empty"
    # An ELF whose program headers point far past the end of the file.
    cp "$guest_elf" "$tmp/hostile.elf"
    printf '\xff\xff\xff\xff\x00\x00\x00\x00' | dd of="$tmp/hostile.elf" bs=1 seek=32 conv=notrunc 2>/dev/null
    expect missing-kernel 1 "vmrun: $tmp/nope: No such file" -- boot --kernel "$tmp/nope"
    expect dir-kernel 1 "vmrun: $tmp: not a regular file" -- boot --kernel "$tmp"
    expect empty-kernel 1 "vmrun: $tmp/empty: empty file" -- boot --kernel "$tmp/empty"
    expect text-kernel 1 "vmrun: $tmp/text: neither an ELF64 vmlinux nor a bzImage" -- boot --kernel "$tmp/text"
    expect truncated-kernel 1 "vmrun: $tmp/truncated.elf: program headers .* past the end" -- boot --kernel "$tmp/truncated.elf"
    expect hostile-phoff 1 "vmrun: $tmp/hostile.elf: program headers .* past the end" -- boot --kernel "$tmp/hostile.elf"
    expect missing-initrd 1 "vmrun: $tmp/nord: No such file" -- boot --kernel "$guest_elf" --initrd "$tmp/nord"
    expect long-cmdline 1 "vmrun: command line: .* bytes, at most" -- boot --cmdline "$(head -c 5000 /dev/zero | tr '\0' a)"
else
    echo "SKIP (partly): /dev/kvm not available, kernel-file checks not run"
fi
exit $fail
