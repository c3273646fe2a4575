#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# map-bench's script inside the intel guest (tests/kernel/map-bench.sh boots
# it): a private system bus, the real iovad (vfio-type1, default log
# level) with room for many memory fds, then map-bench as root on the first
# edu device's IOMMU group. Its figures go to the console and to
# RUN/map-bench.out.
set -u
run=$(cd "$(dirname "$0")" && pwd)
. "$run/test.env"
. "$run/guest-lib.sh"

group=${IOVAD_GROUPS%% *}
say "guest kernel $(uname -r), IOMMU group $group ($IOVAD_EDU), $(grep MemTotal /proc/meminfo)"
check "an edu device's IOMMU group" test -n "$group"
case " $MAPBENCH_ARGS " in
*" --hugetlb "*)
	# 1 GiB of 2 MiB pages and some to spare.
	echo 600 > /proc/sys/vm/nr_hugepages
	check "600 huge pages of 2 MiB reserved ($(cat /proc/sys/vm/nr_hugepages))" \
		test "$(cat /proc/sys/vm/nr_hugepages)" -ge 512 ;;
esac
start_bus
# Every mapped lease holds a memory fd: thousands of 4 KiB pieces need more than the default hard limit of 4,096.
ulimit -n 1048576
# Its log in the guest's tmpfs, not on the 9p share (a write there costs TCG milliseconds), and
# warnings only, as bus-bench runs it: a benchmark times iovad, not its log.
"$DAEMON" --state-dir="$rt/state" --runtime-dir="$rt/runtime" --no-polkit --log-level=warning > /tmp/iovad.log 2>&1 &
iovad_pid=$!
i=0
while [ $i -lt 600 ] && ! busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
	NameHasOwner s org.iovad1 2>/dev/null | grep -q true; do
	kill -0 "$iovad_pid" 2>/dev/null || break
	sleep 0.1
	i=$((i + 1))
done
check "iovad owns org.iovad1 at $(uptime_s)s" kill -0 "$iovad_pid"

start=$(uptime_s)
"$MAPBENCH" $MAPBENCH_ARGS "$group" > /tmp/map-bench.out 2> "$run/map-bench.err"
cp /tmp/map-bench.out "$run/map-bench.out"
rc=$?
sed 's/^/map-bench| /' /tmp/map-bench.out "$run/map-bench.err"
check "map-bench ran (exit $rc, from ${start}s to $(uptime_s)s)" test "$rc" -eq 0
stop_iovad
cp /tmp/iovad.log "$run/iovad.log"
finish
