#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# fetch-kernel.sh [SERIES [ARCH]] — make a Debian kernel available for the
# guest and print its directory on the last line of stdout.
#
#   SERIES   6.1 (default: bookworm's linux-image-amd64) or 6.12
#   ARCH     amd64 (default) or arm64
#
# 6.1 for amd64 comes from the machine's own package lists (bookworm's
# linux-image-amd64). Everything else is looked up in private package lists
# (apt-private.sh: the machine's Debian mirror, bookworm, bookworm-updates,
# bookworm-security and bookworm-backports, for ARCH only), so that neither
# the machine's apt sources nor dpkg's architectures change: the newest
# linux-image-SERIES.N+debNN-ARCH package any of those suites has
# (bookworm-backports and bookworm-security both carry 6.12).
#
# The kernel package is fetched with `apt-get download` (never installed,
# nothing goes into /boot) and unpacked into the cache directory
# $IOVAD_KERNEL_CACHE (default /var/tmp/iovad-kernel-cache), one directory
# per package version:
#
#   <cache>/linux-image-VERSION-ARCH/root/     the unpacked package, depmod'ed
#   <cache>/linux-image-VERSION-ARCH/vmlinuz   the kernel image (bzImage on
#                                              amd64, Image on arm64)
#   <cache>/linux-image-VERSION-ARCH/vmlinux   amd64: the ELF image (PVH
#                                              boot), if it could be extracted
#   <cache>/apt-ARCH/                          the private package lists
#
# A cached version is reused; a new ABI (security update) is fetched once and
# replaces the older ones of the same series. Concurrent callers serialise
# on a lock on the cache directory.
set -euo pipefail
here=$(dirname "$(realpath "$0")")
series=${1:-6.1} arch=${2:-amd64}
case $arch in
amd64 | arm64) ;;
*) echo "fetch-kernel: unknown architecture '$arch' (amd64 or arm64)" >&2; exit 2 ;;
esac
cache=${IOVAD_KERNEL_CACHE:-/var/tmp/iovad-kernel-cache}
mkdir -p "$cache"
cache=$(realpath "$cache")

# Lock the directory itself: that needs no write access, so a user can
# still read a cache that root filled.
exec 9< "$cache"
flock 9

glob="linux-image-$series.*-$arch"
if [ "$series" = 6.1 ] && [ "$arch" = amd64 ]; then
	apt_get=(apt-get -q -o APT::Sandbox::User=root -o DPkg::Lock::Timeout=900)
	apt_cache=(apt-cache)
	# The metapackage depends on the current ABI's package, for example
	# linux-image-amd64 -> linux-image-6.1.0-NN-amd64.
	resolve() {
		"${apt_cache[@]}" depends linux-image-amd64 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-6\.1\.[0-9]/ { print $2; exit }'
	}
	update_lists() {
		[ "$(id -u)" = 0 ] || return 1
		echo "fetch-kernel: refreshing the apt package lists" >&2
		"${apt_get[@]}" -qq update >&2
	}
else
	. "$here/apt-private.sh"
	# Without write access to the cache (not root) only a cached kernel
	# can do.
	if [ -w "$cache" ] && apt_private "$arch" "$cache/apt-$arch"; then
		apt_get=("${APT_GET[@]}")
		apt_cache=("${APT_CACHE[@]}")
	else
		apt_cache=(false)
	fi
	# The newest ABI package of the series, for example
	# linux-image-6.12.118+deb12-arm64 (not -unsigned, -dbg, -cloud, -rt).
	resolve() {
		local re="^linux-image-${series//./\\.}\\.[0-9]+(\\+[a-z0-9.]+)?-$arch\$" p
		for p in $("${apt_cache[@]}" pkgnames "linux-image-$series." 2>/dev/null | grep -E "$re" | sort -rV); do
			# pkgnames also lists names that are only referenced.
			# (grep reads to the end: -q would cut apt-cache off,
			# which pipefail takes for a failure.)
			if "${apt_cache[@]}" show --no-all-versions "$p" 2>/dev/null | grep '^Filename:' > /dev/null; then
				echo "$p"
				return 0
			fi
		done
		return 1
	}
	update_lists() {
		[ "${apt_cache[0]}" != false ] || return 1
		apt_private_update
	}
fi

refreshed=
refresh_lists() {
	[ -z "$refreshed" ] || return 1
	refreshed=1
	update_lists || return 1
}

pkg=$(resolve || true)
if [ -z "$pkg" ] && refresh_lists; then
	pkg=$(resolve || true)
fi
if [ -z "$pkg" ]; then
	# No package lists and no way to refresh them: any complete cached
	# kernel of the series will do.
	pkg=$(cd "$cache" && ls -d $glob 2>/dev/null |
		while read -r d; do [ -e "$d/complete" ] && echo "$d"; done |
		sort -V | tail -1)
	[ -n "$pkg" ] || { echo "fetch-kernel: cannot resolve a $series kernel for $arch" >&2; exit 1; }
	echo "fetch-kernel: no $series kernel package for $arch resolvable, using cached $pkg" >&2
fi

dir=$cache/$pkg
if [ ! -e "$dir/complete" ]; then
	tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	echo "fetch-kernel: downloading $pkg" >&2
	# A stale package list can name a version the mirror has dropped (each
	# security update bumps the ABI): refresh once and resolve again.
	while ! (cd "$tmp" && "${apt_get[@]}" -qq download "$pkg" >&2); do
		refresh_lists || { echo "fetch-kernel: cannot download $pkg" >&2; exit 1; }
		pkg=$(resolve)
		dir=$cache/$pkg
		[ -e "$dir/complete" ] && break
	done
	if [ ! -e "$dir/complete" ]; then
		dpkg-deb -x "$tmp"/"${pkg}"_*.deb "$tmp/root"
		rm -f "$tmp"/*.deb
		kver=$(ls "$tmp/root/lib/modules")
		depmod -b "$tmp/root" "$kver"
		ln -s "root/boot/vmlinuz-$kver" "$tmp/vmlinuz"

		# The bzImage carries the kernel as a compressed ELF (xz on 6.1,
		# zstd later). Unpacked, QEMU boots it through its PVH entry point
		# and skips the firmware and in-guest decompression: seconds
		# under TCG. (QEMU boots arm64's image as it is.)
		z=$tmp/root/boot/vmlinuz-$kver
		for fmt in 'xz \xfd7zXZ\x00' 'zstd \x28\xb5\x2f\xfd'; do
			[ "$arch" = amd64 ] || break
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
	for old in "$cache"/$glob; do
		[ "$old" = "$dir" ] || rm -rf "$old"
	done
fi
echo "$dir"
