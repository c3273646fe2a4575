#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs what iovad needs to build, run and test on Debian 12 (as root).
# Idempotent: only missing packages are installed, and apt-get update runs
# only when something is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(
	# build
	gcc meson ninja-build pkg-config libc6-dev
	libsystemd-dev libjson-c-dev libpci-dev pci.ids check
	# man pages (scdoc), where bash completions go, and man for the install test
	scdoc bash-completion man-db groff-base
	# run and bus tests: a private dbus-daemon, busctl, setpriv
	dbus-daemon systemd util-linux python3
	# bus tests: the CDI spec validated against the CDI project's schema
	python3-jsonschema golang-github-container-orchestrated-devices-container-device-interface-dev
	# kernel tier: QEMU/TCG, a static busybox for the guest, module tools
	qemu-system-x86 busybox-static kmod xz-utils zstd cpio
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup-deps: installing ${missing[*]}"
	apt-get -o DPkg::Lock::Timeout=900 update -qq
	apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}"
fi
