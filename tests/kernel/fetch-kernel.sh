#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# fetch-kernel.sh [SERIES] — make a Debian amd64 kernel available for the
# guest and print its directory on the last line of stdout.
#
#   SERIES   6.1 (default: bookworm's linux-image-amd64) or e.g. 6.12
#            (linux-image-6.12-amd64, where the archive has it)
#
# The kernel package is fetched with `apt-get download` (never installed,
# nothing goes into /boot) and unpacked into the cache directory
# $IOVAD_KERNEL_CACHE (default /var/tmp/iovad-kernel-cache), one directory
# per package version:
#
#   <cache>/linux-image-6.1.0-NN-amd64/root/     the unpacked package, depmod'ed
#   <cache>/linux-image-6.1.0-NN-amd64/vmlinuz   the bzImage
#   <cache>/linux-image-6.1.0-NN-amd64/vmlinux   the ELF image (PVH boot), if
#                                                it could be extracted
#
# A cached version is reused; a new ABI (security update) is fetched once and
# replaces the older ones of the same series. Concurrent callers serialise
# on a lock on the cache directory.
set -euo pipefail
series=${1:-6.1}
cache=${IOVAD_KERNEL_CACHE:-/var/tmp/iovad-kernel-cache}
mkdir -p "$cache"
cache=$(realpath "$cache")

# Lock the directory itself: that needs no write access, so a user can
# still read a cache that root filled.
exec 9< "$cache"
flock 9

apt=(apt-get -q -o APT::Sandbox::User=root)
meta=linux-image-amd64
[ "$series" = 6.1 ] || meta=linux-image-$series-amd64

# The metapackage depends on the current ABI's package, for example
# linux-image-amd64 -> linux-image-6.1.0-NN-amd64.
resolve() {
	apt-cache depends "$meta" 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

refreshed=
refresh_lists() {
	[ -z "$refreshed" ] || return 1
	[ "$(id -u)" = 0 ] || return 1
	echo "fetch-kernel: refreshing the apt package lists" >&2
	"${apt[@]}" -qq update >&2 || return 1
	refreshed=1
}

pkg=$(resolve || true)
if [ -z "$pkg" ] && refresh_lists; then
	pkg=$(resolve || true)
fi
if [ -z "$pkg" ]; then
	# No package lists and no way to refresh them: any complete cached
	# kernel of the series will do.
	pkg=$(cd "$cache" && ls -d linux-image-"$series".*-amd64 2>/dev/null |
		while read -r d; do [ -e "$d/complete" ] && echo "$d"; done |
		sort -V | tail -1)
	[ -n "$pkg" ] || { echo "fetch-kernel: cannot resolve $meta" >&2; exit 1; }
	echo "fetch-kernel: $meta unresolvable, using cached $pkg" >&2
fi

dir=$cache/$pkg
if [ ! -e "$dir/complete" ]; then
	tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	echo "fetch-kernel: downloading $pkg" >&2
	# A stale package list can name a version the mirror has dropped (each
	# security update bumps the ABI): refresh once and resolve again.
	while ! (cd "$tmp" && "${apt[@]}" -qq download "$pkg" >&2); do
		refresh_lists || { echo "fetch-kernel: cannot download $pkg" >&2; exit 1; }
		pkg=$(resolve)
		dir=$cache/$pkg
		[ -e "$dir/complete" ] && break
	done
	if [ ! -e "$dir/complete" ]; then
		dpkg-deb -x "$tmp"/"$pkg"_*.deb "$tmp/root"
		rm -f "$tmp"/*.deb
		kver=$(ls "$tmp/root/lib/modules")
		depmod -b "$tmp/root" "$kver"
		ln -s "root/boot/vmlinuz-$kver" "$tmp/vmlinuz"

		# The bzImage carries the kernel as a compressed ELF (xz on 6.1,
		# zstd later). Unpacked, QEMU boots it through its PVH entry point
		# and skips the firmware and in-guest decompression: seconds
		# under TCG.
		z=$tmp/root/boot/vmlinuz-$kver
		for fmt in 'xz \xfd7zXZ\x00' 'zstd \x28\xb5\x2f\xfd'; do
			tool=${fmt%% *} magic=${fmt#* }
			for off in $(LC_ALL=C grep -aboP "$magic" "$z" | cut -d: -f1 | head -3); do
				tail -c +$((off + 1)) "$z" | "$tool" -dcq > "$tmp/vmlinux" 2>/dev/null || true
				if [ "$(head -c 4 "$tmp/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
					break 2
				fi
			done
			rm -f "$tmp/vmlinux"
		done
		touch "$tmp/complete"
		rm -rf "$dir"
		mv "$tmp" "$dir"
		chmod 755 "$dir"
	fi
	# Older ABIs of the same series are no longer needed.
	for old in "$cache"/linux-image-"$series".*-amd64; do
		[ "$old" = "$dir" ] || rm -rf "$old"
	done
fi
echo "$dir"
