#!/usr/bin/env bash
# Downloads (does not install) the Debian 12 packages the GPU host lacks into .deps/, so that a
# device call can carry them (device tool: carry [".deps"]); bench/gpu/run.sh unpacks them into
# /tmp/longctx-deps there. Run once on the dev machine; add /.deps/ to .git/info/exclude.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$root/.deps"
cd "$root/.deps"
apt-get download libhwy-dev libhwy1 libgtest-dev libgmock-dev libfmt-dev libfmt9 \
  nlohmann-json3-dev libcli11-dev libopenblas-dev libopenblas0-pthread libopenblas-pthread-dev \
  libopenblas0 libgfortran5 libbenchmark-dev libbenchmark1debian pkgconf pkgconf-bin libpkgconf3
ls -la "$root/.deps"
