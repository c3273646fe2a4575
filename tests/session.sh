#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The main job: builds iovad, starts it on a private system bus (the kernel's
# VFIO when this machine has it, else the simulated x86-vtd platform)
# and runs an iovactl session: devices, a container's reserved
# regions and usable ranges, leases, a refused conflicting attach and the
# layout of its IOVA space. Run as root from the source tree.
#   tests/session.sh
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
profile=x86-vtd
cd "$src"
bash tests/setup-deps.sh >&2
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

work=$(mktemp -d /tmp/iovad-session.XXXXXX)
chmod 755 "$work"
cleanup() {
	[ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	[ -n "${bus:-}" ] && kill "$bus" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# A private bus with the system bus policy iovad ships.
cat > "$work/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$work/bus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <allow send_destination="org.freedesktop.DBus"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="*"/>
  </policy>
  <include>$src/dbus/org.iovad1.conf</include>
</busconfig>
CONF
bus=$(dbus-daemon --config-file="$work/bus.conf" --fork --print-pid)
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$work/bus.sock
export IOVAD_PROFILES_DIR=$src/daemon/profiles

args=(--state-dir="$work/state" --runtime-dir="$work/run" --no-polkit)
if [ -e /dev/vfio/vfio ]; then
	echo "# This machine has VFIO: iovad uses the kernel (vfio-type1)."
else
	echo "# No VFIO here: iovad runs on the simulated platform '$profile'."
	args+=(--simulate="$profile")
fi
build/daemon/iovad "${args[@]}" 2> "$work/iovad.log" &
daemon=$!
for _ in $(seq 100); do
	busctl --system status org.iovad1 >/dev/null 2>&1 && break
	kill -0 "$daemon" 2>/dev/null || { cat "$work/iovad.log"; exit 1; }
	sleep 0.05
done

ctl() {
	echo
	echo "\$ iovactl $*"
	build/client/iovactl "$@"
}
ctl status
ctl devices
if [ -e /dev/vfio/vfio ]; then
	echo
	echo "# Create a container and attach a group with: iovactl create NAME; iovactl attach NAME GROUP"
	exit 0
fi
# x86-vtd: group 5 is an Intel I350 NIC on vfio-pci; group 14 is a device whose
# firmware RMRRs (direct regions at 0xe8000 and 0xf4000) must stay identity mapped.
ctl group-regions 5
ctl group-regions 14
ctl create demo --user 0
ctl attach demo 5
ctl show demo
# A fixed lease low in the space, where firmware likes its RMRRs.
ctl lease demo 4K --iova 0xe8000 --persistent
ctl lease demo 2M --align 2M --persistent
ctl lease demo 64K --limit 0xffffffff --persistent
ctl leases demo
# The lease at 0xe8000 sits in group 14's RMRR: attaching it is refused.
ctl check-attach demo 14 || true
ctl attach demo 14 || echo "(refused, as it must be: nothing changed)"
ctl show demo
ctl layout demo
ctl destroy demo
