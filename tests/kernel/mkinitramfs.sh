#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# mkinitramfs.sh [-b BUSYBOX] [-r OVERLAY -s SYSROOT] KDIR OUT.cpio.gz [MODULE...]
#
# Builds the guest's initramfs:
#   /init             guest-init (this directory)
#   /bin/busybox      a static busybox (default the host's busybox-static;
#                     -b for another architecture's); guest-init installs
#                     its applet links at boot
#   /lib/modules/*.ko the MODULEs with their dependencies, decompressed; load
#                     order in /modules.load (default: vfio-pci,
#                     vfio_iommu_type1 and 9p over virtio-pci)
#   OVERLAY's tree    with -r: copied over the root as it is, plus every
#                     shared library its ELF programs need, taken from
#                     SYSROOT (-s) at the same paths, recursively, with the
#                     ELF interpreter; a library that cannot be found fails
#                     the build
#
# KDIR is a directory printed by fetch-kernel.sh (or build-kernel.sh: no
# modules, so none go in). Without -r the test
# programs are not in the initramfs: the guest runs them from the host's
# root over 9p (x86). With -r (arm64) the guest runs from the initramfs.
set -euo pipefail
here=$(dirname "$(realpath "$0")")
busybox=/bin/busybox overlay='' sysroot=''
while getopts b:r:s: o; do
	case $o in
	b) busybox=$OPTARG ;; r) overlay=$(realpath "$OPTARG") ;; s) sysroot=$(realpath "$OPTARG") ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || { sed -n '4s/^# //p' "$0" >&2; exit 2; }
kdir=$(realpath "$1") out=$(realpath -m "$2")
shift 2
modules=("$@")
# VFIO for the edu devices; 9p over virtio-pci for the host root.
[ ${#modules[@]} -gt 0 ] || modules=(vfio-pci vfio_iommu_type1 9p 9pnet_virtio virtio_pci)
kroot=$kdir/root
# A kernel built with everything in it (build-kernel.sh) has no modules.
kver=
[ -d "$kroot/lib/modules" ] && kver=$(ls "$kroot/lib/modules")
if [ -n "$overlay" ] && [ -z "$sysroot" ]; then
	echo "mkinitramfs: -r needs -s SYSROOT" >&2
	exit 2
fi

if [ "$(head -c 4 "$busybox" | od -An -tx1 | tr -d ' ')" != 7f454c46 ] ||
   readelf -l "$busybox" 2>/dev/null | grep -q 'program interpreter'; then
	echo "mkinitramfs: $busybox is missing or not static (install busybox-static)" >&2
	exit 1
fi

t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t"/{bin,dev,proc,sys,run,tmp,host,lib/modules}
cp "$busybox" "$t/bin/busybox"
ln -s busybox "$t/bin/sh"
install -m 755 "$here/guest-init" "$t/init"

: > "$t/modules.load"
for ko in $([ -z "$kver" ] || modprobe -d "$kroot" -S "$kver" -a --show-depends "${modules[@]}" |
	    awk '$1 == "insmod" { print $2 }'); do
	name=$(basename "$ko")
	name=${name%.xz}; name=${name%.zst}
	grep -qxF "$name" "$t/modules.load" && continue
	case "$ko" in
	*.xz) xz -dc "$ko" > "$t/lib/modules/$name" ;;
	*.zst) zstd -dcq "$ko" > "$t/lib/modules/$name" ;;
	*) cp "$ko" "$t/lib/modules/$name" ;;
	esac
	echo "$name" >> "$t/modules.load"
done

libs=0
if [ -n "$overlay" ]; then
	cp -a "$overlay/." "$t/"
	# The sysroot is merged-/usr: the libraries are in usr/lib/TRIPLET (or
	# a RUNPATH below it). They keep their paths; the interpreter is copied
	# to the path the programs name (/lib/ld-linux-...: a directory of its
	# own here, next to the modules).
	dirs=$(find "$sysroot/usr/lib" -maxdepth 1 -type d -name '*-linux-gnu*' | sort)
	declare -A seen=()
	queue=()
	while IFS= read -r -d '' f; do
		[ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] && queue+=("$f")
	done < <(find "$t" -path "$t/lib/modules" -prune -o -type f -print0)
	while [ ${#queue[@]} -gt 0 ]; do
		f=${queue[0]}
		queue=("${queue[@]:1}")
		interp=$(readelf -l "$f" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
		if [ -n "$interp" ] && [ -z "${seen[$interp]:-}" ]; then
			seen[$interp]=1
			[ -e "$sysroot$interp" ] || { echo "mkinitramfs: no interpreter $interp in $sysroot" >&2; exit 1; }
			mkdir -p "$t$(dirname "$interp")"
			cp -L "$sysroot$interp" "$t$interp"
			libs=$((libs + 1))
		fi
		runpath=$(readelf -d "$f" | sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\]/\2/p' | tr ':' ' ')
		for lib in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
			[ -z "${seen[$lib]:-}" ] || continue
			seen[$lib]=1
			found=
			for d in $runpath $dirs; do
				case $d in "$sysroot"/*) ;; *) d=$sysroot$d ;; esac
				if [ -e "$d/$lib" ]; then found=$d/$lib; break; fi
			done
			[ -n "$found" ] || { echo "mkinitramfs: $lib (needed by ${f#"$t"}) is not in $sysroot" >&2; exit 1; }
			dest=$t${found#"$sysroot"}
			mkdir -p "$(dirname "$dest")"
			cp -L "$found" "$dest"
			queue+=("$dest")
			libs=$((libs + 1))
		done
	done
fi

(cd "$t" && find . | cpio -o -H newc --quiet | gzip -1) > "$out"
echo "mkinitramfs: $out (${kver:-no modules}; $(tr '\n' ' ' < "$t/modules.load")${overlay:+; $libs libraries from the sysroot}; $(du -h "$out" | cut -f1))"
