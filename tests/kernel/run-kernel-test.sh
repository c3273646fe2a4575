#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-kernel-test.sh --platform intel|amd|virtio|arm64-smmuv3|arm64-virtio --build-root DIR --run-dir DIR
#                    [--daemon PATH --client PATH --iovactl PATH --ranges PATH]
#                    [--cross-build DIR] [--source-root DIR] [--uid N] [--vm-timeout SECS]
#
# One test of the kernel tier (meson registers it as kernel-PLATFORM):
# installs what it needs (setup.sh), fetches the platform's Debian kernel
# into the cache (fetch-kernel.sh), builds the initramfs, boots the guest
# (run-vm.sh) and runs the guest script in it. The real iovad runs inside
# the guest against the kernel's VFIO; kernel-client is its unprivileged
# user, iovactl binds and unbinds devices, iova-ranges is the kernel's own
# answer. RUN-DIR, inside the build root, gets the console log, iovad's log
# and the client's output. The policy file SOURCE-ROOT/dbus/org.iovad1.conf
# is used for the guest's bus when present.
#
#   intel    x86_64, Debian 12's 6.1, VT-d with interrupt remapping
#   amd      x86_64, Debian 12's 6.1, AMD-Vi with interrupt remapping
#   virtio   x86_64, Debian's 6.12, virtio-iommu (no interrupt remapping)
#   iommufd  x86_64, 6.12 built from Debian's linux-source-6.12 with
#            IOMMUFD and VFIO device cdevs (build-kernel.sh), VT-d with
#            interrupt remapping: the iommufd backend and type1 in one
#            kernel (guest-test-iommufd.sh)
#   (these three run the host's build, --daemon etc., in the guest, whose
#   root is the host's: guest-test.sh)
#   arm64-smmuv3  arm64, Debian's 6.12, SMMUv3 with a GICv3 ITS and
#            per-device IOVA holes in the device tree
#   arm64-virtio  the same with virtio-iommu instead of the SMMU
#   (for both, iovad, iovactl,
#            kernel-client and iova-ranges are cross-built from SOURCE-ROOT
#            in --cross-build DIR (cross-build.sh, against sysroot.sh's
#            sysroot) and run from the initramfs: guest-test-arm64.sh)
#
# Exit status 0 when every check passed, 1 otherwise; never "skipped".
# IOVAD_KERNEL_CACHE moves the cache of kernels, package lists and the
# sysroot (default /var/tmp/iovad-kernel-cache).
set -uo pipefail
here=$(dirname "$(realpath "$0")")
platform='' build='' run='' setpriv=setpriv daemon='' client='' iovactl='' ranges='' source='' cross='' uid=1000 vm_timeout=480
while [ $# -gt 0 ]; do
	case $1 in
	--platform | --iommu) platform=$2 ;;
	--build-root) build=$2 ;;
	--run-dir) run=$2 ;;
	--daemon) daemon=$2 ;;
	--client) client=$2 ;;
	--iovactl) iovactl=$2 ;;
	--ranges) ranges=$2 ;;
	--source-root) source=$2 ;;
	--cross-build) cross=$2 ;;
	--uid) uid=$2 ;;
	--vm-timeout) vm_timeout=$2 ;;
	*) echo "run-kernel-test: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift 2 || { echo "run-kernel-test: $1 needs a value" >&2; exit 2; }
done
usage() { sed -n '4,6s/^# \{0,1\}//p' "$0" >&2; exit 2; }
[ -n "$platform" ] && [ -n "$build" ] && [ -n "$run" ] || usage
case $platform in
intel | amd | virtio | iommufd)
	[ -n "$daemon" ] && [ -n "$client" ] && [ -n "$iovactl" ] && [ -n "$ranges" ] || usage ;;
arm64-smmuv3 | arm64-virtio)
	[ -n "$source" ] && [ -n "$cross" ] || usage ;;
*)	echo "run-kernel-test: unknown platform '$platform'" >&2; exit 2 ;;
esac
name=kernel-$platform
build=$(realpath "$build") run=$(realpath -m "$run")
case $run in
"$build"/*) ;;
*) echo "$name: the run directory must be inside the build root ($build)" >&2; exit 2 ;;
esac

step_start=$(date +%s%N)
step() { # step NAME: print the time the previous step took
	local now
	now=$(date +%s%N)
	echo "$name: $1 took $(((now - step_start) / 1000000)) ms"
	step_start=$now
}
fail() { echo "$name: FAIL: $*"; exit 1; }

case $platform in
intel | amd) series=6.1 arch=amd64 ;;
virtio | iommufd) series=6.12 arch=amd64 ;;
arm64-*) series=6.12 arch=arm64 ;;
esac

bash "$here/setup.sh" ${arch/amd64/} || fail "setup.sh could not install the packages the tier needs"
step "setup.sh"
if [ "$platform" = iommufd ]; then
	kdir=$(bash "$here/build-kernel.sh" | tail -1)
	[ -n "$kdir" ] && [ -e "$kdir/complete" ] || fail "build-kernel.sh built no kernel"
	step "build-kernel.sh ($kdir, $(cat "$kdir/version"))"
else
kdir=$(bash "$here/fetch-kernel.sh" "$series" "$arch" | tail -1)
[ -n "$kdir" ] && [ -e "$kdir/complete" ] || fail "fetch-kernel.sh found no $series kernel for $arch"
step "fetch-kernel.sh ($kdir)"
fi

rm -rf "$run"
mkdir -p "$run"
if [ -n "$source" ] && [ -f "$source/dbus/org.iovad1.conf" ]; then
	cp "$source/dbus/org.iovad1.conf" "$run/bus.policy"
fi
install -m 644 "$here/guest-lib.sh" "$run/guest-lib.sh"

case $platform in
arm64-smmuv3) machine=smmuv3 ;;
iommufd) machine=intel ;;
*) machine=$platform ;;
esac
vm=(-k "$kdir" -i "$run/initrd.gz" -m "$machine" -t "$vm_timeout" -l "$run/console.log")
case $platform in
intel | amd | virtio | iommufd)
	daemon=$(realpath -m "$daemon") client=$(realpath -m "$client")
	iovactl=$(realpath -m "$iovactl") ranges=$(realpath -m "$ranges")
	for f in "$daemon" "$client" "$iovactl" "$ranges"; do
		[ -x "$f" ] || fail "$f is missing: build the project first"
	done
	install -m 755 "$here/guest-test.sh" "$run/guest-test.sh"
	if [ "$platform" = iommufd ]; then
		install -m 755 "$here/guest-test-iommufd.sh" "$run/guest-test.sh"
		# The VMM of its last part: bookworm-backports' QEMU, unpacked.
		qemu=$(bash "$here/fetch-qemu.sh" | tail -1)
		[ -x "$qemu" ] || fail "fetch-qemu.sh found no QEMU 10"
		# The guest mounts a tmpfs over /var/tmp: it runs a copy.
		cp "$qemu" "$run/qemu-system-x86_64"
		echo "QEMU=$run/qemu-system-x86_64" > "$run/qemu.env"
	fi
	install -m 644 "$here/guest-restart.sh" "$run/guest-restart.sh"
	supervisor=$(dirname "$client")/fdstore-supervisor
	[ -x "$supervisor" ] || fail "$supervisor is missing: build the project first"
	modules=()
	# 6.1 lacks virtio-iommu; with it (a module on 6.12) come the e1000e
	# driver for the device Bind takes away from it. virtio-pci is
	# built in.
	[ "$platform" = virtio ] &&
		modules=(virtio_iommu vfio-pci vfio_iommu_type1 9p 9pnet_virtio e1000e)
	bash "$here/mkinitramfs.sh" "$kdir" "$run/initrd.gz" "${modules[@]}" || fail "mkinitramfs.sh"
	# The guest's root is the host's: the build root is shared at its path.
	vm+=(-R -H "$build" -c "$run/guest-test.sh")
	[ "$platform" = amd ] && vm+=(-T "$run/amdvi-trace.log")
	;;
arm64-*)
	sysroot=$(bash "$here/sysroot.sh" arm64 | tail -1)
	[ -n "$sysroot" ] && [ -d "$sysroot" ] || fail "sysroot.sh made no arm64 sysroot"
	step "sysroot.sh ($sysroot)"
	mapfile -t progs < <(bash "$here/cross-build.sh" "$source" "$cross" "$sysroot")
	[ ${#progs[@]} -eq 4 ] || fail "cross-build.sh did not build iovad, iovactl, kernel-client and iova-ranges"
	step "cross-build.sh ($cross)"

	# The guest runs from its initramfs: the cross-built programs, the
	# sysroot's dbus-daemon, busctl and setpriv (busybox's cannot change
	# uids), users root and TEST_UID, pci.ids for libpci.
	ov=$run/overlay
	mkdir -p "$ov/payload" "$ov/usr/bin" "$ov/etc" "$ov/usr/share/misc"
	for p in "${progs[@]}"; do
		aarch64-linux-gnu-strip -o "$ov/payload/$(basename "$p")" "$p" || fail "strip $p"
	done
	cp "$sysroot/usr/bin/dbus-daemon" "$sysroot/usr/bin/busctl" "$sysroot/usr/bin/setpriv" "$ov/usr/bin/"
	cp "$sysroot/usr/share/misc/pci.ids" "$ov/usr/share/misc/"
	printf 'root:x:0:0:root:/tmp:/bin/sh\ntester:x:%s:%s:tester:/tmp:/bin/sh\n' "$uid" "$uid" > "$ov/etc/passwd"
	printf 'root:x:0:\ntester:x:%s:\n' "$uid" > "$ov/etc/group"
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$ov/etc/machine-id"
	echo >> "$ov/etc/machine-id"
	daemon=/payload/iovad client=/payload/kernel-client iovactl=/payload/iovactl ranges=/payload/iova-ranges
	setpriv=/usr/bin/setpriv
	install -m 755 "$here/guest-test-arm64.sh" "$run/guest-test.sh"
	# virtio-rng's driver, so that the device Bind takes away holds MSIs
	# from the ITS; 9p over virtio-mmio for the run directory. The SMMUv3
	# driver is built in, virtio-iommu a module.
	modules=(vfio-pci vfio_iommu_type1 virtio_rng 9p 9pnet_virtio virtio_mmio)
	[ "$platform" = arm64-virtio ] && modules=(virtio_iommu "${modules[@]}")
	bash "$here/mkinitramfs.sh" -b "$sysroot/usr/bin/busybox" -r "$ov" -s "$sysroot" "$kdir" "$run/initrd.gz" \
		"${modules[@]}" || fail "mkinitramfs.sh"
	rm -rf "$ov"
	# The e1000e waits on vfio-pci, for the attach that its IOVA hole
	# refuses while a lease sits in it.
	vm+=(-H "$run" -c "$run/guest-test.sh" -d "$here/arm64-iova-holes.dtsi" -e "iovad.vfio=8086:10d3")
	;;
esac
cat > "$run/test.env" <<EOF
PLATFORM=$platform
IOMMU=${platform#arm64-}
DAEMON=$daemon
CLIENT=$client
IOVACTL=$iovactl
RANGES=$ranges
TEST_UID=$uid
SETPRIV=$setpriv
SUPERVISOR=${supervisor:-}
EOF
[ -f "$run/qemu.env" ] && cat "$run/qemu.env" >> "$run/test.env"
step "mkinitramfs.sh"

bash "$here/run-vm.sh" "${vm[@]}"
rc=$?
step "boot and guest run"

# QEMU's AMD-Vi model logs no event for a DMA to a cleared page table entry
# (it returns before raising IO_PAGE_FAULT), so guest-test.sh asks for the
# blocked DMA to be found in the model's translation trace: the same device
# and IOVA translated to 0.
while read -r dev addr; do
	devid=${dev#0000:}
	if grep -q "amdvi_translation_result devid: $devid gpa $addr hpa 0x0$" "$run/amdvi-trace.log" 2>/dev/null; then
		echo "ok: DMA check: QEMU's AMD-Vi blocked $dev's DMA to $addr after Release (translation trace)"
	else
		echo "FAIL: DMA check: no blocked translation of $dev's DMA to $addr in $run/amdvi-trace.log"
		[ "$rc" -ne 0 ] || rc=1
	fi
done < <(sed -n 's/.*guest-test: host-check amdvi-blocked device=\([^ ]*\) iova=\(0x[0-9a-f]*\).*/\1 \2/p' "$run/console.log")

case $rc in
0) echo "$name: PASS ($(grep -m1 -o 'kernel [^ ]* up at' "$run/console.log" | cut -d' ' -f2) under QEMU/TCG)" ;;
124) echo "$name: FAIL: the guest did not finish within $vm_timeout s (console: $run/console.log)" ;;
125) echo "$name: FAIL: the guest script did not run (console: $run/console.log)" ;;
*) echo "$name: FAIL (console: $run/console.log, iovad: $run/iovad.log)" ;;
esac
[ "$rc" -eq 0 ]
