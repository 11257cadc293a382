#!/usr/bin/env bash
# Installs lt as a C library into a prefix:
#
#   <libdir>/liblt.so.<ABI>.<version>   the shared library (soname liblt.so.<ABI>)
#   <libdir>/liblt.so.<ABI>             -> liblt.so.<ABI>.<version> (what programs load)
#   <libdir>/liblt.so                   -> liblt.so.<ABI>           (what -llt finds)
#   <libdir>/liblt.a                    the static library
#   <includedir>/lt/lt.h                the header (#include <lt.h> with -I<includedir>/lt)
#   <libdir>/pkgconfig/lt.pc            pkg-config: shared by default, --static lists
#                                       the private libraries liblt.a needs
#   <libdir>/pkgconfig/lt-static.pc     pkg-config for linking liblt.a itself
#   <libdir>/cmake/lt/ltConfig.cmake    find_package(lt): lt::lt (shared), lt::lt_static
#   <libdir>/cmake/lt/ltConfigVersion.cmake
#
# Usage: scripts/install.sh [--prefix DIR] [--libdir DIR] [--includedir DIR]
#                           [--destdir DIR] [--profile release|debug] [--no-build]
#
# The version and ABI come from the header build.rs generates
# (LT_VERSION_*, LT_ABI_VERSION); the script checks that the built library's
# soname is liblt.so.<ABI>, the name build.rs gives it.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
prefix=/usr/local
libdir=
includedir=
destdir="${DESTDIR:-}"
profile=release
build=1

die() { echo "install.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?}"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --libdir) libdir="${2:?}"; shift 2 ;;
    --libdir=*) libdir="${1#*=}"; shift ;;
    --includedir) includedir="${2:?}"; shift 2 ;;
    --includedir=*) includedir="${1#*=}"; shift ;;
    --destdir) destdir="${2:?}"; shift 2 ;;
    --destdir=*) destdir="${1#*=}"; shift ;;
    --profile) profile="${2:?}"; shift 2 ;;
    --profile=*) profile="${1#*=}"; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
case "$prefix" in /*) ;; *) die "--prefix must be absolute: $prefix" ;; esac
libdir="${libdir:-$prefix/lib}"
includedir="${includedir:-$prefix/include}"
case "$libdir" in /*) ;; *) die "--libdir must be absolute: $libdir" ;; esac
case "$includedir" in /*) ;; *) die "--includedir must be absolute: $includedir" ;; esac
case "$profile" in
  release) cargo_profile=(--release) ;;
  debug) cargo_profile=() ;;
  *) die "--profile is release or debug, not $profile" ;;
esac

cd "$root"
if [ "$build" = 1 ]; then
  cargo build --lib "${cargo_profile[@]}"
fi
out="${CARGO_TARGET_DIR:-$root/target}/$profile"
for f in "$out/liblt.so" "$out/liblt.a" include/lt.h; do
  [ -f "$f" ] || die "$f is missing: build first (cargo build --lib ${cargo_profile[*]}) or drop --no-build"
done

macro() { sed -n "s/^#define $1 \([0-9][0-9]*\)\$/\1/p" include/lt.h; }
major="$(macro LT_VERSION_MAJOR)"; minor="$(macro LT_VERSION_MINOR)"
patch="$(macro LT_VERSION_PATCH)"; abi="$(macro LT_ABI_VERSION)"
[ -n "$major" ] && [ -n "$minor" ] && [ -n "$patch" ] && [ -n "$abi" ] ||
  die "include/lt.h lacks the LT_VERSION_* / LT_ABI_VERSION macros"
version="$major.$minor.$patch"
soname="liblt.so.$abi"
real="liblt.so.$abi.$version"
if command -v readelf >/dev/null; then
  got="$(readelf -d "$out/liblt.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
  [ "$got" = "$soname" ] || die "$out/liblt.so has soname '$got', the header says ABI $abi ($soname)"
fi

# The libraries a program linking liblt.a must add, as printed by
#   cargo rustc --lib --crate-type staticlib -- --print native-static-libs
# on Linux (glibc): the Rust standard library's, lt adds none of its own.
native_static_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
cmake_static_libs="Threads::Threads;gcc_s;util;rt;m;dl"

D="$destdir"
install -d "$D$libdir" "$D$libdir/pkgconfig" "$D$libdir/cmake/lt" "$D$includedir/lt"
install -m 0755 "$out/liblt.so" "$D$libdir/$real"
ln -sfn "$real" "$D$libdir/$soname"
ln -sfn "$soname" "$D$libdir/liblt.so"
install -m 0644 "$out/liblt.a" "$D$libdir/liblt.a"
install -m 0644 include/lt.h "$D$includedir/lt/lt.h"

# pkg-config paths relative to ${prefix} where they lie under it, so the
# file can be relocated with --define-prefix.
pcpath() { case "$1" in "$prefix"/*) echo "\${prefix}${1#"$prefix"}" ;; "$prefix") echo "\${prefix}" ;; *) echo "$1" ;; esac; }
pc_head="prefix=$prefix
libdir=$(pcpath "$libdir")
includedir=$(pcpath "$includedir")
"
cat > "$D$libdir/pkgconfig/lt.pc" <<PC
${pc_head}
Name: lt
Description: An embeddable BitTorrent engine with a C ABI
Version: $version
Cflags: -I\${includedir}/lt
Libs: -L\${libdir} -llt
Libs.private: $native_static_libs
PC
# -llt finds liblt.so before liblt.a in the same directory, so
# 'pkg-config --static lt' lists what a static link needs but still links
# the shared library; lt-static names the archive itself.
cat > "$D$libdir/pkgconfig/lt-static.pc" <<PC
${pc_head}
Name: lt-static
Description: An embeddable BitTorrent engine with a C ABI (static library)
Version: $version
Cflags: -I\${includedir}/lt
Libs: \${libdir}/liblt.a $native_static_libs
PC

# CMake: paths relative to the config file's directory, so a relocated or
# DESTDIR-staged tree still works.
cmakedir="$libdir/cmake/lt"
rel_prefix="$(realpath -m --relative-to="$cmakedir" "$prefix")"
rel_lib="$(realpath -m --relative-to="$prefix" "$libdir")"
rel_inc="$(realpath -m --relative-to="$prefix" "$includedir")"
case "$rel_lib" in ../*) rel_lib="$libdir" ;; *) rel_lib="\${_lt_prefix}/$rel_lib" ;; esac
case "$rel_inc" in ../*) rel_inc="$includedir" ;; *) rel_inc="\${_lt_prefix}/$rel_inc" ;; esac
cat > "$D$cmakedir/ltConfig.cmake" <<CM
# lt $version, installed by scripts/install.sh.
#
#   find_package(lt REQUIRED)
#   target_link_libraries(app PRIVATE lt::lt)         # liblt.so (soname $soname)
#   target_link_libraries(app PRIVATE lt::lt_static)  # liblt.a and its system libraries
#
# Both targets carry the include directory (#include <lt.h>).
get_filename_component(_lt_prefix "\${CMAKE_CURRENT_LIST_DIR}/$rel_prefix" ABSOLUTE)
set(_lt_libdir "$rel_lib")
set(_lt_includedir "$rel_inc/lt")

foreach(_lt_file "\${_lt_libdir}/$real" "\${_lt_libdir}/liblt.a" "\${_lt_includedir}/lt.h")
  if(NOT EXISTS "\${_lt_file}")
    set(lt_FOUND FALSE)
    set(lt_NOT_FOUND_MESSAGE "\${_lt_file} is missing: reinstall lt")
    return()
  endif()
endforeach()

include(CMakeFindDependencyMacro)
find_dependency(Threads)

if(NOT TARGET lt::lt)
  add_library(lt::lt SHARED IMPORTED)
  set_target_properties(lt::lt PROPERTIES
    IMPORTED_LOCATION "\${_lt_libdir}/$real"
    IMPORTED_SONAME "$soname"
    INTERFACE_INCLUDE_DIRECTORIES "\${_lt_includedir}")
endif()
if(NOT TARGET lt::lt_static)
  add_library(lt::lt_static STATIC IMPORTED)
  set_target_properties(lt::lt_static PROPERTIES
    IMPORTED_LOCATION "\${_lt_libdir}/liblt.a"
    IMPORTED_LINK_INTERFACE_LANGUAGES C
    INTERFACE_INCLUDE_DIRECTORIES "\${_lt_includedir}"
    INTERFACE_LINK_LIBRARIES "$cmake_static_libs")
endif()

set(lt_VERSION "$version")
set(lt_ABI_VERSION $abi)
unset(_lt_file)
unset(_lt_prefix)
unset(_lt_libdir)
unset(_lt_includedir)
CM
cat > "$D$cmakedir/ltConfigVersion.cmake" <<CM
# lt $version: a request is met by the same major version (for 0.x, the
# same major and minor, as Cargo reads versions) at or above it.
set(PACKAGE_VERSION "$version")
if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif(NOT PACKAGE_FIND_VERSION_MAJOR EQUAL $major)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif($major EQUAL 0 AND NOT PACKAGE_FIND_VERSION_MINOR EQUAL $minor)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION VERSION_EQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
if(NOT CMAKE_SIZEOF_VOID_P STREQUAL "" AND NOT CMAKE_SIZEOF_VOID_P EQUAL 8)
  set(PACKAGE_VERSION "\${PACKAGE_VERSION} (64-bit)")
  set(PACKAGE_VERSION_UNSUITABLE TRUE)
endif()
CM

echo "installed lt $version (soname $soname) into $D$prefix"
