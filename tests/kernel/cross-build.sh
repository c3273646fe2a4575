#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# cross-build.sh SOURCE BUILDDIR SYSROOT — cross-build SOURCE's iovad,
# iovactl, kernel-client and iova-ranges for arm64 in BUILDDIR with meson
# (the tree's cross file aarch64-linux-gnu.ini against SYSROOT, made by
# sysroot.sh) and ninja -j2, under a lock (BUILDDIR.lock). BUILDDIR is
# configured once and reconfigured when the sysroot moves; ninja rebuilds what changed, so a second run of
# an unchanged tree costs a second. The kernel tier is not registered in
# the cross build (-Dkernel-tests=false). Prints the four programs' paths.
set -euo pipefail
here=$(dirname "$(realpath "$0")")
source=$(realpath "$1") build=$(realpath -m "$2") sysroot=$(realpath "$3")
machine=$(dirname "$sysroot")/root.ini
[ -f "$machine" ] || { echo "cross-build: $machine is missing (sysroot.sh makes it)" >&2; exit 1; }
targets=(daemon/iovad client/iovactl tests/kernel/kernel-client tests/kernel/iova-ranges)
# Both arm64 tests share BUILDDIR: one configures and builds, the other
# waits and finds it done.
mkdir -p "$(dirname "$build")"
exec 8> "$build.lock"
flock 8

# The build directory remembers the machine file it was made with.
stamp="$machine $(sha256sum "$machine" "$here/aarch64-linux-gnu.ini" | cut -d' ' -f1 | tr '\n' ' ')"
if [ ! -e "$build/build.ninja" ] || [ "$(cat "$build/.iovad-cross" 2>/dev/null)" != "$stamp" ]; then
	rm -rf "$build"
	mkdir -p "$(dirname "$build")"
	meson setup "$build" "$source" --cross-file "$machine" --cross-file "$here/aarch64-linux-gnu.ini" \
		-Dkernel-tests=false > "$build.setup.log" 2>&1 ||
		{ cat "$build.setup.log" >&2; echo "cross-build: meson setup failed" >&2; exit 1; }
	echo "$stamp" > "$build/.iovad-cross"
fi
ninja -C "$build" -j2 "${targets[@]}" > "$build.ninja.log" 2>&1 ||
	{ cat "$build.ninja.log" >&2; echo "cross-build: ninja failed" >&2; exit 1; }
echo "cross-build: $(grep -c 'warning:' "$build.ninja.log" || true) compiler warnings" >&2
for t in "${targets[@]}"; do
	echo "$build/$t"
done
