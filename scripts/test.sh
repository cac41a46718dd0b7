#!/usr/bin/env bash
# Quick start 2/2: installs what is missing, builds Release in build/ and runs the whole CTest
# suite, then builds again with AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/
# and runs the suite there (sanitizer builds shrink the oracle-heavy test sizes on their own:
# tests/CMakeLists.txt defines LONGCTX_TEST_SMALL). The CUDA backend is compiled (when nvcc is
# present) in the Release build only; its GPU tests skip without a GPU. Set LONGCTX_SKIP_SANITIZE=1 to skip the
# second build; LONGCTX_BUILD_DIR / LONGCTX_ASAN_BUILD_DIR choose other build directories.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
jobs="$(nproc)"

run_suite() {  # <build dir> <extra cmake args...>
  local dir="$1"
  shift
  echo "== test.sh: configuring $dir $*"
  cmake -S "$root" -B "$dir" "$@"
  cmake --build "$dir" -j "$jobs"
  echo "== test.sh: running the suite in $dir"
  (cd "$dir" && ctest --output-on-failure -j "$jobs")
}

start=$SECONDS
run_suite "${LONGCTX_BUILD_DIR:-$root/build}" -DCMAKE_BUILD_TYPE=Release
if [ "${LONGCTX_SKIP_SANITIZE:-0}" != "1" ]; then
  # halt_on_error: the first report fails the test; detect_leaks stays on (the default).
  export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  run_suite "${LONGCTX_ASAN_BUILD_DIR:-$root/build-asan}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLONGCTX_SANITIZE=address,undefined -DLONGCTX_BUILD_BENCH=OFF -DLONGCTX_CUDA=OFF
fi
echo "== test.sh: all suites passed in $((SECONDS - start)) s"
