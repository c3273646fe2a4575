#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-system-test.sh --build-root DIR --run-dir DIR --source-root DIR --client PATH --workload PATH
#                    [--install-build DIR] [--vm-timeout SECS] [--hold-device-fd]
#
# The system tier (meson registers it as `system`): iovad as a real system
# runs it. The guest (QEMU/TCG, q35 with VT-d and interrupt remapping, two
# edu devices and an e1000e on its own driver) boots Debian 12's kernel with
# the host's root as the read-only lower layer of an overlay in RAM, and
# systemd as PID 1 with the system dbus-daemon, journald and polkitd. In
# there, guest-system.sh installs iovad with `meson install` from
# INSTALL-BUILD, a build of SOURCE-ROOT configured as docs/install.md says
# (--prefix=/usr; made or brought up to date here), and checks the unit,
# D-Bus activation, polkit, VFIO work under the sandbox, systemd's fd store,
# the watchdog and the journal (README.md). --client is the build's
# tests/kernel/kernel-client, --workload its tests/system/cdi-workload.
#
# RUN-DIR (inside the build root, shared with the guest) gets console.log,
# the guest's journal (journal.txt, journal-iovad-verbose.txt), the client
# logs and systemd-analyze's security table. Exit status 0 when every check
# passed; never "skipped".
set -uo pipefail
here=$(dirname "$(realpath "$0")")
kernel=$here/../kernel
build='' run='' source='' client='' workload='' install_build='' vm_timeout=900 hold_fd=0
while [ $# -gt 0 ]; do
	case $1 in
	--build-root) build=$2 ;;
	--run-dir) run=$2 ;;
	--source-root) source=$2 ;;
	--client) client=$2 ;;
	--workload) workload=$2 ;;
	--install-build) install_build=$2 ;;
	--vm-timeout) vm_timeout=$2 ;;
	--hold-device-fd) hold_fd=1; shift; continue ;;
	*) echo "run-system-test: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift 2 || { echo "run-system-test: $1 needs a value" >&2; exit 2; }
done
if [ -z "$build" ] || [ -z "$run" ] || [ -z "$source" ] || [ -z "$client" ] || [ -z "$workload" ]; then
	sed -n '4,5s/^# \{0,1\}//p' "$0" >&2
	exit 2
fi
name=system
build=$(realpath "$build") run=$(realpath -m "$run") source=$(realpath "$source") client=$(realpath -m "$client") workload=$(realpath -m "$workload")
[ -n "$install_build" ] || install_build=$build/tests/system/install-build
install_build=$(realpath -m "$install_build")
for d in "$run" "$install_build"; do
	case $d in
	"$build"/*) ;;
	*) echo "$name: $d must be inside the build root ($build), which the guest sees" >&2; exit 2 ;;
	esac
done
for p in "$client" "$workload"; do
	[ -x "$p" ] || { echo "$name: $p is missing: build the project first" >&2; exit 1; }
done
# The guest sees the host's root, but with /tmp and /var/tmp of its own:
# the build root is shared at its path there, and a source tree below /tmp
# or /var/tmp is bound back at its path, read-only (iovad.keep=).
keep=
case $source in
/tmp/* | /var/tmp/*) keep="iovad.keep=$source" ;;
esac

step_start=$(date +%s%N)
step() {
	local now
	now=$(date +%s%N)
	echo "$name: $1 took $(((now - step_start) / 1000000)) ms"
	step_start=$now
}
fail() { echo "$name: FAIL: $*"; exit 1; }

bash "$here/setup.sh" || fail "setup.sh could not install the packages the tier needs"
step "setup.sh"
kdir=$(bash "$kernel/fetch-kernel.sh" 6.1 amd64 | tail -1)
[ -n "$kdir" ] && [ -e "$kdir/complete" ] || fail "fetch-kernel.sh found no 6.1 kernel"
step "fetch-kernel.sh ($kdir)"

# The build the guest installs: as docs/install.md says, without the tests.
if [ ! -e "$install_build/build.ninja" ]; then
	meson setup "$install_build" "$source" --prefix=/usr -Dtests=false -Dkernel-tests=false \
		> "$build/tests/system/install-build-setup.log" 2>&1 ||
		{ cat "$build/tests/system/install-build-setup.log"; fail "meson setup $install_build"; }
fi
ninja -C "$install_build" > /dev/null || fail "ninja -C $install_build"
step "install build ($install_build)"

rm -rf "$run"
mkdir -p "$run"
install -m 644 "$kernel/guest-lib.sh" "$here/guest-system.sh" "$here/guest-prepare.sh" "$here/guest-cdi.sh" \
	"$source/tests/bus/cdi-validate.py" "$run/"
sed "s|@RUN@|$run|g" "$here/iovad-system-test.service.in" > "$run/iovad-system-test.service"
unit_dir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null)
cat > "$run/test.env" <<EOF
INSTALL_BUILD=$install_build
CLIENT=$client
WORKLOAD=$workload
CDI_SCHEMA=/usr/share/gocode/src/github.com/container-orchestrated-devices/container-device-interface/schema
UNIT_DIR=${unit_dir:-/usr/lib/systemd/system}
RULES_EXAMPLE=/usr/share/doc/iovad/examples/50-iovad.rules
SECURITY_THRESHOLD=$(sed -n 's/^Gate: `--threshold=\([0-9]*\)`.*/\1/p' "$source/docs/install.md")
NIC=0000:00:07.0
NIC_DRIVER=e1000e
HOLD_DEVICE_FD=$hold_fd
# WatchdogSec=30s, and 10 s for systemd to kill and start iovad again.
WATCHDOG_LIMIT_MS=40000
EOF
grep -q '^SECURITY_THRESHOLD=[0-9]' "$run/test.env" || fail "docs/install.md names no --threshold= gate"
# vfio and the e1000e's driver from the initramfs: the host's root has no
# modules for the guest's kernel. The overlay for the root.
bash "$kernel/mkinitramfs.sh" "$kdir" "$run/initrd.gz" vfio-pci vfio_iommu_type1 9p 9pnet_virtio virtio_pci overlay e1000e ||
	fail "mkinitramfs.sh"
step "mkinitramfs.sh"

bash "$kernel/run-vm.sh" -k "$kdir" -i "$run/initrd.gz" -m intel -N -R -H "$build" \
	-c "$run/guest-prepare.sh" -e "iovad.systemd=1${keep:+ $keep}" -t "$vm_timeout" -l "$run/console.log"
rc=$?
step "boot and guest run"
case $rc in
0) echo "$name: PASS ($(grep -m1 -o 'kernel [^ ]* up at' "$run/console.log" | cut -d' ' -f2), systemd as PID 1, under QEMU/TCG)" ;;
124) echo "$name: FAIL: the guest did not finish within $vm_timeout s (console: $run/console.log)" ;;
125) echo "$name: FAIL: the checks did not run (console: $run/console.log)" ;;
*) echo "$name: FAIL (console: $run/console.log, journal: $run/journal.txt)" ;;
esac
[ "$rc" -eq 0 ]
