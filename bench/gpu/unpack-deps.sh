# Sourced by the GPU scripts (run.sh, dist_run.sh): unpacks the Debian packages carried in
# $root/.deps (bench/gpu/fetch-debs.sh downloads them; the GPU host has no package registry)
# into /tmp/longctx-deps and points CMake, pkg-config and the loader at them.
prefix=/tmp/longctx-deps
if [ -d "$root/.deps" ] && [ ! -d "$prefix" ]; then
  for deb in "$root"/.deps/*.deb; do dpkg -x "$deb" "$prefix"; done
fi
if [ -d "$prefix" ]; then
  lib=$prefix/usr/lib/x86_64-linux-gnu
  export CMAKE_PREFIX_PATH=$prefix/usr
  export LD_LIBRARY_PATH=$lib:$lib/openblas-pthread:${LD_LIBRARY_PATH:-}
  export PKG_CONFIG_PATH=$lib/openblas-pthread/pkgconfig
  export PKG_CONFIG_SYSROOT_DIR=$prefix
  command -v pkg-config >/dev/null || export PKG_CONFIG=$prefix/usr/bin/pkgconf
fi
