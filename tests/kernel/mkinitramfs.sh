#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# mkinitramfs.sh KDIR OUT.cpio.gz — build the guest's initramfs:
#   /init             guest-init (this directory)
#   /bin/busybox      the host's busybox-static, with its applet links
#   /lib/modules/*.ko the modules the guest needs, with their dependencies,
#                     decompressed; load order in /modules.load
#
# KDIR is a directory printed by fetch-kernel.sh. The test programs are not
# in the initramfs: the guest runs them from the host's root over 9p.
set -euo pipefail
here=$(dirname "$(realpath "$0")")
kdir=$(realpath "$1") out=$(realpath -m "$2")
kroot=$kdir/root
kver=$(ls "$kroot/lib/modules")

# VFIO for the edu devices; 9p over virtio-pci for the host root.
modules=(vfio-pci vfio_iommu_type1 9p 9pnet_virtio virtio_pci)

busybox=/bin/busybox
if ! "$busybox" true 2>/dev/null || ldd "$busybox" >/dev/null 2>&1; then
	echo "mkinitramfs: $busybox is missing or not static (install busybox-static)" >&2
	exit 1
fi

t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t"/{bin,dev,proc,sys,run,tmp,host,lib/modules}
cp "$busybox" "$t/bin/busybox"
for a in $("$busybox" --list); do
	[ "$a" = busybox ] || ln -s busybox "$t/bin/$a"
done
install -m 755 "$here/guest-init" "$t/init"

: > "$t/modules.load"
for ko in $(modprobe -d "$kroot" -S "$kver" -a --show-depends "${modules[@]}" |
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

(cd "$t" && find . | cpio -o -H newc --quiet | gzip -1) > "$out"
echo "mkinitramfs: $out ($kver; $(tr '\n' ' ' < "$t/modules.load"))"
