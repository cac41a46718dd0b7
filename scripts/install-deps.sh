#!/usr/bin/env bash
# Installs the Debian 12 packages longctx needs to build, test and benchmark. Idempotent: when
# every package is already installed it does nothing (no apt-get update, no root needed).
# Runs apt-get directly as root, through sudo otherwise.
set -euo pipefail

# Compiler and build tools; OpenMP comes with g++ (libgomp). The rest are the libraries of
# cmake/Dependencies.cmake: GoogleTest, Google Benchmark, OpenBLAS (the sgemm yardstick),
# Highway (SIMD), CLI11, nlohmann-json, fmt; OpenMPI for dist/ (mpirun tests, --parallel);
# SentencePiece, PCRE2 (Unicode pre-tokenizer regexes) and utf8proc (NFC) for model/ tokenizers.
packages=(
  cmake g++ make pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev
  libopenblas-dev libhwy-dev libcli11-dev nlohmann-json3-dev libfmt-dev
  libopenmpi-dev openmpi-bin
  libsentencepiece-dev libpcre2-dev libutf8proc-dev libpng-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: missing packages (${missing[*]}) and neither root nor sudo" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update
"${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
