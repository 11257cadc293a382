#!/usr/bin/env bash
# Installs lt into a temporary prefix with scripts/install.sh, then builds
# and runs tests/install/main.c against that prefix only:
#   1. pkg-config --cflags --libs lt                 (shared)
#   2. pkg-config --static --cflags --libs lt-static (static)
#   3. CMake find_package(lt), lt::lt                (shared)
#   4. CMake find_package(lt), lt::lt_static         (static)
# A shared program must ask for liblt.so.<ABI>; a static one must need no
# liblt at all (readelf -d, ldd). Each program exits non-zero on a failed check.
#
# Usage: tests/install/run.sh [--profile debug|release] [--no-build]
# (arguments go to scripts/install.sh; CI passes --profile debug --no-build
# to reuse the debug build it already made).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/tests/install"
work="$(mktemp -d "${TMPDIR:-/tmp}/lt-install.XXXXXX")"
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { printf -- '--- %s\n' "$*"; }
# has PATTERN COMMAND...: COMMAND's output matches PATTERN (grep -e). The
# output is read whole: 'cmd | grep -q' under pipefail fails when grep
# stops reading early.
has() {
  local pat="$1"; shift
  [ "$pat" = -- ] && { pat="$1"; shift; }
  local out; out="$("$@" 2>&1)" || true
  grep -q -e "$pat" <<<"$out"
}

"$root/scripts/install.sh" --prefix "$prefix" "$@"

abi="$(sed -n 's/^#define LT_ABI_VERSION \([0-9]*\)$/\1/p' "$prefix/include/lt/lt.h")"
h="$prefix/include/lt/lt.h"
version="$(for m in MAJOR MINOR PATCH; do sed -n "s/^#define LT_VERSION_$m \([0-9]*\)\$/\1/p" "$h"; done | paste -sd.)"

step "layout"
[ "$(readlink "$prefix/lib/liblt.so")" = "liblt.so.$abi" ] || fail "liblt.so does not point at liblt.so.$abi"
[ "$(readlink "$prefix/lib/liblt.so.$abi")" = "liblt.so.$abi.$version" ] || fail "liblt.so.$abi does not point at liblt.so.$abi.$version"
[ -f "$prefix/lib/liblt.so.$abi.$version" ] && [ ! -L "$prefix/lib/liblt.so.$abi.$version" ] || fail "no liblt.so.$abi.$version file"
has "(SONAME).*\[liblt.so.$abi\]" readelf -d "$prefix/lib/liblt.so.$abi.$version" || fail "soname is not liblt.so.$abi"
[ -f "$prefix/lib/liblt.a" ] || fail "no liblt.a"
[ -f "$prefix/include/lt/lt.h" ] || fail "no include/lt/lt.h"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# Nothing outside the prefix: no system lt, no checkout paths.
export PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig"
step "pkg-config"
[ "$(pkg-config --modversion lt)" = "$version" ] || fail "lt.pc version"
has -- "-lpthread" pkg-config --static --libs lt || fail "lt.pc has no Libs.private (pkg-config --static --libs lt: $(pkg-config --static --libs lt))"
echo "  --cflags --libs lt:                $(pkg-config --cflags --libs lt)"
echo "  --static --cflags --libs lt-static: $(pkg-config --static --cflags --libs lt-static)"

needs_lt() { readelf -d "$1" | grep "(NEEDED)" | grep -o "liblt[^]]*" || true; }
check_shared() {
  local bin="$1"
  [ "$(needs_lt "$bin")" = "liblt.so.$abi" ] || fail "$bin needs '$(needs_lt "$bin")', not liblt.so.$abi"
  # Without the prefix on the search path the loader must not find liblt.
  if "$bin" >/dev/null 2>&1; then fail "$bin ran without $prefix/lib on the library path: a liblt is installed elsewhere?"; fi
  LD_LIBRARY_PATH="$prefix/lib" has "liblt.so.$abi => $prefix/lib/liblt.so.$abi " ldd "$bin" || fail "ldd does not resolve liblt.so.$abi into the prefix"
  LD_LIBRARY_PATH="$prefix/lib" "$bin" || fail "$bin failed"
}
check_static() {
  local bin="$1"
  [ -z "$(needs_lt "$bin")" ] || fail "$bin is meant to be static but needs $(needs_lt "$bin")"
  if has liblt ldd "$bin"; then fail "ldd lists liblt for $bin"; fi
  has " T lt_version$" nm "$bin" || fail "$bin does not contain lt_version"
  "$bin" || fail "$bin failed"
}

cc="${CC:-cc}"
step "C program, pkg-config, shared"
# shellcheck disable=SC2046 # pkg-config output is a list of flags
"$cc" -Wall -Wextra -Werror -std=c11 -o "$work/pc-shared" "$here/main.c" $(pkg-config --cflags --libs lt)
check_shared "$work/pc-shared"
step "C program, pkg-config, static"
# shellcheck disable=SC2046
"$cc" -Wall -Wextra -Werror -std=c11 -o "$work/pc-static" "$here/main.c" $(pkg-config --static --cflags --libs lt-static)
check_static "$work/pc-static"

for kind in shared static; do
  step "C program, CMake find_package(lt), $kind"
  static=OFF; [ "$kind" = static ] && static=ON
  cmake -S "$here/cmake" -B "$work/cmake-$kind" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
    -DLT_STATIC=$static -DCMAKE_SKIP_RPATH=ON -DCMAKE_BUILD_TYPE=Release >"$work/cmake-$kind.log" ||
    { cat "$work/cmake-$kind.log"; fail "cmake configure ($kind)"; }
  grep "found lt" "$work/cmake-$kind.log" | sed 's/^/  /'
  cmake --build "$work/cmake-$kind" -j2 >"$work/cmake-build-$kind.log" ||
    { cat "$work/cmake-build-$kind.log"; fail "cmake build ($kind)"; }
  "check_$kind" "$work/cmake-$kind/consumer"
done

echo "install test: PASS"
