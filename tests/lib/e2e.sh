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
        echo "---- console output of: vmrun boot $last ----"
        cat "$tmp/out"
        echo "---- vmrun's messages ----"
        cat "$tmp/err" 2>/dev/null
        echo "----------------"
    fi
    exit 1
}

# e2e_boot ARGS...: `vmrun boot ARGS` with a timeout (E2E_TIMEOUT seconds, default 120); the
# guest console (stdout) in $tmp/out,
# vmrun's own messages (stderr) in $tmp/err, so a message can never split a console line that a
# check parses; exit code in $rc.
e2e_boot() {
    local start end
    last="$*"
    start=$(date +%s%N)
    timeout "${E2E_TIMEOUT:-120}" "$VMRUN" boot "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
    rc=$?
    end=$(date +%s%N)
    sed -i 's/\r$//' "$tmp/out"
    echo "vmrun boot $last: exit code $rc, $(((end - start) / 1000000)) ms"
}

# e2e_check_heartbeats FILE: the built-in guest's default run printed at least 3 heartbeat lines
# whose tick counts strictly increase (timer interrupts arrive). Prints the ticks; on failure
# prints why and returns 1.
e2e_check_heartbeats() {
    local -a ticks
    mapfile -t ticks < <(sed -n 's/^heartbeat [0-9]\+ ticks=\([0-9]\+\)$/\1/p' "$1")
    echo "heartbeat ticks: ${ticks[*]:-none}"
    if [ "${#ticks[@]}" -lt 3 ]; then
        echo "expected at least 3 heartbeat lines, got ${#ticks[@]}"
        return 1
    fi
    for ((i = 1; i < ${#ticks[@]}; i++)); do
        if [ "${ticks[i]}" -le "${ticks[i - 1]}" ]; then
            echo "tick count did not increase: ${ticks[i - 1]} then ${ticks[i]}"
            return 1
        fi
    done
}
