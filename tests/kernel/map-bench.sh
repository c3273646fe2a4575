#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# map-bench.sh [--build-root DIR] [--memory SIZE] [-- MAP-BENCH-ARGS...]
#
# Boots the kernel tier's intel guest (Debian 12's 6.1, q35 + VT-d under
# QEMU/TCG) with SIZE of RAM (default 3G: the benchmark's 1 GiB memfd, and
# iovad's and the guest's own), and runs map-bench there against the real
# kernel's VFIO: 1 GiB of a memfd as 4 KiB, 2 MiB and 1 GiB pieces through
# iovad (bus, direct connection, batched) against the raw VFIO ioctls of
# the same pieces in the same run (tests/bench/map-bench.c,
# docs/performance.md). A benchmark, not a test: meson does not register
# it, CI does not run it. It takes a few minutes of guest time.
# Figures: DIR/tests/kernel/run-map-bench/map-bench.out.
set -uo pipefail
here=$(dirname "$(realpath "$0")")
build=build memory=3G
while [ $# -gt 0 ]; do
	case $1 in
	--build-root) build=$2; shift 2 ;;
	--memory) memory=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "map-bench.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
build=$(realpath "$build")
run=$build/tests/kernel/run-map-bench
fail() { echo "map-bench.sh: $*" >&2; exit 1; }
for f in "$build/daemon/iovad" "$build/tests/bench/map-bench"; do
	[ -x "$f" ] || fail "$f is missing: build the project first"
done

bash "$here/setup.sh" || fail "setup.sh could not install the packages the tier needs"
kdir=$(bash "$here/fetch-kernel.sh" 6.1 amd64 | tail -1)
[ -n "$kdir" ] && [ -e "$kdir/complete" ] || fail "fetch-kernel.sh found no 6.1 kernel"
rm -rf "$run"
mkdir -p "$run"
src=$(realpath "$here/../..")
[ -f "$src/dbus/org.iovad1.conf" ] && cp "$src/dbus/org.iovad1.conf" "$run/bus.policy"
install -m 644 "$here/guest-lib.sh" "$run/guest-lib.sh"
install -m 755 "$here/guest-map-bench.sh" "$run/guest-map-bench.sh"
cat > "$run/test.env" <<EOT
PLATFORM=intel
IOMMU=intel
DAEMON=$build/daemon/iovad
MAPBENCH=$build/tests/bench/map-bench
MAPBENCH_ARGS="$*"
EOT
bash "$here/mkinitramfs.sh" "$kdir" "$run/initrd.gz" || fail "mkinitramfs.sh"
IOVAD_VM_MEMORY=$memory bash "$here/run-vm.sh" -k "$kdir" -i "$run/initrd.gz" -m intel -t 1800 \
	-l "$run/console.log" -R -H "$build" -c "$run/guest-map-bench.sh"
rc=$?
[ -f "$run/map-bench.out" ] && cat "$run/map-bench.out"
exit $rc
