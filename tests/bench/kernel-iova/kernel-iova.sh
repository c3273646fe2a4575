#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# iova-bench against the kernel's own IOVA allocator, in one run:
#
#   tests/bench/kernel-iova/kernel-iova.sh [--build DIR] [--source PKG] [IOVA-BENCH ARGS...]
#
# Installs Debian's kernel source package PKG (default linux-source-6.12)
# with apt-get when missing, takes drivers/iommu/iova.c, lib/rbtree.c and
# the headers they need from it into a directory of its own outside the
# source tree (/var/tmp/iovad-kernel-iova/RELEASE; nothing of the kernel
# is ever copied into the tree), builds them with kshim.h and kiova.c into
# kernel-iova.so (gcc -O2, the kernel's optimisation level), and runs
# DIR/tests/bench/iova-bench --against-kernel=kernel-iova.so ARGS. DIR
# defaults to build-release in the source tree, set up as a release build
# when missing (as docs/performance.md measures).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../.." && pwd)
build=$src/build-release
pkg=linux-source-6.12
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--source) pkg=$2; shift 2 ;;
	-h|--help) sed -n '3,16p' "$0"; exit 0 ;;
	*) break ;;
	esac
done

export DEBIAN_FRONTEND=noninteractive
if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
	echo "kernel-iova: installing $pkg"
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$pkg" ||
		{ apt-get update -qq && apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$pkg"; }
fi
tarball=$(dpkg -L "$pkg" | grep -E '/usr/src/linux-source-[^/]*\.tar\.(xz|bz2|gz)$' | head -1)
[ -n "$tarball" ] || { echo "kernel-iova: $pkg has no source tarball" >&2; exit 1; }
version=$(dpkg-query -W -f='${Version}' "$pkg")
top=$(basename "$tarball" | sed -E 's/\.tar\.[a-z0-9]+$//')
work=/var/tmp/iovad-kernel-iova/$version
so=$work/kernel-iova.so

files=(drivers/iommu/iova.c lib/rbtree.c include/linux/iova.h include/linux/rbtree.h
       include/linux/rbtree_types.h include/linux/rbtree_augmented.h)
if [ ! -f "$work/source/.complete" ]; then
	echo "kernel-iova: extracting ${files[*]} from $tarball"
	rm -rf "$work/source"
	mkdir -p "$work/source"
	tar -xf "$tarball" -C "$work/source" --strip-components=1 "${files[@]/#/$top/}"
	touch "$work/source/.complete"
fi

# The kernel headers iova.c and rbtree.c include that the extract does not
# have: each stands for kshim.h.
inc=$work/include
rm -rf "$inc"
mkdir -p "$inc/linux"
cp "$work/source/include/linux/"*.h "$inc/linux/"
for f in "$work/source/drivers/iommu/iova.c" "$work/source/lib/rbtree.c" "$inc/linux/"*.h; do
	sed -n 's/^#include <linux\/\(.*\)>.*/\1/p' "$f"
done | sort -u | while read -r h; do
	[ -e "$inc/linux/$h" ] || printf '#include "kshim.h"\n' >"$inc/linux/$h"
done

release=$(sed -n 's/^\([0-9][0-9.]*\).*/\1/p' <<<"$version")
cflags=(-O2 -fno-strict-aliasing -fPIC -std=gnu11 -w -I"$inc" -I"$here" -include "$here/kshim.h"
	-DKIOVA_SOURCE="\"$release ($pkg $version)\"")
echo "kernel-iova: building $so"
gcc "${cflags[@]}" -shared -o "$so.tmp" "$here/kiova.c" "$work/source/drivers/iommu/iova.c" \
	"$work/source/lib/rbtree.c"
mv "$so.tmp" "$so"

[ -d "$build" ] || meson setup "$build" -Dbuildtype=release -Dkernel-tests=false
ninja -C "$build" tests/bench/iova-bench
exec "$build/tests/bench/iova-bench" --against-kernel="$so" "$@"
