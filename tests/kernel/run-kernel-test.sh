#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-kernel-test.sh --iommu intel|amd --build-root DIR --run-dir DIR
#                    --daemon PATH --client PATH --iovactl PATH --ranges PATH
#                    [--source-root DIR] [--uid N] [--vm-timeout SECS]
#
# One test of the kernel tier (meson registers it as kernel-intel and
# kernel-amd): installs what it needs (setup.sh), fetches Debian's 6.1
# kernel into the cache (fetch-kernel.sh), builds the initramfs, boots the
# guest with the build root shared (run-vm.sh) and runs guest-test.sh in
# it. The real iovad (--daemon) runs inside the guest against the kernel's
# VFIO; kernel-client (--client) is its unprivileged user, iovactl
# (--iovactl) binds and unbinds a device, iova-ranges (--ranges) is the
# kernel's own answer. RUN-DIR, inside the build root, gets
# the console log, iovad's log and the client's output. The policy file
# SOURCE-ROOT/dbus/org.iovad1.conf is used for the guest's bus when present.
#
# Exit status 0 when every check passed, 1 otherwise; never "skipped".
# IOVAD_KERNEL_CACHE moves the kernel cache (default
# /var/tmp/iovad-kernel-cache).
set -uo pipefail
here=$(dirname "$(realpath "$0")")
iommu='' build='' run='' daemon='' client='' iovactl='' ranges='' source='' uid=1000 vm_timeout=480
while [ $# -gt 0 ]; do
	case $1 in
	--iommu) iommu=$2 ;;
	--build-root) build=$2 ;;
	--run-dir) run=$2 ;;
	--daemon) daemon=$2 ;;
	--client) client=$2 ;;
	--iovactl) iovactl=$2 ;;
	--ranges) ranges=$2 ;;
	--source-root) source=$2 ;;
	--uid) uid=$2 ;;
	--vm-timeout) vm_timeout=$2 ;;
	*) echo "run-kernel-test: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift 2 || { echo "run-kernel-test: $1 needs a value" >&2; exit 2; }
done
if [ -z "$iommu" ] || [ -z "$build" ] || [ -z "$run" ] || [ -z "$daemon" ] ||
   [ -z "$client" ] || [ -z "$iovactl" ] || [ -z "$ranges" ]; then
	sed -n '4,6s/^# \{0,1\}//p' "$0" >&2
	exit 2
fi
name=kernel-$iommu
build=$(realpath "$build") run=$(realpath -m "$run")
daemon=$(realpath -m "$daemon") client=$(realpath -m "$client") iovactl=$(realpath -m "$iovactl")
ranges=$(realpath -m "$ranges")
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

bash "$here/setup.sh" || fail "setup.sh could not install the packages the tier needs"
step "setup.sh"
kdir=$(bash "$here/fetch-kernel.sh" 6.1 | tail -1)
[ -n "$kdir" ] && [ -e "$kdir/complete" ] || fail "fetch-kernel.sh found no kernel"
step "fetch-kernel.sh ($kdir)"

for f in "$daemon" "$client" "$iovactl" "$ranges"; do
	[ -x "$f" ] || fail "$f is missing: build the project first"
done
rm -rf "$run"
mkdir -p "$run"
install -m 755 "$here/guest-test.sh" "$run/guest-test.sh"
if [ -n "$source" ] && [ -f "$source/dbus/org.iovad1.conf" ]; then
	cp "$source/dbus/org.iovad1.conf" "$run/bus.policy"
fi
cat > "$run/test.env" <<EOF
IOMMU=$iommu
DAEMON=$daemon
CLIENT=$client
IOVACTL=$iovactl
RANGES=$ranges
TEST_UID=$uid
EOF
bash "$here/mkinitramfs.sh" "$kdir" "$run/initrd.gz" || fail "mkinitramfs.sh"
step "mkinitramfs.sh"

trace=()
[ "$iommu" = amd ] && trace=(-T "$run/amdvi-trace.log")
bash "$here/run-vm.sh" -k "$kdir" -i "$run/initrd.gz" -H "$build" -c "$run/guest-test.sh" \
	-m "$iommu" -t "$vm_timeout" -l "$run/console.log" "${trace[@]}"
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
