#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The kernel tier's script in the iommufd guest: x86_64 q35 with VT-d
# (interrupt remapping) on a 6.12 kernel built from Debian's
# linux-source-6.12 with IOMMUFD, VFIO device cdevs and the type1 container
# (build-kernel.sh). guest-init runs it as root, chrooted into the host's
# root, from the run directory (test.env, guest-lib.sh as for
# guest-test.sh). The script:
#   1. shows the kernel, /dev/iommu and the device cdevs, and records the
#      kernel's usable ranges for the edu devices both ways: iommufd's
#      IOMMU_IOAS_IOVA_RANGES (iova-ranges --iommufd) and type1's IOVA_RANGE
#      (iova-ranges), for both devices and for the first alone;
#   2. runs one scenario with the iommufd backend (chosen by iovad itself)
#      and then the same with --backend=vfio-type1: container "test" for
#      TEST_UID, both groups attached, UsableRanges equal to the kernel's,
#      kernel-client as TEST_UID (edu DMA through an AllocateMapped lease,
#      blocked after Release with the DMAR fault logged, MapMemory of a
#      sealed memfd, a fixed lease in the MSI window refused), a DetachGroup
#      refused as Busy while TEST_UID holds a device fd, then allowed, the
#      ranges following; the two backends must answer the same;
#   3. delegation (iommufd): Device.Delegate to TEST_UID, which then gets
#      /dev/iommu and the device's cdev from OpenDelegated (without access
#      to either node itself), binds, attaches and maps its own memory;
#      iovad keeps the device (AttachGroup and Unbind are Busy) and ends the
#      delegation only once nobody holds the cdev;
#   4. an unmodified QEMU 10 (QEMU in test.env, from bookworm-backports)
#      as TEST_UID, given only the delegated fds (-object iommufd,fd=3
#      -device vfio-pci,fd=4): QMP query-pci shows the device, and its
#      guest RAM is mapped into its IOAS.
# Each check prints "ok: ..." or "FAIL: ..."; the last line is
# "guest-test: PASS (N checks)" or "guest-test: FAIL (F of N checks failed)".
set -u
run=$(cd "$(dirname "$0")" && pwd)
. "$run/test.env"
. "$run/guest-lib.sh"
REAL_DAEMON=$DAEMON

say "guest kernel $(uname -r): $(cat /proc/version)"
say "edu devices '$IOVAD_EDU', IOMMU groups '$IOVAD_GROUPS'"
check "VT-d with interrupt remapping (DMAR-IR: Enabled IRQ remapping)" \
	sh -c 'dmesg | grep -q "DMAR-IR: Enabled IRQ remapping"'
check "/dev/iommu: $(ls -l /dev/iommu 2>&1)" test -c /dev/iommu
check "VFIO device cdevs: $(ls /dev/vfio/devices 2>&1 | tr '\n' ' ')" test -d /dev/vfio/devices
check "the type1 container /dev/vfio/vfio is the real type1 (/sys/module/vfio_iommu_type1)" \
	test -c /dev/vfio/vfio -a -d /sys/module/vfio_iommu_type1
set -- $IOVAD_EDU
edu1=$1 edu2=${2:-}
set -- $IOVAD_GROUPS
group1=$1 group2=${2:-}
check "two edu devices in separate IOMMU groups ($IOVAD_GROUPS)" test -n "$group2" -a "$group1" != "$group2"
for f in "$DAEMON" "$CLIENT" "$IOVACTL" "$RANGES"; do
	check "test program $f present" test -x "$f"
done
[ "$failures" -eq 0 ] || finish

# What the unprivileged uid runs must be where it may read it.
tools=$(mktemp -d /tmp/iovad-tools.XXXXXX)
chmod 755 "$tools"
cp "$CLIENT" "$tools/kernel-client"
cp "$IOVACTL" "$tools/iovactl"
cp "$RANGES" "$tools/iova-ranges"
chmod 755 "$tools"/*

# 1. The kernel's answers, before iovad holds anything.
kernel_answer() { # NAME COMMAND...: ranges into $run/kernel-NAME.txt
	name=$1
	shift
	if "$@" > "$run/kernel-$name.raw" 2>&1; then
		grep '^0x' "$run/kernel-$name.raw" > "$run/kernel-$name.txt"
		ok "kernel ($name): $(tr '\n' ' ' < "$run/kernel-$name.raw")"
	else
		fail "kernel ($name): $* failed: $(tr '\n' ' ' < "$run/kernel-$name.raw")"
	fi
}
kernel_answer iommufd "$RANGES" --iommufd $IOVAD_EDU
kernel_answer iommufd-1 "$RANGES" --iommufd "$edu1"
kernel_answer vfio-type1 "$RANGES" $IOVAD_GROUPS
kernel_answer vfio-type1-1 "$RANGES" "$group1"
check "iommufd's IOAS_IOVA_RANGES and type1's IOVA_RANGE agree for both devices" \
	cmp -s "$run/kernel-iommufd.txt" "$run/kernel-vfio-type1.txt"
alignment=$(sed -n 's/^alignment //p' "$run/kernel-iommufd.raw")
type1_pgsizes=$(sed -n 's/^pgsizes //p' "$run/kernel-vfio-type1.raw")
[ "$failures" -eq 0 ] || finish

start_bus

# iovad with a backend option, through a wrapper (start_iovad runs $DAEMON).
use_backend() { # auto | iommufd | vfio-type1
	DAEMON=/tmp/iovad-$1
	if [ "$1" = auto ]; then
		printf '#!/bin/sh\nexec %s "$@"\n' "$REAL_DAEMON" > "$DAEMON"
	else
		printf '#!/bin/sh\nexec %s --backend=%s "$@"\n' "$REAL_DAEMON" "$1" > "$DAEMON"
	fi
	chmod 755 "$DAEMON"
}

# Wait for a line matching PATTERN in FILE (5 s).
wait_for() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	grep -q "$2" "$1" 2>/dev/null
}

# End an `iovactl ... --hold` by the pid it prints ("Holding ... (pid N)"):
# $! is the subshell that as_user runs in, not iovactl.
stop_holder() { # LOG
	pid=$(sed -n 's/^Holding .* (pid \([0-9]*\)).*/\1/p' "$1" | head -1)
	[ -n "$pid" ] || { say "no pid in $1: $(cat "$1")"; return 1; }
	kill "$pid"
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	! kill -0 "$pid" 2>/dev/null
}

# 2. One scenario, run on both backends.
scenario() { # BACKEND (what the Backend property must say) OPTION (auto or the --backend value)
	b=$1
	say "=== scenario on $b (--backend=$2) at $(uptime_s)s ==="
	use_backend "$2"
	rm -rf "$rt/state" "$rt/runtime"
	mkdir -p "$rt/state" "$rt/runtime"
	start_iovad
	backend=$(busctl get-property org.iovad1 /org/iovad1 org.iovad1.Manager Backend 2>&1)
	check "$b: iovad's Backend is $b ($backend)" test "$backend" = "s \"$b\""
	container=$(create_container test)
	check "$b: CreateContainer test for uid $TEST_UID -> ${container:-failed}" test -n "$container"
	[ -n "$container" ] || finish
	for g in $IOVAD_GROUPS; do
		out=$(busctl call org.iovad1 "$container" org.iovad1.Container AttachGroup u "$g" 2>&1)
		check "$b: AttachGroup $g${out:+: $out}" test -z "$out"
	done
	iovad_ranges "$container" > "$run/iovad-ranges-$b.txt"
	if cmp -s "$run/kernel-$b.txt" "$run/iovad-ranges-$b.txt"; then
		ok "$b: UsableRanges equal the kernel's: $(tr '\n' ' ' < "$run/iovad-ranges-$b.txt")"
	else
		fail "$b: UsableRanges differ from the kernel's"
		say "  kernel: $(tr '\n' ' ' < "$run/kernel-$b.txt")"
		say "  iovad:  $(tr '\n' ' ' < "$run/iovad-ranges-$b.txt")"
	fi
	pgsizes=$(busctl get-property org.iovad1 "$container" org.iovad1.Container PageSizes 2>&1)
	case $pgsizes in "t "*) pgsizes=$(printf '0x%x' "${pgsizes#t }") ;; esac
	# iommufd reports no page-size bitmap, only the alignment a map needs.
	want=$type1_pgsizes
	[ "$b" = iommufd ] && want=$alignment
	check "$b: PageSizes $pgsizes (kernel: $want)" test "$pgsizes" = "$want"

	kmsg_before=$(dmesg | wc -l)
	say "$b: kernel-client as uid $TEST_UID at $(uptime_s)s"
	as_user "$tools/kernel-client" --container test --limit 0x0fffffff $IOVAD_EDU > "$run/client-$b.log" 2>&1
	rc=$?
	cat "$run/client-$b.log"
	check "$b: kernel-client as uid $TEST_UID passed (exit $rc)" test "$rc" -eq 0
	blocked=$(sed -n 's/^kernel-client: blocked-dma device=\([^ ]*\) iova=\(0x[0-9a-f]*\)$/\1 \2/p' \
		"$run/client-$b.log")
	if [ -n "$blocked" ]; then
		set -- $blocked
		# DMAR: [DMA Write NO_PASID] Request device [00:04.0] fault addr 0x101000 [fault reason 0x05] ...
		pattern="DMAR: \[DMA Write.*Request device \[${1#0000:}\] fault addr $2 "
		found=
		for i in 1 2 3; do
			dmesg | tail -n +$((kmsg_before + 1)) > "$run/kmsg-$b.txt"
			grep -q "$pattern" "$run/kmsg-$b.txt" && { found=1; break; }
			sleep 0.2
		done
		grep DMAR "$run/kmsg-$b.txt" | sed "s/^/guest-test: $b: /"
		check "DMA check: $b: the kernel logged the DMAR fault of $1's blocked DMA to $2" test -n "$found"
	else
		fail "$b: kernel-client reported no blocked DMA to look for"
	fi
	# The checks, without the decimal numbers (lease ids, fds) that may differ by run; IOVAs stay.
	sed -n 's/^\(ok\|FAIL\): \([^[]*\).*/\1: \2/p' "$run/client-$b.log" |
		sed 's/\b[0-9][0-9]*\b/N/g' > "$run/client-$b.checks"

	# A device fd held by the test uid keeps its group in.
	as_user "$tools/iovactl" open "$edu2" --hold > "$run/hold-$b.log" 2>&1 &
	holder=$!
	if wait_for "$run/hold-$b.log" '^Opened'; then
		ok "$b: uid $TEST_UID holds $edu2: $(head -1 "$run/hold-$b.log")"
	else
		fail "$b: iovactl open $edu2 --hold: $(cat "$run/hold-$b.log")"
	fi
	case $b in
	iommufd) want='(/dev/vfio/devices/vfio[0-9]*)' ;;
	*) want='(anon_inode:\[vfio-device\])' ;;
	esac
	check "$b: Device.Open gives $want" grep -q "^Opened $edu2 as fd [0-9]* $want" "$run/hold-$b.log"
	out=$(busctl call org.iovad1 "$container" org.iovad1.Container DetachGroup u "$group2" 2>&1)
	echo "$out" > "$run/detach-busy-$b.txt"
	check "$b: DetachGroup $group2 while $edu2 is open is Busy ($out)" \
		sh -c 'echo "$1" | grep -q "org.iovad1.Error.Busy\|is busy"' - "$out"
	check "$b: the holder let go" stop_holder "$run/hold-$b.log"
	wait "$holder" 2>/dev/null
	out=$(busctl call org.iovad1 "$container" org.iovad1.Container DetachGroup u "$group2" 2>&1)
	check "$b: DetachGroup $group2 once the fd is closed${out:+: $out}" test -z "$out"
	iovad_ranges "$container" > "$run/iovad-ranges-$b-1.txt"
	check "$b: then UsableRanges equal the kernel's for $edu1 alone: $(tr '\n' ' ' < "$run/iovad-ranges-$b-1.txt")" \
		cmp -s "$run/kernel-$b-1.txt" "$run/iovad-ranges-$b-1.txt"
	out=$(busctl call org.iovad1 "$container" org.iovad1.Container DetachGroup u "$group1" 2>&1)
	check "$b: DetachGroup $group1${out:+: $out}" test -z "$out"
	out=$(busctl call org.iovad1 "$container" org.iovad1.Container Destroy 2>&1)
	check "$b: Destroy test${out:+: $out}" test -z "$out"
	stop_iovad
	check "$b: the devices are free again (iova-ranges --iommufd)" \
		sh -c '"$1" --iommufd $2 > /dev/null' - "$RANGES" "$IOVAD_EDU"
}

scenario iommufd auto
scenario vfio-type1 vfio-type1
check "iovad's UsableRanges are the same on both backends" \
	cmp -s "$run/iovad-ranges-iommufd.txt" "$run/iovad-ranges-vfio-type1.txt"
if cmp -s "$run/client-iommufd.checks" "$run/client-vfio-type1.checks"; then
	ok "kernel-client's $(wc -l < "$run/client-iommufd.checks") checks answer the same on both backends"
else
	fail "kernel-client answers differently on the two backends:"
	diff "$run/client-iommufd.checks" "$run/client-vfio-type1.checks" | sed 's/^/guest-test:   /'
fi

# 3. Delegation to a VMM's uid (iommufd).
say "=== delegation at $(uptime_s)s ==="
use_backend iommufd
rm -rf "$rt/state" "$rt/runtime"
mkdir -p "$rt/state" "$rt/runtime"
start_iovad
out=$(as_user "$tools/iovactl" delegate "$edu1" "$TEST_UID" 2>&1)
rc=$?
check "uid $TEST_UID may not delegate $edu1 to itself (exit $rc: $out)" \
	sh -c '[ "$1" -eq 1 ] && echo "$2" | grep -q AccessDenied' - "$rc" "$out"
out=$("$tools/iovactl" delegate "$edu1" "$TEST_UID" 2>&1)
rc=$?
check "root: iovactl delegate $edu1 $TEST_UID (exit $rc: $out)" test "$rc" -eq 0
container=$(create_container vmm)
out=$(busctl call org.iovad1 "$container" org.iovad1.Container AttachGroup u "$group1" 2>&1)
check "AttachGroup $group1 of the delegated device is Busy ($out)" \
	sh -c 'echo "$1" | grep -q "org.iovad1.Error.Busy.*delegated\|delegated"' - "$out"
out=$("$tools/iovactl" unbind "$edu1" 2>&1)
rc=$?
check "Unbind of the delegated device is Busy (exit $rc: $out)" \
	sh -c '[ "$1" -eq 1 ] && echo "$2" | grep -q Busy' - "$rc" "$out"
# Another user (nobody: dbus-daemon wants a uid it can look up).
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups -- "$tools/iovactl" open-delegated "$edu1" 2>&1)
rc=$?
check "uid 65534 may not open what is delegated to $TEST_UID (exit $rc: $out)" \
	sh -c '[ "$1" -eq 1 ] && echo "$2" | grep -q AccessDenied' - "$rc" "$out"
cdev=$(ls /dev/vfio/devices/ | head -1)
check "uid $TEST_UID cannot open /dev/iommu or /dev/vfio/devices/$cdev itself" \
	as_user sh -c '! (exec 3<> /dev/iommu) 2>/dev/null && ! (exec 3<> "/dev/vfio/devices/$1") 2>/dev/null' - "$cdev"
as_user "$tools/iovactl" open-delegated "$edu1" -- "$tools/iova-ranges" --iommufd-fds 3 4 \
	> "$run/delegated.raw" 2>&1
rc=$?
grep '^0x' "$run/delegated.raw" > "$run/delegated-ranges.txt"
check "uid $TEST_UID binds, attaches and maps with the delegated fds (exit $rc: $(tr '\n' ' ' < "$run/delegated.raw"))" \
	sh -c '[ "$1" -eq 0 ] && grep -q "^map 0x[0-9a-f]* ok$" "$2"' - "$rc" "$run/delegated.raw"
check "... and its IOAS has the kernel's ranges for $edu1" cmp -s "$run/kernel-iommufd-1.txt" "$run/delegated-ranges.txt"
as_user "$tools/iovactl" open-delegated "$edu1" --hold > "$run/hold-delegated.log" 2>&1 &
holder=$!
wait_for "$run/hold-delegated.log" '^  0x' || say "open-delegated --hold: $(cat "$run/hold-delegated.log")"
check "OpenDelegated reports the group's reserved regions (the MSI window): $(grep 0x "$run/hold-delegated.log" | tr '\n' ' ')" \
	grep -q '0x00000000fee00000-0x00000000feefffff msi' "$run/hold-delegated.log"
out=$("$tools/iovactl" undelegate "$edu1" 2>&1)
rc=$?
check "Undelegate while uid $TEST_UID holds the cdev is Busy (exit $rc: $out)" \
	sh -c '[ "$1" -eq 1 ] && echo "$2" | grep -q Busy' - "$rc" "$out"
check "the holder let go" stop_holder "$run/hold-delegated.log"
wait "$holder" 2>/dev/null
out=$("$tools/iovactl" undelegate "$edu1" 2>&1)
rc=$?
check "Undelegate once nobody holds it (exit $rc${out:+: $out})" test "$rc" -eq 0
out=$(busctl call org.iovad1 "$container" org.iovad1.Container AttachGroup u "$group1" 2>&1)
check "AttachGroup $group1 works again${out:+: $out}" test -z "$out"
out=$(busctl call org.iovad1 "$container" org.iovad1.Container DetachGroup u "$group1" 2>&1)
check "DetachGroup $group1${out:+: $out}" test -z "$out"

# 4. An unmodified QEMU (bookworm-backports' 10.x) as the VMM, as TEST_UID,
# with nothing but the fds iovad delegated: it must realize the vfio-pci
# device and map its guest RAM into its own IOAS.
say "=== QEMU $("$QEMU" --version | head -1) as uid $TEST_UID at $(uptime_s)s ==="
out=$("$tools/iovactl" delegate "$edu1" "$TEST_UID" 2>&1)
rc=$?
check "root: iovactl delegate $edu1 $TEST_UID again (exit $rc: $out)" test "$rc" -eq 0
# The VMM's own RLIMIT_MEMLOCK pays for its pinned guest RAM (iommufd
# charges the user that maps); root lifts it before dropping to TEST_UID.
ulimit -l unlimited
printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"query-pci"}' '{"execute":"quit"}' |
	as_user "$tools/iovactl" open-delegated "$edu1" -- "$QEMU" -L /usr/share/qemu \
		-machine q35 -accel tcg,tb-size=64 -m 64M -nodefaults -display none -S -qmp stdio \
		-trace iommufd_backend_map_dma -trace iommufd_backend_alloc_ioas \
		-object iommufd,id=iommufd0,fd=3 -device vfio-pci,id=edu0,iommufd=iommufd0,fd=4,rombar=0 \
		> "$run/qemu.log" 2>&1
rc=$?
sed 's/^/qemu| /' "$run/qemu.log" | cut -c1-400
check "QEMU ran as uid $TEST_UID with the delegated fds and quit (exit $rc)" test "$rc" -eq 0
# query-pci lists the device with its qdev id and edu's ids (0x1234:0x11e8).
check "QMP query-pci shows the vfio-pci device edu0 (1234:11e8)" \
	sh -c 'tr "{}" "\n\n" < "$1" | grep -q "\"vendor\": 4660" && grep -q "\"qdev_id\": \"edu0\"" "$1" && grep -q "\"device\": 4584" "$1"' - "$run/qemu.log"
mapped=$(sed -n 's/.*iommufd_backend_map_dma .* size=\(0x[0-9a-f]*\) .*(0)$/\1/p' "$run/qemu.log" |
	while read -r sz; do echo $((sz)); done | awk '{ s += $1 } END { printf "%d", s }')
check "QEMU mapped its guest RAM into its IOAS ($((${mapped:-0} / 1048576)) MiB in $(grep -c 'iommufd_backend_map_dma .*(0)$' "$run/qemu.log") IOMMU_IOAS_MAPs without error)" \
	test "${mapped:-0}" -ge $((60 * 1048576))
check "no IOMMU_IOAS_MAP of QEMU failed" sh -c '! grep "iommufd_backend_map_dma" "$1" | grep -qv "(0)$"' - "$run/qemu.log"
out=$("$tools/iovactl" undelegate "$edu1" 2>&1)
rc=$?
check "Undelegate after QEMU quit (exit $rc${out:+: $out})" test "$rc" -eq 0
stop_iovad
finish
