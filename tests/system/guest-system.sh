# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=sh
# The check helpers are called through check(), and guest-lib.sh sets
# checks and failures:
# shellcheck disable=SC2317,SC2154
#
# The system tier's checks, inside a guest that booted the host's root with
# systemd as PID 1 (iovad-system-test.service runs this script as root, with
# no login). run-system-test.sh on the host wrote test.env next to it.
# README.md in this directory lists the checks; every one prints "ok: ..."
# or "FAIL: ...", and the last line, "IOVAD-GUEST-RESULT: rc=N", goes to
# the host over the serial console.
run=$(dirname "$(realpath "$0")")
# shellcheck source=/dev/null
. "$run/test.env"
# shellcheck source=../kernel/guest-lib.sh
. "$run/guest-lib.sh"
export SYSTEMD_PAGER='' SYSTEMD_COLORS=0 SYSTEMD_URLIFY=0
cd /

verdict() {
	rc=0
	[ "$failures" -eq 0 ] || rc=1
	if [ "$failures" -eq 0 ]; then
		say "PASS ($checks checks) at $(uptime_s)s"
	else
		say "FAIL ($failures of $checks checks failed) at $(uptime_s)s"
		journalctl -b -u iovad -u polkit --no-pager -o short-monotonic | tail -n 80 | sed 's/^/journal| /'
	fi
	journalctl -b --no-pager -o short-monotonic > "$run/journal.txt" 2>&1
	journalctl -b -u iovad --no-pager -o verbose > "$run/journal-iovad-verbose.txt" 2>&1
	echo "IOVAD-GUEST-RESULT: rc=$rc"
	# Everything the host reads is written; no unit needs stopping.
	sync
	systemctl poweroff --force --force
	exit "$rc"
}
# A fatal failure: the checks after it would only fail for the same reason.
fatal() { fail "$@"; verdict; }

prop() { systemctl show -P "$1" iovad.service; }
main_pid() { prop MainPID; }
# wait_until N COMMAND...: until COMMAND succeeds, at most N tries 0.1 s apart.
wait_until() {
	n=$1 i=0
	shift
	while ! "$@"; do
		i=$((i + 1))
		[ "$i" -lt "$n" ] || return 1
		sleep 0.1
	done
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
is_active() { [ "$(systemctl is-active iovad.service)" = active ]; }
pid_changed_from() { p=$(main_pid); [ "$p" != 0 ] && [ "$p" != "$1" ] && is_active; }
# journal_has JOURNALCTL-ARGS...: journalctl finds at least one entry.
journal_has() { [ -n "$(journalctl -q -b --no-pager -o cat "$@" 2>/dev/null | head -n 1)" ]; }
as() { # as UID COMMAND...: as that user, with the groups the user database gives it
	u=$1
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- "$@"
}
iovad_call() { # iovad_call PATH IFACE METHOD [SIG ARGS...]
	p=$1 i=$2
	shift 2
	busctl call org.iovad1 "$p" "org.iovad1.$i" "$@" 2>&1
}
contains() { case $1 in *"$2"*) return 0 ;; esac; return 1; }
denied() { contains "$1" 'Access denied'; }
container_path() { echo "/org/iovad1/container/$(echo "$1" | sed 's/-/_2d/g; s/\./_2e/g')"; }

# ---- the platform --------------------------------------------------------

say "kernel $(uname -r), $(systemctl --version | head -n 1)"
check "PID 1 is systemd ($(cat /proc/1/comm))" test "$(cat /proc/1/comm)" = systemd
banner=$(journalctl -b -o cat | grep -m 1 'running in system mode')
say "systemd's banner: $banner"
check "systemd's version banner is in the journal" test -n "$banner"
# The boot ends with this unit, so the system is "starting" until then.
say "system state: $(systemctl is-system-running); failed units: $(systemctl --failed --no-legend --plain | cut -d' ' -f1 | tr '\n' ' ')"
check "multi-user.target is reached ($(systemctl is-active multi-user.target))" \
	test "$(systemctl is-active multi-user.target)" = active
check "journald runs ($(systemctl is-active systemd-journald.service))" \
	test "$(systemctl is-active systemd-journald.service)" = active
bus_pid=$(systemctl show -P MainPID dbus.service)
check "the system bus is dbus.service's dbus-daemon (pid $bus_pid: $(cat /proc/"$bus_pid"/comm 2>/dev/null))" \
	test "$(cat /proc/"$bus_pid"/comm 2>/dev/null)" = dbus-daemon
check "VT-d with interrupt remapping ($(dmesg | grep -m 1 -o 'DMAR-IR: Enabled IRQ remapping.*'))" \
	sh -c "dmesg | grep -q 'DMAR-IR: Enabled IRQ remapping'"
EDU='' EDU_GROUPS=''
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1234:0x11e8 ] || continue
	g=$(readlink "$d/iommu_group")
	EDU="$EDU ${d##*/}" EDU_GROUPS="$EDU_GROUPS ${g##*/}"
	check "edu ${d##*/} on vfio-pci in IOMMU group ${g##*/}" \
		test "$(basename "$(readlink "$d/driver")")" = vfio-pci
done
EDU=${EDU# } EDU_GROUPS=${EDU_GROUPS# }
[ "$(echo "$EDU" | wc -w)" -eq 2 ] || fatal "two edu devices expected, found '$EDU'"
nic=/sys/bus/pci/devices/$NIC
nic_group=$(basename "$(readlink "$nic/iommu_group")")
check "$NIC ($(cat "$nic/vendor"):$(cat "$nic/device")) is driven by its own driver ($(basename "$(readlink "$nic/driver")")), IOMMU group $nic_group" \
	test "$(basename "$(readlink "$nic/driver")")" = "$NIC_DRIVER"

# ---- meson install, the users, the polkit rule ---------------------------

say "meson install -C $INSTALL_BUILD --no-rebuild at $(uptime_s)s"
meson install -C "$INSTALL_BUILD" --no-rebuild > "$run/meson-install.log" 2>&1
rc=$?
sed -n 's/^Installing \(.*\) to \(.*\)$/installed: \2  (\1)/p' "$run/meson-install.log" | sed 's|(/.*/|(|'
check "meson install exits 0 (exit $rc, log meson-install.log)" test "$rc" -eq 0
for f in /usr/sbin/iovad /usr/bin/iovactl /usr/share/dbus-1/system.d/org.iovad1.conf \
	/usr/share/dbus-1/system-services/org.iovad1.service /usr/share/polkit-1/actions/org.iovad1.policy \
	"$UNIT_DIR/iovad.service" "$RULES_EXAMPLE"; do
	check "installed $f" test -e "$f"
done
for f in $(sed -n 's/^Installing .* to //p' "$run/meson-install.log"); do
	case $f in /usr/* | /lib/* | /etc/*) ;; *) fail "meson install wrote outside /usr, /lib and /etc: $f" ;; esac
done
systemctl daemon-reload
busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig
check "systemd knows iovad.service from $(prop FragmentPath)" test "$(prop FragmentPath)" = "$UNIT_DIR/iovad.service"

groupadd --system iovad
useradd --no-create-home --shell /usr/sbin/nologin --groups iovad iovad-member
useradd --no-create-home --shell /usr/sbin/nologin iovad-outsider
member=$(id -u iovad-member) outsider=$(id -u iovad-outsider)
say "users: iovad-member uid $member (groups $(id -Gn iovad-member)), iovad-outsider uid $outsider"
# What docs/install.md tells the administrator to do.
install -m 644 "$RULES_EXAMPLE" /etc/polkit-1/rules.d/50-iovad.rules

# ---- the unit: sandbox exposure, D-Bus activation, Type=notify -----------

systemd-analyze security --no-pager iovad.service > "$run/security.txt" 2>&1
exposure=$(sed -n 's/.*Overall exposure level for iovad.service: *\([0-9.]*\).*/\1/p' "$run/security.txt")
# The settings that count against the exposure, and the verdict.
grep -v '^ *[+✓] ' "$run/security.txt" | sed 's/^/security| /'
check "systemd-analyze security iovad.service: exposure $exposure" test -n "$exposure"
systemd-analyze security --no-pager --threshold="$SECURITY_THRESHOLD" iovad.service > /dev/null 2>&1
check "exposure $exposure is within --threshold=$SECURITY_THRESHOLD (docs/install.md)" test $? -eq 0

check "iovad is not running before its first call ($(systemctl is-active iovad.service))" \
	test "$(systemctl is-active iovad.service)" = inactive
t0=$(now_ms)
out=$(iovad_call /org/iovad1 Manager ListContainers)
check "a first busctl call activates iovad through D-Bus ($(($(now_ms) - t0)) ms): $out" \
	test "$out" = "a(so) 0"
check "after it, iovad.service is $(systemctl is-active iovad.service), Type=$(prop Type), BusName=$(prop BusName)" \
	test "$(systemctl is-active iovad.service) $(prop Type)" = "active notify"
check "dbus-daemon handed the start to systemd" \
	journal_has -u dbus.service -g "Activating via systemd: service name='org.iovad1' unit='iovad.service'"
systemctl stop iovad.service
check "systemctl stop iovad: $(systemctl is-active iovad.service)" test "$(systemctl is-active iovad.service)" = inactive
t0=$(now_ms)
systemctl start iovad.service
rc=$?
status=$(prop StatusText)
check "systemctl start iovad returns $rc once iovad sent READY=1 ($(($(now_ms) - t0)) ms): $(systemctl is-active iovad.service)" \
	test "$rc $(systemctl is-active iovad.service)" = "0 active"
check "... with STATUS=\"$status\"" contains "$status" "Serving 0 containers on vfio-type1"
systemctl status --no-pager --lines=0 iovad.service | sed 's/^/systemctl| /'

# ---- polkit --------------------------------------------------------------

out=$(as "$member" busctl call org.iovad1 /org/iovad1 org.iovad1.Manager CreateContainer 'sa{sv}' \
	sys 1 users au 1 "$member" 2>&1)
check "polkit: iovad-member (group iovad, the example rule) creates container 'sys': $out" \
	test "$out" = "o \"$(container_path sys)\""
sys=$(container_path sys)
for g in $EDU_GROUPS; do
	out=$(as "$member" busctl call org.iovad1 "$sys" org.iovad1.Container AttachGroup u "$g" 2>&1)
	check "polkit: iovad-member attaches group $g to 'sys'${out:+: $out}" test -z "$out"
done
out=$(as "$outsider" busctl call org.iovad1 /org/iovad1 org.iovad1.Manager CreateContainer 'sa{sv}' \
	nope 1 users au 1 "$outsider" 2>&1)
check "polkit: iovad-outsider is refused: $out" denied "$out"
out=$(as "$outsider" busctl call org.iovad1 "$sys" org.iovad1.Container AttachGroup u "$nic_group" 2>&1)
check "polkit: iovad-outsider may not attach groups either: $out" denied "$out"
for u in iovad-member iovad-outsider; do
	out=$(as "$(id -u $u)" sh -c 'pkcheck --action-id org.iovad1.manage-containers --process $$ 2>&1; echo "exit $?"')
	say "pkcheck as $u: $(echo "$out" | tr '\n' ' ')"
done
journalctl -b -u iovad.service -o cat --no-pager -g 'polkit refuses' | sed 's/^/iovad: /'
check "iovad logs polkit's refusal of iovad-outsider" journal_has -u iovad.service -g "polkit refuses org.iovad1.manage-containers to uid $outsider"

# A rule change, without restarting iovad: polkitd rereads its rules.
pid=$(main_pid)
cat > /etc/polkit-1/rules.d/60-iovad-outsider.rules <<EOF
polkit.addRule(function(action, subject) {
        if (action.id == "org.iovad1.manage-containers" && subject.user == "iovad-outsider")
                return polkit.Result.YES;
});
EOF
outsider_create() {
	out=$(as "$outsider" busctl call org.iovad1 /org/iovad1 org.iovad1.Manager CreateContainer 'sa{sv}' \
		outsider 1 users au 1 "$outsider" 2>&1)
	[ "$out" = "o \"$(container_path outsider)\"" ]
}
wait_until 100 outsider_create
check "polkit: a new rule lets iovad-outsider create a container: $out" \
	test "$out" = "o \"$(container_path outsider)\""
check "... and iovad was not restarted for it (pid $pid, now $(main_pid))" test "$pid" = "$(main_pid)"
rm /etc/polkit-1/rules.d/60-iovad-outsider.rules
outsider_destroy_refused() {
	out=$(as "$outsider" busctl call org.iovad1 "$(container_path outsider)" org.iovad1.Container Destroy 2>&1)
	denied "$out"
}
wait_until 100 outsider_destroy_refused
check "polkit: with the rule gone, iovad-outsider is refused again: $out" denied "$out"
iovad_call "$(container_path outsider)" Container Destroy

# A polkitd that does not answer delays nobody else.
ppid=$(systemctl show -P MainPID polkit.service)
kill -STOP "$ppid"
t0=$(now_ms)
(as "$member" busctl call --timeout=60 org.iovad1 /org/iovad1 org.iovad1.Manager CreateContainer 'sa{sv}' \
	slow 1 users au 1 "$member" > "$run/slow-call.txt" 2>&1; echo "exit $? after $(($(now_ms) - t0)) ms" >> "$run/slow-call.txt") &
slow=$!
sleep 2
t1=$(now_ms)
out=$(iovad_call /org/iovad1 Manager ListContainers)
t2=$(now_ms)
out2=$(as "$member" busctl get-property org.iovad1 "$sys" org.iovad1.Container Groups 2>&1)
t3=$(now_ms)
check "polkitd stopped (SIGSTOP), a caller waiting for it: root's ListContainers answers in $((t2 - t1)) ms ($out)" \
	contains "$out" '"sys" "/org/iovad1/container/sys"'
check "... within 10 s" test $((t2 - t1)) -lt 10000
check "... and iovad-member's Groups in $((t3 - t2)) ms ($out2)" test "$out2" = "au 2 $EDU_GROUPS"
check "... within 10 s" test $((t3 - t2)) -lt 10000
check "... while iovad-member's CreateContainer still waits for polkit" kill -0 "$slow"
kill -CONT "$ppid"
wait "$slow"
check "polkitd continued: the waiting CreateContainer is granted ($(tr '\n' ' ' < "$run/slow-call.txt"))" \
	grep -q "o \"$(container_path slow)\"" "$run/slow-call.txt"
iovad_call "$(container_path slow)" Container Destroy

# ---- real VFIO work under the unit's sandbox -----------------------------

say "kernel-client as iovad-member on 'sys' at $(uptime_s)s"
as "$member" "$CLIENT" --container sys $EDU > "$run/client.log" 2>&1
rc=$?
sed 's/^/client| /' "$run/client.log"
check "kernel-client (AllocateMapped, MapMemory of memfds, Device.Open, edu DMA through VT-d) as iovad-member: exit $rc" \
	test "$rc" -eq 0
out=$(iovactl bind "$NIC" 2>&1)
check "iovactl bind $NIC: driver $(basename "$(readlink "$nic/driver")")${out:+ ($out)}" \
	test "$(basename "$(readlink "$nic/driver")")" = vfio-pci
out=$(as "$member" iovactl attach sys "$nic_group" 2>&1)
check "iovad-member attaches the NIC's group $nic_group${out:+: $out}" test -z "$out"
out=$(as "$member" iovactl open "$NIC" 2>&1)
check "iovad-member gets a VFIO device fd for $NIC: $out" test $? -eq 0
out=$(as "$member" iovactl detach sys "$nic_group" 2>&1)
check "iovad-member detaches group $nic_group${out:+: $out}" test -z "$out"
out=$(iovactl unbind "$NIC" 2>&1)
check "iovactl unbind $NIC: back on $(basename "$(readlink "$nic/driver")")${out:+ ($out)}" \
	test "$(basename "$(readlink "$nic/driver")")" = "$NIC_DRIVER"

# ---- systemd's fd store, the watchdog, stop and start ---------------------

# The client's orders come through a FIFO (in the guest's RAM: 9p has none).
ctl=/run/iovad-system-test.ctl
rm -f "$ctl"
mkfifo -m 600 "$ctl"
chown "$member" "$ctl"
hold_flags=''
[ "$HOLD_DEVICE_FD" = 1 ] && hold_flags=--keep-device-fd
as "$member" sh -c 'exec "$@" < '"$ctl" - "$CLIENT" --container sys --hold $hold_flags $EDU > "$run/hold.log" 2>&1 &
hold=$!
exec 3> "$ctl"
hold_wait() { # hold_wait N: until the holding client has printed N "phase" lines (60 s)
	wait_until 600 sh -c "[ \$(grep -c '^kernel-client: phase ' '$run/hold.log') -ge $1 ]"
	grep '^kernel-client: phase ' "$run/hold.log" | sed -n "${1}p"
}
phase() { # phase N COMMAND DESCRIPTION
	echo "$2" >&3
	line=$(hold_wait "$1")
	check "$3: $line" contains "$line" PASS
}
line=$(hold_wait 1)
check "iovad-member holds an AllocateMapped lease: $line" contains "$line" PASS
lease=$(sed -n 's/^kernel-client: holding \([^ ]*\) at IOVA \(0x[0-9a-f]*\).*/\1 \2/p' "$run/hold.log")
say "held lease and IOVA: $lease"
nstore=$(prop NFileDescriptorStore)
check "the lease's memfd is in systemd's fd store (NFileDescriptorStore=$nstore)" test "$nstore" -ge 1

pid=$(main_pid) restarts=$(prop NRestarts)
say "SIGKILL to iovad (pid $pid) at $(uptime_s)s"
systemctl kill --kill-whom=main --signal=SIGKILL iovad.service
wait_until 300 pid_changed_from "$pid"
check "systemd restarted iovad after SIGKILL (pid $pid -> $(main_pid), NRestarts $restarts -> $(prop NRestarts))" \
	pid_changed_from "$pid"
check "the journal has the kill" journal_has -u iovad.service -g 'Main process exited, code=killed, status=9/KILL'
check "... and the restart" journal_has -u iovad.service -g 'Scheduled restart job'
journalctl -b -u iovad.service -o short-monotonic --no-pager | grep -A 8 'status=9/KILL' | sed 's/^/journal| /'
phase 2 mapped "after the restart: the same lease, mapped at the same IOVA, and edu DMA through it reaches iovad-member's pages"

pid=$(main_pid) t0=$(now_ms)
say "SIGSTOP to iovad (pid $pid) at $(uptime_s)s: WatchdogSec=$(prop WatchdogUSec), TimeoutAbortUSec=$(prop TimeoutAbortUSec)"
kill -STOP "$pid"
wait_until 1200 pid_changed_from "$pid"
dt=$(($(now_ms) - t0))
check "the watchdog: systemd killed the hung iovad and started it again ($dt ms, pid $pid -> $(main_pid))" \
	pid_changed_from "$pid"
check "... within $WATCHDOG_LIMIT_MS ms" test "$dt" -le "$WATCHDOG_LIMIT_MS"
check "the journal has the watchdog timeout" journal_has -u iovad.service -g 'Watchdog timeout'
journalctl -b -u iovad.service -o short-monotonic --no-pager | grep -A 6 'Watchdog timeout' | sed 's/^/journal| /'
phase 3 mapped "after the watchdog restart: the lease is back mapped and edu DMA works"

# systemctl restart: systemd keeps the fd store and (RuntimeDirectoryPreserve=
# restart) the runtime directory, so the connection's lease comes back
# mapped (docs/state.md).
out=$(iovactl lease sys 0x4000 --persistent 2>&1)
plist=$(iovad_call "$sys" Container ListLeases)
say "root's persistent lease: $out; leases: $plist"
# A stopping iovad (SIGTERM) releases its containers, so a device fd held
# across systemctl restart would keep its group busy (docs/state.md): the
# client lets go of its device fds first.
next=4
if [ "$HOLD_DEVICE_FD" = 1 ]; then
	phase 4 close "the holding client closes its device fds before systemctl restart"
	next=5
fi
pid=$(main_pid)
systemctl restart iovad.service
check "systemctl restart: iovad is $(systemctl is-active iovad.service) again (pid $pid -> $(main_pid))" pid_changed_from "$pid"
check "... and systemd kept the fd store (NFileDescriptorStore=$(prop NFileDescriptorStore))" \
	test "$(prop NFileDescriptorStore)" -ge 1
phase $next mapped "after systemctl restart the lease is back mapped at its IOVA and edu DMA works"
systemctl stop iovad.service
check "systemctl stop: the runtime directory is gone ($(ls -d /run/iovad 2>&1))" test ! -e /run/iovad
check "... and so is the fd store (NFileDescriptorStore=$(prop NFileDescriptorStore))" \
	test "$(prop NFileDescriptorStore)" = 0
systemctl start iovad.service
after=$(iovad_call "$sys" Container ListLeases)
say "leases after stop and start: $after"
groups=$(busctl get-property org.iovad1 "$sys" org.iovad1.Container Groups 2>&1)
check "after stop and start, 'sys' is back with its groups ($groups)" test "$groups" = "au 2 $EDU_GROUPS"
phase $((next + 1)) gone "after systemctl stop and start the connection's lease is gone"
pl=$(echo "$plist" | grep -o '"/org/iovad1/lease/[0-9]*" [0-9]* 16384' | head -n 1)
check "root's persistent lease is back: $pl" contains "$after" "${pl:-no persistent lease}"
new=$(iovactl lease sys 0x1000 2>&1 | grep -o '/org/iovad1/lease/[0-9]*')
maxid=$(grep -o 'lease/[0-9]*' "$run/hold.log" "$run/client.log" | sed 's|.*/||' | sort -n | tail -n 1)
check "a new lease gets an id never used before ($new; the highest so far: $maxid)" \
	test "${new##*/}" -gt "$maxid"
exec 3>&-
wait "$hold"
check "the holding client ends cleanly (exit $?)" test $? -eq 0
sed 's/^/hold| /' "$run/hold.log"

# ---- the journal ---------------------------------------------------------

out=$(iovad_call "$sys" Container AttachGroup u "${EDU_GROUPS%% *}")
say "attaching an attached group again: $out"
journalctl -b -u iovad.service -o verbose --no-pager > "$run/journal-iovad-verbose.txt"
entry() { # entry FIELD=VALUE...: the verbose journal entries of iovad that have every one
	journalctl -b -u iovad.service -o verbose --no-pager "$@" 2>/dev/null
}
e=$(entry IOVAD_CONTAINER=sys IOVAD_GROUP="${EDU_GROUPS%% *}" PRIORITY=6 | grep -m 1 'MESSAGE=Attached')
check "journal: 'Attached' has PRIORITY=6, IOVAD_CONTAINER=sys, IOVAD_GROUP (${e# *})" test -n "$e"
e=$(entry IOVAD_CONTAINER=sys ERRNO=17 | grep -m 1 'MESSAGE=')
check "journal: the refused attach has ERRNO=17 (EEXIST) and its whole message (${e# *})" \
	contains "$e" "refused: "
id=${lease%% *}
id=${id##*/}
e=$(entry IOVAD_LEASE="$id" IOVAD_CONTAINER=sys | grep -m 1 'MESSAGE=')
check "journal: lease $id's messages have IOVAD_LEASE=$id (${e# *})" test -n "$e"
journalctl -b -u iovad.service -o verbose --no-pager IOVAD_LEASE="$id" | head -n 40 | sed 's/^/verbose| /'
journalctl -b -u iovad.service --no-pager -o short-monotonic | sed 's/^/iovad-journal| /'

# ---- containers through CDI: podman, iovad's spec and hook ---------------

# shellcheck source=guest-cdi.sh
. "$run/guest-cdi.sh"

verdict
