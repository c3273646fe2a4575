#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# setup.sh [arm64|system] — install the host packages the kernel tier needs, from
# Debian's repositories. Idempotent: asks dpkg first and runs apt-get
# (update, then install) only when something is missing, which needs root.
#
#   qemu-system-x86   the emulator (TCG, q35, intel-iommu, amd-iommu, edu)
#   busybox-static    the guest's PID 1 userland (initramfs)
#   kmod              modprobe/depmod to resolve the guest kernel's modules
#   xz-utils zstd     unpacking the kernel image and compressed modules
#   cpio gzip         building the initramfs
#   dbus-daemon       the private bus inside the guest
#   systemd           busctl, used by the guest script
#   util-linux        setpriv, flock
#   binutils          readelf (the guest programs' libraries)
#   pciutils          lspci, whose ACS lines the intel guest holds iovad's
#                     peer-to-peer report against
#
# and with "arm64", for the arm64 tests:
#
#   qemu-system-arm        the emulator (TCG, virt, smmuv3, GICv3 ITS)
#   gcc-aarch64-linux-gnu  the cross compiler (the C library and every other
#                          arm64 library come from sysroot.sh, not from
#                          Debian's -cross packages)
#   device-tree-compiler   dtc, for the per-device IOVA holes in the DT
#
# and with "system", for the system tier (tests/system/), whose guest boots
# the host's root with systemd:
#
#   udev                   device units (else systemd waits 90 s for the
#                          console's)
#   dbus                   the system bus (dbus.service, system.conf)
#   polkitd                the authorization daemon iovad asks
#   passwd                 useradd, groupadd for the test users
#   meson ninja-build      `meson install` of iovad inside the guest
#   podman runc crun       the container flow: podman 4.3 applies iovad's CDI
#                          spec; it runs on runc (crun refuses hosts with
#                          hybrid cgroups); the guest notes what crun does
#   python3-jsonschema golang-github-container-orchestrated-devices-container-device-interface-dev
#                          the CDI schema and its validation (cdi-validate.py)
#
# The guest kernel itself is not installed: fetch-kernel.sh downloads it.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

pkgs=(qemu-system-x86 busybox-static kmod xz-utils zstd cpio gzip
      dbus-daemon systemd util-linux binutils pciutils)
case ${1:-} in
'') ;;
arm64) pkgs+=(qemu-system-arm gcc-aarch64-linux-gnu device-tree-compiler) ;;
system) pkgs+=(udev dbus polkitd passwd meson ninja-build podman runc crun python3-jsonschema
               golang-github-container-orchestrated-devices-container-device-interface-dev) ;;
*) echo "setup.sh: unknown argument '$1' (arm64, system or nothing)" >&2; exit 2 ;;
esac

find_missing() {
	missing=()
	for p in "${pkgs[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
}

find_missing
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "setup.sh: missing packages: ${missing[*]}; run this script as root" >&2
	exit 1
fi
# The tier's tests start in parallel: one installs, the others wait and
# find nothing left to do.
exec 9< "$0"
flock 9
find_missing
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup.sh: installing ${missing[*]}"
apt-get -o DPkg::Lock::Timeout=900 update -qq
apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}"
