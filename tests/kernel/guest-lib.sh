# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=sh
#
# Sourced by the guest scripts (guest-test.sh, guest-test-arm64.sh), in POSIX
# sh (dash on x86, busybox ash on arm64). The caller sets $run (the run
# directory) and sources $run/test.env first.
#
#   ok / fail / check DESCRIPTION COMMAND...   one check each
#   finish                                      the verdict, then exit
#   start_bus                                   private system bus ($rt)
#   start_iovad / stop_iovad                    the real iovad on it
#   dev_path ADDRESS                            the Device object's path
#   as_user COMMAND...                          run as TEST_UID
#   kernel_ranges GROUP...                      the kernel's IOVA_RANGE
#   iovad_ranges CONTAINER                      iovad's UsableRanges
# Ranges are printed one a line, "0x%016x 0x%016x" (start, inclusive end).
export LC_ALL=C

checks=0 failures=0
# Each check line ends with the guest's uptime, for the time each step takes.
ok() { checks=$((checks + 1)); echo "ok: $* [$(uptime_s)s]"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL: $* [$(uptime_s)s]"; }
check() { # check DESCRIPTION COMMAND...
	d=$1; shift
	if "$@"; then ok "$d"; else fail "$d"; fi
}
say() { echo "guest-test: $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

finish() {
	[ -n "${iovad_pid:-}" ] && kill "$iovad_pid" 2>/dev/null
	[ -n "${bus_pid:-}" ] && kill "$bus_pid" 2>/dev/null
	if [ "$failures" -ne 0 ] && [ -s "$run/iovad.log" ]; then
		say "iovad log (last 60 lines of $run/iovad.log):"
		tail -n 60 "$run/iovad.log" | sed 's/^/iovad| /'
	fi
	if [ "$failures" -eq 0 ]; then
		say "PASS ($checks checks) at $(uptime_s)s"
		exit 0
	fi
	say "FAIL ($failures of $checks checks failed) at $(uptime_s)s"
	exit 1
}

# The object path encodes the address as sd_bus_path_encode() does.
dev_path() { echo "/org/iovad1/device/$(echo "$1" | sed 's/:/_3a/g; s/\./_2e/g')"; }
# util-linux's setpriv: test.env names it where a busybox sh would run its
# own applet, which cannot change uids, whatever PATH says.
as_user() { "${SETPRIV:-setpriv}" --reuid="$TEST_UID" --regid="$TEST_UID" --clear-groups -- "$@"; }

# A private bus with system-bus rules; the policy is the project's
# dbus/org.iovad1.conf (run-kernel-test.sh copies it to bus.policy).
start_bus() {
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
	: > "$run/iovad.log"
}

start_iovad() {
	say "starting iovad at $(uptime_s)s: $DAEMON --state-dir=$rt/state --runtime-dir=$rt/runtime --log-level=debug --no-polkit"
	"$DAEMON" --state-dir="$rt/state" --runtime-dir="$rt/runtime" --log-level=debug --no-polkit \
		>> "$run/iovad.log" 2>&1 &
	iovad_pid=$!
	up='' i=0
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
	i=0
	while kill -0 "$iovad_pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	kill -KILL "$iovad_pid" 2>/dev/null && say "iovad ignored SIGTERM for 10 s, killed"
	wait "$iovad_pid"
	rc=$?
	iovad_pid=
	check "iovad exits cleanly on SIGTERM (exit $rc)" test "$rc" -eq 0
}

# The kernel's IOVA_RANGE for these groups in one fresh type1v2 container
# (iova-ranges); fails while a group is held elsewhere.
kernel_ranges() {
	"$RANGES" "$@" | grep -v pgsizes | known_kernel_holes
}

# The kernel's ranges as iovad must show them: on kernels before 6.18,
# type1 wraps iova + size for a mapping that ends at 2^64 - 1, and iovad
# keeps that last (4 KiB) page out (docs/configuration.md).
known_kernel_holes() {
	local release major minor
	release=$(uname -r)
	major=${release%%.*}
	minor=${release#*.}
	minor=${minor%%[!0-9]*}
	if [ "$major" -lt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -lt 18 ]; }; then
		sed 's/ 0xffffffffffffffff$/ 0xffffffffffffefff/'
	else
		cat
	fi
}

# busctl prints "a(tt) N start end ..." in decimal.
iovad_ranges() {
	set -- $(busctl get-property org.iovad1 "$1" org.iovad1.Container UsableRanges 2>&1)
	if [ "${1:-}" != 'a(tt)' ]; then
		echo "UsableRanges: $*"
		return 1
	fi
	shift 2
	while [ $# -ge 2 ]; do
		printf '0x%016x 0x%016x\n' "$1" "$2"
		shift 2
	done
}

# create_container NAME: as root, for TEST_UID; prints the object path.
create_container() {
	busctl call org.iovad1 /org/iovad1 org.iovad1.Manager CreateContainer 'sa{sv}' \
		"$1" 1 users au 1 "$TEST_UID" 2>&1 | sed -n 's/^o "\(.*\)"$/\1/p'
}
