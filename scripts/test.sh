#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit and integration) twice: in the
# normal hardened build and in an ASan+UBSan build, so memory errors fail the run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)

"$root/scripts/setup.sh"

# ccache (installed by setup.sh) keeps compiled objects between runs; CCACHE_BASEDIR makes its
# keys relative to the checkout. With -g ccache also hashes the working directory (it lands in the
# debug info), so a fresh clone in another folder missed every object: CCACHE_NOHASHDIR drops it
# from the key (the debug info may then name the folder of the build that filled the cache).
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

run_suite() {
  local build=$1
  shift
  echo "== build $build ($*)"
  cmake -S "$root" -B "$build" "${launcher[@]}" "$@" >/dev/null
  cmake --build "$build" -j"$jobs"
  echo "== tests in $build"
  ctest --test-dir "$build" -j"$jobs" --output-on-failure --timeout 900
}

run_suite "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEKISHO_SANITIZE=OFF
# LeakSanitizer needs ptrace-free /proc access; it works as root on Debian 12.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DSEKISHO_SANITIZE=ON
echo "== all tests passed (hardened and sanitizer builds)"
