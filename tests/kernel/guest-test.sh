#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The kernel tier's script inside the x86 guests (intel, amd, virtio).
# guest-init runs it as root, chrooted into the host's root (read-only) with
# the build directory shared read-write, from the run directory that
# run-kernel-test.sh prepared:
#
#   test.env       PLATFORM, IOMMU, DAEMON, CLIENT, IOVACTL, RANGES, TEST_UID,
#                  SETPRIV
#   guest-lib.sh   the checks, the bus, starting and stopping iovad
#   bus.policy     the project's dbus/org.iovad1.conf, when it has one
#
# guest-init exports IOVAD_EDU (edu PCI addresses) and IOVAD_GROUPS (their
# IOMMU groups). The script:
#   1. records the kernel's usable IOVA ranges for the groups (iova-ranges),
#      before iovad holds them;
#   2. starts a private system-like dbus-daemon and the real iovad (vfio-type1
#      backend) on it;
#      virtio: moves NIC_DEV (an e1000e that its driver drives) to vfio-pci
#      with `iovactl bind`, to be attached beside the edu devices;
#   3. as root, creates container "test" for TEST_UID and attaches the groups,
#      and compares the container's UsableRanges with the kernel's;
#   4. runs kernel-client as TEST_UID (setpriv) against the edu devices;
#   5. finds the IOMMU fault of the client's blocked DMA in the kernel log;
#      virtio: detaches NIC_DEV's group (the ranges must follow) and gives
#      it back to e1000e;
#   6. compares the Device objects with sysfs; virtio: ListDevices and a
#      device in no IOMMU group; intel: the peer-to-peer report of the
#      e1000e functions behind a switch against sysfs, lspci's ACS lines
#      and the kernel's groups, and a container reserving peer windows;
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
# virtio: an e1000e, on the e1000e driver at boot.
NIC_DEV=0000:00:07.0
. "$run/test.env"
. "$run/guest-lib.sh"

say "guest kernel $(uname -r): $(cat /proc/version)"
say "IOMMU $IOMMU, edu devices '$IOVAD_EDU', IOMMU groups '$IOVAD_GROUPS'"

# What the kernel's VFIO needs to attach, hence what InterruptIsolation
# must say: VT-d and AMD-Vi remap interrupts; behind virtio-iommu nothing
# does, and run-vm.sh sets vfio_iommu_type1.allow_unsafe_interrupts.
unsafe=/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts
case $IOMMU in
intel) isolation=remapped
       check "intel IOMMU with interrupt remapping (DMAR-IR: Enabled IRQ remapping)" \
	       sh -c 'dmesg | grep -q "DMAR-IR: Enabled IRQ remapping"' ;;
amd)   isolation=remapped
       check "amd IOMMU with interrupt remapping (AMD-Vi: Interrupt remapping enabled)" \
	       sh -c 'dmesg | grep -q "AMD-Vi: Interrupt remapping enabled"' ;;
virtio) isolation=unsafe
	check "virtio-iommu is up ($(dmesg | grep -m1 -o 'virtio_iommu virtio[0-9]*: page mask: .*'))" \
		sh -c 'dmesg | grep -q "virtio_iommu virtio[0-9]*: page mask:"'
	check "no interrupt remapping, vfio_iommu_type1.allow_unsafe_interrupts=$(cat $unsafe)" \
		sh -c '! dmesg | grep -q -e DMAR-IR -e "AMD-Vi: Interrupt remapping" && [ "$(cat "$1")" = Y ]' - "$unsafe" ;;
esac
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
grep -v pgsizes "$run/kernel-ranges.txt" | known_kernel_holes > "$run/kernel-ranges-edu.txt"
if [ "$IOMMU" = virtio ]; then
	# A 64-bit input range reaches the last page below 2^64: what does
	# this kernel's type1 make of a mapping there? (iova-ranges --top-page)
	set -- $IOVAD_GROUPS
	if "$RANGES" --top-page "$1" > "$run/top-page.txt" 2>&1; then
		ok "kernel $(uname -r), a page mapped at 0 and one at 0xfffffffffffff000, then the top one unmapped: $(tr '\n' ' ' < "$run/top-page.txt")"
	else
		fail "iova-ranges --top-page $1: $(tr '\n' ' ' < "$run/top-page.txt")"
	fi
fi

# 2. A private bus with system-bus rules, then iovad on it.
start_bus
start_iovad
backend=$(busctl get-property org.iovad1 /org/iovad1 org.iovad1.Manager Backend 2>&1)
check "iovad uses the vfio-type1 backend ($backend)" test "$backend" = 's "vfio-type1"'
cp "$IOVACTL" "$rt/iovactl"
chmod 755 "$rt/iovactl"

groups=$IOVAD_GROUPS
if [ "$IOMMU" = virtio ]; then
	# The e1000e goes to vfio-pci to be attached beside the edu devices.
	nic=/sys/bus/pci/devices/$NIC_DEV
	nic_driver() { d=$(readlink "$nic/driver"); echo "${d##*/}"; }
	nic_group=$(readlink "$nic/iommu_group")
	nic_group=${nic_group##*/}
	check "$NIC_DEV starts on e1000e (driver $(nic_driver), IOMMU group ${nic_group:-none})" \
		test "$(nic_driver)" = e1000e -a -n "$nic_group"
	out=$("$rt/iovactl" bind "$NIC_DEV" 2>&1)
	rc=$?
	check "root: iovactl bind $NIC_DEV (exit $rc${out:+: $out})" test "$rc" -eq 0
	check "$NIC_DEV is on vfio-pci now (sysfs driver $(nic_driver), driver_override $(cat "$nic/driver_override"))" \
		test "$(nic_driver)" = vfio-pci -a "$(cat "$nic/driver_override")" = vfio-pci
	out=$(busctl get-property org.iovad1 "$(dev_path "$NIC_DEV")" org.iovad1.Device Driver 2>&1)
	check "the Device's Driver property follows ($out)" test "$out" = 's "vfio-pci"'
	groups="$IOVAD_GROUPS $nic_group"
	# iovad holds no group it has not attached: the kernel answers for
	# all three.
	if "$RANGES" $groups > "$run/kernel-ranges.txt"; then
		ok "kernel IOVA_RANGE for groups $groups: $(grep -v pgsizes "$run/kernel-ranges.txt" | tr '\n' ' ')"
	else
		fail "iova-ranges $groups while iovad runs"
	fi
fi

# 3. Root sets up the container for the test uid.
container=$(create_container test)
if [ -n "$container" ]; then
	ok "CreateContainer test for uid $TEST_UID -> $container"
else
	fail "CreateContainer test failed"
	finish
fi
for g in $groups; do
	out=$(busctl call org.iovad1 "$container" org.iovad1.Container AttachGroup u "$g" 2>&1)
	check "AttachGroup $g${out:+: $out}" test -z "$out"
done

iovad_ranges "$container" > "$run/iovad-ranges.txt"
grep -v pgsizes "$run/kernel-ranges.txt" | known_kernel_holes > "$run/kernel-ranges-only.txt"
if [ "$IOMMU" = virtio ] && [ "$(echo ' 0xffffffffffffffff' | known_kernel_holes)" != ' 0xffffffffffffffff' ]; then
	# This kernel has the wrap: iovad shows the hole, with its reason, and leases nothing there.
	out=$(busctl get-property org.iovad1 "$container" org.iovad1.Container ReservedRegions 2>&1)
	check "ReservedRegions show the kernel's top-page hole (18446744073709547520 18446744073709551615 \"reserved\" \"kernel: type1 < 6.18 top page\")" \
		sh -c 'case "$1" in *"18446744073709547520 18446744073709551615 \"reserved\" \"kernel: type1 < 6.18 top page\""*) ;; *) exit 1 ;; esac' - "$out"
	out=$(busctl call org.iovad1 "$container" org.iovad1.Container Lease 'ta{sv}' 4096 1 iova t 18446744073709547520 2>&1)
	check "a lease fixed at the top page is refused ($out)" \
		sh -c 'case "$1" in *"overlaps the reserved region"*"kernel: type1 < 6.18 top page"*) ;; *) exit 1 ;; esac' - "$out"
fi
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
say "running kernel-client as uid $TEST_UID at $(uptime_s)s (container groups: $groups)"
as_user "$rt/kernel-client" --container test --limit 0x0fffffff $IOVAD_EDU > "$run/client.log" 2>&1
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
	# virtio_iommu virtio0: page fault from EP 32 at 0x101000 [w]
	# (the endpoint is the PCI requester id, bus << 8 | devfn)
	virtio) b=${dev#*:} s=${b#*:}
		epid=$(( (0x${b%%:*} << 8) | (0x${s%%.*} << 3) | ${s#*.} ))
		pattern="virtio_iommu .*fault from EP $epid at $addr " ;;
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
	grep -E 'DMAR|AMD-Vi|IO_PAGE_FAULT|virtio_iommu' "$run/kmsg-after-client.txt" | sed 's/^/guest-test:   /'
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

if [ "$IOMMU" = virtio ]; then
	# The e1000e's group leaves the container (the ranges are the edu
	# groups' again) and the e1000e goes back to its driver.
	out=$(busctl call org.iovad1 "$container" org.iovad1.Container DetachGroup u "$nic_group" 2>&1)
	check "DetachGroup $nic_group ($NIC_DEV)${out:+: $out}" test -z "$out"
	iovad_ranges "$container" > "$run/iovad-ranges-edu.txt"
	check "after the detach, UsableRanges equal the kernel's IOVA_RANGE of groups $IOVAD_GROUPS: $(tr '\n' ' ' < "$run/iovad-ranges-edu.txt")" \
		cmp -s "$run/kernel-ranges-edu.txt" "$run/iovad-ranges-edu.txt"
	out=$("$rt/iovactl" unbind "$NIC_DEV" 2>&1)
	rc=$?
	check "root: iovactl unbind $NIC_DEV (exit $rc${out:+: $out})" test "$rc" -eq 0
	check "$NIC_DEV is back on e1000e (sysfs driver $(nic_driver), driver_override $(cat "$nic/driver_override"))" \
		test "$(nic_driver)" = e1000e -a "$(cat "$nic/driver_override")" = '(null)'
	check "iovad gave $NIC_DEV back to e1000e by name" \
		grep -q "Gave $NIC_DEV back to e1000e$" "$run/iovad.log"
fi

# 6. Discovery: what iovad says of each device is what sysfs says.
discover=" $IOVAD_EDU $BIND_DEV"
[ "$IOMMU" = virtio ] && discover="$discover $NIC_DEV"
for a in $discover; do
	sys=/sys/bus/pci/devices/$a
	path=$(dev_path "$a")
	props=$(busctl get-property org.iovad1 "$path" org.iovad1.Device \
		VendorId DeviceId Class IommuGroup Driver InterruptIsolation 2>&1 | tr '\n' ' ')
	g=$(readlink "$sys/iommu_group")
	d=$(readlink "$sys/driver")
	want=$(printf 'q %d q %d u %d u %d s "%s" s "%s" ' "$(cat "$sys/vendor")" "$(cat "$sys/device")" \
		"$(cat "$sys/class")" "${g##*/}" "${d##*/}" "$isolation")
	check "Device $a: $props" test "$props" = "$want"
	desc=$(busctl get-property org.iovad1 "$path" org.iovad1.Device Description 2>&1)
	ids=$(printf '%04x:%04x' "$(cat "$sys/vendor")" "$(cat "$sys/device")")
	# pci.ids names QEMU's virtio devices and the e1000e but not edu: ids
	# alone then.
	case $a in
	"$BIND_DEV") want="s \"$ids Red Hat, Inc. Virtio RNG\"" ;;
	"$NIC_DEV") want="s \"$ids Intel Corporation 82574L Gigabit Network Connection\"" ;;
	*) want="s \"$ids\"" ;;
	esac
	check "Device $a Description from libpci: $desc" test "$desc" = "$want"
done

if [ "$IOMMU" = virtio ]; then
	# With VIOT a device joins an IOMMU group only when a driver probes
	# it: the ICH9 functions that no driver takes have none. docs/api.md:
	# ListDevices has "one entry per PCI device in an IOMMU group".
	groupless=
	for d in /sys/bus/pci/devices/*; do
		[ -e "$d/iommu_group" ] || groupless="$groupless ${d##*/}"
	done
	check "PCI devices in no IOMMU group (VIOT, no driver):${groupless:- none}" test -n "$groupless"
	busctl call org.iovad1 /org/iovad1 org.iovad1.Manager ListDevices > "$run/list-devices.txt" 2>&1
	listed=
	for a in $groupless; do
		# "0000:00:1f.0" "8086:2918 Intel ..." 4294967295 "" "/org/iovad1/device/..."
		entry=$(grep -o "\"$a\" \"[^\"]*\" [0-9]* \"[^\"]*\"" "$run/list-devices.txt")
		group_prop=$(busctl get-property org.iovad1 "$(dev_path "$a")" org.iovad1.Device IommuGroup 2>&1)
		say "groupless $a: ListDevices entry: ${entry:-none}; Device IommuGroup: $group_prop"
		[ -z "$entry" ] || listed="$listed $a (group $(echo "$entry" | sed 's/.*" \([0-9]*\) "[^"]*"$/\1/'))"
	done
	check "ListDevices lists none of the devices in no IOMMU group (it lists:${listed:- none})" \
		test -z "$listed"
fi

if [ "$IOMMU" = intel ]; then
	# 6b. Peer-to-peer on a real topology (run-vm.sh): root port, switch,
	# a two-function e1000e below one downstream port, one below the
	# other. iovad's report is held against the sysfs topology, lspci's
	# decoding of the same configuration spaces (its ACS lines) and the
	# kernel's IOMMU groups. lspci runs once: each run costs seconds here.
	lspci -vvv > "$run/lspci-vvv.txt" 2>&1
	lspci -x > "$run/lspci-x.txt" 2>&1
	say "PCI topology (lspci -t): $(lspci -t | tr '\n' ' ')"
	# What lspci says of each function, in iovad's words: "ADDRESS|role|
	# what it lacks". Ports need ACS SV, RR, CR and UF where capable;
	# endpoints and upstream ports only when multifunction, which, as the
	# kernel has it, a function after the first always is. One awk run:
	# every process costs a lot in this guest.
	hops=$(awk '
		function hex(s,   i, v) { v = 0; for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return v }
		FNR == 1 { file++ }
		/^[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]\.[0-7] / { a = "0000:" $1; if (file == 1) order[++n] = a; next }
		file == 2 && /^00: / { hdr[a] = hex($16); next }
		file == 1 && /Express \(v[0-9]\) Root Port/ { role[a] = "root port"; port[a] = 1 }
		file == 1 && /Express \(v[0-9]\) Downstream Port/ { role[a] = "switch downstream port"; port[a] = 1 }
		file == 1 && /Express \(v[0-9]\) Upstream Port/ { role[a] = "switch upstream port" }
		file == 1 && /Express \(v[0-9]\) Endpoint/ { role[a] = "endpoint" }
		file == 1 && /ACSCap:/ { cap[a] = $0 }
		file == 1 && /ACSCtl:/ { ctl[a] = $0 }
		END {
			split("SV RR CR UF", short, " "); split("SrcValid ReqRedir CmpltRedir UpstreamFwd", long, " ")
			for (i = 1; i <= n; i++) {
				a = order[i]; m = ""
				if (port[a] || int(hdr[a] / 128) % 2 || substr(a, 12) != "0") {
					if (cap[a] == "") m = "no ACS capability"
					else for (k = 1; k <= 4; k++)
						if (index(cap[a], long[k] "+") && index(ctl[a], long[k] "-")) m = m (m == "" ? "" : " ") short[k]
				}
				print a "|" role[a] "|" m
			}
		}' "$run/lspci-vvv.txt" "$run/lspci-x.txt")
	p2p_devs=
	for d in /sys/bus/pci/devices/*; do
		read -r v < "$d/vendor"
		read -r i < "$d/device"
		[ "$v:$i" = 0x8086:0x10d3 ] && p2p_devs="$p2p_devs ${d##*/}"
	done
	set -- $p2p_devs
	check "three e1000e functions behind the switch:$p2p_devs" test $# -eq 3
	for a in $p2p_devs; do
		# The device, then each bridge in its sysfs path, closest first.
		bridges=
		p=$(realpath "/sys/bus/pci/devices/$a")
		IFS=/
		for c in ${p%/*}; do
			case $c in ????:??:??.?) bridges="$c $bridges" ;; esac
		done
		unset IFS
		want_hops="$a $bridges"
		busctl get-property org.iovad1 "$(dev_path "$a")" org.iovad1.Device PeerToPeer PeerToPeerPath PeerWindows \
			> "$run/p2p-$a.txt" 2>&1
		{ read -r verdict; read -r got; read -r windows; } < "$run/p2p-$a.txt"
		# a(sss) N "ADDRESS" "ROLE" "MISSING" ...: as "ADDRESS|ROLE|MISSING" lines.
		got_hops= ih_all=
		rest=${got#*\"}
		while [ "$rest" != "$got" ] && [ -n "$rest" ]; do
			h=${rest%%\"*}; rest=${rest#*\"}; rest=${rest#*\"}
			r=${rest%%\"*}; rest=${rest#*\"}; rest=${rest#*\"}
			m=${rest%%\"*}; rest=${rest#*\"}
			got_hops="$got_hops $h"
			ih_all="$ih_all
$h|$r|$m"
			case $rest in *\"*) rest=${rest#*\"} ;; *) rest= ;; esac
		done
		check "PeerToPeerPath of $a runs up its sysfs path ($want_hops): $got" \
			test "$(echo $got_hops)" = "$(echo $want_hops)"
		peers=
		for h in $want_hops; do
			lh= ih=
			while IFS= read -r line; do
				case $line in "$h|"*) lh=${line#*|} ;; esac
			done <<HOPS
$hops
HOPS
			while IFS= read -r line; do
				case $line in "$h|"*) ih=${line#*|} ;; esac
			done <<HOPS
$ih_all
HOPS
			[ -n "${lh#*|}" ] && peers=1
			check "$a: hop $h is '$ih' for iovad, '$lh' by lspci's ACS lines" test "$ih" = "$lh"
		done
		want=isolated
		[ -n "$peers" ] && want=peers
		members=
		for m in "/sys/bus/pci/devices/$a/iommu_group/devices/"*; do members="$members ${m##*/}"; done
		check "$a: PeerToPeer $verdict, $want by lspci's ACS lines" test "$verdict" = "s \"$want\""
		alone=peers
		[ "$(echo $members)" = "$a" ] && alone=isolated
		check "$a: the kernel agrees: isolated if and only if alone in its IOMMU group (members:$members)" \
			test "$alone" = "$want"
		# A sibling function without ACS: each of its memory BARs is a window.
		for s in $members; do
			[ "$s" != "$a" ] && [ "${s%.*}" = "${a%.*}" ] || continue
			i=0
			while read -r start end flags; do
				if [ $i -le 5 ] && [ $((flags & 0x200)) -ne 0 ] && [ $((start)) -ne 0 ]; then
					case $windows in
					*" $((start)) $((end)) \"$s BAR $i\""*) ok "$a: PeerWindows has $s's BAR $i ($start-$end, from sysfs)" ;;
					*) fail "$a: PeerWindows lacks $s's BAR $i ($start-$end, from sysfs): $windows" ;;
					esac
				fi
				i=$((i + 1))
			done < "/sys/bus/pci/devices/$s/resource"
		done
		say "$a: PeerToPeer $verdict; PeerWindows $windows"
	done

	# Across groups: below a downstream port without ACS, a device reaches
	# the devices below its sibling port, although the kernel, which looks
	# only at the path above each device, puts them in different groups.
	for a in $p2p_devs; do
		{ read -r x; read -r x; read -r windows; } < "$run/p2p-$a.txt"
		spans=$(echo "$windows" | grep -o '[0-9][0-9]* [0-9][0-9]* "' | tr ' ' ':')
		ga=$(readlink "/sys/bus/pci/devices/$a/iommu_group")
		for s in $p2p_devs; do
			gs=$(readlink "/sys/bus/pci/devices/$s/iommu_group")
			[ "${ga##*/}" != "${gs##*/}" ] || continue
			while read -r start end flags; do
				[ $((flags & 0x200)) -ne 0 ] && [ $((start)) -ne 0 ] || continue
				inside=
				for w in $spans; do
					e=${w#*:} e=${e%%:*}
					[ $((start)) -ge "${w%%:*}" ] && [ $((end)) -le "$e" ] && inside=$w
				done
				shown=${inside%:*}
				[ -n "$inside" ] || shown=none
				check "$a (group ${ga##*/}) reaches $s (group ${gs##*/}): its BAR $start-$end lies in a peer window ($shown)" \
					test -n "$inside"
				break
			done < "/sys/bus/pci/devices/$s/resource"
		done
	done

	# The option: a container that reserves the multifunction e1000e's
	# peer windows keeps leases out of them.
	mf=$(echo $p2p_devs | tr ' ' '\n' | grep '\.1$' | head -1)
	mf=${mf%.1}.0
	mf_group=$(readlink "/sys/bus/pci/devices/$mf/iommu_group")
	mf_group=${mf_group##*/}
	out=$("$rt/iovactl" bind "$mf" 2>&1)
	check "root: iovactl bind $mf (exit $?${out:+: $out})" test "$(readlink "/sys/bus/pci/devices/$mf/driver" | sed 's,.*/,,')" = vfio-pci
	p2p_container=$(busctl call org.iovad1 /org/iovad1 org.iovad1.Manager CreateContainer 'sa{sv}' \
		p2p 2 users au 1 "$TEST_UID" reserve_peer_windows b true 2>&1 | sed -n 's/^o "\(.*\)"$/\1/p')
	check "CreateContainer p2p with reserve_peer_windows -> ${p2p_container:-failed}" test -n "$p2p_container"
	out=$(busctl call org.iovad1 "$p2p_container" org.iovad1.Container AttachGroup u "$mf_group" 2>&1)
	check "AttachGroup $mf_group (members: $(ls "/sys/bus/pci/devices/$mf/iommu_group/devices" | tr '\n' ' '))${out:+: $out}" \
		test -z "$out"
	group_p2p=$(busctl call org.iovad1 /org/iovad1 org.iovad1.Manager GetGroupPeerToPeer u "$mf_group" 2>&1)
	holes=$(busctl get-property org.iovad1 "$p2p_container" org.iovad1.Container ReservedRegions 2>&1 |
		grep -o '[0-9]* [0-9]* "reserved" "p2p"' | cut -d' ' -f1,2 | tr ' \n' ': ')
	n=0 first=
	for w in $(echo "$group_p2p" | grep -o '[0-9][0-9]* [0-9][0-9]* "' | tr ' ' ':'); do
		start=${w%%:*} end=${w#*:} end=${end%%:*}
		first=${first:-$start}
		n=$((n + 1))
		inside=
		for h in $holes; do
			[ "$start" -ge "${h%:*}" ] && [ "$end" -le "${h#*:}" ] && inside=$h
		done
		# Touching windows merge into one hole.
		check "group $mf_group's peer window $start-$end lies in a p2p hole of p2p (${inside:-none of $holes})" \
			test -n "$inside"
	done
	check "group $mf_group has peer windows to reserve ($n): $group_p2p" test "$n" -gt 0
	out=$(busctl call org.iovad1 "$p2p_container" org.iovad1.Container Lease 'ta{sv}' 4096 1 iova t "${first:-0}" 2>&1)
	check "a lease fixed at the first peer window ($first) is refused: $out" \
		sh -c 'echo "$1" | grep -q "overlaps the reserved region .*(p2p)"' - "$out"
	out=$(busctl call org.iovad1 "$p2p_container" org.iovad1.Container Destroy 2>&1)
	check "Destroy p2p${out:+: $out}" test -z "$out"
	out=$("$rt/iovactl" unbind "$mf" 2>&1)
	check "root: iovactl unbind $mf gives it back to no driver${out:+: $out}" \
		test -z "$(readlink "/sys/bus/pci/devices/$mf/driver")"
fi

. "$run/guest-restart.sh"

# 7. Binding: BIND_DEV goes from virtio-pci to vfio-pci and back.
dev=/sys/bus/pci/devices/$BIND_DEV
driver_of() { d=$(readlink "$dev/driver"); echo "${d##*/}"; }
bind_path=$(dev_path "$BIND_DEV")
prop_driver() { busctl get-property org.iovad1 "$bind_path" org.iovad1.Device Driver 2>&1; }
bind_group=$(readlink "$dev/iommu_group")
bind_group=${bind_group##*/}
check "$BIND_DEV starts on virtio-pci (driver $(driver_of), IOMMU group ${bind_group:-none})" \
	test "$(driver_of)" = virtio-pci -a -n "$bind_group"

bind_container=$(create_container bind)
check "CreateContainer bind for uid $TEST_UID -> ${bind_container:-failed}" test -n "$bind_container"
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
finish
