# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# The bus tier's harness for shell tests (bus-env.h is the C one): source
# it, then
#
#   bus_env_start [PROFILE] [CONFIG-JSON]   a private system-like bus and iovad
#   iovad_stop / iovad_start                restart iovad on the same state
#   as_uid UID COMMAND...                   run a client as another uid
#   bus_env_stop                            stop both; iovad must exit 0 on
#                                           SIGTERM with no sanitizer report
#   fail MESSAGE                            end the test as failed
#
# DBUS_SYSTEM_BUS_ADDRESS points busctl and iovactl at the private bus.
# IOVAD_BUILD and IOVAD_SOURCE come from meson (or the environment).
# Exit status 77 (skipped) without root, dbus-daemon or busctl.

set -euo pipefail

: "${IOVAD_SOURCE:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${IOVAD_BUILD:=$IOVAD_SOURCE/build}"
export IOVAD_SOURCE IOVAD_BUILD

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: the bus tests run as root (they become other uids)"
	exit 77
fi
for prog in dbus-daemon busctl setpriv; do
	if ! command -v "$prog" >/dev/null; then
		echo "SKIP: $prog is not installed"
		exit 77
	fi
done

ENV_DIR=
BUS_PID=
IOVAD_PID=
IOVAD_STARTS=0
IOVAD_LOG=
ENV_PROFILE=
ENV_CONFIG=
ENV_OK=0

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

_bus_env_cleanup() {
	local rc=$?
	if [ -n "$IOVAD_PID" ]; then
		kill -KILL "$IOVAD_PID" 2>/dev/null || true
		wait "$IOVAD_PID" 2>/dev/null || true
	fi
	if [ -n "$BUS_PID" ]; then
		kill -TERM "$BUS_PID" 2>/dev/null || true
	fi
	if [ -n "$ENV_DIR" ]; then
		if [ "$rc" != 0 ] || [ "$ENV_OK" != 1 ]; then
			for f in "$ENV_DIR"/*.log; do
				[ -s "$f" ] || continue
				echo "---- $f ----" >&2
				cat "$f" >&2
			done
			echo "bus test files kept in $ENV_DIR" >&2
		elif [ -z "${IOVAD_TEST_KEEP:-}" ]; then
			rm -rf "$ENV_DIR"
		fi
	fi
}
trap _bus_env_cleanup EXIT

_bus_config() {
	local policy="$IOVAD_SOURCE/dbus/org.iovad1.conf" own
	if [ -r "$policy" ]; then
		own="  <include>$policy</include>"
	else
		own='  <policy user="root"><allow own="org.iovad1"/></policy>
  <policy context="default"><allow send_destination="org.iovad1"/></policy>'
	fi
	cat <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$ENV_DIR/bus.sock</listen>
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
    <allow send_destination="org.freedesktop.DBus"/>
  </policy>
$own
</busconfig>
EOF
}

bus_env_start() {
	ENV_PROFILE=${1:-x86-vtd}
	ENV_CONFIG=
	ENV_DIR=$(mktemp -d /tmp/iovad-bus-sh.XXXXXX)
	# Clients of other uids must reach the socket.
	chmod 0755 "$ENV_DIR"
	if [ -n "${2:-}" ]; then
		ENV_CONFIG=$ENV_DIR/iovad.conf
		printf '%s\n' "$2" >"$ENV_CONFIG"
	fi
	_bus_config >"$ENV_DIR/bus.conf"
	# With --fork, the address and pid are printed once the bus listens.
	local out
	out=$(dbus-daemon --config-file="$ENV_DIR/bus.conf" --fork --nopidfile --nosyslog \
		--print-address=1 --print-pid=1 2>>"$ENV_DIR/bus.log") || fail "dbus-daemon did not start"
	DBUS_SYSTEM_BUS_ADDRESS=$(sed -n 1p <<<"$out")
	BUS_PID=$(sed -n 2p <<<"$out")
	export DBUS_SYSTEM_BUS_ADDRESS
	iovad_start
}

_iovad_has_name() {
	local out
	out=$(busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus NameHasOwner s org.iovad1 \
		2>/dev/null) || return 1
	[ "$out" = "b true" ]
}

iovad_start() {
	local args i
	IOVAD_STARTS=$((IOVAD_STARTS + 1))
	IOVAD_LOG=$ENV_DIR/iovad-$IOVAD_STARTS.log
	args=(--simulate="$ENV_PROFILE" --state-dir="$ENV_DIR/state" --runtime-dir="$ENV_DIR/run" --no-polkit)
	[ -z "$ENV_CONFIG" ] || args+=(--config="$ENV_CONFIG")
	[ -x "$IOVAD_BUILD/daemon/iovad" ] || fail "$IOVAD_BUILD/daemon/iovad is missing"
	env -u JOURNAL_STREAM -u NOTIFY_SOCKET IOVAD_PROFILES_DIR="$IOVAD_SOURCE/daemon/profiles" \
		"$IOVAD_BUILD/daemon/iovad" "${args[@]}" >"$IOVAD_LOG" 2>&1 &
	IOVAD_PID=$!
	# A bounded poll for the bus name (60 s, for sanitizer builds on a busy machine).
	for ((i = 0; i < 600; i++)); do
		_iovad_has_name && return 0
		if ! kill -0 "$IOVAD_PID" 2>/dev/null; then
			wait "$IOVAD_PID" || true
			IOVAD_PID=
			fail "iovad exited before owning org.iovad1"
		fi
		sleep 0.1
	done
	fail "iovad did not own org.iovad1 within 60 s"
}

iovad_stop() {
	local rc=0
	[ -n "$IOVAD_PID" ] || fail "iovad is not running"
	kill -TERM "$IOVAD_PID"
	wait "$IOVAD_PID" || rc=$?
	IOVAD_PID=
	[ "$rc" = 0 ] || fail "iovad exited with status $rc on SIGTERM"
	if grep -E -q 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$IOVAD_LOG"; then
		fail "$IOVAD_LOG has a sanitizer report"
	fi
}

bus_env_stop() {
	[ -z "$IOVAD_PID" ] || iovad_stop
	kill -TERM "$BUS_PID" 2>/dev/null || true
	BUS_PID=
	ENV_OK=1
}

as_uid() {
	local uid=$1
	shift
	setpriv --reuid="$uid" --regid="$uid" --clear-groups -- "$@"
}
