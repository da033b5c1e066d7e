#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (as root): installs what is missing, builds,
# then either boots the built-in guest (run) or runs the whole test suite (test).
#   tools/build.sh run [vmrun boot options...]
#   tools/build.sh test [ctest options...]
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake pkg-config libfdt-dev liblz4-dev libxxhash-dev libcmocka-dev
      libjson-c-dev device-tree-compiler acpica-tools cpio python3 qemu-system-x86)

install_missing() {
    local missing=()
    for p in "${PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "build.sh: installing ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
}

build() { # build DIR [cmake -D options...]
    local dir=$1
    shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j"$(nproc)"
}

cmd=${1:-run}
shift || true
install_missing
case "$cmd" in
run)
    build build
    exec build/vmrun boot "$@"
    ;;
test)
    # The same suite twice: warnings as errors, then under AddressSanitizer/UBSan.
    build build-ci -DVMRUN_WERROR=ON
    build build-asan -DVMRUN_WERROR=ON -DVMRUN_SANITIZE=ON
    status=0
    (cd build-ci && ctest --output-on-failure "$@") || status=1
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --output-on-failure "$@") || status=1
    exit $status
    ;;
*)
    echo "usage: tools/build.sh run|test [args...]" >&2
    exit 2
    ;;
esac
