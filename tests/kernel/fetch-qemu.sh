#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# fetch-qemu.sh — make bookworm-backports' QEMU (10.x) available for the
# iommufd guest, unmodified, and print the path of its qemu-system-x86_64 on
# the last line of stdout. The machine's own QEMU (7.2, which knows no
# `-object iommufd`) stays as it is: the package is looked up in the private
# lists of apt-private.sh, fetched with `apt-get download` (never installed)
# and unpacked into $IOVAD_KERNEL_CACHE/qemu-VERSION/root (VERSION's ':' as
# '_'; default cache
# /var/tmp/iovad-kernel-cache). The libraries it links are bookworm's, which
# the machine's qemu-system-x86 already brought (setup.sh); its firmware is
# the machine's too (-L /usr/share/qemu). A cached version is reused; with
# no package lists (no root, no network) the newest cached one is used.
set -euo pipefail
here=$(dirname "$(realpath "$0")")
cache=${IOVAD_KERNEL_CACHE:-/var/tmp/iovad-kernel-cache}
mkdir -p "$cache"
cache=$(realpath "$cache")
exec 9< "$cache"
flock 9

version=
. "$here/apt-private.sh"
if [ -w "$cache" ] && apt_private amd64 "$cache/apt-amd64"; then
	# The newest 10.x any suite has (bookworm-backports).
	version=$("${APT_CACHE[@]}" madison qemu-system-x86 2>/dev/null | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' |
		grep -E '^1:10\.' | sort -rV | head -1 || true)
fi
if [ -z "$version" ]; then
	dir=$(ls -d "$cache"/qemu-1_10.* 2>/dev/null | while read -r d; do [ -e "$d/complete" ] && echo "$d"; done |
		sort -V | tail -1)
	[ -n "$dir" ] || { echo "fetch-qemu: no QEMU 10.x package resolvable and none cached" >&2; exit 1; }
	echo "$dir/root/usr/bin/qemu-system-x86_64"
	exit 0
fi
dir=$cache/qemu-${version//:/_}
if [ ! -e "$dir/complete" ]; then
	tmp=$(mktemp -d "$cache/.qemu.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	echo "fetch-qemu: downloading qemu-system-x86 $version" >&2
	if ! (cd "$tmp" && "${APT_GET[@]}" -qq download "qemu-system-x86=$version" >&2); then
		apt_private_update
		(cd "$tmp" && "${APT_GET[@]}" -qq download "qemu-system-x86=$version" >&2)
	fi
	dpkg-deb -x "$tmp"/qemu-system-x86_*.deb "$tmp/root"
	rm -f "$tmp"/*.deb
	touch "$tmp/complete"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	chmod 755 "$dir"
	for old in "$cache"/qemu-1_10.*; do
		[ "$old" = "$dir" ] || rm -rf "$old"
	done
fi
echo "$dir/root/usr/bin/qemu-system-x86_64"
