#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# build-kernel.sh — build the iommufd guest's kernel from Debian's
# linux-source-6.12 and print its directory on the last line of stdout, in
# the layout fetch-kernel.sh uses (run-vm.sh and mkinitramfs.sh take it):
#
#   <dir>/vmlinuz    the bzImage
#   <dir>/vmlinux    the ELF image (QEMU boots it through its PVH entry)
#   <dir>/config     the configuration it was built with
#   <dir>/version    the kernel release (uname -r)
#   <dir>/complete   written last
#
# Debian's kernel packages are built without CONFIG_IOMMUFD; their source
# package has it. The configuration is `make tinyconfig` plus the fragment
# kconfig-iommufd.sh prints (every line of which must hold afterwards).
# <dir> is $IOVAD_KERNEL_CACHE/iommufd-6.12/KEY (default cache
# /var/tmp/iovad-kernel-cache), KEY a hash of the source package's version
# and the fragment: a later run with the same source and fragment reuses the
# build and needs neither root nor network nor a compiler. A new source
# version or fragment builds again and removes the older builds; a build
# that was cut short goes on where it stopped on the next run. The
# source tree is unpacked into <cache>/iommufd-6.12/src-VERSION and removed
# again once the build succeeded (it is 1.5 GB).
#
# The first run needs root: it installs linux-source-6.12 and the build
# dependencies (gcc, make, bison, flex, libelf-dev, bc, xz-utils) with
# apt-get. linux-source-6.12 comes from the machine's package lists (Debian
# 12 has it in bookworm-security) or else from bookworm-backports through
# the private lists of apt-private.sh, whose package archive apt-get
# installs from without changing the machine's apt sources.
#
#   -j N   parallel make jobs (default 2)
set -euo pipefail
here=$(dirname "$(realpath "$0")")
jobs=2
while getopts j: o; do
	case $o in j) jobs=$OPTARG ;; *) exit 2 ;; esac
done
series=6.12 src_pkg=linux-source-6.12
deps=(gcc make bison flex libelf-dev bc xz-utils)
cache=${IOVAD_KERNEL_CACHE:-/var/tmp/iovad-kernel-cache}
mkdir -p "$cache/iommufd-$series"
top=$(realpath "$cache/iommufd-$series")
exec 9< "$top"
flock 9

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
fragment=$(sh "$here/kconfig-iommufd.sh")

# A cached build of the installed source (or, without it, the newest
# cached one: a user without root still runs on what root built).
version=
installed "$src_pkg" && version=$(dpkg-query -W -f='${Version}' "$src_pkg")
key_of() { printf '%s\n%s\n' "$1" "$fragment" | sha256sum | cut -c1-16; }
if [ -n "$version" ] && [ -e "$top/$(key_of "$version")/complete" ]; then
	echo "build-kernel: reusing $top/$(key_of "$version") ($(cat "$top/$(key_of "$version")/version"))" >&2
	echo "$top/$(key_of "$version")"
	exit 0
fi

missing=()
for p in "$src_pkg" "${deps[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "build-kernel: missing packages: ${missing[*]}; run this as root once" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	echo "build-kernel: installing ${missing[*]}" >&2
	if ! apt-cache show --no-all-versions "$src_pkg" 2>/dev/null | grep -q '^Filename:'; then
		apt-get -o DPkg::Lock::Timeout=900 update -qq >&2 || true
	fi
	if apt-cache show --no-all-versions "$src_pkg" 2>/dev/null | grep -q '^Filename:'; then
		apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >&2
	else
		# Only bookworm-backports has it: download it through the private
		# lists, install it (and the rest) from the machine's sources.
		. "$here/apt-private.sh"
		apt_private amd64 "$cache/apt-amd64"
		tmp=$(mktemp -d)
		trap 'rm -rf "$tmp"' EXIT
		(cd "$tmp" && "${APT_GET[@]}" -qq download "$src_pkg" >&2)
		apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "$tmp"/"$src_pkg"_*.deb \
			"${missing[@]/$src_pkg/}" >&2
	fi
	version=$(dpkg-query -W -f='${Version}' "$src_pkg")
fi
key=$(key_of "$version")
dir=$top/$key
if [ -e "$dir/complete" ]; then
	echo "$dir"
	exit 0
fi

tarball=/usr/src/$src_pkg.tar.xz
[ -f "$tarball" ] || { echo "build-kernel: $tarball is missing ($src_pkg $version)" >&2; exit 1; }
src=$top/src-$version
if [ ! -e "$src/.unpacked" ]; then
	rm -rf "$src"
	mkdir -p "$src"
	echo "build-kernel: unpacking $tarball ($version) into $src" >&2
	start=$(date +%s)
	tar -xJf "$tarball" -C "$src" --strip-components=1
	touch "$src/.unpacked"
	echo "build-kernel: unpacked in $(($(date +%s) - start)) s" >&2
fi

obj=$top/obj-$key
# A build that was cut short (a time limit) goes on where it stopped.
if [ -e "$obj/.configured" ]; then
	echo "build-kernel: resuming the build in $obj" >&2
else
	rm -rf "$obj"
	mkdir -p "$obj"
	printf '%s\n' "$fragment" > "$obj/iommufd.config"
	make -s -C "$src" O="$obj" ARCH=x86_64 tinyconfig >&2
	"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$obj/iommufd.config" > "$obj/merge.log" 2>&1 ||
		{ cat "$obj/merge.log" >&2; exit 1; }
	make -s -C "$src" O="$obj" ARCH=x86_64 olddefconfig >&2
fi
# Every line of the fragment must hold: Kconfig silently drops an option
# whose dependencies are not met.
bad=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*) opt=${line%%=*} want=$line ;;
	'# CONFIG_'*' is not set') opt=${line#\# }; opt=${opt%% *} want=$line ;;
	*) continue ;;
	esac
	got=$(grep -E "^($opt=|# $opt is not set)" "$obj/.config" || true)
	# An option that is off may also be absent (its menu is off).
	if [ "$got" != "$want" ] && ! { [ -z "$got" ] && [ "${want#\# }" != "$want" ]; }; then
		echo "build-kernel: the configuration has '${got:-no $opt}' where the fragment says '$want'" >&2
		bad=1
	fi
done <<< "$fragment"
[ "$bad" = 0 ] || exit 1
touch "$obj/.configured"

echo "build-kernel: building $series ($version, key $key) with make -j$jobs in $obj" >&2
start=$(date +%s)
if ! make -s -C "$src" O="$obj" ARCH=x86_64 -j"$jobs" bzImage > "$obj/build.log" 2>&1; then
	tail -n 40 "$obj/build.log" >&2
	echo "build-kernel: make bzImage failed ($obj/build.log)" >&2
	exit 1
fi
echo "build-kernel: built in $(($(date +%s) - start)) s" >&2

tmp=$(mktemp -d "$top/.build.XXXXXX")
cp "$obj/arch/x86/boot/bzImage" "$tmp/vmlinuz"
# The unstripped ELF carries the PVH note QEMU boots by.
objcopy --strip-debug "$obj/vmlinux" "$tmp/vmlinux" 2>/dev/null || cp "$obj/vmlinux" "$tmp/vmlinux"
cp "$obj/.config" "$tmp/config"
make -s -C "$src" O="$obj" ARCH=x86_64 kernelrelease > "$tmp/version"
touch "$tmp/complete"
rm -rf "$dir"
mv "$tmp" "$dir"
chmod 755 "$dir"
# What this build replaces: other keys, the objects, older sources.
for old in "$top"/*; do
	case $old in "$dir") continue ;; esac
	rm -rf "$old"
done
echo "build-kernel: $dir ($(cat "$dir/version"))" >&2
echo "$dir"
