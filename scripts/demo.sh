#!/usr/bin/env bash
# Quick start 1/2: installs what is missing, builds Release in build/ and runs `longctx demo`
# (about two minutes on a 2-core machine). Extra arguments go to the demo, e.g. --quick.
# LONGCTX_BUILD_DIR chooses another build directory.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
build="${LONGCTX_BUILD_DIR:-$root/build}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" --target longctx_cli -j "$(nproc)"
exec "$build/bin/longctx" demo "$@"
