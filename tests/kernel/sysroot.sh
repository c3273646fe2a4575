#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# sysroot.sh [ARCH] — make a sysroot of Debian bookworm packages for ARCH
# (default arm64) and print its directory on the last line of stdout.
#
# The packages come from private package lists (apt-private.sh: the
# machine's mirror, neither its apt sources nor dpkg's architectures change)
# with `apt-get download`, and are unpacked with `dpkg-deb -x`, never
# installed. They are what the cross build links against (the -dev packages
# of iovad's dependencies, the C library, check for configuring) and what the
# guest runs (busybox-static, dbus-daemon, busctl and the libraries of all
# of them). Afterwards /lib, /bin and /sbin are merged into /usr as on an
# installed bookworm, so that the packages' relative symlinks resolve.
#
#   <cache>/sysroot-ARCH/root/           the sysroot
#   <cache>/sysroot-ARCH/root.ini        meson machine file defining the
#                                        constant "sysroot" for the tree's
#                                        cross file (aarch64-linux-gnu.ini)
#   <cache>/sysroot-ARCH/packages.txt    "name version" of what is unpacked
#
# It is made again when a package's candidate version changes (a Debian
# point release or security update, seen once the lists are refreshed). The
# cache is $IOVAD_KERNEL_CACHE (default /var/tmp/iovad-kernel-cache), locked
# while this runs.
set -euo pipefail
here=$(dirname "$(realpath "$0")")
arch=${1:-arm64}
cache=${IOVAD_KERNEL_CACHE:-/var/tmp/iovad-kernel-cache}
mkdir -p "$cache"
cache=$(realpath "$cache")
exec 9< "$cache"
flock 9

pkgs=(
	# the C library and the kernel's UAPI headers
	libc6 libc6-dev linux-libc-dev libcrypt1 libcrypt-dev libnsl-dev libgcc-s1
	# iovad's dependencies
	libsystemd0 libsystemd-dev libjson-c5 libjson-c-dev libpci3 libpci-dev pci.ids
	libudev1 libudev-dev zlib1g zlib1g-dev check libsubunit0 libsubunit-dev
	libcap2 libgcrypt20 libgpg-error0 liblz4-1 liblzma5 libzstd1
	# the guest's userland: busybox, the bus, busctl, setpriv
	busybox-static dbus-daemon libdbus-1-3 libexpat1 libapparmor1 libaudit1
	libcap-ng0 libselinux1 libpcre2-8-0
	systemd libsystemd-shared libacl1 libblkid1 libip4tc2 libkmod2 libmount1 util-linux
	libssl3 libpam0g libseccomp2
)

. "$here/apt-private.sh"
dir=$cache/sysroot-$arch
if ! [ -w "$cache" ] || ! apt_private "$arch" "$cache/apt-$arch"; then
	[ -e "$dir/complete" ] || { echo "sysroot: no package lists for $arch and no cached sysroot" >&2; exit 1; }
	echo "sysroot: using the cached sysroot as it is" >&2
	echo "$dir/root"
	exit 0
fi

# "name version" of each package's candidate, in the order above.
versions() {
	local names="${pkgs[*]}"
	"${APT_CACHE[@]}" show --no-all-versions "${pkgs[@]}" 2>/dev/null |
		awk -v names="$names" '$1 == "Package:" { p = $2 } $1 == "Version:" { v[p] = $2 }
		     END { n = split(names, l, " ")
			   for (i = 1; i <= n; i++) { if (!(l[i] in v)) { print "missing " l[i] > "/dev/stderr"; exit 1 }
						      print l[i], v[l[i]] } }'
}

want=$(versions) || { apt_private_update && want=$(versions); } ||
	{ echo "sysroot: the $arch package lists lack some of: ${pkgs[*]}" >&2; exit 1; }
if [ -e "$dir/complete" ] && [ "$want" = "$(cat "$dir/packages.txt" 2>/dev/null)" ]; then
	echo "$dir/root"
	exit 0
fi

tmp=$(mktemp -d "$cache/.sysroot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/debs" "$tmp/root"
echo "sysroot: downloading ${#pkgs[@]} $arch packages" >&2
if ! (cd "$tmp/debs" && "${APT_GET[@]}" -qq download "${pkgs[@]}" >&2); then
	# A stale list names versions the mirror has dropped.
	apt_private_update
	want=$(versions)
	rm -f "$tmp"/debs/*.deb
	(cd "$tmp/debs" && "${APT_GET[@]}" -qq download "${pkgs[@]}" >&2) ||
		{ echo "sysroot: cannot download the $arch packages" >&2; exit 1; }
fi
for deb in "$tmp"/debs/*.deb; do
	dpkg-deb -x "$deb" "$tmp/root"
done
rm -rf "$tmp/debs"
# merged /usr, as bookworm's usrmerge makes it
for d in bin sbin lib; do
	[ -d "$tmp/root/$d" ] && [ ! -L "$tmp/root/$d" ] || continue
	mkdir -p "$tmp/root/usr/$d"
	cp -a "$tmp/root/$d/." "$tmp/root/usr/$d/"
	rm -rf "${tmp:?}/root/$d"
	ln -s "usr/$d" "$tmp/root/$d"
done
cat > "$tmp/root.ini" <<EOF
# Made by tests/kernel/sysroot.sh: give it to meson before the tree's cross file.
[constants]
sysroot = '$dir/root'
EOF
echo "$want" > "$tmp/packages.txt"
touch "$tmp/complete"
rm -rf "$dir"
mv "$tmp" "$dir"
chmod 755 "$dir"
trap - EXIT
echo "sysroot: $dir/root ($(du -sh "$dir/root" | cut -f1))" >&2
echo "$dir/root"
