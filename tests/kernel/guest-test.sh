#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The kernel tier's script inside the guest. guest-init runs it as root,
# chrooted into the host's root (read-only) with the build directory shared
# read-write, from the run directory that run-kernel-test.sh prepared:
#
#   test.env       IOMMU, DAEMON, CLIENT, IOVACTL, RANGES, TEST_UID (sourced)
#   bus.policy     the project's dbus/org.iovad1.conf, when it has one
#
# guest-init exports IOVAD_EDU (edu PCI addresses) and IOVAD_GROUPS (their
# IOMMU groups). The script:
#   1. records the kernel's usable IOVA ranges for the groups (iova-ranges),
#      before iovad holds them;
#   2. starts a private system-like dbus-daemon and the real iovad (vfio-type1
#      backend) on it;
#   3. as root, creates container "test" for TEST_UID and attaches the groups,
#      and compares the container's UsableRanges with step 1;
#   4. runs kernel-client as TEST_UID (setpriv) against the edu devices;
#   5. finds the IOMMU fault of the client's blocked DMA in the kernel log;
#   6. compares the Device objects with sysfs;
#   7. moves BIND_DEV (a virtio device that virtio-pci drives) to vfio-pci
#      with `iovactl bind`, restarts iovad, opens the device from a
#      container, and gives it back to virtio-pci with `iovactl unbind`;
#   8. stops iovad and checks that it let go of the groups.
# Each check prints "ok: ..." or "FAIL: ..."; the last line is
# "guest-test: PASS (N checks)" or "guest-test: FAIL (F of N checks failed)".
set -u
run=$(cd "$(dirname "$0")" && pwd)
# run-vm.sh puts a virtio-rng device at this slot; the guest's virtio-pci
# drives it, so it is the device that Bind takes away and Unbind gives back.
BIND_DEV=0000:00:06.0
. "$run/test.env"
export LC_ALL=C

checks=0 failures=0
ok() { checks=$((checks + 1)); echo "ok: $*"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL: $*"; }
check() { # check DESCRIPTION COMMAND...
	d=$1; shift
	if "$@"; then ok "$d"; else fail "$d"; fi
}
say() { echo "guest-test: $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

finish() {
	[ -n "${iovad_pid:-}" ] && kill "$iovad_pid" 2>/dev/null
	[ -n "${bus_pid:-}" ] && kill "$bus_pid" 2>/dev/null
	if [ "$failures" -eq 0 ]; then
		say "PASS ($checks checks) at $(uptime_s)s"
		exit 0
	fi
	say "FAIL ($failures of $checks checks failed) at $(uptime_s)s"
	exit 1
}

say "guest kernel $(uname -r): $(cat /proc/version)"
say "IOMMU $IOMMU, edu devices '$IOVAD_EDU', IOMMU groups '$IOVAD_GROUPS'"

case $IOMMU in
intel) remap='DMAR-IR: Enabled IRQ remapping' ;;
amd) remap='AMD-Vi: Interrupt remapping enabled' ;;
esac
check "$IOMMU IOMMU with interrupt remapping ($remap)" \
	sh -c 'dmesg | grep -q "$1"' - "$remap"
set -- $IOVAD_GROUPS
check "two edu devices in separate IOMMU groups ($IOVAD_GROUPS)" \
	test $# -eq 2 -a "${1:-x}" != "${2:-x}"
check "VFIO container device present" test -c /dev/vfio/vfio
for f in "$DAEMON" "$CLIENT" "$IOVACTL" "$RANGES"; do
	check "test program $f present" test -x "$f"
done
[ "$failures" -eq 0 ] || finish

# 1. The kernel's answer, before iovad holds the groups.
if "$RANGES" $IOVAD_GROUPS > "$run/kernel-ranges.txt"; then
	ok "kernel IOVA_RANGE for groups $IOVAD_GROUPS: $(grep -v pgsizes "$run/kernel-ranges.txt" | tr '\n' ' ')"
else
	fail "iova-ranges $IOVAD_GROUPS"
	finish
fi

# 2. A private bus with system-bus rules, then iovad on it.
rt=$(mktemp -d /run/iovad-kernel.XXXXXX)
chmod 755 "$rt"
if [ -f "$run/bus.policy" ]; then
	policy="<include>$run/bus.policy</include>"
else
	policy='<policy user="root"><allow own="org.iovad1"/><allow send_destination="org.iovad1"/></policy>
  <policy context="default"><allow send_destination="org.iovad1"/></policy>'
fi
cat > "$rt/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$rt/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Peer"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
  </policy>
  $policy
</busconfig>
EOF
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$rt/system_bus_socket"
dbus-daemon --config-file="$rt/bus.conf" --nofork --nopidfile &
bus_pid=$!
i=0
while [ ! -S "$rt/system_bus_socket" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "private system bus up ($DBUS_SYSTEM_BUS_ADDRESS, policy: $([ -f "$run/bus.policy" ] && echo project || echo inline))" \
	test -S "$rt/system_bus_socket"

mkdir -p "$rt/state" "$rt/runtime"
start_iovad() {
	say "starting iovad at $(uptime_s)s: $DAEMON --state-dir=$rt/state --runtime-dir=$rt/runtime --log-level=debug --no-polkit"
	"$DAEMON" --state-dir="$rt/state" --runtime-dir="$rt/runtime" --log-level=debug --no-polkit \
		>> "$run/iovad.log" 2>&1 &
	iovad_pid=$!
	local up='' i=0
	while [ $i -lt 600 ]; do
		if busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
			NameHasOwner s org.iovad1 2>/dev/null | grep -q true; then
			up=1
			break
		fi
		kill -0 "$iovad_pid" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	if [ -n "$up" ]; then
		ok "iovad owns org.iovad1 at $(uptime_s)s"
	else
		fail "iovad did not come up on the bus; its log:"
		sed 's/^/iovad| /' "$run/iovad.log"
		iovad_pid=
		finish
	fi
}
stop_iovad() {
	say "stopping iovad at $(uptime_s)s"
	kill -TERM "$iovad_pid"
	local i=0
	while kill -0 "$iovad_pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	kill -KILL "$iovad_pid" 2>/dev/null && say "iovad ignored SIGTERM for 10 s, killed"
	wait "$iovad_pid"
	local rc=$?
	iovad_pid=
	check "iovad exits cleanly on SIGTERM (exit $rc)" test "$rc" -eq 0
}
: > "$run/iovad.log"
start_iovad
backend=$(busctl get-property org.iovad1 /org/iovad1 org.iovad1.Manager Backend 2>&1)
check "iovad uses the vfio-type1 backend ($backend)" test "$backend" = 's "vfio-type1"'

# 3. Root sets up the container for the test uid.
out=$(busctl call org.iovad1 /org/iovad1 org.iovad1.Manager CreateContainer 'sa{sv}' \
	test 1 users au 1 "$TEST_UID" 2>&1)
container=$(echo "$out" | sed -n 's/^o "\(.*\)"$/\1/p')
if [ -n "$container" ]; then
	ok "CreateContainer test for uid $TEST_UID -> $container"
else
	fail "CreateContainer test: $out"
	finish
fi
for g in $IOVAD_GROUPS; do
	out=$(busctl call org.iovad1 "$container" org.iovad1.Container AttachGroup u "$g" 2>&1)
	check "AttachGroup $g${out:+: $out}" test -z "$out"
done

# busctl prints "a(tt) N start end ..." in decimal.
set -- $(busctl get-property org.iovad1 "$container" org.iovad1.Container UsableRanges 2>&1)
if [ "${1:-}" = 'a(tt)' ]; then
	shift 2
	while [ $# -ge 2 ]; do
		printf '0x%016x 0x%016x\n' "$1" "$2"
		shift 2
	done > "$run/iovad-ranges.txt"
else
	echo "UsableRanges: $*" > "$run/iovad-ranges.txt"
fi
grep -v pgsizes "$run/kernel-ranges.txt" > "$run/kernel-ranges-only.txt"
if cmp -s "$run/kernel-ranges-only.txt" "$run/iovad-ranges.txt"; then
	ok "iovad UsableRanges equal the kernel's IOVA_RANGE: $(tr '\n' ' ' < "$run/iovad-ranges.txt")"
else
	fail "iovad UsableRanges differ from the kernel's IOVA_RANGE"
	say "  kernel: $(tr '\n' ' ' < "$run/kernel-ranges-only.txt")"
	say "  iovad:  $(tr '\n' ' ' < "$run/iovad-ranges.txt")"
fi
pgsizes=$(busctl get-property org.iovad1 "$container" org.iovad1.Container PageSizes 2>&1)
kernel_pgsizes=$(sed -n 's/^pgsizes //p' "$run/kernel-ranges.txt")
case $pgsizes in
"t "*) pgsizes=$(printf '0x%x' "${pgsizes#t }") ;;
esac
check "iovad PageSizes equal the kernel's iova_pgsizes ($pgsizes, kernel $kernel_pgsizes)" \
	test "$pgsizes" = "$kernel_pgsizes"

# 4. The unprivileged client. It runs from the runtime directory so that no
# host directory permission stands in its way.
cp "$CLIENT" "$rt/kernel-client"
chmod 755 "$rt/kernel-client"
kmsg_before=$(dmesg | wc -l)
say "running kernel-client as uid $TEST_UID at $(uptime_s)s"
setpriv --reuid="$TEST_UID" --regid="$TEST_UID" --clear-groups -- \
	"$rt/kernel-client" --container test --limit 0x0fffffff $IOVAD_EDU > "$run/client.log" 2>&1
client_rc=$?
cat "$run/client.log"
say "kernel-client finished at $(uptime_s)s"
check "kernel-client as uid $TEST_UID passed (exit $client_rc)" test "$client_rc" -eq 0

# 5. The blocked DMA's fault, as the IOMMU driver logs it.
blocked=$(sed -n 's/^kernel-client: blocked-dma device=\([^ ]*\) iova=\(0x[0-9a-f]*\)$/\1 \2/p' "$run/client.log")
if [ -n "$blocked" ]; then
	set -- $blocked
	dev=$1 addr=$2
	case $IOMMU in
	# DMAR: [DMA Write NO_PASID] Request device [00:04.0] fault addr 0x101000 [fault reason 0x05] ...
	intel) pattern="DMAR: \[DMA Write.*Request device \[${dev#0000:}\] fault addr $addr " ;;
	# vfio-pci 0000:00:04.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0003 address=0x101000 flags=0x0020]
	amd) pattern="$dev.*IO_PAGE_FAULT.*address=${addr}[] ]" ;;
	esac
	# The IOMMU's fault interrupt came while the client waited for the
	# DMA to finish; a retry covers a slow console.
	found=
	for i in 1 2 3; do
		dmesg | tail -n +$((kmsg_before + 1)) > "$run/kmsg-after-client.txt"
		grep -q "$pattern" "$run/kmsg-after-client.txt" && { found=1; break; }
		sleep 0.2
	done
	say "IOMMU messages while the client ran:"
	grep -E 'DMAR|AMD-Vi|IO_PAGE_FAULT' "$run/kmsg-after-client.txt" | sed 's/^/guest-test:   /'
	if [ -n "$found" ]; then
		ok "DMA check: the kernel logged the IOMMU fault of $dev's blocked DMA to $addr"
	elif [ "$IOMMU" = amd ]; then
		# QEMU's AMD-Vi model drops a DMA to a cleared PTE without an
		# event log entry; run-kernel-test.sh then finds the blocked
		# translation in QEMU's AMD-Vi trace instead.
		say "no IO_PAGE_FAULT event for $addr in the kernel log; the host checks the AMD-Vi trace"
		echo "guest-test: host-check amdvi-blocked device=$dev iova=$addr"
	else
		fail "DMA check: no IOMMU fault for $dev's blocked DMA to $addr in the kernel log"
	fi
else
	fail "kernel-client reported no blocked DMA to look for"
fi

# 6. Discovery: what iovad says of each device is what sysfs says.
for a in $IOVAD_EDU $BIND_DEV; do
	sys=/sys/bus/pci/devices/$a
	path=/org/iovad1/device/$(echo "$a" | sed 's/:/_3a/g; s/\./_2e/g')
	props=$(busctl get-property org.iovad1 "$path" org.iovad1.Device \
		VendorId DeviceId Class IommuGroup Driver InterruptIsolation 2>&1 | tr '\n' ' ')
	g=$(readlink "$sys/iommu_group")
	d=$(readlink "$sys/driver")
	want=$(printf 'q %d q %d u %d u %d s "%s" s "remapped" ' "$(cat "$sys/vendor")" "$(cat "$sys/device")" \
		"$(cat "$sys/class")" "${g##*/}" "${d##*/}")
	check "Device $a: $props" test "$props" = "$want"
	desc=$(busctl get-property org.iovad1 "$path" org.iovad1.Device Description 2>&1)
	ids=$(printf '%04x:%04x' "$(cat "$sys/vendor")" "$(cat "$sys/device")")
	# pci.ids names QEMU's virtio devices but not edu: ids alone then.
	case $a in
	"$BIND_DEV") want="s \"$ids Red Hat, Inc. Virtio RNG\"" ;;
	*) want="s \"$ids\"" ;;
	esac
	check "Device $a Description from libpci: $desc" test "$desc" = "$want"
done

# 7. Binding: BIND_DEV goes from virtio-pci to vfio-pci and back.
dev=/sys/bus/pci/devices/$BIND_DEV
driver_of() { d=$(readlink "$dev/driver"); echo "${d##*/}"; }
# The object path encodes the address as sd_bus_path_encode() does.
bind_path=/org/iovad1/device/$(echo "$BIND_DEV" | sed 's/:/_3a/g; s/\./_2e/g')
prop_driver() { busctl get-property org.iovad1 "$bind_path" org.iovad1.Device Driver 2>&1; }
as_user() { setpriv --reuid="$TEST_UID" --regid="$TEST_UID" --clear-groups -- "$@"; }
cp "$IOVACTL" "$rt/iovactl"
chmod 755 "$rt/iovactl"
bind_group=$(readlink "$dev/iommu_group")
bind_group=${bind_group##*/}
check "$BIND_DEV starts on virtio-pci (driver $(driver_of), IOMMU group ${bind_group:-none})" \
	test "$(driver_of)" = virtio-pci -a -n "$bind_group"

out=$(busctl call org.iovad1 /org/iovad1 org.iovad1.Manager CreateContainer 'sa{sv}' \
	bind 1 users au 1 "$TEST_UID" 2>&1)
bind_container=$(echo "$out" | sed -n 's/^o "\(.*\)"$/\1/p')
check "CreateContainer bind for uid $TEST_UID -> ${bind_container:-$out}" test -n "$bind_container"
out=$(busctl call org.iovad1 "$bind_container" org.iovad1.Container AttachGroup u "$bind_group" 2>&1)
check "AttachGroup $bind_group while virtio-pci drives $BIND_DEV is refused ($out)" \
	sh -c 'echo "$1" | grep -q "Group $2 is not viable"' - "$out" "$bind_group"

out=$(as_user "$rt/iovactl" bind "$BIND_DEV" 2>&1)
rc=$?
check "uid $TEST_UID may not bind $BIND_DEV (exit $rc: $out)" \
	sh -c '[ "$1" -eq 1 ] && echo "$2" | grep -q AccessDenied' - "$rc" "$out"
check "the refused bind left $BIND_DEV on $(driver_of)" test "$(driver_of)" = virtio-pci

out=$("$rt/iovactl" bind "$BIND_DEV" 2>&1)
rc=$?
check "root: iovactl bind $BIND_DEV (exit $rc${out:+: $out})" test "$rc" -eq 0
check "$BIND_DEV is on vfio-pci now (sysfs driver $(driver_of), driver_override $(cat "$dev/driver_override"))" \
	test "$(driver_of)" = vfio-pci -a "$(cat "$dev/driver_override")" = vfio-pci
check "the Device's Driver property follows ($(prop_driver))" test "$(prop_driver)" = 's "vfio-pci"'
check "/dev/vfio/$bind_group exists for its group" test -c "/dev/vfio/$bind_group"
check "state.json remembers virtio-pci for $BIND_DEV" \
	sh -c 'tr -d " \n" < "$1" | grep -q "\"address\":\"$2\",\"driver\":\"virtio-pci\""' - "$rt/state/state.json" "$BIND_DEV"

# The previous driver must survive a restart of iovad.
stop_iovad
start_iovad
check "the restarted iovad restored one bound device" \
	grep -q 'Restored .* and 1 bound device$' "$run/iovad.log"

out=$(busctl call org.iovad1 "$bind_container" org.iovad1.Container AttachGroup u "$bind_group" 2>&1)
check "AttachGroup $bind_group to the restored container bind${out:+: $out}" test -z "$out"
out=$(as_user "$rt/iovactl" open "$BIND_DEV" 2>&1)
rc=$?
check "uid $TEST_UID opens the rebound device: $out" \
	sh -c '[ "$1" -eq 0 ] && echo "$2" | grep -q "^Opened $3 as fd "' - "$rc" "$out" "$BIND_DEV"
out=$("$rt/iovactl" unbind "$BIND_DEV" 2>&1)
rc=$?
check "Unbind while group $bind_group is in a container is Busy (exit $rc: $out)" \
	sh -c '[ "$1" -eq 1 ] && echo "$2" | grep -q Busy' - "$rc" "$out"
check "... and $BIND_DEV stays on $(driver_of)" test "$(driver_of)" = vfio-pci
out=$(busctl call org.iovad1 "$bind_container" org.iovad1.Container DetachGroup u "$bind_group" 2>&1)
check "DetachGroup $bind_group${out:+: $out}" test -z "$out"

out=$("$rt/iovactl" unbind "$BIND_DEV" 2>&1)
rc=$?
check "root: iovactl unbind $BIND_DEV (exit $rc${out:+: $out})" test "$rc" -eq 0
check "$BIND_DEV is back on virtio-pci (sysfs driver $(driver_of), driver_override $(cat "$dev/driver_override"))" \
	test "$(driver_of)" = virtio-pci -a "$(cat "$dev/driver_override")" = '(null)'
check "iovad gave it back by name, not by reprobing" \
	grep -q "Gave $BIND_DEV back to virtio-pci$" "$run/iovad.log"
check "the Device's Driver property follows ($(prop_driver))" test "$(prop_driver)" = 's "virtio-pci"'
check "state.json no longer lists $BIND_DEV" sh -c '! grep -q "$2" "$1"' - "$rt/state/state.json" "$BIND_DEV"
out=$("$rt/iovactl" unbind "$BIND_DEV" 2>&1)
rc=$?
check "a second unbind is refused with NotAttached (exit $rc: $out)" \
	sh -c '[ "$1" -eq 1 ] && echo "$2" | grep -q NotAttached' - "$rc" "$out"

# 8. iovad stops cleanly and lets go of the groups.
stop_iovad
check "the groups are free again after iovad exits" \
	sh -c '"$1" $2 > /dev/null' - "$RANGES" "$IOVAD_GROUPS"
if [ "$failures" -ne 0 ]; then
	say "iovad log (last 80 lines of $run/iovad.log):"
	tail -n 80 "$run/iovad.log" | sed 's/^/iovad| /'
fi
finish
