#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The kernel tier's script inside the arm64 guests (QEMU virt, GICv3 with
# ITS, Debian's 6.12, busybox sh) with an SMMUv3 (IOMMU=smmuv3) or
# virtio-iommu (IOMMU=virtio). guest-init runs it as root from the
# initramfs, in the run directory (shared over 9p) that run-kernel-test.sh
# prepared:
#
#   test.env       PLATFORM, IOMMU, DAEMON, CLIENT, IOVACTL, RANGES, TEST_UID,
#                  SETPRIV
#                  (the cross-built programs, in /payload)
#   guest-lib.sh   the checks, the bus, starting and stopping iovad
#   bus.policy     the project's dbus/org.iovad1.conf, when it has one
#
# The devices (run-vm.sh) and their IOVA holes (arm64-iova-holes.dtsi):
#   EDU1 0000:00:04.0  edu, vfio-pci
#   EDU2 0000:00:05.0  edu, vfio-pci, hole 0x20000000-0x201fffff
#   BIND 0000:00:06.0  virtio-rng on virtio-pci and virtio_rng: its MSIs
#                      come from the ITS
#   NIC  0000:00:07.0  e1000e, vfio-pci, hole 0x00000000-0x003fffff
#
# The script:
#   1. checks the platform (the IOMMU, the ITS, allow_unsafe_interrupts off,
#      the MSI window (SMMUv3: Linux's software MSI window; virtio-iommu:
#      the ITS doorbell, which QEMU reserves) and the holes in the groups'
#      reserved regions)
#      and records the kernel's IOVA_RANGE (iova-ranges) for every set of
#      groups the container will hold;
#   2. starts a private dbus-daemon and the cross-built iovad on it;
#   3. attaches EDU1's and EDU2's groups one by one: the MSI window is in
#      ReservedRegions with its origin, UsableRanges equal IOVA_RANGE;
#   4. puts a lease into NIC's hole: CheckAttach and AttachGroup of NIC's
#      group name the lease and the region; after Release it attaches;
#   5. runs kernel-client as TEST_UID: edu DMA through the IOMMU at an
#      AllocateMapped lease, blocked after Release (the IOMMU's fault in the
#      kernel log), and the rest of kernel-client's checks;
#   6. detaches the groups one by one, comparing the ranges each time;
#   7. compares the Device objects with sysfs, and ListDevices for devices
#      in no IOMMU group;
#   8. binds BIND to vfio-pci and back, with InterruptIsolation and attaches
#      before, after, across a restart of iovad, and what the kernel does
#      meanwhile (iova-ranges attaches the group itself);
#   9. stops iovad and checks that it let go of the groups.
# Each check prints "ok: ..." or "FAIL: ..."; the last line is
# "guest-test: PASS (N checks)" or "guest-test: FAIL (F of N checks failed)".
set -u
run=$(cd "$(dirname "$0")" && pwd)
EDU1=0000:00:04.0 EDU2=0000:00:05.0 BIND_DEV=0000:00:06.0 NIC_DEV=0000:00:07.0
# The holes of arm64-iova-holes.dtsi.
EDU2_HOLE='0x0000000020000000 0x00000000201fffff reserved'
NIC_HOLE='0x0000000000000000 0x00000000003fffff reserved'
LEASE_IOVA=0x100000
. "$run/test.env"
. "$run/guest-lib.sh"

group_of() { g=$(readlink "/sys/bus/pci/devices/$1/iommu_group"); echo "${g##*/}"; }
driver_of() { d=$(readlink "/sys/bus/pci/devices/$1/driver"); echo "${d##*/}"; }
# The chips of the interrupts that exist now, e.g. "GICv3 ITS-PCI-MSIX-0000:00:06.0".
irq_chips() { cat /sys/kernel/irq/*/chip_name 2>/dev/null | sort -u | tr '\n' ' '; }
its_chips() { cat /sys/kernel/irq/*/chip_name 2>/dev/null | grep '^ITS' | sort -u | tr '\n' ' '; }
isolation_of() {
	busctl get-property org.iovad1 "$(dev_path "$1")" org.iovad1.Device InterruptIsolation 2>&1
}
iovactl() { "$IOVACTL" "$@" 2>&1; }
# compare_ranges WHAT CONTAINER KERNEL-FILE: UsableRanges against IOVA_RANGE.
compare_ranges() {
	iovad_ranges "$2" > "$run/iovad-ranges.txt"
	if cmp -s "$3" "$run/iovad-ranges.txt"; then
		ok "$1: UsableRanges equal the kernel's IOVA_RANGE ($(grep -c . "$3") ranges: $(tr '\n' ' ' < "$3"))"
	else
		fail "$1: UsableRanges differ from the kernel's IOVA_RANGE"
		say "  kernel: $(tr '\n' ' ' < "$3")"
		say "  iovad:  $(tr '\n' ' ' < "$run/iovad-ranges.txt")"
	fi
}
attach() { busctl call org.iovad1 "$1" org.iovad1.Container AttachGroup u "$2" 2>&1; }
detach() { busctl call org.iovad1 "$1" org.iovad1.Container DetachGroup u "$2" 2>&1; }

say "guest kernel $(uname -r): $(cat /proc/version)"

# 1. The platform, as the kernel shows it.
case $IOMMU in
smmuv3)
	check "SMMUv3 is up ($(dmesg | grep -m1 -o 'arm-smmu-v3 [^ ]*: ias .*'))" \
		sh -c 'dmesg | grep -q "arm-smmu-v3 .*: ias"'
	# Linux's software MSI window (MSI_IOVA_BASE, MSI_IOVA_LENGTH): the
	# SMMU translates MSI writes, the kernel maps the doorbell there.
	MSI_START=0x8000000 MSI_END=0x80fffff ;;
virtio)
	check "virtio-iommu is up ($(dmesg | grep -m1 -o 'virtio_iommu virtio[0-9]*: page mask: .*'))" \
		sh -c 'dmesg | grep -q "virtio_iommu virtio[0-9]*: page mask:"'
	# QEMU reserves the ITS's doorbell (GITS_TRANSLATER's 64 KiB frame)
	# as an MSI region in every endpoint's probe answer, so Linux uses it
	# as it is instead of a software MSI window.
	set -- $(grep ' msi$' "/sys/kernel/iommu_groups/$(readlink /sys/bus/pci/devices/$EDU1/iommu_group | sed 's,.*/,,')/reserved_regions")
	MSI_START=$(printf '0x%x' $((${1:-0}))) MSI_END=$(printf '0x%x' $((${2:-0})))
	its=$(dmesg | sed -n 's/.*ITS \[mem \(0x[0-9a-f]*\)-\(0x[0-9a-f]*\)\].*/\1 \2/p' | head -1)
	set -- $its
	check "the MSI region $MSI_START-$MSI_END is the ITS's doorbell frame (ITS registers ${1:-?}-${2:-?}, GITS_TRANSLATER at +0x10040)" \
		sh -c '[ -n "$3" ] && [ $(($1)) -eq $(($3 + 0x10000)) ] && [ $(($2)) -eq $(($3 + 0x1ffff)) ]' - \
		"$MSI_START" "$MSI_END" "${1:-}" ;;
esac
check "GICv3 ITS is up ($(dmesg | grep -m1 -o 'ITS@0x[0-9a-f]*'))" sh -c 'dmesg | grep -q "ITS@0x"'
unsafe=$(cat /sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts 2>&1)
check "vfio_iommu_type1.allow_unsafe_interrupts is off ($unsafe): the kernel attaches only isolated groups" \
	test "$unsafe" = N
GA=$(group_of $EDU1) GB=$(group_of $EDU2) GC=$(group_of $NIC_DEV) GD=$(group_of $BIND_DEV)
say "IOMMU groups: edu $EDU1 $GA, edu $EDU2 $GB, e1000e $NIC_DEV $GC, virtio-rng $BIND_DEV $GD"
check "four devices in four IOMMU groups ($GA $GB $GC $GD)" \
	sh -c '[ $# -eq 4 ] && [ "$(printf "%s\n" "$@" | sort -u | wc -l)" -eq 4 ]' - $GA $GB $GC $GD
check "edu and e1000e on vfio-pci, virtio-rng on virtio-pci ($(driver_of $EDU1) $(driver_of $EDU2) $(driver_of $NIC_DEV) $(driver_of $BIND_DEV))" \
	test "$(driver_of $EDU1) $(driver_of $EDU2) $(driver_of $NIC_DEV) $(driver_of $BIND_DEV)" = \
		"vfio-pci vfio-pci vfio-pci virtio-pci"
msi_line=$(printf '0x%016x 0x%016x msi' $((MSI_START)) $((MSI_END)))
for g in $GA $GB $GC $GD; do
	check "group $g reserves the MSI window ($msi_line)" \
		grep -qx "$msi_line" "/sys/kernel/iommu_groups/$g/reserved_regions"
done
check "group $GB ($EDU2) has its device-tree hole ($EDU2_HOLE)" \
	grep -qx "$EDU2_HOLE" "/sys/kernel/iommu_groups/$GB/reserved_regions"
check "group $GC ($NIC_DEV) has its device-tree hole ($NIC_HOLE)" \
	grep -qx "$NIC_HOLE" "/sys/kernel/iommu_groups/$GC/reserved_regions"
check "virtio-rng holds MSIs from the ITS (interrupt chips: $(irq_chips))" test -n "$(its_chips)"
for f in "$DAEMON" "$CLIENT" "$IOVACTL" "$RANGES"; do
	check "test program $f present" test -x "$f"
done
[ "$failures" -eq 0 ] || finish

# The kernel's IOVA_RANGE for every set of groups the container holds
# below, in the order they come and go.
for set in "$GA" "$GA $GB" "$GA $GB $GC" "$GA $GC" "$GC"; do
	f=$run/kernel-ranges-$(echo "$set" | tr ' ' '-').txt
	if kernel_ranges $set > "$f"; then
		ok "kernel IOVA_RANGE for groups $set: $(tr '\n' ' ' < "$f")"
	else
		fail "iova-ranges $set"
	fi
done
kfile() { echo "$run/kernel-ranges-$(echo "$*" | tr ' ' '-').txt"; }

# 2. The bus and the cross-built iovad.
start_bus
start_iovad
out=$(busctl get-property org.iovad1 /org/iovad1 org.iovad1.Manager Backend Platform 2>&1 | tr '\n' ' ')
check "iovad uses the vfio-type1 backend ($out)" sh -c 'echo "$1" | grep -q "^s \"vfio-type1\""' - "$out"
for a in $EDU1 $EDU2 $NIC_DEV $BIND_DEV; do
	i=$(isolation_of $a)
	check "InterruptIsolation of $a is isolated-msi while virtio-rng holds ITS MSIs ($i)" test "$i" = 's "isolated-msi"'
done

# 3. Attach the edu groups one by one.
container=$(create_container test)
check "CreateContainer test for uid $TEST_UID -> ${container:-failed}" test -n "$container"
[ -n "$container" ] || finish
out=$(attach "$container" $GA)
check "AttachGroup $GA ($EDU1)${out:+: $out}" test -z "$out"
regions=$(busctl get-property org.iovad1 "$container" org.iovad1.Container ReservedRegions 2>&1)
say "ReservedRegions: $regions"
check "ReservedRegions has the MSI window $MSI_START-$MSI_END as msi, origin group $GA" \
	sh -c 'echo "$1" | grep -q "$2 $3 \"msi\" \"group $4\""' - "$regions" $((MSI_START)) $((MSI_END)) $GA
compare_ranges "after AttachGroup $GA" "$container" "$(kfile $GA)"
# The MSI window's use (docs/profiles.md, "MSI window sizing"): behind the
# SMMU the kernel maps the ITS's one doorbell page (GITS_TRANSLATER) into
# the 1 MiB software window; virtio-iommu's msi region is the
# doorbell's own frame, a bypass, so there is no software window to fill.
msi=$(busctl get-property org.iovad1 "$container" org.iovad1.Container MsiWindowPages 2>&1)
case $IOMMU in
smmuv3) want_msi="(uus) 1 $(( (MSI_END - MSI_START + 1) / 4096 )) \"device tree\"" ;; # Debian's arm64 kernels: 4 KiB pages
*) want_msi='(uus) 0 0 ""' ;;
esac
check "MsiWindowPages $msi (want $want_msi; ITS in the device tree: $(ls -d /sys/firmware/devicetree/base/intc@*/its@* 2>/dev/null | tr '\n' ' '))" \
	test "$msi" = "$want_msi"
out=$(attach "$container" $GB)
check "AttachGroup $GB ($EDU2)${out:+: $out}" test -z "$out"
compare_ranges "after AttachGroup $GB" "$container" "$(kfile $GA $GB)"
check "EDU2's hole split a range ($(grep -c . "$(kfile $GA)") -> $(grep -c . "$(kfile $GA $GB)") ranges)" \
	test "$(grep -c . "$(kfile $GA $GB)")" -gt "$(grep -c . "$(kfile $GA)")"

# 4. A lease inside NIC's hole blocks attaching NIC's group.
out=$(busctl call org.iovad1 "$container" org.iovad1.Container Lease 'ta{sv}' 4096 2 \
	iova t $((LEASE_IOVA)) persistent b true 2>&1)
# busctl: ot "/org/iovad1/lease/1" 1048576
lease=$(echo "$out" | sed -n 's,^[^"]*"\(/org/iovad1/lease/[^"]*\)".*,\1,p')
check "persistent Lease at $LEASE_IOVA in container test ($out)" test -n "$lease"
out=$(busctl call org.iovad1 "$container" org.iovad1.Container CheckAttach u $GC 2>&1)
check "CheckAttach $GC names the hole 0x0-0x3fffff and the lease ($out)" \
	test "$out" = "a(ttso) 1 0 $((0x3fffff)) \"reserved\" \"$lease\""
out=$(iovactl attach test $GC)
rc=$?
say "iovactl attach test $GC: exit $rc: $out"
check "AttachGroup $GC refused with ReservedConflict naming the lease and the region ($out)" \
	sh -c '[ "$1" -ne 0 ] && echo "$2" | grep -q ReservedConflict && echo "$2" | grep -q "${3##*/}" &&
	       echo "$2" | grep -q -i "0x3fffff"' - "$rc" "$out" "$lease"
out=$(busctl get-property org.iovad1 "$container" org.iovad1.Container Groups 2>&1)
check "... and the container still holds groups $GA $GB ($out)" test "$out" = "au 2 $GA $GB"
out=$(busctl call org.iovad1 "$lease" org.iovad1.Lease Release 2>&1)
check "Release $lease${out:+: $out}" test -z "$out"
out=$(busctl call org.iovad1 "$container" org.iovad1.Container CheckAttach u $GC 2>&1)
check "CheckAttach $GC is empty now ($out)" test "$out" = "a(ttso) 0"
out=$(attach "$container" $GC)
check "AttachGroup $GC ($NIC_DEV) after the lease went${out:+: $out}" test -z "$out"
compare_ranges "after AttachGroup $GC" "$container" "$(kfile $GA $GB $GC)"

# 5. The unprivileged client: DMA through the IOMMU.
kmsg_before=$(dmesg | wc -l)
say "running kernel-client as uid $TEST_UID at $(uptime_s)s"
as_user "$CLIENT" --container test --limit 0x0fffffff --msi-window $MSI_START $EDU1 $EDU2 > "$run/client.log" 2>&1
client_rc=$?
cat "$run/client.log"
say "kernel-client finished at $(uptime_s)s"
check "kernel-client as uid $TEST_UID passed (exit $client_rc)" test "$client_rc" -eq 0
blocked=$(sed -n 's/^kernel-client: blocked-dma device=\([^ ]*\) iova=\(0x[0-9a-f]*\)$/\1 \2/p' "$run/client.log")
if [ -n "$blocked" ]; then
	set -- $blocked
	dev=$1 addr=$2
	# The StreamID (SMMUv3) or endpoint id (virtio-iommu) is the PCI
	# requester id, bus << 8 | devfn.
	b=${dev#*:} s=${b#*:}
	sid=$(( (0x${b%%:*} << 8) | (0x${s%%.*} << 3) | ${s#*.} ))
	found=
	for i in 1 2 3; do
		dmesg | tail -n +$((kmsg_before + 1)) > "$run/kmsg-after-client.txt"
		case $IOMMU in
		smmuv3)
			# Linux 6.12 prints an SMMU event as its id and four dwords:
			#   arm-smmu-v3 9050000.smmuv3: event 0x10 received:
			#   arm-smmu-v3 9050000.smmuv3: 	0x0000002000000010   (StreamID 0x20)
			#   arm-smmu-v3 9050000.smmuv3: 	0x0000000000000000
			#   arm-smmu-v3 9050000.smmuv3: 	0x0000000000401000   (the input address)
			# 0x10 is F_TRANSLATION.
			what="the SMMU reported F_TRANSLATION (event 0x10) for $dev (StreamID $sid) at $addr"
			events=$(grep -A4 'arm-smmu-v3 .*event 0x10 received' "$run/kmsg-after-client.txt")
			echo "$events" | grep -q "$(printf '0x%08x%08x' $sid 16)" &&
				echo "$events" | grep -q "$(printf '0x%016x' $((addr)))" && found=1 ;;
		virtio)
			# virtio_iommu virtio0: page fault from EP 32 at 0x401000 []
			what="virtio-iommu reported the page fault of $dev (endpoint $sid) at $addr"
			grep -q "virtio_iommu .*fault from EP $sid at $addr " "$run/kmsg-after-client.txt" && found=1 ;;
		esac
		[ -n "$found" ] && break
		sleep 0.2
	done
	say "IOMMU messages while the client ran:"
	grep -E 'arm-smmu-v3|virtio_iommu' "$run/kmsg-after-client.txt" | head -20 | sed 's/^/guest-test:   /'
	check "DMA check: $what" test -n "$found"
else
	fail "kernel-client reported no blocked DMA to look for"
fi

# 6. Detach one by one: the ranges grow back.
out=$(detach "$container" $GB)
check "DetachGroup $GB${out:+: $out}" test -z "$out"
compare_ranges "after DetachGroup $GB" "$container" "$(kfile $GA $GC)"
out=$(detach "$container" $GA)
check "DetachGroup $GA${out:+: $out}" test -z "$out"
compare_ranges "after DetachGroup $GA" "$container" "$(kfile $GC)"
out=$(detach "$container" $GC)
check "DetachGroup $GC${out:+: $out}" test -z "$out"
out=$(busctl get-property org.iovad1 "$container" org.iovad1.Container UsableRanges 2>&1)
check "after DetachGroup $GC, no group: no UsableRanges ($out)" test "$out" = "a(tt) 0"

# 7. Discovery.
for a in $EDU1 $EDU2 $NIC_DEV $BIND_DEV; do
	sys=/sys/bus/pci/devices/$a
	props=$(busctl get-property org.iovad1 "$(dev_path $a)" org.iovad1.Device \
		VendorId DeviceId Class IommuGroup Driver InterruptIsolation 2>&1 | tr '\n' ' ')
	want=$(printf 'q %d q %d u %d u %d s "%s" s "isolated-msi" ' "$(cat "$sys/vendor")" "$(cat "$sys/device")" \
		"$(cat "$sys/class")" "$(group_of $a)" "$(driver_of $a)")
	check "Device $a: $props" test "$props" = "$want"
	desc=$(busctl get-property org.iovad1 "$(dev_path $a)" org.iovad1.Device Description 2>&1)
	ids=$(printf '%04x:%04x' "$(cat "$sys/vendor")" "$(cat "$sys/device")")
	case $a in
	"$BIND_DEV") want="s \"$ids Red Hat, Inc. Virtio RNG\"" ;;
	"$NIC_DEV") want="s \"$ids Intel Corporation 82574L Gigabit Network Connection\"" ;;
	*) want="s \"$ids\"" ;;
	esac
	check "Device $a Description from libpci: $desc" test "$desc" = "$want"
done
# A device joins an IOMMU group when a driver probes it; the host bridge
# has none. docs/api.md: ListDevices has "one entry per PCI device in an
# IOMMU group".
groupless=
for d in /sys/bus/pci/devices/*; do
	[ -e "$d/iommu_group" ] || groupless="$groupless ${d##*/}"
done
say "PCI devices in no IOMMU group:${groupless:- none}"
if [ -n "$groupless" ]; then
	busctl call org.iovad1 /org/iovad1 org.iovad1.Manager ListDevices > "$run/list-devices.txt" 2>&1
	listed=
	for a in $groupless; do
		entry=$(grep -o "\"$a\" \"[^\"]*\" [0-9]* \"[^\"]*\"" "$run/list-devices.txt")
		say "groupless $a: ListDevices entry: ${entry:-none}"
		[ -z "$entry" ] || listed="$listed $a (group $(echo "$entry" | sed 's/.*" \([0-9]*\) "[^"]*"$/\1/'))"
	done
	check "ListDevices lists none of the devices in no IOMMU group (it lists:${listed:- none})" \
		test -z "$listed"
fi

# 8. Bind and Unbind of virtio-rng, and interrupt isolation around it.
bind_container=$(create_container bind)
check "CreateContainer bind for uid $TEST_UID -> ${bind_container:-failed}" test -n "$bind_container"
out=$(attach "$bind_container" $GD)
check "AttachGroup $GD while virtio-pci drives $BIND_DEV is refused as not viable ($out)" \
	sh -c 'echo "$1" | grep -q "Group $2 is not viable"' - "$out" $GD
say "interrupt chips before the bind: $(irq_chips)"
out=$(iovactl bind $BIND_DEV)
rc=$?
check "root: iovactl bind $BIND_DEV (exit $rc${out:+: $out})" test "$rc" -eq 0
check "$BIND_DEV is on vfio-pci now (driver $(driver_of $BIND_DEV))" test "$(driver_of $BIND_DEV)" = vfio-pci
chips=$(its_chips)
say "interrupt chips after the bind: $(irq_chips)(ITS: ${chips:-none})"
# The kernel decides by the MSI domain each device would use (the ITS
# isolates MSIs), not by interrupts that happen to be allocated: it attaches
# the group with allow_unsafe_interrupts off although no ITS interrupt
# exists now.
if kernel_ranges $GD > "$run/kernel-ranges-bind.txt" 2> "$run/kernel-bind.err"; then
	ok "the kernel attaches group $GD to a type1 container with no ITS interrupt allocated (ITS chips: ${chips:-none})"
else
	fail "the kernel refused group $GD: $(cat "$run/kernel-bind.err")"
fi
for a in $BIND_DEV $EDU1; do
	i=$(isolation_of $a)
	check "after the bind, InterruptIsolation of $a is still isolated-msi ($i)" test "$i" = 's "isolated-msi"'
done
out=$(iovactl attach bind $GD)
rc=$?
say "iovactl attach bind $GD after the bind: exit $rc: ${out:-(no output)}"
check "AttachGroup $GD after the bind, as the kernel does (exit $rc${out:+: $out})" test "$rc" -eq 0
[ "$rc" -eq 0 ] && detach "$bind_container" $GD > /dev/null
out=$(attach "$container" $GA)
check "AttachGroup $GA to test after the bind${out:+: $out}" test -z "$out"
[ -z "$out" ] && detach "$container" $GA > /dev/null

# iovad restarts with every PCI device on vfio-pci.
stop_iovad
start_iovad
check "the restarted iovad restored one bound device" grep -q 'Restored .* and 1 bound device$' "$run/iovad.log"
for a in $BIND_DEV $EDU1; do
	i=$(isolation_of $a)
	check "after the restart, InterruptIsolation of $a is isolated-msi ($i)" test "$i" = 's "isolated-msi"'
done
out=$(attach "$container" $GA)
check "after the restart, AttachGroup $GA to test${out:+: $out}" test -z "$out"
[ -z "$out" ] && detach "$container" $GA > /dev/null
out=$(attach "$bind_container" $GD)
check "after the restart, AttachGroup $GD to bind${out:+: $out}" test -z "$out"
if [ -z "$out" ]; then
	out=$(as_user "$IOVACTL" open $BIND_DEV 2>&1)
	rc=$?
	check "uid $TEST_UID opens $BIND_DEV: $out" \
		sh -c '[ "$1" -eq 0 ] && echo "$2" | grep -q "^Opened $3 as fd "' - "$rc" "$out" $BIND_DEV
	out=$(iovactl unbind $BIND_DEV)
	rc=$?
	check "Unbind while group $GD is in a container is Busy (exit $rc: $out)" \
		sh -c '[ "$1" -eq 1 ] && echo "$2" | grep -q Busy' - "$rc" "$out"
	out=$(detach "$bind_container" $GD)
	check "DetachGroup $GD${out:+: $out}" test -z "$out"
else
	fail "Device.Open of $BIND_DEV, Unbind while attached (Busy) and DetachGroup $GD not tried: AttachGroup $GD was refused"
fi
out=$(iovactl unbind $BIND_DEV)
rc=$?
check "root: iovactl unbind $BIND_DEV (exit $rc${out:+: $out})" test "$rc" -eq 0
check "$BIND_DEV is back on virtio-pci (driver $(driver_of $BIND_DEV))" test "$(driver_of $BIND_DEV)" = virtio-pci
check "iovad gave it back by name" grep -q "Gave $BIND_DEV back to virtio-pci$" "$run/iovad.log"
# virtio_rng takes the device again and asks the ITS for MSIs.
i=0
while [ -z "$(its_chips)" ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
say "interrupt chips after the unbind: $(irq_chips)"
for a in $BIND_DEV $EDU1; do
	i=$(isolation_of $a)
	check "after the unbind, InterruptIsolation of $a is isolated-msi ($i)" test "$i" = 's "isolated-msi"'
done
out=$(attach "$container" $GA)
check "after the unbind, AttachGroup $GA to test${out:+: $out}" test -z "$out"

# 9. iovad stops cleanly and lets go of the groups.
stop_iovad
check "the groups are free again after iovad exits" sh -c '"$1" $2 > /dev/null' - "$RANGES" "$GA $GB $GC"
finish
