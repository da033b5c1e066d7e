# Shared by the end-to-end scripts (tests/e2e/*.sh, tests/linux/*.sh): source it, do not run it.

# Exit 77 (ctest's "skipped") with a message unless /dev/kvm can be opened read-write.
e2e_require_kvm() {
    if ! [ -c /dev/kvm ] || ! { exec 3<>/dev/kvm; } 2>/dev/null; then
        echo "SKIP: /dev/kvm not available"
        exit 77
    fi
    exec 3>&-
}

# A temporary directory in $tmp, removed when the script exits.
e2e_tmpdir() {
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    last=""
}

# Print why, with the output of the last e2e_boot, and fail the test.
e2e_fail() {
    echo "FAIL: $*"
    if [ -n "${last:-}" ]; then
        echo "---- output of: vmrun boot $last ----"
        cat "$tmp/out"
        echo "----------------"
    fi
    exit 1
}

# e2e_boot ARGS...: `vmrun boot ARGS` with a timeout; output in $tmp/out, exit code in $rc.
e2e_boot() {
    local start end
    last="$*"
    start=$(date +%s%N)
    timeout 120 "$VMRUN" boot "$@" </dev/null >"$tmp/out" 2>&1
    rc=$?
    end=$(date +%s%N)
    sed -i 's/\r$//' "$tmp/out"
    echo "vmrun boot $last: exit code $rc, $(((end - start) / 1000000)) ms"
}
